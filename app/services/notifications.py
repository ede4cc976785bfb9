"""Notifications: who is told what, in the app and by e-mail.

``notify`` and the hooks below only add rows in the caller's transaction (a notification per
user, an outbox row per e-mail); nothing is sent here, so a slow or broken mail server never
holds up or undoes the step that caused it. A scheduler job sends the outbox later
(``claim_email`` / ``record_delivery``) and retries with a growing delay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy import CompoundSelect, Select, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from app.errors import FieldError, NotFoundError, ValidationError
from app.models import (
    NOTIFICATION_KINDS,
    Agreement,
    EmailOutbox,
    HumanTask,
    Notification,
    NotificationPreference,
    ProcessInstance,
    RoleMembership,
    TaskNotice,
    User,
)
from app.services.clock import clock
from app.services.mail import OutgoingEmail

KINDS = NOTIFICATION_KINDS
LOCALES = ("zh_CN", "en")
MAX_RETRY_DELAY = timedelta(hours=6)
try:
    SHANGHAI: timezone | ZoneInfo = ZoneInfo("Asia/Shanghai")
except (KeyError, ValueError):  # no tz database: China has kept UTC+8 without DST since 1991
    SHANGHAI = timezone(timedelta(hours=8), "CST")
_base_url = "http://127.0.0.1:5000"


def configure(public_url: str) -> None:
    """Where links in e-mails point (the application's public address)."""
    global _base_url
    _base_url = public_url.rstrip("/")


@dataclass(frozen=True)
class Notice:
    """What one notification says: its kind and the values its text is made from."""

    kind: str
    params: dict[str, Any]
    link: str | None = None
    instance_id: int | None = None
    task_id: str | None = None


@dataclass(frozen=True)
class Preference:
    in_app: bool = True
    email: bool = True


# --------------------------------------------------------------------------- adding


def notify(session: Session, kind: str, user_ids: Iterable[int], *, params: Mapping[str, Any],
           link: str | None = None, instance_id: int | None = None, task_id: str | None = None) -> int:
    """Tell each (active) user about one thing, as their preferences say: a notification row
    and/or an outbox e-mail in their language. Never sends. Flushes; the caller commits.
    Returns how many rows were added. Raises ValueError for an unknown kind."""
    notice = Notice(kind, dict(params), link, instance_id, task_id)
    return _deliver(session, [(uid, notice) for uid in dict.fromkeys(user_ids)])


_RECIPIENT = (User.id, User.email, User.locale, User.display_name)


def _deliver(session: Session, pairs: Sequence[tuple[int, Notice]], users: Mapping[int, Any] | None = None) -> int:
    """Add the rows for many (user, notice) pairs with one query for users (unless ``users``
    already has the active ones, with their e-mail, locale and name), one for preferences."""
    if not pairs:
        return 0
    unknown = {n.kind for _uid, n in pairs} - set(KINDS)
    if unknown:
        raise ValueError(f"unknown notification kind {sorted(unknown)}")
    ids = sorted({uid for uid, _n in pairs})
    if users is None:
        users = {row.id: row for row in session.execute(select(*_RECIPIENT).where(User.id.in_(ids), User.is_active))}
    prefs = _stored_preferences(session, ids)
    now = clock.now()
    in_app: list[dict[str, Any]] = []
    emails: list[dict[str, Any]] = []
    for uid, notice in pairs:
        recipient = users.get(uid)
        if recipient is None:
            continue
        choice = prefs.get((uid, notice.kind), Preference())
        if choice.in_app:
            in_app.append({"user_id": uid, "kind": notice.kind, "params": notice.params, "link": notice.link,
                           "instance_id": notice.instance_id, "task_id": notice.task_id, "created_at": now,
                           "read_at": None})
        if choice.email and recipient.email:
            subject, body = render_email(notice, recipient.display_name, recipient.locale)
            emails.append({"user_id": uid, "kind": notice.kind, "recipient": recipient.email,
                           "subject": subject[:300], "body": body, "status": "pending", "attempts": 0,
                           "next_attempt_at": now, "last_error": None, "created_at": now, "sent_at": None})
    # One batched INSERT per table (a sign-off opens tasks for eight units at once).
    # (Core inserts on the session's connection: the ORM's bulk path costs more than the rows.)
    for model, rows in ((Notification, in_app), (EmailOutbox, emails)):
        if rows:
            session.connection().execute(insert(model), rows)
    return len(in_app) + len(emails)


def tasks_created(session: Session, instance: ProcessInstance, tasks: Sequence[HumanTask]) -> int:
    """New task for me or my role: tell everyone whose inbox shows each new task."""
    if not tasks:
        return 0
    session.flush()  # the task rows must exist before notifications refer to them
    notices = {t.id: _task_notice("task_new", instance, t) for t in tasks}
    audience, users = _audience(session, list(notices))
    return _deliver(session, [(uid, notices[tid]) for tid, uid in audience], users)


def instance_decided(session: Session, instance: ProcessInstance, actor: User | None) -> int:
    """My request decided: tell the user who started the instance (not when they ended it themselves)."""
    if instance.started_by_id is None or (actor is not None and actor.id == instance.started_by_id):
        return 0
    notice = Notice("request_decided", {**_case_params(instance), "outcome": instance.outcome or "completed"},
                    link=f"/instances/{instance.id}", instance_id=instance.id)
    return _deliver(session, [(instance.started_by_id, notice)])


def tasks_due(session: Session, tasks: Sequence[HumanTask]) -> int:
    """Reminders for open tasks just found due within a day (the calendar marks them with
    ``reminded_at``); those already past due get the overdue notice instead, marked once."""
    if not tasks:
        return 0
    now = clock.now()
    told = set(session.execute(select(TaskNotice.task_id).where(
        TaskNotice.task_id.in_([t.id for t in tasks]), TaskNotice.kind == "task_overdue")).scalars())
    notices: dict[str, Notice] = {}
    for task in tasks:
        overdue = task.due_at is not None and task.due_at <= now
        if overdue and task.id in told:
            continue
        if overdue:
            session.add(TaskNotice(task_id=task.id, kind="task_overdue", noted_at=now))
        notices[task.id] = _task_notice("task_overdue" if overdue else "task_due_soon", task.instance, task)
    if not notices:
        return 0
    session.flush()
    audience, users = _audience(session, list(notices))
    return _deliver(session, [(uid, notices[tid]) for tid, uid in audience], users)


def notify_overdue(session: Session, limit: int = 500) -> int:
    """Tell each open task's audience once that it is overdue. Returns how many tasks."""
    now = clock.now()
    tasks = list(session.execute(
        select(HumanTask).where(
            HumanTask.status == "open", HumanTask.due_at.is_not(None), HumanTask.due_at <= now,
            ~exists().where(TaskNotice.task_id == HumanTask.id, TaskNotice.kind == "task_overdue"))
        .order_by(HumanTask.due_at).limit(limit)).scalars())
    tasks_due(session, tasks)
    return len(tasks)


def agreement_expiring(session: Session, agreement: Agreement, closes: date) -> int:
    """Agreement nearing expiry: tell the users of the organisation that holds it."""
    users = session.execute(
        select(User.id).where(User.org_id == agreement.org_id, User.is_active).order_by(User.id)).scalars()
    return notify(session, "agreement_expiring", users,
                  params={"number": agreement.number, "valid_until": closes.isoformat()},
                  link="/processes/agreement_renewal/start")


def _audience(session: Session, task_ids: list[str]) -> tuple[list[tuple[str, int]], dict[int, Any]]:
    """(task id, user id) for who sees each task in their inbox: its assignee if claimed,
    else the active users of its role in its organisation (the rule of
    access.task_visible_clause); and those users' e-mail, locale and name, in the same query."""
    rows = session.execute(_audience_statement(), {"task_ids": task_ids}).all()
    users = {int(row[1]): row for row in rows}
    return sorted((str(row[0]), int(row[1])) for row in rows), users


@cache
def _audience_statement() -> CompoundSelect:
    """Built once (with the task ids a parameter): constructing it costs SQLAlchemy ten times
    what SQLite takes to answer it, on every step that opens tasks."""
    acting = aliased(RoleMembership)
    task_ids: Any = bindparam("task_ids", expanding=True)
    unclaimed = (
        select(HumanTask.id, *_RECIPIENT).select_from(HumanTask)
        .join(RoleMembership, RoleMembership.role == HumanTask.role)
        .join(User, User.id == RoleMembership.user_id)
        .where(HumanTask.id.in_(task_ids), HumanTask.assignee_id.is_(None), User.is_active,
               or_(HumanTask.candidate_org_id.is_(None), HumanTask.candidate_org_id == User.org_id,
                   exists().where(acting.user_id == User.id, acting.org_id == HumanTask.candidate_org_id)))
    )
    claimed = (select(HumanTask.id, *_RECIPIENT).select_from(HumanTask).join(User, User.id == HumanTask.assignee_id)
               .where(HumanTask.id.in_(task_ids), User.is_active))
    return unclaimed.union(claimed)


def _case_params(instance: ProcessInstance) -> dict[str, Any]:
    return {"case": instance.business_key, "subject": instance.title, "process": instance.definition.name}


def _task_notice(kind: str, instance: ProcessInstance, task: HumanTask) -> Notice:
    params = {**_case_params(instance), "task": task.title,
              "due_at": task.due_at.isoformat() if task.due_at else None}
    return Notice(kind, params, link=f"/tasks/{task.id}", instance_id=instance.id, task_id=task.id)


# --------------------------------------------------------------------------- texts


@dataclass(frozen=True)
class Text:
    title: str
    body: str


def render(kind: str, params: Mapping[str, Any], locale: str | None = None) -> Text:
    """Title and body of a notification, in ``locale`` (default: the current one)."""
    if locale is None:
        return _text(kind, params)
    with force_locale(_locale(locale)):
        return _text(kind, params)


def _text(kind: str, p: Mapping[str, Any]) -> Text:
    case = {"case": p.get("case", ""), "subject": p.get("subject", ""), "task": process_name(str(p.get("task", "")))}
    due = shanghai_time(p.get("due_at"))
    if kind == "task_new":
        body = (_("“%(task)s” in case %(case)s (%(subject)s) is waiting for you or your role; due %(time)s.",
                  time=due, **case) if due else
                _("“%(task)s” in case %(case)s (%(subject)s) is waiting for you or your role.", **case))
        return Text(_("New task: %(task)s", task=case["task"]), body)
    if kind == "task_due_soon":
        return Text(_("Due soon: %(task)s", task=case["task"]),
                    _("“%(task)s” in case %(case)s (%(subject)s) is due %(time)s.", time=due, **case))
    if kind == "task_overdue":
        return Text(_("Overdue: %(task)s", task=case["task"]),
                    _("“%(task)s” in case %(case)s (%(subject)s) was due %(time)s and is still open.", time=due, **case))
    if kind == "request_decided":
        outcome = outcome_label(str(p.get("outcome") or "completed"))
        return Text(_("Your request %(case)s was decided: %(outcome)s", case=case["case"], outcome=outcome),
                    _("%(process)s %(case)s (%(subject)s) has ended with the result: %(outcome)s.",
                      process=process_name(str(p.get("process") or "")), outcome=outcome, **case))
    if kind == "agreement_expiring":
        until = str(p.get("valid_until") or "")
        return Text(_("Agreement %(number)s expires on %(date)s", number=p.get("number", ""), date=until),
                    _("Agreement %(number)s expires on %(date)s; its renewal window is open. Apply for renewal "
                      "before it expires (Art. 15).", number=p.get("number", ""), date=until))
    return Text(kind, "")


def render_email(notice: Notice, name: str, locale: str | None) -> tuple[str, str]:
    """Subject and plain-text body of the e-mail for ``notice``, in the recipient's language
    (Chinese unless they chose English); times in Beijing time."""
    with force_locale(_locale(locale)):
        text = _text(notice.kind, notice.params)
        lines = [_("Hello %(name)s,", name=name), "", text.body, ""]
        if notice.link:
            lines += [_("Open: %(url)s", url=_base_url + notice.link), ""]
        settings_url = _base_url + "/notifications/preferences"
        lines += ["-- ", _("GrantFlow, the public data authorized operation platform. Choose which notices you "
                           "get by e-mail: %(url)s", url=settings_url)]
        return f"[GrantFlow] {text.title}", "\n".join(lines) + "\n"


def shanghai_time(value: str | datetime | None) -> str:
    """A UTC time as shown to users: Beijing time, with the zone named."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    return _("%(time)s (Beijing time)", time=local)


def outcome_label(outcome: str) -> str:
    labels = {"approved": _("Approved"), "rejected": _("Rejected"), "withdrawn": _("Withdrawn"),
              "completed": _("Completed"), "terminated": _("Terminated"), "renewed": _("Renewed"),
              "registered": _("Registered"), "missed": _("Missed"), "imported": _("Imported"),
              "exited": _("Exited"), "corrected": _("Corrected"), "closed": _("Closed")}
    return labels.get(outcome, outcome)


def kind_label(kind: str) -> str:
    labels = {"task_new": _("A new task for me or my role"), "task_due_soon": _("A task is due within a day"),
              "task_overdue": _("A task is overdue"), "request_decided": _("My request was decided"),
              "agreement_expiring": _("An agreement of my organisation nears its expiry")}
    return labels.get(kind, kind)


def process_name(name: str) -> str:
    """Process names are written "中文 / English"; the half for the current language."""
    if " / " not in name:
        return name
    zh, en = name.split(" / ", 1)
    return en if str(get_locale() or "zh").startswith("en") else zh


def _locale(locale: str | None) -> str:
    return locale if locale in LOCALES else "zh_CN"


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class NotificationPage:
    items: list[Notification]
    total: int
    unread: int
    page: int
    per_page: int
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pages", max(1, -(-self.total // self.per_page)))


def list_for(session: Session, user: User, *, unread_only: bool = False, page: int = 1,
             per_page: int = 20) -> NotificationPage:
    """The user's own notifications, newest first."""
    page, per_page = max(1, page), min(max(1, per_page), 100)
    query = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    items = session.execute(query.order_by(Notification.id.desc()).limit(per_page)
                            .offset((page - 1) * per_page)).scalars().all()
    return NotificationPage(list(items), total, unread_count(session, user), page, per_page)


def unread_count(session: Session, user: User) -> int:
    """How many of the user's notifications are unread (the bell)."""
    return session.execute(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))).scalar_one()


def mark_read(session: Session, user: User, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (again: no change). Raises NotFoundError
    for another user's notification as for one that does not exist."""
    note = session.execute(select(Notification).where(
        Notification.id == notification_id, Notification.user_id == user.id)).scalar_one_or_none()
    if note is None:
        raise NotFoundError(f"no notification {notification_id}")
    if note.read_at is None:
        note.read_at = clock.now()
        session.flush()
    return note


def mark_all_read(session: Session, user: User) -> int:
    """Mark every unread notification of the user read; returns how many."""
    result = session.execute(update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)).values(read_at=clock.now()))
    return int(getattr(result, "rowcount", 0) or 0)


def _stored_preferences(session: Session, user_ids: list[int]) -> dict[tuple[int, str], Preference]:
    rows = session.execute(_preferences_statement(), {"user_ids": user_ids})
    return {(p.user_id, p.kind): Preference(p.in_app, p.email) for p in rows}


@cache
def _preferences_statement() -> Select[int, str, bool, bool]:
    p = NotificationPreference
    return select(p.user_id, p.kind, p.in_app, p.email).where(p.user_id.in_(bindparam("user_ids", expanding=True)))


def preferences(session: Session, user: User) -> dict[str, Preference]:
    """Every kind with the user's choice (the default, in-app and e-mail, where none is stored)."""
    stored = _stored_preferences(session, [user.id])
    return {kind: stored.get((user.id, kind), Preference()) for kind in KINDS}


def set_preferences(session: Session, user: User, choices: Mapping[str, Preference]) -> None:
    """Store the user's choices for the kinds given. Raises ValidationError for an unknown kind."""
    unknown = sorted(set(choices) - set(KINDS))
    if unknown:
        raise ValidationError(_("Unknown notification kind."), [FieldError(k, _("Unknown notification kind.")) for k in unknown])
    stored = {p.kind: p for p in session.execute(select(NotificationPreference).where(
        NotificationPreference.user_id == user.id)).scalars()}
    for kind, choice in choices.items():
        row = stored.get(kind) or NotificationPreference(user_id=user.id, kind=kind)
        row.in_app, row.email = bool(choice.in_app), bool(choice.email)
        session.add(row)
    session.flush()


# --------------------------------------------------------------------------- the outbox


def due_email_ids(session: Session, limit: int = 200) -> list[int]:
    """Outbox rows waiting to be sent whose time has come, oldest first."""
    return list(session.execute(
        select(EmailOutbox.id).where(EmailOutbox.status == "pending", EmailOutbox.next_attempt_at <= clock.now())
        .order_by(EmailOutbox.next_attempt_at, EmailOutbox.id).limit(limit)).scalars())


def skip_pending(session: Session) -> int:
    """E-mail is off (no SMTP server configured): mark every waiting row skipped."""
    result = session.execute(update(EmailOutbox).where(EmailOutbox.status == "pending")
                             .values(status="skipped", last_error="e-mail is off (no GRANTFLOW_SMTP_HOST)"))
    return int(getattr(result, "rowcount", 0) or 0)


def claim_email(session: Session, email_id: int, retry_seconds: int) -> OutgoingEmail | None:
    """Count an attempt on a due row and push its next try back (so a crash while sending
    retries later instead of never); None when it is not due any more (sent meanwhile)."""
    row = session.execute(select(EmailOutbox).where(EmailOutbox.id == email_id).with_for_update()
                          .execution_options(populate_existing=True)).scalar_one_or_none()
    now = clock.now()
    if row is None or row.status != "pending" or row.next_attempt_at > now:
        return None
    row.attempts += 1
    row.next_attempt_at = now + retry_delay(row.attempts, retry_seconds)
    session.flush()
    return OutgoingEmail(row.id, row.recipient, row.subject, row.body)


def retry_delay(attempts: int, retry_seconds: int) -> timedelta:
    """The wait after the ``attempts``-th failure: doubling from ``retry_seconds``, at most 6 hours."""
    return min(timedelta(seconds=retry_seconds) * 2 ** min(max(attempts - 1, 0), 20), MAX_RETRY_DELAY)


def record_delivery(session: Session, email_id: int, error: str | None, *, max_attempts: int,
                    permanent: bool = False) -> str:
    """Record how an attempt went: sent; or the error kept and, after ``max_attempts`` (or a
    permanent refusal), given up as failed. Returns the row's status."""
    row = session.get(EmailOutbox, email_id)
    if row is None:
        raise NotFoundError(f"no outbox row {email_id}")
    if error is None:
        row.status, row.sent_at, row.last_error = "sent", clock.now(), None
    else:
        row.last_error = error[:2000]
        if permanent or row.attempts >= max_attempts:
            row.status = "failed"
    session.flush()
    return row.status
