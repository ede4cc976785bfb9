"""Scheduler jobs: each pushes an app context and calls services, one transaction per unit.

APScheduler keeps its jobs in the application database. Several app processes may start a
scheduler; a lease row in the database lets exactly one of them do the work at a time.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from app.extensions import db
from app.services import calendar, leases, timers

log = logging.getLogger(__name__)
LEASE = "scheduler"
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
_app: Flask | None = None


@dataclass
class RunReport:
    timers_fired: int = 0
    calendar: calendar.CalendarReport | None = None
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


def run_due(app: Flask, *, holder: str = HOLDER, use_lease: bool = True) -> RunReport:
    """Everything that is due: timers, then the calendar; only by the lease holder."""
    if use_lease and not _hold_lease(app, holder):
        return RunReport(skipped=True)
    fired = poll_timers(app)
    return RunReport(timers_fired=fired, calendar=run_calendar(app))


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
