"""Who may see and do what: the rules shared by the inbox, tasks and instances."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_, select, true

from app.models import HumanTask, ProcessInstance, User
from app.services.roles import OVERSIGHT_ROLES


def task_visible_clause(user: User) -> ColumnElement[bool]:
    """SQL condition: the task is for one of the user's roles and, if bound to an
    organisation, to the user's organisation or one it acts for."""
    return and_(
        HumanTask.role.in_(sorted(user.roles)) if user.roles else ~true(),
        or_(HumanTask.candidate_org_id.is_(None), HumanTask.candidate_org_id.in_(sorted(user.acting_org_ids))),
    )


def can_see_task(user: User, task: HumanTask) -> bool:
    return task.role in user.roles and (task.candidate_org_id is None or task.candidate_org_id in user.acting_org_ids)


def instance_visible_clause(user: User) -> ColumnElement[bool]:
    """SQL condition: the user oversees all instances, owns this one (same organisation or
    started it), or has (or had) a task on it."""
    if user.roles & OVERSIGHT_ROLES:
        return true()
    took_part = exists(
        select(HumanTask.id).where(
            HumanTask.instance_id == ProcessInstance.id,
            or_(task_visible_clause(user), HumanTask.completed_by_id == user.id),
        )
    )
    return or_(
        ProcessInstance.org_id == user.org_id,
        ProcessInstance.started_by_id == user.id,
        took_part,
    )
