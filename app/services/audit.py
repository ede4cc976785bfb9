"""The append-only audit chain: every row carries SHA-256(previous hash + its canonical JSON)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import AuditEvent, AuditHead, User
from app.services.clock import clock

GENESIS = "0" * 64


def canonical(event: AuditEvent) -> str:
    """The row's content as canonical JSON (sorted keys, UTC ISO time, no whitespace)."""
    body = {
        "seq": event.seq,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor": event.actor,
        "action": event.action,
        "instance_id": event.instance_id,
        "task_id": event.task_id,
        "org_id": event.org_id,
        "payload": event.payload,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + canonical(event)).encode()).hexdigest()


def record(
    session: Session,
    action: str,
    *,
    actor: User | None,
    instance_id: int | None = None,
    task_id: str | None = None,
    org_id: int | None = None,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    Updating the head row first takes its lock (row lock on PostgreSQL, the write lock on
    SQLite), so concurrent appenders are serialised and the chain never forks.
    """
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True)
    ).scalar_one()
    event = AuditEvent(
        seq=head.seq,
        at=at or clock.now(),
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else "system",
        action=action,
        instance_id=instance_id,
        task_id=task_id,
        org_id=org_id if org_id is not None else (actor.org_id if actor else None),
        payload=json.loads(json.dumps(payload or {}, ensure_ascii=False, default=str)),
        prev_hash=head.last_hash,
    )
    event.hash = chain_hash(head.last_hash, event)
    head.last_hash = event.hash
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    broken_seq: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify(session: Session, batch: int = 1000) -> VerifyReport:
    """Walk the chain in order; report the first row whose hash or link does not hold."""
    prev = GENESIS
    checked = 0
    last_seq = 0
    while True:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(batch)
            .execution_options(populate_existing=True)  # the rows as stored now, not as this session saw them
        ).scalars().all()
        if not rows:
            break
        for row in rows:
            if row.seq != last_seq + 1:
                return VerifyReport(checked, last_seq + 1, f"row {last_seq + 1} is missing")
            if row.prev_hash != prev:
                return VerifyReport(checked, row.seq, "link to the previous row does not match")
            if chain_hash(prev, row) != row.hash:
                return VerifyReport(checked, row.seq, "content does not match its hash")
            prev = row.hash
            last_seq = row.seq
            checked += 1
    head = session.get(AuditHead, 1, populate_existing=True)
    if head is not None and (head.seq != last_seq or head.last_hash != prev):
        return VerifyReport(checked, last_seq + 1, "rows after this one were removed")
    return VerifyReport(checked, None, None)
