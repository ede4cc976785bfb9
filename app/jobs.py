"""Scheduler jobs: each pushes an app context and calls services, one transaction per unit.

APScheduler keeps its jobs in the application database. Several app processes may start a
scheduler; a lease row in the database lets exactly one of them do the work at a time.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy.orm import Session

from app.extensions import db
from app.services import calendar, leases, notifications, timers
from app.services.mail import DeliveryError, SmtpMailer

log = logging.getLogger(__name__)
LEASE = "scheduler"
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
_app: Flask | None = None
T = TypeVar("T")


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0  # attempts that failed (the row is retried later, or given up)
    skipped: int = 0  # e-mail is off
    deferred: int = 0  # left for the next run: the server could not be reached


@dataclass
class RunReport:
    timers_fired: int = 0
    calendar: calendar.CalendarReport | None = None
    emails: SendReport | None = None
    skipped: bool = False


def poll_timers(app: Flask) -> int:
    """Fire every due timer, each instance in its own transaction. Returns how many fired."""
    fired = 0
    with app.app_context():
        ids = timers.due_instance_ids(db.session)
        db.session.rollback()
        for instance_id in ids:
            session = db.new_session()
            try:
                if timers.fire(session, instance_id):
                    fired += 1
                session.commit()
            except Exception:
                session.rollback()
                log.exception("timer poll failed for instance %s", instance_id)
            finally:
                session.close()
    return fired


def run_calendar(app: Flask) -> calendar.CalendarReport:
    """Apply the compliance calendar in one transaction."""
    with app.app_context():
        session = db.new_session()
        try:
            report = calendar.run(session)
            session.commit()
            return report
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()


def send_emails(app: Flask) -> SendReport:
    """Send the due outbox e-mails, each attempt recorded in its own transaction, with the
    SMTP conversation outside any transaction. Without GRANTFLOW_SMTP_HOST they are skipped."""
    settings = app.config["GRANTFLOW"].smtp
    report = SendReport()
    with app.app_context():
        if settings is None:
            report.skipped = _in_transaction(notifications.skip_pending)
            return report
        ids = notifications.due_email_ids(db.session)
        db.session.rollback()
        with SmtpMailer(settings) as mailer:
            for index, email_id in enumerate(ids):
                email = _in_transaction(partial(notifications.claim_email, email_id=email_id,
                                                retry_seconds=settings.retry_seconds))
                if email is None:
                    continue
                error: DeliveryError | None = None
                try:
                    mailer.send(email)
                    report.sent += 1
                except DeliveryError as exc:
                    error = exc
                    report.failed += 1
                    log.warning("e-mail %s to %s not sent: %s", email.id, email.recipient, exc.message)
                _in_transaction(partial(notifications.record_delivery, email_id=email.id,
                                        error=error.message if error else None, max_attempts=settings.max_attempts,
                                        permanent=bool(error and error.permanent)))
                if error is not None and error.connection:
                    report.deferred = len(ids) - index - 1  # the server is away: try the rest next time
                    break
    return report


def _in_transaction(work: Callable[[Session], T]) -> T:
    """Run ``work`` in a new session and commit it (roll back on error)."""
    session = db.new_session()
    try:
        result = work(session)
        session.commit()
        return result
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def run_due(app: Flask, *, holder: str = HOLDER, use_lease: bool = True) -> RunReport:
    """Everything that is due: timers, then the calendar, then the e-mail outbox; only by the
    lease holder. A failure while sending e-mail is logged and leaves the rest done."""
    if use_lease and not _hold_lease(app, holder):
        return RunReport(skipped=True)
    fired = poll_timers(app)
    report = RunReport(timers_fired=fired, calendar=run_calendar(app))
    try:
        report.emails = send_emails(app)
    except Exception:
        log.exception("sending notification e-mail failed")
    return report


def _hold_lease(app: Flask, holder: str) -> bool:
    settings = app.config["GRANTFLOW"]
    with app.app_context():
        session = db.new_session()
        try:
            held = leases.acquire(session, LEASE, holder, ttl_seconds=settings.timer_poll_seconds * 3)
            session.commit()
            return held
        finally:
            session.close()


def scheduled_run_due() -> None:
    """The job APScheduler runs (referenced by name, so the job store can keep it)."""
    if _app is not None:
        try:
            run_due(_app)
        except Exception:
            log.exception("scheduled run failed")


def init_app(app: Flask) -> None:
    """Start the scheduler when configured to, never in the reloader's parent or in tests."""
    global _app
    settings = app.config["GRANTFLOW"]
    if not settings.scheduler or settings.testing:
        return
    if app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        return
    _app = app
    scheduler = BackgroundScheduler(timezone="UTC", jobstores={"default": SQLAlchemyJobStore(engine=db.engine)})
    scheduler.add_job("app.jobs:scheduled_run_due", "interval", seconds=settings.timer_poll_seconds,
                      id="run_due", name="timers and compliance calendar", max_instances=1, coalesce=True,
                      replace_existing=True)
    scheduler.start()
    app.extensions["grantflow.scheduler"] = scheduler
