"""Moving running instances to another version of their process.

:func:`plan_migration` picks the instances, :func:`preview_migration` tells for each whether
it can move and how its open tasks map, and :func:`migrate_one` moves **one** instance in the
caller's transaction: the caller (a route, a job) loops, committing or rolling back per
instance, so that one refusal never undoes another instance's migration.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import engine
from app.engine import ReadyTask
from app.errors import ConflictError, ValidationError
from app.models import HumanTask, ProcessDefinition, ProcessInstance, User
from app.services import actions, audit, definitions, form_versions, notifications, processes
from app.services.clock import clock
from app.services.designer.access import require_admin
from app.services.designer.versions import get_definition
from app.services.durations import parse_duration

MIGRATABLE_STATUSES = ("running",)


@dataclass(frozen=True)
class MigrationPlan:
    process_key: str
    from_version: int
    to_version: int
    instance_ids: list[int]
    business_keys: dict[int, str]  # of the instances that exist


@dataclass(frozen=True)
class TaskPreview:
    element: str
    title: str
    maps_to: str | None  # the element id in the new version; None when it cannot map


@dataclass(frozen=True)
class InstancePreview:
    instance_id: int
    business_key: str | None
    can_migrate: bool
    reason: str | None
    tasks: list[TaskPreview]


@dataclass(frozen=True)
class MigrationOutcome:
    instance_id: int
    business_key: str | None
    migrated: bool
    reason: str | None
    from_version: int
    to_version: int


def plan_migration(
    session: Session, user: User, process_key: str, from_version: int, to_version: int | None = None,
    instance_ids: list[int] | None = None, status: str = "running",
) -> MigrationPlan:
    """The instances to move from ``from_version`` to ``to_version`` (default: the newest):
    ``instance_ids`` in the given order, or every instance on ``from_version`` in ``status``.

    Raises ForbiddenError (not an admin), NotFoundError (no such version), ValidationError
    (same version twice, unknown status).
    """
    require_admin(user)
    if status not in MIGRATABLE_STATUSES:
        raise ValidationError("Only running instances can be migrated.")
    source = get_definition(session, process_key, from_version)
    target = definitions.latest(session, process_key) if to_version is None else get_definition(
        session, process_key, to_version)
    if source.id == target.id:
        raise ValidationError(_("Choose another version to migrate to."))
    if instance_ids is None:
        ids = list(session.execute(
            select(ProcessInstance.id).where(ProcessInstance.definition_id == source.id,
                                             ProcessInstance.status == status)
            .order_by(ProcessInstance.id)
        ).scalars())
    else:
        ids = list(dict.fromkeys(instance_ids))
    keys = {instance_id: key for instance_id, key in session.execute(
        select(ProcessInstance.id, ProcessInstance.business_key).where(ProcessInstance.id.in_(ids)))}
    return MigrationPlan(process_key, source.version, target.version, ids, keys)


def preview_migration(
    session: Session, user: User, process_key: str, from_version: int, to_version: int | None = None,
    instance_ids: list[int] | None = None, status: str = "running",
) -> list[InstancePreview]:
    """For each planned instance: whether it can migrate, why not, and how its open tasks map.
    Stores nothing. Raises like :func:`plan_migration`."""
    plan = plan_migration(session, user, process_key, from_version, to_version, instance_ids, status)
    target = get_definition(session, process_key, plan.to_version)
    rows = {row.id: row for row in session.execute(
        select(ProcessInstance).where(ProcessInstance.id.in_(plan.instance_ids))).scalars()}
    return [_preview(rows.get(instance_id), instance_id, plan, target) for instance_id in plan.instance_ids]


def _preview(instance: ProcessInstance | None, instance_id: int, plan: MigrationPlan,
             target: ProcessDefinition) -> InstancePreview:
    refusal = _refusal(instance, plan.process_key, plan.from_version, target)
    if instance is None or refusal is not None:
        return InstancePreview(instance_id, instance.business_key if instance else None, False, refusal, [])
    result = engine.preview_migration(instance.definition.spec_json, target.spec_json, instance.state,
                                      instance.state_version)
    tasks = [TaskPreview(t.element, t.title, t.maps_to) for t in result.tasks]
    return InstancePreview(instance.id, instance.business_key, result.can_migrate, result.reason, tasks)


def _refusal(instance: ProcessInstance | None, process_key: str, from_version: int | None,
             target: ProcessDefinition) -> str | None:
    """Why ``instance`` is not a candidate for this migration at all, or None."""
    if instance is None:
        return "No such instance."
    if instance.process_key != process_key:
        return f"The instance belongs to process {instance.process_key}."
    if instance.status not in MIGRATABLE_STATUSES:
        return f"The instance is {instance.status}, not running."
    if instance.definition_id == target.id:
        return f"The instance already runs on version {target.version}."
    if from_version is not None and instance.definition.version != from_version:
        return f"The instance runs on version {instance.definition.version}, not {from_version}."
    return None


def migrate_one(
    session: Session, user: User, instance_id: int, to_version: int, *,
    from_version: int | None = None, process_key: str | None = None,
) -> MigrationOutcome:
    """Move one instance to ``to_version`` of its process, in the caller's transaction.

    Locks the instance row, re-checks it (running, on ``from_version`` and of ``process_key``
    when given), migrates its state, points it at the new version, resyncs its inbox rows and
    records ``instance.migrated``. Flushes; the caller commits, or rolls back on error.
    Raises ForbiddenError (not an admin), NotFoundError (no such instance or version),
    ConflictError (not a candidate), EngineError (the instance cannot migrate: the reason
    names the element) and whatever a host action raises when the engine moves on.
    """
    require_admin(user)
    actor = session.get(User, user.id) or user
    instance = processes.lock_instance(session, instance_id)
    target = get_definition(session, instance.process_key, to_version)
    refusal = _refusal(instance, process_key or instance.process_key, from_version, target)
    if refusal is not None:
        raise ConflictError(refusal)
    source = instance.definition
    result = engine.migrate_instance(
        source.spec_json, target.spec_json, instance.state, instance.state_version,
        actions=actions.bind(session, instance, actor), now=clock.now(),
    )
    audit.record(session, "instance.migrated", actor=actor, instance_id=instance.id, org_id=instance.org_id,
                 payload={"process_key": instance.process_key, "from_version": source.version,
                          "to_version": target.version, "open": sorted({t.spec_id for t in result.ready})})
    instance.definition = target
    processes.apply_result(session, instance, result, actor=actor)
    _refresh_open_rows(session, instance, result.ready, source, target)
    session.flush()
    return MigrationOutcome(instance.id, instance.business_key, True, None, source.version, target.version)


def _refresh_open_rows(session: Session, instance: ProcessInstance, ready: list[ReadyTask],
                       source: ProcessDefinition, target: ProcessDefinition) -> None:
    """Bring the inbox rows of tasks that stayed open in line with the new version: title,
    form, articles, role and organisation (a claim is released when they change) and, when
    the step's due period changed, the due date."""
    by_id = {task.id: task for task in ready}
    old_tasks, new_tasks = source.meta.get("tasks", {}), target.meta.get("tasks", {})
    handed_over: list[HumanTask] = []
    for row in processes.open_tasks(session, instance):
        task = by_id.get(row.id)
        if task is None:
            continue
        role, org_id = task.role or "admin", processes.candidate_org(session, instance, task)
        if (role, org_id) != (row.role, row.candidate_org_id):
            row.role, row.candidate_org_id, row.assignee_id = role, org_id, None
            handed_over.append(row)
        if row.form_key != task.form_key:  # another form: its newest version; the same form: kept
            row.form_key = task.form_key
            row.form_version = form_versions.newest_version(session, task.form_key) if task.form_key else None
        row.title, row.articles = task.title, list(task.articles)
        old_due = old_tasks.get(task.spec_id, {}).get("due")
        if old_due != new_tasks.get(task.spec_id, {}).get("due"):
            row.due_at = row.created_at + parse_duration(task.due) if task.due else None
    # A task now for another role or unit is new to its new users: they are told, as when a task opens.
    notifications.tasks_created(session, instance, handed_over)
