"""The inbox and task actions: claim, unclaim, complete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload, undefer
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from app import engine
from app.errors import (
    ConflictError,
    FieldError,
    ForbiddenError,
    NotFoundError,
    TaskNotReadyError,
    ValidationError,
)
from app.models import (
    Agreement,
    HumanTask,
    ProcessDefinition,
    ProcessInstance,
    RoleMembership,
    User,
)
from app.services import actions, audit, form_versions
from app.services.access import can_see_task, instance_visible_clause, task_visible_clause
from app.services.clock import clock
from app.services.processes import apply_result, lock_task, spec_json

INBOX_STATUSES = ("open", "mine", "completed")
# What an inbox row shows besides the task: the case's key and title, assignee, organisation.
_ROW_OPTIONS = (
    joinedload(HumanTask.instance).load_only(ProcessInstance.business_key, ProcessInstance.title,
                                             ProcessInstance.process_key, ProcessInstance.status),
    selectinload(HumanTask.assignee),
    selectinload(HumanTask.candidate_org),
    undefer(HumanTask.context),
)


@dataclass(frozen=True)
class InboxPage:
    items: list[HumanTask]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def inbox(
    session: Session, user: User, *, status: str = "open", process_key: str | None = None,
    page: int = 1, per_page: int = 20,
) -> InboxPage:
    """The user's tasks, soonest due first. ``status``: open (unclaimed or mine), mine
    (claimed by me), completed (completed by me). Reads the task table only (and, for the
    rows shown, the case's key and title); never an instance's engine state."""
    if status not in INBOX_STATUSES:
        raise ValidationError("unknown status", [FieldError("status", f"one of {', '.join(INBOX_STATUSES)}")])
    page, per_page = max(1, page), min(max(1, per_page), 100)
    order: tuple[Any, ...]
    conditions: list[ColumnElement[bool]]
    if status == "completed":
        conditions = [HumanTask.status == "completed", HumanTask.completed_by_id == user.id]
        order = (HumanTask.completed_at.desc(), HumanTask.id)
    else:
        conditions = [HumanTask.status == "open", task_visible_clause(user)]
        if status == "mine":
            conditions.append(HumanTask.assignee_id == user.id)
        else:
            conditions.append(or_(HumanTask.assignee_id.is_(None), HumanTask.assignee_id == user.id))
        order = (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at, HumanTask.id)
    if process_key:
        conditions.append(HumanTask.process_key == process_key)
    total = session.execute(select(func.count(HumanTask.id)).where(*conditions)).scalar_one()
    # Two steps: the page's ids come from the inbox index alone (it covers every column the
    # filter and the order use), then only those rows are read.
    ids = list(session.execute(
        select(HumanTask.id).where(*conditions).order_by(*order).limit(per_page).offset((page - 1) * per_page)
    ).scalars())
    rows = {t.id: t for t in session.execute(
        select(HumanTask).where(HumanTask.id.in_(ids)).options(*_ROW_OPTIONS)).scalars()} if ids else {}
    return InboxPage([rows[i] for i in ids if i in rows], total, page, per_page)


def open_count(session: Session, user: User) -> int:
    """How many open tasks wait for the user (the header badge)."""
    return session.execute(
        select(func.count(HumanTask.id)).where(
            HumanTask.status == "open", task_visible_clause(user),
            or_(HumanTask.assignee_id.is_(None), HumanTask.assignee_id == user.id),
        )
    ).scalar_one()


def get_task(session: Session, user: User, task_id: str) -> HumanTask:
    """A task the user may see (open for their role and organisation, or completed by them).

    Raises ForbiddenError if the user may see the instance but the task is not theirs,
    NotFoundError otherwise (existence is not revealed)."""
    return _visible(session, user, session.get(HumanTask, str(task_id)[:36]), task_id)


def _visible(session: Session, user: User, task: HumanTask | None, task_id: str) -> HumanTask:
    """``task`` if ``user`` may see it; ForbiddenError or NotFoundError as ``get_task`` says."""
    if task is not None and (can_see_task(user, task) or task.completed_by_id == user.id):
        return task
    if task is not None and session.execute(
        select(ProcessInstance.id).where(ProcessInstance.id == task.instance_id, instance_visible_clause(user))
    ).first():
        raise ForbiddenError(_("This task is for another role or organisation."))
    raise NotFoundError(f"no task {task_id}")


def _open_task_locked(session: Session, user: User, task_id: str) -> tuple[HumanTask, ProcessInstance]:
    """The task and its instance, read together once the instance row is locked, so that
    concurrent actions queue and see each other. Raises NotFoundError, ForbiddenError,
    TaskNotReadyError."""
    found = lock_task(session, str(task_id)[:36])
    task = _visible(session, user, found[0] if found else None, task_id)
    assert found is not None
    instance = found[1]
    # The task holds its (locked, loaded) instance: what reads task.instance later in the
    # request finds it here instead of loading it again.
    set_committed_value(task, "instance", instance)
    if instance.status != "running":
        raise TaskNotReadyError(_("The case is already closed."))
    if task.status != "open":
        raise TaskNotReadyError(_("The task has already been completed or withdrawn."))
    return task, instance


def claim(session: Session, user: User, task_id: str) -> HumanTask:
    """Assign an open task to the user. Raises NotFoundError, TaskNotReadyError, ConflictError."""
    task, _instance = _open_task_locked(session, user, task_id)
    if task.assignee_id not in (None, user.id):
        raise ConflictError(_("Someone else has claimed this task."))
    if task.assignee_id != user.id:
        task.assignee = user
        audit.record(session, "task.claimed", actor=user, instance_id=task.instance_id, task_id=task.id,
                     payload={"title": task.title})
    session.flush()
    return task


def unclaim(session: Session, user: User, task_id: str) -> HumanTask:
    """Give a claimed task back to the role. Raises NotFoundError, ConflictError."""
    task, _instance = _open_task_locked(session, user, task_id)
    if task.assignee_id != user.id:
        raise ConflictError(_("Only the user who claimed the task can release it."))
    task.assignee = None
    audit.record(session, "task.unclaimed", actor=user, instance_id=task.instance_id, task_id=task.id,
                 payload={"title": task.title})
    session.flush()
    return task


def complete(session: Session, user: User, task_id: str, data: Any) -> HumanTask:
    """Complete a task with form ``data``: validate, run the engine, store state, task rows
    and the audit entry, all in the caller's transaction.

    Raises NotFoundError (not visible), TaskNotReadyError / ConflictError (already done,
    claimed by another, changed meanwhile), ValidationError (field errors), EngineError.
    """
    task, instance = _open_task_locked(session, user, task_id)
    if task.assignee_id not in (None, user.id):
        raise ConflictError(_("Someone else has claimed this task."))
    if task.form_key:
        form_versions.validate(session, task.form_key, data, version=task.form_version)
        _check_extra(session, task.form_key, data)
    result = engine.complete_task(
        spec_json(instance.definition), instance.state, instance.state_version, task.id,
        {task.spec_id: data}, actions=actions.bind(session, instance, user), now=clock.now(),
    )
    now = clock.now()
    task.status = "completed"
    task.assignee = user
    task.completed_by_id = user.id
    task.completed_at = now
    task.decision = str(data.get("decision") or data.get("action") or "")[:32] or None
    audit.record(
        session, "task.completed", actor=user, instance_id=instance.id, task_id=task.id,
        payload={"element": task.spec_id, "title": task.title, "decision": task.decision,
                 "comment": data.get("comment"), "data": data},
    )
    apply_result(session, instance, result, actor=user)
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError(_("Someone else changed this meanwhile; reload and try again.")) from None
    return task


def _check_extra(session: Session, form_key: str, data: dict[str, Any]) -> None:
    """Checks that need the database, beyond the schema."""
    if form_key == "service_agreement_record":
        taken = session.execute(
            select(Agreement.id).where(Agreement.number == data.get("agreement_no"))
        ).scalar_one_or_none()
        if taken is not None:
            raise ValidationError(_("Some fields need attention."),
                                  [FieldError("agreement_no", _("This agreement number is already in use."))])
        if data.get("valid_until") and data.get("signed_on") and data["valid_until"] <= data["signed_on"]:
            raise ValidationError(_("Some fields need attention."),
                                  [FieldError("valid_until", _("Must be after the signing date."))])


# --------------------------------------------------------------------------- hand-over and bulk

BULK_ACTIONS = ("claim", "approve")
BULK_MAX_TASKS = 100
BULK_COMMENT_MAX = 4000


def colleagues(session: Session, user: User, task: HumanTask) -> list[User]:
    """The active users, other than ``user`` and the task's assignee, who may do ``task``: its
    role and, for an organisation's task, that organisation (the inbox's rule), by name."""
    holders = select(RoleMembership.user_id).where(RoleMembership.role == task.role)
    candidates = session.execute(select(User).where(User.id.in_(holders), User.is_active.is_(True))).scalars()
    return sorted((u for u in candidates if u.id not in (user.id, task.assignee_id) and can_see_task(u, task)),
                  key=lambda u: (u.display_name, u.username))


def reassign(session: Session, actor: User, task_id: str, to_username: str) -> HumanTask:
    """Hand an open task to a colleague who may do it too (``colleagues``), with the audit
    entry "task.reassigned" {from, to}, in the caller's transaction. The actor must hold the
    task or, when nobody has claimed it, be one who may do it.

    Raises NotFoundError / ForbiddenError (not the actor's task to hand on), TaskNotReadyError
    (no longer open), ValidationError on ``username`` (no such colleague, or one who may not
    do the task: the same answer, so that other organisations' accounts are not revealed)."""
    task, _instance = _open_task_locked(session, actor, task_id)
    if task.assignee_id not in (None, actor.id):
        raise ForbiddenError(_("Only the user who claimed the task can hand it on."))
    name = to_username.strip()[:64] if isinstance(to_username, str) else ""
    colleague = session.execute(select(User).where(User.username == name)).scalar_one_or_none() if name else None
    if colleague is not None and colleague.id == actor.id:
        problem = _("Choose a colleague; to take the task yourself, claim it.")
    elif colleague is None or not colleague.is_active or not can_see_task(colleague, task):
        problem = _("%(username)s is not a colleague who may do this task.", username=name or "—")
    else:
        previous = task.assignee.username if task.assignee else None
        task.assignee = colleague
        audit.record(session, "task.reassigned", actor=actor, instance_id=task.instance_id, task_id=task.id,
                     payload={"title": task.title, "from": previous, "to": colleague.username})
        session.flush()
        return task
    raise ValidationError(_("The task could not be handed on."), [FieldError("username", problem)])


@dataclass(frozen=True)
class BulkRequest:
    action: str
    task_ids: list[str]
    comment: str


@dataclass(frozen=True)
class BulkOutcome:
    """What became of one task of a bulk request: done, or refused with the error's code and message."""

    task_id: str
    done: bool
    title: str | None = None
    error: str | None = None
    message: str | None = None
    errors: tuple[FieldError, ...] = ()  # a refused completion's field errors (the step's form)


def bulk_request(action: Any, task_ids: Any, comment: Any = "") -> BulkRequest:
    """Check a bulk request: ``action`` claim or approve, 1 to ``BULK_MAX_TASKS`` task ids
    (repeats dropped), and for approve a comment. Raises ValidationError naming each field."""
    errors = []
    if action not in BULK_ACTIONS:
        errors.append(FieldError("action", _("Choose claim or approve.")))
    ids = list(dict.fromkeys(str(t).strip() for t in task_ids if str(t).strip())) \
        if isinstance(task_ids, list | tuple) else []
    if not ids:
        errors.append(FieldError("task_ids", _("Select at least one task.")))
    elif len(ids) > BULK_MAX_TASKS:
        errors.append(FieldError("task_ids", _("At most %(n)s tasks at a time.", n=BULK_MAX_TASKS)))
    text = comment.strip() if isinstance(comment, str) else ""
    if action == "approve" and not text:
        errors.append(FieldError("comment", _("Approving several tasks at once needs a comment.")))
    elif len(text) > BULK_COMMENT_MAX:
        errors.append(FieldError("comment", _("At most %(n)s characters.", n=BULK_COMMENT_MAX)))
    if errors:
        raise ValidationError(_("The selected tasks were not changed."), errors)
    return BulkRequest(str(action), ids, text)


def bulk_approvable(session: Session, task_ids: list[str]) -> set[str]:
    """Those of ``task_ids`` whose step carries ``bulkApprovable`` in the version its instance runs."""
    if not task_ids:
        return set()
    rows = session.execute(
        select(HumanTask.id, HumanTask.spec_id, ProcessDefinition.meta)
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .where(HumanTask.id.in_([str(t)[:36] for t in task_ids]))
    )
    return {task_id for task_id, spec_id, meta in rows
            if (meta or {}).get("tasks", {}).get(spec_id, {}).get("bulk_approvable")}


def bulk_one(session: Session, user: User, request: BulkRequest, task_id: str) -> HumanTask:
    """Do a bulk request's action on one task, in the caller's transaction (the edge gives each
    task its own). Approve is for bulk-approvable steps only: it completes the task with
    {"decision": "approve", "comment": ...}, validated by the step's form like any completion.

    Raises what claim() and complete() raise, and ValidationError for a step that must be
    decided on its own page."""
    if request.action == "claim":
        return claim(session, user, task_id)
    task = get_task(session, user, task_id)
    if task.id not in bulk_approvable(session, [task.id]):
        raise ValidationError(_("This step cannot be approved in bulk; open it and decide it there."))
    return complete(session, user, task.id, {"decision": "approve", "comment": request.comment})
