"""Scheduler jobs: each pushes an app context and calls one service."""

from __future__ import annotations

import logging
import os

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from app.extensions import db
from app.services import timers

log = logging.getLogger(__name__)


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


def init_app(app: Flask) -> None:
    """Start the scheduler when configured to, never in the reloader's parent or in tests."""
    settings = app.config["GRANTFLOW"]
    if not settings.scheduler or settings.testing:
        return
    if app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        return
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(poll_timers, "interval", args=[app], seconds=settings.timer_poll_seconds,
                      id="poll_timers", max_instances=1, coalesce=True, replace_existing=True)
    scheduler.start()
    app.extensions["grantflow.scheduler"] = scheduler
