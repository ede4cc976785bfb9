"""The compliance calendar: rules that follow from agreements and deadlines, run by the
scheduler (and by `flask timers run-due`). Every rule marks what it did, so running it twice,
or after a restart, changes nothing twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Agreement, HumanTask, Organisation, ProcessDefinition
from app.services import audit, notifications
from app.services.actions.agreements import end_agreement
from app.services.actions.grants import revoke_all
from app.services.actions.registry import ActionContext
from app.services.clock import clock
from app.services.guards import renewal_window

REMINDER_HORIZON = timedelta(hours=24)


@dataclass
class CalendarReport:
    renewal_windows_opened: int = 0
    agreements_expired: int = 0
    reminders: int = 0
    overdue_notices: int = 0


def run(session: Session) -> CalendarReport:
    """Apply every calendar rule once. Flushes; the caller commits."""
    return CalendarReport(
        renewal_windows_opened=note_renewal_windows(session),
        agreements_expired=handle_expiries(session),
        reminders=remind_due_tasks(session),
        overdue_notices=notifications.notify_overdue(session),
    )


def note_renewal_windows(session: Session) -> int:
    """Art. 15: record once, for each active operation agreement, that its renewal window opened."""
    today = clock.now().date()
    count = 0
    for agreement in session.execute(
        select(Agreement).where(Agreement.kind == "operation", Agreement.status == "active",
                                Agreement.renewal_window_noted_at.is_(None))
    ).scalars():
        opens, closes = renewal_window(agreement.valid_until)
        if opens <= today:
            agreement.renewal_window_noted_at = clock.now()
            audit.record(session, "agreement.renewal_window_opened", actor=None, org_id=agreement.org_id,
                         payload={"number": agreement.number, "opens": opens.isoformat(), "closes": closes.isoformat()})
            notifications.agreement_expiring(session, agreement, closes)
            count += 1
    session.flush()
    return count


def handle_expiries(session: Session) -> int:
    """Art. 15-16: an agreement not renewed by its expiry ends. The operation agreement goes
    through `agreement_termination` (permissions closed at once, logs kept, hand-over); a
    partner's service agreement ends here with its grants closed and its logs kept."""
    today = clock.now().date()
    count = 0
    for agreement in session.execute(
        select(Agreement).where(Agreement.status == "active", Agreement.valid_until < today,
                                Agreement.expiry_handled_at.is_(None))
    ).scalars().all():
        agreement.expiry_handled_at = clock.now()
        org = session.get(Organisation, agreement.org_id)
        assert org is not None
        reason = f"agreement {agreement.number} expired on {agreement.valid_until.isoformat()} without renewal"
        if agreement.kind == "operation" and _deployed(session, "agreement_termination"):
            from app.services import processes

            processes.start_system(session, "agreement_termination", org, {
                "reason": reason, "source": agreement.number, "forced": True, "operator_org": org.code})
        else:
            ctx = ActionContext(session, None, None)
            end_agreement(ctx, agreement, reason)
            revoke_all(ctx, org if agreement.kind == "service" else None, reason)
        count += 1
    session.flush()
    return count


def remind_due_tasks(session: Session) -> int:
    """Record once a reminder for each open task due within the next 24 hours, and tell the
    users who see it (due soon, or overdue if it already is)."""
    now = clock.now()
    count = 0
    reminded: list[HumanTask] = []
    for task in session.execute(
        select(HumanTask).where(HumanTask.status == "open", HumanTask.reminded_at.is_(None),
                                HumanTask.due_at.is_not(None), HumanTask.due_at <= now + REMINDER_HORIZON)
    ).scalars():
        task.reminded_at = now
        reminded.append(task)
        audit.record(session, "task.reminder", actor=None, instance_id=task.instance_id, task_id=task.id,
                     payload={"title": task.title, "due_at": task.due_at.isoformat() if task.due_at else None,
                              "overdue": bool(task.due_at and task.due_at <= now)})
        count += 1
    notifications.tasks_due(session, reminded)
    session.flush()
    return count


def _deployed(session: Session, process_key: str) -> bool:
    return session.execute(
        select(ProcessDefinition.id).where(ProcessDefinition.process_key == process_key).limit(1)
    ).first() is not None
