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
from sqlalchemy import Select, bindparam, event, func, insert, select, update
from sqlalchemy.orm import ORMExecuteState, Session

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
_PENDING = "audit.pending"  # session.info key: events recorded, not chained and written yet


@dataclass
class _Tip:
    """The chain's tip this transaction has reached (it holds the head row's lock)."""

    seq: int
    last_hash: str


@event.listens_for(Session, "after_transaction_end")
def _forget_tip(session: Session, transaction: Any) -> None:
    """The lock on the head ends with the outermost transaction, and so does what we know of
    it; events of a transaction that rolled back are dropped with it."""
    if transaction.parent is None:
        session.info.pop(_HEAD, None)
        session.info.pop(_PENDING, None)


@event.listens_for(Session, "before_commit")
def _chain_on_commit(session: Session) -> None:
    if session.get_nested_transaction() is None:  # a savepoint's release is not the commit
        write_pending(session)


@event.listens_for(Session, "do_orm_execute")
def _chain_before_reading(state: ORMExecuteState) -> None:
    """A query of the audit log sees the events its own transaction recorded: they are
    chained and written first (unless the query reads them from :func:`pending` itself)."""
    if (state.session.info.get(_PENDING) and state.is_select and not state.execution_options.get(WITHOUT_PENDING)
            and any(m.class_ is AuditEvent for m in state.all_mappers)):
        write_pending(state.session)


# Execution option for queries of the log that add :func:`pending` themselves, so that reading
# does not take the head's lock before the transaction's work is done.
WITHOUT_PENDING = "audit_without_pending"

_BUMP_HEAD = (update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + bindparam("count"))
              .returning(AuditHead.seq, AuditHead.last_hash))
_SET_HEAD = update(AuditHead).where(AuditHead.id == 1).values(seq=bindparam("seq"), last_hash=bindparam("last_hash"))


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
    """Record one event in the caller's transaction: it joins the chain when the transaction
    commits (or at :func:`write_pending`), and is dropped if it rolls back.

    The chain is written at the end, so that the head row's lock (a row lock on PostgreSQL;
    on SQLite the write lock is held anyway) is held only from the chaining to the commit:
    concurrent transactions queue for a moment there, not for their whole work, and the
    chain never forks. Its order is the order of commits; ``at`` is when the event happened.
    """
    event_ = AuditEvent(
        at=at or clock.now(),
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else "system",
        action=action,
        instance_id=instance_id,
        task_id=task_id,
        org_id=org_id if org_id is not None else (actor.org_id if actor else None),
        payload=json.loads(json.dumps(payload or {}, ensure_ascii=False, default=str)),
    )
    session.info.setdefault(_PENDING, []).append(event_)
    return event_


def pending(session: Session, instance_id: int | None = None) -> list[AuditEvent]:
    """The events this transaction has recorded and not written yet (of one instance)."""
    events: list[AuditEvent] = session.info.get(_PENDING, [])
    return [e for e in events if instance_id is None or e.instance_id == instance_id]


_EVENT_COLUMNS = ("seq", "at", "actor_id", "actor", "action", "instance_id", "task_id", "org_id", "payload",
                  "prev_hash", "hash")


def write_pending(session: Session) -> None:
    """Chain and insert the transaction's recorded events, on its connection: the first time,
    one UPDATE ... RETURNING moves the head by their number and locks it; later times continue
    from the tip the transaction holds. Then one INSERT for all of them and one UPDATE of the
    head's hash (plain statements: the rows are not ORM objects of the session afterwards)."""
    events: list[AuditEvent] | None = session.info.pop(_PENDING, None)
    if not events:
        return
    connection = session.connection()
    tip: _Tip | None = session.info.get(_HEAD)
    if tip is None:
        seq, last_hash = connection.execute(_BUMP_HEAD, {"count": len(events)}).one()
        tip = _Tip(seq - len(events), last_hash)
        session.info[_HEAD] = tip
    for event_ in events:
        tip.seq += 1
        event_.seq, event_.prev_hash = tip.seq, tip.last_hash
        event_.hash = chain_hash(tip.last_hash, event_)
        tip.last_hash = event_.hash
    connection.execute(insert(AuditEvent), [{c: getattr(e, c) for c in _EVENT_COLUMNS} for e in events])
    connection.execute(_SET_HEAD, {"seq": tip.seq, "last_hash": tip.last_hash})


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify` found: how many rows hold, and the first that does not (its seq,
    what is wrong as one of PROBLEMS, and that in words)."""

    checked: int
    broken_seq: int | None
    reason: str | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "broken_seq": self.broken_seq, "problem": self.problem,
                "reason": self.reason}


# What can be wrong with the first row that does not hold.
PROBLEMS = ("missing", "link", "content", "truncated")


def verify(session: Session, batch: int = 1000) -> VerifyReport:
    """Walk the chain in order; report the first row whose hash or link does not hold (the
    transaction's own recorded events are written before the first read, as for any query of
    the log)."""
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
                return VerifyReport(checked, last_seq + 1, f"row {last_seq + 1} is missing", "missing")
            if row.prev_hash != prev:
                return VerifyReport(checked, row.seq, "link to the previous row does not match", "link")
            if chain_hash(prev, row) != row.hash:
                return VerifyReport(checked, row.seq, "content does not match its hash", "content")
            prev = row.hash
            last_seq = row.seq
            checked += 1
    head = session.get(AuditHead, 1, populate_existing=True)
    if head is not None and (head.seq != last_seq or head.last_hash != prev):
        return VerifyReport(checked, last_seq + 1, "rows after this one were removed", "truncated")
    return VerifyReport(checked, None, None)


def verify_for(session: Session, user: User) -> VerifyReport:
    """:func:`verify` on behalf of a reader of the log, who is recorded as having checked it
    (with what was found). Raises ForbiddenError (see :func:`require_reader`)."""
    require_reader(user)
    report = verify(session)
    record(session, "audit.verified", actor=user, payload=report.as_dict())
    return report


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
