"""BPMN timers driven by the clock service and fired by the scheduler's poll job, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from app import jobs
from app.extensions import db
from app.models import AuditEvent, HumanTask, ProcessInstance
from app.services import definitions, processes, timers
from app.services.clock import clock
from tests.helpers import user

FIXTURE = Path(__file__).parent / "fixtures" / "deadline.bpmn"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _start(session):
    definitions.deploy(session, {"deadline.bpmn": FIXTURE.read_bytes()}, actor=None)
    clock.set(T0)
    instance = processes.start(session, user(session, "operator"), "deadline_test", {})
    session.commit()
    return instance


def test_due_time_and_next_timer_come_from_the_clock(session):
    instance = _start(session)
    assert instance.next_timer_at == T0 + timedelta(hours=2)
    task = session.execute(select(HumanTask).where(HumanTask.instance_id == instance.id)).scalar_one()
    assert task.due_at == T0 + timedelta(hours=2)
    clock.set(T0 + timedelta(hours=1))
    assert timers.due_instance_ids(session) == []


def test_poll_fires_a_due_timer_exactly_once(app, session):
    iid = _start(session).id
    clock.set(T0 + timedelta(hours=3))
    assert timers.due_instance_ids(session) == [iid]
    session.rollback()  # the poll job works in sessions of its own
    assert jobs.poll_timers(app) == 1
    assert jobs.poll_timers(app) == 0  # a second run (or a second scheduler) changes nothing

    with app.app_context():
        row = db.session.get(ProcessInstance, iid)
        assert (row.status, row.outcome, row.next_timer_at) == ("completed", "expired", None)
        task = db.session.execute(select(HumanTask).where(HumanTask.instance_id == iid)).scalar_one()
        assert task.status == "cancelled"
        fired = db.session.execute(select(func.count(AuditEvent.id)).where(
            AuditEvent.instance_id == iid, AuditEvent.action == "timer.fired")).scalar_one()
        assert fired == 1


def test_firing_a_timer_that_is_not_due_does_nothing(session):
    instance = _start(session)
    clock.set(T0 + timedelta(minutes=5))
    assert timers.fire(session, instance.id) is False
    session.rollback()
    assert session.get(ProcessInstance, instance.id).status == "running"
