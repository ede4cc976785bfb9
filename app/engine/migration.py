"""Moving a running instance to another version of its process (SpiffWorkflow ``bpmn.util.diff``).

:func:`preview_migration` tells whether an instance can move and how each of its open tasks
maps; :func:`migrate_instance` moves it and returns a :class:`RunResult` like every other run.

The rules, stricter than SpiffWorkflow's own ``migrate_workflow``:

* An open task (READY, WAITING, STARTED or ERROR: a user task, a waiting event or join, a
  running sub-process) must exist in the new version under the **same element id** and be of
  the same kind.  SpiffWorkflow would also align a renamed element by its position; we do not,
  because element ids are what the inbox rows, the audit history and the diagram refer to.
* A finished task still kept in the (pruned) tree is aligned by id, else by SpecDiff's
  structural alignment; when the new version has no counterpart it is spliced out of the tree
  (its children keep their data).  A pending join that then no longer finds the split it
  waits on refuses the migration.
* Open tasks keep their id, data, internal data (multi-instance items, timer due times) and
  claims: SpiffWorkflow's ``reset_branch`` would reset them.  Only their *predicted* future is
  rebuilt from the new version, including after a running sub-process (which SpiffWorkflow
  leaves on the old path).
* A running sub-process whose process is gone, or an instance running on a modified spec (a
  fired event sub-process), cannot migrate.

The restricted script engine is attached right after every load, before anything can
evaluate an expression.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.util.diff import SpecDiff
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from app.engine import timebase
from app.engine.pruning import prune
from app.engine.runtime import Actions, fire_timers
from app.engine.sandbox import RestrictedScriptEngine
from app.engine.serializer import (
    SPEC_KEYS,
    SPEC_OVERRIDE_KEY,
    dump_state,
    get_serializer,
    load_spec_parts,
    load_workflow,
    migrate_state,
    restore_specs,
)
from app.engine.types import STATE_VERSION, MigrationPreview, RunResult, TaskMapping
from app.errors import EngineError, GrantFlowError

# Tasks that are under way and must find themselves in the new version.
OPEN_MASK = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
# Tasks that are only a prediction of the future; rebuilt from the new version.
FUTURE_MASK = TaskState.PREDICTED_MASK | TaskState.FUTURE
# SpiffWorkflow's name for the hidden split in front of a task with boundary events.
_BOUNDARY_SPLIT = ".BoundaryEventSplit"


@dataclass
class _Plan:
    """What one migration found: the open tasks and their mapping, and every problem."""

    tasks: list[TaskMapping] = field(default_factory=list)
    problems: list[tuple[str | None, str]] = field(default_factory=list)  # (element, message)

    def refuse(self, element: str | None, message: str) -> None:
        """Record a reason why the instance cannot migrate."""
        if (element, message) not in self.problems:
            self.problems.append((element, message))

    @property
    def reason(self) -> str | None:
        """All problems as one sentence, or None."""
        return "; ".join(message for _, message in self.problems) or None


def preview_migration(
    old_spec_json: str, new_spec_json: str, state: dict, state_version: int
) -> MigrationPreview:
    """Dry-run the migration of one instance from ``old_spec_json`` to ``new_spec_json``.

    Never raises: a state that cannot be loaded, or any other problem, gives
    ``can_migrate=False`` with the reason.  Nothing runs (no expression, no action).
    """
    try:
        plan, _workflow = _migrate(old_spec_json, new_spec_json, state, state_version)
    except GrantFlowError as exc:
        return MigrationPreview(can_migrate=False, reason=exc.message, tasks=[])
    except Exception as exc:  # a preview must never turn into a server error
        return MigrationPreview(can_migrate=False, reason=f"cannot be analysed: {exc!r}", tasks=[])
    return MigrationPreview(can_migrate=not plan.problems, reason=plan.reason, tasks=plan.tasks)


def migrate_instance(
    old_spec_json: str,
    new_spec_json: str,
    state: dict,
    state_version: int,
    *,
    actions: Actions | None = None,
    now: datetime | None = None,
) -> RunResult:
    """Move one instance to ``new_spec_json`` and run the engine once on the new version.

    The run fires timers already due at ``now`` and runs automatic tasks that became ready
    (e.g. a join whose other branch the new version removed), with ``actions`` for service
    tasks, exactly like :func:`app.engine.fire_timers`.  Raises EngineError naming the element
    when the instance cannot migrate (an open task removed or renamed, a running sub-process
    removed, ...) or the run fails; and whatever a host action raises.
    """
    with timebase.at(now):
        plan, workflow = _migrate(old_spec_json, new_spec_json, state, state_version)
        if plan.problems:
            raise EngineError(f"The instance cannot migrate: {plan.reason}", element=plan.problems[0][0])
        migrated = dump_state(workflow, new_spec_json)
    return fire_timers(new_spec_json, migrated, STATE_VERSION, actions=actions, now=now)


# --------------------------------------------------------------------------- migration


def _migrate(old_spec_json: str, new_spec_json: str, state: dict, state_version: int) -> tuple[_Plan, BpmnWorkflow]:
    """Load the instance on its old version and move it in memory; returns the plan (with the
    problems found, if any) and the workflow (only meaningful without problems)."""
    current = migrate_state(state, state_version)
    override = current.get(SPEC_OVERRIDE_KEY)
    if override and any(override.get(key) != load_spec_parts(old_spec_json)[key] for key in SPEC_KEYS):
        raise EngineError(
            "The instance runs on a modified copy of its process (an event sub-process started); "
            "it cannot migrate"
        )
    workflow = load_workflow(old_spec_json, current, STATE_VERSION)
    workflow.script_engine = RestrictedScriptEngine()  # before anything can evaluate
    new_spec, new_subprocess_specs = restore_specs(new_spec_json)
    plan = _Plan()
    with _spiff_errors():
        prune(workflow)
        _check_subprocesses(workflow, new_subprocess_specs, plan)
        registry = get_serializer().registry
        owners = [(workflow, new_spec)] + [
            (sub, new_subprocess_specs[sub.spec.name])
            for sub in workflow.subprocesses.values()
            if sub.spec.name in new_subprocess_specs
        ]
        diffs = [SpecDiff(registry, owner.spec, spec) for owner, spec in owners]
        for (owner, spec), diff in zip(owners, diffs, strict=True):
            _map_open_tasks(owner, spec, diff, plan)
        if plan.problems:
            return plan, workflow
        for (owner, spec), diff in zip(owners, diffs, strict=True):
            _move(workflow, owner, spec, diff, plan)
        workflow.subprocess_specs = new_subprocess_specs
        for owner, spec in owners:
            _check_moved(owner, spec, plan)
    return plan, workflow


@contextmanager
def _spiff_errors() -> Iterator[None]:
    """Turn SpiffWorkflow failures while migrating into EngineError."""
    try:
        yield
    except GrantFlowError:
        raise
    except Exception as exc:
        raise EngineError(f"The instance cannot migrate: {exc}") from exc


def _check_subprocesses(workflow: BpmnWorkflow, new_specs: dict[str, Any], plan: _Plan) -> None:
    """Refuse running sub-processes whose process the new version lacks; drop finished ones."""
    for task_id, sub in list(workflow.subprocesses.items()):
        if sub.spec.name in new_specs:
            continue
        if sub.completed:
            workflow.subprocesses.pop(task_id)
            continue
        plan.refuse(sub.spec.name, f"the running sub-process '{sub.spec.name}' does not exist in the new version")


def _map_open_tasks(owner: Any, new_spec: Any, diff: SpecDiff, plan: _Plan) -> None:
    """Check that every open task has a same-id element of the same kind in ``new_spec``."""
    for task in _tasks(owner):
        if not task.has_state(OPEN_MASK):
            continue
        old = task.task_spec
        candidate = new_spec.task_specs.get(old.name)
        reason = None
        if candidate is None:
            reason = f"the open task '{_label(old)}' does not exist in the new version"
            renamed = diff.alignment.get(old)  # SpecDiff's guess by position in the flow
            if renamed is not None:
                reason += (f" (it looks renamed to '{_bpmn_id(renamed) or renamed.name}'; "
                           "open tasks map by element id only)")
        elif type(candidate) is not type(old):
            reason = (f"the open task '{_label(old)}' changes from {type(old).__name__} "
                      f"to {type(candidate).__name__} in the new version")
        if reason is not None:
            plan.refuse(_bpmn_id(old) or old.name, reason)
        if _listed(task):
            element = _bpmn_id(old) or old.name
            plan.tasks.append(TaskMapping(
                element=element, title=old.bpmn_name or element, state=TaskState.get_name(task.state),
                maps_to=None if reason else _bpmn_id(candidate), reason=reason,
            ))


def _listed(task: Any) -> bool:
    """Whether an open task is shown in a preview: BPMN elements only, and a multi-instance
    once per instance (not also as the parent that holds them)."""
    bpmn_id = _bpmn_id(task.task_spec)
    if bpmn_id is None:
        return False
    return not any(
        child.has_state(OPEN_MASK) and _bpmn_id(child.task_spec) == bpmn_id for child in task.children
    )


def _move(top: BpmnWorkflow, owner: Any, new_spec: Any, diff: SpecDiff, plan: _Plan) -> None:
    """Point every task of ``owner`` at its new spec, splice out finished tasks without a
    counterpart and rebuild the predicted future of the open tasks."""
    orphans = []
    for task in _tasks(owner):
        target = new_spec.task_specs.get(task.task_spec.name) or diff.alignment.get(task.task_spec)
        if target is not None:
            task.task_spec = target
        elif task.has_state(TaskState.FINISHED_MASK):
            orphans.append(task)
    owner.spec = new_spec
    for task in orphans:
        _splice(top, owner, task, plan)
    for task in _tasks(owner):
        if task.id in owner.tasks and task.has_state(OPEN_MASK):
            _repredict(owner, task)


def _splice(top: BpmnWorkflow, owner: Any, task: Any, plan: _Plan) -> None:
    """Remove a finished task from the tree, its children taking its place under its parent."""
    parent = task.parent
    if parent is None:
        plan.refuse(_bpmn_id(task.task_spec), f"the start of '{owner.spec.name}' cannot be mapped")
        return
    index = parent._children.index(task.id)
    parent._children[index:index + 1] = list(task._children)
    for child in task.children:
        child._parent = parent.id
    del owner.tasks[task.id]
    top.event_manager.remove_task(task)
    if task.id in top.subprocesses:
        top.subprocesses.pop(task.id)
    if owner.last_task is task:
        owner.last_task = parent


def _repredict(owner: Any, task: Any) -> None:
    """Rebuild the predicted children of an open task from its (new) spec's outputs.

    Children the engine created on purpose (``triggered``: the instances of a running
    multi-instance) stay.  A task with other real children is left as it is (and
    :func:`_check_moved` refuses it if one of them lost its spec).
    """
    predicted = [child for child in task.children if not child.triggered]
    if any(not child.has_state(FUTURE_MASK) for child in predicted):
        return
    for child in predicted:
        owner._remove_task(child.id)
    task.task_spec._predict_hook(task)
    for child in task.children:
        if not child.triggered:
            child.task_spec._predict(child, mask=FUTURE_MASK)


def _check_moved(owner: Any, new_spec: Any, plan: _Plan) -> None:
    """Every task must now use a spec of the new version, and every pending join must still
    find the split it waits on."""
    for task in _tasks(owner):
        spec = task.task_spec
        if new_spec.task_specs.get(spec.name) is not spec:
            plan.refuse(_bpmn_id(spec) or spec.name, f"the step '{_label(spec)}' cannot be mapped to the new version")
            continue
        split = getattr(spec, "split_task", None)
        if split and task.has_state(TaskState.NOT_FINISHED_MASK) and not _has_ancestor(task, split):
            owner_task = split.removesuffix(_BOUNDARY_SPLIT)
            if owner_task != split:
                plan.refuse(owner_task, f"the open task '{owner_task}' has boundary events in the new version; "
                                        "they cannot be attached to a task that is already open")
            else:
                plan.refuse(_bpmn_id(spec) or spec.name, f"'{_label(spec)}' waits for branches that start at "
                                                         f"'{split}', which this instance never passed")


def _has_ancestor(task: Any, spec_name: str) -> bool:
    """True when an ancestor of ``task`` runs ``spec_name`` (iterative, unlike find_ancestor)."""
    current = task.parent
    while current is not None:
        if current.task_spec.name == spec_name:
            return True
        current = current.parent
    return False


def _tasks(owner: Any) -> list[Any]:
    """The tasks of one workflow tree (not its sub-processes), in a stable order."""
    return list(owner.tasks.values())


def _bpmn_id(spec: Any) -> str | None:
    """The BPMN element id of a task spec, or None for the engine's internal specs."""
    return getattr(spec, "bpmn_id", None) or None


def _label(spec: Any) -> str:
    """How an element is named in a reason: its id (and name, when it has one)."""
    bpmn_id = _bpmn_id(spec) or spec.name
    name = getattr(spec, "bpmn_name", None)
    return f"{bpmn_id}" if not name or name == bpmn_id else f"{bpmn_id} ({name})"
