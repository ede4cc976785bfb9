"""Starting process instances, applying engine results, reading instances and history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.orm import Session, aliased, joinedload, undefer

from app import engine
from app.engine import ReadyTask, RunResult
from app.errors import ForbiddenError, NotFoundError, ValidationError
from app.models import AuditEvent, HumanTask, Organisation, ProcessDefinition, ProcessInstance, User
from app.services import actions, audit, definitions, form_versions, intake, notifications
from app.services.access import instance_visible_clause
from app.services.clock import clock
from app.services.durations import parse_duration
from app.services.guards import start_refusal
from app.services.roles import ORG_BOUND_ROLES

# spec_json by (definition id, source hash, deployment time): a deployed definition never
# changes, so each process reads the large column once and hands the engine the same string
# every time (the engine caches the restored specs by it).
_SPEC_JSON: dict[tuple[int, str, datetime], str] = {}
_SPEC_JSON_LIMIT = 256


def spec_json(definition: ProcessDefinition) -> str:
    """The definition's serialized spec (read from the database once per process)."""
    key = (definition.id, definition.sha256, definition.deployed_at)
    value = _SPEC_JSON.get(key)
    if value is None:
        if len(_SPEC_JSON) >= _SPEC_JSON_LIMIT:
            _SPEC_JSON.clear()
        value = _SPEC_JSON[key] = definition.spec_json
    return value


@dataclass(frozen=True)
class StartableProcess:
    definition: ProcessDefinition
    can_start: bool
    reason: str | None


def startable(session: Session, user: User) -> list[StartableProcess]:
    """Every deployed process (newest version) and whether ``user`` may start it now."""
    out = []
    for definition in definitions.latest_all(session):
        reason = _start_refusal(session, user, definition)
        out.append(StartableProcess(definition, reason is None, reason))
    return out


def refusal_to_start(session: Session, user: User, definition: ProcessDefinition) -> str | None:
    """Why ``user`` may not start this definition now (role or regime rule), or None."""
    return _start_refusal(session, user, definition)


def _start_refusal(session: Session, user: User, definition: ProcessDefinition) -> str | None:
    roles = set(definition.meta.get("start_roles") or [])
    if not roles or not roles & user.roles:
        return _("Your role may not start this process.")
    return start_refusal(session, user, definition.process_key)


def start(session: Session, user: User, process_key: str, data: Any) -> ProcessInstance:
    """Start the newest version of ``process_key`` with start-form ``data``.

    Raises NotFoundError (no such process), ForbiddenError (role or organisation may not
    start it), ValidationError (field errors, or refused at intake), EngineError (the
    diagram failed to run). Nothing is stored when it raises.
    """
    definition = definitions.latest(session, process_key)
    refusal = _start_refusal(session, user, definition)
    if refusal is not None:
        raise ForbiddenError(refusal)
    form_key = definition.meta.get("start_form_key")
    if form_key:
        form_versions.validate(session, form_key, data)
    elif data not in (None, {}):
        raise ValidationError("this process takes no start data")
    extra = intake.prepare(session, user, process_key, data or {})
    start_data = {"application": data or {}, "org_id": user.org_id, "initiator": user.username, **extra}
    return _create(session, definition, user, user.organisation, start_data, _title(user, data or {}))


def start_system(session: Session, process_key: str, org: Organisation, data: dict[str, Any]) -> ProcessInstance:
    """Start ``process_key`` for ``org`` on the platform's own initiative (a calendar rule, a
    follow-up of another process): no start roles, no start form."""
    definition = definitions.latest(session, process_key)
    start_data = {"application": data, "org_id": org.id, "initiator": "system", "initiator_roles": [],
                  **intake.system_extra(session, process_key)}
    return _create(session, definition, None, org, start_data, org.name)


def _create(session: Session, definition: ProcessDefinition, user: User | None, org: Organisation,
            start_data: dict[str, Any], title: str) -> ProcessInstance:
    now = clock.now()
    instance = ProcessInstance(
        definition_id=definition.id,
        process_key=definition.process_key,
        business_key=f"TMP-{now.timestamp()}-{org.id}",
        title=title,
        status="running",
        state={},
        state_version=0,
        data={},
        started_by_id=user.id if user else None,
        org_id=org.id,
        created_at=now,
        updated_at=now,
    )
    session.add(instance)
    session.flush()
    instance.business_key = f"{_prefix(definition.process_key)}-{now:%Y}-{instance.id:06d}"
    audit.record(
        session,
        "instance.started",
        actor=user,
        instance_id=instance.id,
        org_id=org.id,
        payload={"process_key": definition.process_key, "version": definition.version,
                 "business_key": instance.business_key},
    )
    result = engine.start_instance(
        spec_json(definition), start_data, actions=actions.bind(session, instance, user), now=now
    )
    apply_result(session, instance, result, actor=user)
    return instance


def apply_result(session: Session, instance: ProcessInstance, result: RunResult, *, actor: User | None) -> None:
    """Store an engine result: state, status, outcome, timers, inbox rows and audit of the
    engine's own steps. Flushes; the caller commits."""
    now = clock.now()
    instance.state = result.state
    instance.state_version = result.state_version
    instance.data = _public_data(result.data)
    instance.next_timer_at = result.next_timer_at
    instance.updated_at = now
    for step in result.steps:
        audit.record(session, "engine.step", actor=actor, instance_id=instance.id, org_id=instance.org_id,
                     payload={"element": step.spec_id, "title": step.title, "kind": step.kind})
    _sync_tasks(session, instance, result.ready, now)
    if result.completed:
        instance.status = "completed"
        instance.outcome = str(result.data.get("outcome") or "completed")[:32]
        instance.completed_at = now
        instance.next_timer_at = None
        audit.record(session, "instance.completed", actor=actor, instance_id=instance.id,
                     org_id=instance.org_id, payload={"outcome": instance.outcome})
        notifications.instance_decided(session, instance, actor)
    session.flush()


def _sync_tasks(session: Session, instance: ProcessInstance, ready: list[ReadyTask], now: datetime) -> None:
    # The ids alone: an open row the engine no longer has ready is cancelled by one UPDATE,
    # without loading the rows (a sign-off keeps eight open while each unit decides).
    open_rows = set(session.execute(_open_task_ids(), {"instance_id": instance.id}).scalars())
    gone = open_rows - {t.id for t in ready}
    if gone:
        session.execute(update(HumanTask).where(HumanTask.id.in_(gone), HumanTask.status == "open")
                        .values(status="cancelled", completed_at=now)
                        .execution_options(synchronize_session="fetch"))
    created: list[HumanTask] = []
    new = [task for task in ready if task.id not in open_rows]
    # One look-up per organisation and per form, not per task (a sign-off opens one per unit).
    orgs = _org_ids(session, {str(task.org_hint) for task in new if task.org_hint})
    form_version = {key: form_versions.newest_version(session, key) for key in {t.form_key for t in new if t.form_key}}
    for task in new:
        created.append(
            HumanTask(
                id=task.id,
                instance_id=instance.id,
                process_key=instance.process_key,
                spec_id=task.spec_id,
                title=task.title,
                role=task.role or "admin",
                candidate_org_id=candidate_org(session, instance, task, orgs),
                form_key=task.form_key,
                form_version=form_version[task.form_key] if task.form_key else None,
                articles=list(task.articles),
                context=_public_data(task.data),
                status="open",
                due_at=now + parse_duration(task.due) if task.due else None,
                created_at=now,
            )
        )
    session.add_all(created)
    notifications.tasks_created(session, instance, created)


def _org_ids(session: Session, codes: set[str]) -> dict[str, int]:
    if not codes:
        return {}
    rows = session.execute(select(Organisation.code, Organisation.id).where(Organisation.code.in_(codes))).all()
    return {code: org_id for code, org_id in rows}


def candidate_org(session: Session, instance: ProcessInstance, task: ReadyTask,
                  known: dict[str, int] | None = None) -> int | None:
    """The organisation whose users get the task: the one its orgExpression names, the
    instance's own for organisation-bound roles, else any (None). ``known`` maps
    organisation codes already looked up to ids. Raises NotFoundError."""
    if task.org_hint:
        code = str(task.org_hint)
        org_id = (known or {}).get(code)
        if org_id is None:
            org_id = session.execute(select(Organisation.id).where(Organisation.code == code)).scalar_one_or_none()
        if org_id is None:
            raise NotFoundError(f"task {task.spec_id} names unknown organisation {task.org_hint!r}")
        return org_id
    if task.role in ORG_BOUND_ROLES:
        return instance.org_id
    return None


def _public_data(data: dict[str, Any]) -> dict[str, Any]:
    """Workflow data as stored for display: JSON only, nothing private to the engine."""
    import json

    return json.loads(json.dumps(data, default=str, ensure_ascii=False))


def _title(user: User, data: dict[str, Any]) -> str:
    """What the case is about, for lists: the applicant company (or the starter's organisation)."""
    return str(data.get("company_name") or data.get("title") or user.organisation.name)[:300]


def _prefix(process_key: str) -> str:
    return "".join(part[0] for part in process_key.split("_") if part).upper()[:4] or "P"


def get_instance(session: Session, user: User, instance_id: int) -> ProcessInstance:
    """The instance if ``user`` may see it; NotFoundError otherwise (existence is not revealed)."""
    instance = session.execute(
        select(ProcessInstance).where(ProcessInstance.id == instance_id, instance_visible_clause(user))
    ).scalar_one_or_none()
    if instance is None:
        raise NotFoundError(f"no instance {instance_id}")
    return instance


def list_instances(
    session: Session, user: User, *, process_key: str | None = None, status: str | None = None,
    q: str | None = None, org_id: int | None = None, page: int = 1, per_page: int = 20,
) -> tuple[list[ProcessInstance], int]:
    """Instances the user may see, newest first, with the total count. Filters: ``q`` a part
    of the business key (any case), ``org_id`` the owning organisation, ``process_key``, ``status``."""
    query = select(ProcessInstance).where(instance_visible_clause(user))
    if process_key:
        query = query.where(ProcessInstance.process_key == process_key)
    if status:
        query = query.where(ProcessInstance.status == status)
    if q and q.strip():
        query = query.where(ProcessInstance.business_key.icontains(q.strip(), autoescape=True))
    if org_id is not None:
        query = query.where(ProcessInstance.org_id == org_id)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(ProcessInstance.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).scalars().all()
    return list(rows), total


def instance_organisations(session: Session, user: User) -> list[Organisation]:
    """The organisations that own instances the user may see (the search's choices), by name."""
    owners = select(ProcessInstance.org_id).where(instance_visible_clause(user)).distinct()
    return list(session.execute(select(Organisation).where(Organisation.id.in_(owners)).order_by(Organisation.name))
                .scalars())


def history(session: Session, instance: ProcessInstance) -> list[AuditEvent]:
    """The instance's audit events in order (who, when, what, decision, comment), with those
    the open transaction has recorded and not written yet at the end."""
    return [*session.execute(
        select(AuditEvent).where(AuditEvent.instance_id == instance.id).order_by(AuditEvent.seq)
        .execution_options(**{audit.WITHOUT_PENDING: True})
    ).scalars(), *audit.pending(session, instance.id)]


class HistoryEntry(Protocol):
    at: datetime
    actor: str
    action: str
    payload: dict[str, Any]


def latest_history(session: Session, instance: ProcessInstance, limit: int) -> tuple[list[HistoryEntry], int]:
    """The instance's last ``limit`` audit events in order (when, who, what, payload), and how
    many it has in all: a cost that does not grow with the instance's age (both read the
    (instance, seq) index)."""
    fresh: list[HistoryEntry] = list(audit.pending(session, instance.id))  # written at the commit
    rows: list[HistoryEntry] = list(session.execute(_latest_events(), {"instance_id": instance.id, "limit": limit}))
    rows.reverse()
    stored = len(rows) if len(rows) < limit else session.execute(
        _event_count(), {"instance_id": instance.id}).scalar_one()
    return [*rows, *fresh][-limit:], stored + len(fresh)


def open_tasks(session: Session, instance: ProcessInstance) -> list[HumanTask]:
    return list(session.execute(_open_tasks(), {"instance_id": instance.id}).unique().scalars())


def progress(instance: ProcessInstance, history: list[AuditEvent], open_tasks: list[HumanTask]) -> dict[str, list[str]]:
    """Element ids for the diagram: the steps done so far and those waiting now."""
    done: list[str] = []
    for event in history:
        element = event.payload.get("element") if event.action in ("task.completed", "engine.step") else None
        if element and element not in done:
            done.append(element)
    return {"done": done, "current": sorted({t.spec_id for t in open_tasks})}


def diagram_source(instance: ProcessInstance) -> str:
    """The BPMN XML of the instance's version (the file that defines its process)."""
    sources = instance.definition.source
    for name, xml in sources.items():
        if name.endswith(".bpmn") and f'id="{instance.process_key}"' in xml:
            return xml
    return next(xml for name, xml in sources.items() if name.endswith(".bpmn"))


def lock_instance(session: Session, instance_id: int) -> ProcessInstance:
    """Lock the instance row (FOR UPDATE on PostgreSQL; SQLite transactions already hold the
    write lock) and reload it with its engine state and definition, so that concurrent
    changes queue and see each other. Raises NotFoundError."""
    instance = session.execute(
        select(ProcessInstance).where(ProcessInstance.id == instance_id)
        .with_for_update(of=ProcessInstance)
        .options(undefer(ProcessInstance.state), joinedload(ProcessInstance.definition))
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if instance is None:
        raise NotFoundError(f"no instance {instance_id}")
    return instance


def lock_task(session: Session, task_id: str) -> tuple[HumanTask, ProcessInstance] | None:
    """A task and its instance in one statement, the instance row locked as by
    :func:`lock_instance` and both reloaded; None when there is no such task."""
    row = session.execute(_task_and_instance(), {"task_id": task_id}).first()
    return (row[0], row[1]) if row is not None else None


# The statements of every completion are built once (with bind parameters): constructing one
# costs SQLAlchemy more than SQLite takes to answer it.

@cache
def _task_and_instance() -> Select[HumanTask, ProcessInstance]:
    return (select(HumanTask, ProcessInstance).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .where(HumanTask.id == bindparam("task_id"))
            .with_for_update(of=ProcessInstance)
            .options(undefer(ProcessInstance.state), joinedload(ProcessInstance.definition))
            .execution_options(populate_existing=True))


@cache
def _open_task_ids() -> Select[str]:
    return select(HumanTask.id).where(HumanTask.instance_id == bindparam("instance_id"), HumanTask.status == "open")


@cache
def _open_tasks() -> Select[HumanTask]:
    return (select(HumanTask).where(HumanTask.instance_id == bindparam("instance_id"), HumanTask.status == "open")
            .order_by(HumanTask.created_at, HumanTask.id)
            .options(joinedload(HumanTask.assignee), joinedload(HumanTask.candidate_org)))


@cache
def _open_task_rows() -> Select[*tuple[Any, ...]]:
    assignee, unit = aliased(User), aliased(Organisation)
    return (select(HumanTask.id, HumanTask.instance_id, HumanTask.process_key, HumanTask.spec_id, HumanTask.title,
                   HumanTask.role, unit.code.label("organisation"), assignee.username.label("assignee"),
                   HumanTask.status, HumanTask.form_key, HumanTask.articles, HumanTask.due_at, HumanTask.created_at)
            .outerjoin(assignee, assignee.id == HumanTask.assignee_id)
            .outerjoin(unit, unit.id == HumanTask.candidate_org_id)
            .where(HumanTask.instance_id == bindparam("instance_id"), HumanTask.status == "open")
            .order_by(HumanTask.created_at, HumanTask.id))


def open_task_rows(session: Session, instance: ProcessInstance) -> list[Any]:
    """The instance's open tasks as plain rows (the task's columns, ``organisation`` the code of
    its unit, ``assignee`` the username), in the order of :func:`open_tasks`: for answers that
    show them and need no ORM objects."""
    return list(session.execute(_open_task_rows(), {"instance_id": instance.id}))


@cache
def _latest_events() -> Select[datetime, str, str, dict[str, Any]]:
    # The columns a history entry shows, not whole rows: an answer reads twenty of them.
    return (select(AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.payload)
            .where(AuditEvent.instance_id == bindparam("instance_id"))
            .order_by(AuditEvent.seq.desc()).limit(bindparam("limit"))
            .execution_options(**{audit.WITHOUT_PENDING: True}))


@cache
def _event_count() -> Select[int]:
    return (select(func.count()).select_from(AuditEvent).where(AuditEvent.instance_id == bindparam("instance_id"))
            .execution_options(**{audit.WITHOUT_PENDING: True}))
