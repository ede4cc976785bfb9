"""Firing due BPMN timers: the scheduler's poll calls these, one instance per transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from app import engine
from app.models import ProcessInstance
from app.services import actions, audit
from app.services.clock import clock
from app.services.processes import apply_result, spec_json


def due_instance_ids(session: Session, limit: int = 500) -> list[int]:
    """Running instances whose next timer is due now (uses the (status, next_timer_at) index)."""
    return list(
        session.execute(
            select(ProcessInstance.id)
            .where(ProcessInstance.status == "running", ProcessInstance.next_timer_at <= clock.now())
            .order_by(ProcessInstance.next_timer_at)
            .limit(limit)
        ).scalars()
    )


def fire(session: Session, instance_id: int) -> bool:
    """Run the due timers of one instance. Returns False when nothing was due any more
    (another worker got there first), so a timer never fires twice."""
    instance = session.execute(
        select(ProcessInstance).where(ProcessInstance.id == instance_id)
        .with_for_update(of=ProcessInstance).options(undefer(ProcessInstance.state))
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if instance is None or instance.status != "running" or instance.next_timer_at is None \
            or instance.next_timer_at > clock.now():
        return False
    result = engine.fire_timers(spec_json(instance.definition), instance.state, instance.state_version,
                                actions=actions.bind(session, instance, None), now=clock.now())
    audit.record(session, "timer.fired", actor=None, instance_id=instance.id, org_id=instance.org_id,
                 payload={"due": instance.next_timer_at.isoformat()})
    apply_result(session, instance, result, actor=None)
    return True
