"""The append-only audit chain: every row carries SHA-256(previous hash + its canonical JSON).
Also the reading side for the authority: filtered, paginated search and batched export."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, event, func, select, update
from sqlalchemy.orm import Session

from app.errors import ForbiddenError
from app.models import AuditEvent, AuditHead, Organisation, ProcessInstance, User
from app.services.clock import clock, within_local_days

GENESIS = "0" * 64
# Who may read the audit log: the public data authority oversees the regime, the platform
# administrators run it.
READER_ROLES = frozenset({"authority", "admin"})


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


_HEAD = "audit.head"  # session.info key: the chain's tip as this transaction holds it


@dataclass
class _Tip:
    """The head row (locked by this transaction) and the tip this transaction has reached."""

    row: AuditHead
    seq: int
    last_hash: str


@event.listens_for(Session, "after_transaction_end")
def _forget_tip(session: Session, transaction: Any) -> None:
    """The lock on the head ends with the outermost transaction, and so does what we know of it."""
    if transaction.parent is None:
        session.info.pop(_HEAD, None)


_BUMP_HEAD = update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1).returning(AuditHead)


def _tip(session: Session) -> _Tip:
    """The chain's tip for the next event of this transaction. The first event bumps the head
    row (taking its lock: a row lock on PostgreSQL, the write lock on SQLite) and reads it in
    the same statement; later events of the transaction continue from what it holds, since no
    other transaction can append while the lock is held."""
    tip: _Tip | None = session.info.get(_HEAD)
    if tip is None:
        row = session.execute(_BUMP_HEAD, execution_options={"populate_existing": True,
                                                             "synchronize_session": False}).scalar_one()
        tip = _Tip(row, row.seq, row.last_hash)
        session.info[_HEAD] = tip
    else:
        tip.seq += 1
    return tip


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

    The first event of a transaction locks the head row, so concurrent appenders are
    serialised and the chain never forks; the events and the head's new tip are written with
    the transaction's next flush (one UPDATE of the head per flush, the inserts batched).
    """
    tip = _tip(session)
    event_ = AuditEvent(
        seq=tip.seq,
        at=at or clock.now(),
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else "system",
        action=action,
        instance_id=instance_id,
        task_id=task_id,
        org_id=org_id if org_id is not None else (actor.org_id if actor else None),
        payload=json.loads(json.dumps(payload or {}, ensure_ascii=False, default=str)),
        prev_hash=tip.last_hash,
    )
    event_.hash = chain_hash(tip.last_hash, event_)
    tip.last_hash = event_.hash
    tip.row.seq, tip.row.last_hash = tip.seq, tip.last_hash
    session.add(event_)
    return event_


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


# --- reading the log ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditFilters:
    """Each set field narrows the search; dates are whole local days, both ends included."""

    action: str | None = None
    actor: str | None = None
    org_id: int | None = None
    instance_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEvent]
    total: int
    page: int
    per_page: int
    organisations: dict[int, Organisation]  # the rows' organisations, by id
    business_keys: dict[int, str]  # the rows' instances, by id


def require_reader(user: User) -> None:
    """Raise ForbiddenError unless ``user`` may read the audit log."""
    if not user.roles & READER_ROLES:
        raise ForbiddenError(_("Only the public data authority and administrators may read the audit log."))


def _filtered(f: AuditFilters) -> Select[Any]:
    query = select(AuditEvent)
    if f.action:
        query = query.where(AuditEvent.action == f.action)
    if f.actor:
        query = query.where(AuditEvent.actor == f.actor)
    if f.org_id:
        query = query.where(AuditEvent.org_id == f.org_id)
    if f.instance_id:
        query = query.where(AuditEvent.instance_id == f.instance_id)
    return query.where(within_local_days(AuditEvent.at, f.date_from, f.date_to))


def search(session: Session, user: User, filters: AuditFilters, *, page: int = 1, per_page: int = 50) -> AuditPage:
    """One page of matching events, newest first. Raises ForbiddenError (see require_reader)."""
    require_reader(user)
    query = _filtered(filters)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    items = list(session.execute(
        query.order_by(AuditEvent.seq.desc()).limit(per_page).offset((page - 1) * per_page)).scalars())
    return AuditPage(items, total, page, per_page, *labels(session, items))


def export_batches(session: Session, user: User, filters: AuditFilters,
                   batch: int = 1000) -> Iterator[tuple[list[AuditEvent], dict[int, Organisation], dict[int, str]]]:
    """Every matching event recorded so far, oldest first, in batches with their labels (see
    ``labels``); events appended while the batches are read are left out. Each batch is one
    short query, so the caller may end its transaction between batches. Raises
    ForbiddenError before yielding anything."""
    require_reader(user)
    upto = session.execute(select(func.max(AuditEvent.seq))).scalar() or 0
    return _batches(session, filters, batch, upto)


def _batches(session: Session, filters: AuditFilters, batch: int,
             upto: int) -> Iterator[tuple[list[AuditEvent], dict[int, Organisation], dict[int, str]]]:
    last = 0
    while True:
        rows = list(session.execute(
            _filtered(filters).where(AuditEvent.seq > last, AuditEvent.seq <= upto)
            .order_by(AuditEvent.seq).limit(batch)).scalars())
        if not rows:
            return
        yield (rows, *labels(session, rows))
        last = rows[-1].seq


def record_export(session: Session, user: User, filters: AuditFilters) -> None:
    """Note in the chain that ``user`` exported the log with these filters."""
    require_reader(user)
    record(session, "audit.exported", actor=user, payload={"filters": filters.as_dict()})


def labels(session: Session, events: list[AuditEvent]) -> tuple[dict[int, Organisation], dict[int, str]]:
    """The organisations and the instances' business keys named by ``events``."""
    org_ids = {e.org_id for e in events if e.org_id is not None}
    instance_ids = {e.instance_id for e in events if e.instance_id is not None}
    orgs = {o.id: o for o in session.execute(select(Organisation).where(Organisation.id.in_(org_ids))).scalars()} \
        if org_ids else {}
    keys: dict[int, str] = {}
    if instance_ids:
        rows = session.execute(select(ProcessInstance.id, ProcessInstance.business_key)
                               .where(ProcessInstance.id.in_(instance_ids)))
        keys = {instance_id: key for instance_id, key in rows}
    return orgs, keys


def filter_choices(session: Session) -> tuple[list[str], list[Organisation]]:
    """The actions recorded so far and the organisations, for the filter form."""
    actions = list(session.execute(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).scalars())
    orgs = list(session.execute(select(Organisation).order_by(Organisation.kind, Organisation.code)).scalars())
    return actions, orgs
