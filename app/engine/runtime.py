"""Running process instances: start, complete a user task, fire due timers.

Every call rebuilds the workflow from the definition's ``spec_json`` and the stored state,
attaches a fresh :class:`RestrictedScriptEngine`, runs the engine, prunes finished history,
checks that the instance is not stuck and returns a :class:`RunResult` whose state is ready to
store.  SpiffWorkflow exceptions never escape: they become :class:`EngineError` naming the
BPMN element.  Exceptions raised by host actions (service tasks) propagate unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.util.task import TaskState

from app.engine import timebase
from app.engine.meta import bilingual, spec_properties, task_meta
from app.engine.pruning import check_not_stuck, prune
from app.engine.sandbox import RestrictedEnvironment, RestrictedScriptEngine
from app.engine.serializer import dump_state, load_workflow, restore_specs, shared_specs
from app.engine.types import STATE_VERSION, ReadyTask, RunResult, StepRecord
from app.errors import EngineError, FieldError, GrantFlowError, TaskNotReadyError, ValidationError

Actions = Mapping[str, Callable[[dict, dict], Any]]

# Engine rounds between two prunings while automatic tasks keep running.
PRUNE_EVERY_ROUNDS = 50
# Automatic tasks one call may run before it is considered an endless loop.
MAX_ENGINE_STEPS = 20_000
# Task kinds that are not worth a history entry.
_HIDDEN_KINDS = frozenset({
    "StartEvent", "ExclusiveGateway", "InclusiveGateway", "ParallelGateway", "EventBasedGateway",
    "ParallelMultiInstanceTask", "SequentialMultiInstanceTask", "StandardLoopTask",
})


def start_instance(
    spec_json: str, data: dict, *, actions: Actions | None = None, now: datetime | None = None
) -> RunResult:
    """Start a new instance with ``data`` as its initial data and run it until it waits.

    ``now`` (aware) is the time timers are computed from; default: the real time.
    Raises ValidationError for unusable data keys, EngineError when the process fails, and
    whatever a host action raises.
    """
    with timebase.at(now):
        return _start(spec_json, data, actions)


def _start(spec_json: str, data: dict, actions: Actions | None) -> RunResult:
    _check_input(data)
    engine = RestrictedScriptEngine(actions)
    shared = shared_specs(spec_json)
    if shared.shareable:
        spec, subprocess_specs = shared.spec, dict(shared.subprocess_specs)
    else:
        spec, subprocess_specs = restore_specs(spec_json)
    with _engine_errors(engine):
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=engine)
        workflow.task_tree.data.update(copy.deepcopy(data))
        steps = _run_engine(workflow)
        return _finish(workflow, spec_json, engine, steps)


def complete_task(
    spec_json: str,
    state: dict,
    state_version: int,
    task_id: str,
    data: dict,
    *,
    actions: Actions | None = None,
    now: datetime | None = None,
) -> RunResult:
    """Merge ``data`` into the READY user task ``task_id``, complete it and run the engine.

    ``now`` (aware) is the time timers are computed from; default: the real time.
    Raises TaskNotReadyError when the task does not exist, is not READY or is not a manual
    task; ValidationError for unusable data keys; EngineError when the process fails or the
    state cannot be loaded; and whatever a host action raises.
    """
    with timebase.at(now):
        return _complete(spec_json, state, state_version, task_id, data, actions)


def _complete(
    spec_json: str, state: dict, state_version: int, task_id: str, data: dict, actions: Actions | None
) -> RunResult:
    _check_input(data)
    engine = RestrictedScriptEngine(actions)
    workflow = _load(spec_json, state, state_version, engine)
    task = _ready_manual_task(workflow, task_id)
    with _engine_errors(engine):
        _merge_form_data(task, data)
        task.run()
        steps = _run_engine(workflow)
        return _finish(workflow, spec_json, engine, steps)


def fire_timers(
    spec_json: str,
    state: dict,
    state_version: int,
    *,
    actions: Actions | None = None,
    now: datetime | None = None,
) -> RunResult:
    """Fire every timer that is due at ``now`` (aware; default: the real time) and run the engine.

    Raises EngineError when the process fails or the state cannot be loaded, and whatever a
    host action raises.
    """
    with timebase.at(now):
        return _fire(spec_json, state, state_version, actions)


def _fire(spec_json: str, state: dict, state_version: int, actions: Actions | None) -> RunResult:
    engine = RestrictedScriptEngine(actions)
    workflow = _load(spec_json, state, state_version, engine)
    with _engine_errors(engine):
        workflow.refresh_timers()
        steps = _run_engine(workflow)
        return _finish(workflow, spec_json, engine, steps)


def evaluate(expression: str, data: dict) -> Any:
    """Evaluate a restricted expression over ``data`` (e.g. a roleExpression).

    Raises EngineError when the expression is refused or fails.
    """
    try:
        return RestrictedEnvironment().evaluate(expression, copy.deepcopy(dict(data)))
    except Exception as exc:
        raise EngineError(f"Expression {str(expression)[:200]!r} failed: {_describe(exc)}") from exc


# --------------------------------------------------------------------------- loading


def _load(spec_json: str, state: dict, state_version: int, engine: RestrictedScriptEngine) -> BpmnWorkflow:
    """Load the workflow, attach the restricted engine (never keep Spiff's default one) and
    prune (a state saved without pruning, e.g. migrated, is healed before it runs)."""
    workflow = load_workflow(spec_json, state, state_version, share_specs=True)
    workflow.script_engine = engine
    with _engine_errors(engine):
        prune(workflow)
    return workflow


def _ready_manual_task(workflow: BpmnWorkflow, task_id: str) -> Any:
    """The READY manual task with id ``task_id``; raises TaskNotReadyError otherwise."""
    try:
        uuid = UUID(str(task_id))
        task = workflow.get_task_from_id(uuid)
    except (ValueError, SpiffWorkflowException):
        task = None
    if task is None:
        raise TaskNotReadyError(f"Task {task_id} does not exist in this instance")
    if not task.task_spec.manual:
        raise TaskNotReadyError(f"Task {task_id} is not a user task")
    if task.state != TaskState.READY:
        raise TaskNotReadyError(f"Task {task_id} is {TaskState.get_name(task.state)}, not READY")
    return task


def _check_input(data: Any) -> None:
    """Refuse data the engine cannot store faithfully; raises ValidationError."""
    if not isinstance(data, dict):
        raise ValidationError("Task data must be an object", [FieldError("", "must be an object")])
    errors = [
        FieldError(str(key), "field names must be text and may not start with '_'")
        for key in data
        if not isinstance(key, str) or key.startswith("_")
    ]
    errors += [FieldError(path, "'typename' is a reserved key") for path in _typename_paths(data, "")]
    if errors:
        raise ValidationError("Task data uses reserved field names", errors)


def _typename_paths(value: Any, path: str) -> Iterator[str]:
    """Yield dotted paths of nested dicts holding the serializer's reserved ``typename`` key."""
    if isinstance(value, dict):
        if "typename" in value:
            yield f"{path}.typename".lstrip(".")
        for key, item in value.items():
            yield from _typename_paths(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _typename_paths(item, f"{path}.{index}")


def _merge_form_data(task: Any, data: dict) -> None:
    """Put form data into the task (into ``variableName`` when the user task declares one)."""
    variable = getattr(task.task_spec, "variable", None)
    if variable:
        task.data[variable] = copy.deepcopy(data)
    else:
        task.data.update(copy.deepcopy(data))


# --------------------------------------------------------------------------- running


def _run_engine(workflow: BpmnWorkflow) -> list[StepRecord]:
    """``do_engine_steps`` with pruning between rounds and a cap on automatic steps.

    Raises EngineError when more than MAX_ENGINE_STEPS automatic tasks run in one call.
    """
    steps: list[StepRecord] = []
    counter = [0]

    def did_complete(task: Any) -> None:
        counter[0] += 1
        if counter[0] > MAX_ENGINE_STEPS:
            raise EngineError(
                f"More than {MAX_ENGINE_STEPS} automatic steps in one run: endless loop?",
                element=getattr(task.task_spec, "bpmn_id", None),
            )
        record = _step_record(task)
        if record is not None:
            steps.append(record)

    rounds = 0
    while workflow._do_engine_steps(did_complete_task=did_complete):
        rounds += 1
        if rounds % PRUNE_EVERY_ROUNDS == 0:
            prune(workflow)
    workflow.refresh_timers()
    return steps


def _step_record(task: Any) -> StepRecord | None:
    """A history entry for an automatic task the engine finished, or None for internal ones."""
    spec = task.task_spec
    bpmn_id = getattr(spec, "bpmn_id", None)
    kind = type(spec).__name__
    if spec.manual or not bpmn_id or kind in _HIDDEN_KINDS or not task.has_state(TaskState.COMPLETED):
        return None
    return StepRecord(spec_id=bpmn_id, title=bilingual(spec.bpmn_name or bpmn_id, spec_properties(spec).get("titleEn")),
                      kind=kind)


def _finish(workflow: BpmnWorkflow, spec_json: str, engine: RestrictedScriptEngine, steps: list[StepRecord]) -> RunResult:
    """Check, describe, prune and serialize the workflow after a run."""
    check_not_stuck(workflow)
    completed = workflow.is_completed()
    ready = [_ready_task(task, engine) for task in workflow.get_tasks(state=TaskState.READY, manual=True)]
    data = _copy_data(_current_data(workflow, completed))
    next_timer_at = _next_timer_at(workflow)
    prune(workflow)
    return RunResult(
        state=dump_state(workflow, spec_json),
        state_version=STATE_VERSION,
        ready=ready,
        completed=completed,
        data=data,
        next_timer_at=next_timer_at,
        steps=steps,
    )


def _current_data(workflow: BpmnWorkflow, completed: bool) -> dict:
    """The final data when completed; while running, the data of the last completed task
    overlaid with the data of the tasks now waiting (ready user tasks, timers, joins)."""
    if completed:
        return dict(workflow.data)
    data = dict((workflow.last_task or workflow.task_tree).data)
    for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
        data.update(task.data)
    return data


def _ready_task(task: Any, engine: RestrictedScriptEngine) -> ReadyTask:
    """Describe a READY user task, resolving roleExpression/orgExpression over its data."""
    meta = task_meta(task.task_spec)
    role = meta.role
    if meta.role_expression:
        role = _resolve(engine, task, meta.role_expression)
    org_hint = _resolve(engine, task, meta.org_expression) if meta.org_expression else None
    return ReadyTask(
        id=str(task.id),
        spec_id=meta.spec_id,
        title=meta.title,
        role=role,
        org_hint=org_hint,
        form_key=meta.form_key,
        articles=meta.articles,
        due=meta.due,
        lane=meta.lane,
        instance_item=_copy_data(_instance_item(task)),
        data=_copy_data(task.data),
    )


_SCALARS = (str, int, float, bool, type(None))


def _copy_data(value: Any) -> Any:
    """A deep copy of task data: dicts, lists and scalars copied directly (several times
    faster than ``copy.deepcopy`` on the data of every ready task), anything else deep-copied."""
    kind = type(value)
    if kind is dict:
        return {key: _copy_data(item) for key, item in value.items()}
    if kind is list:
        return [_copy_data(item) for item in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)


def _resolve(engine: RestrictedScriptEngine, task: Any, expression: str) -> str | None:
    """Evaluate a routing expression for ``task``; None stays None, anything else becomes text."""
    value = engine.evaluate(task, expression)
    return None if value is None else str(value)


def _instance_item(task: Any) -> Any:
    """For a multi-instance child: its input data item (or the engine's item), else None."""
    parent = task.parent
    parent_spec = parent.task_spec if parent is not None else None
    if not isinstance(parent_spec, MultiInstanceTask):
        return None
    if parent_spec.input_item is not None and parent_spec.input_item.bpmn_id in task.data:
        return task.data[parent_spec.input_item.bpmn_id]
    return task.internal_data.get("item", task.internal_data.get("key_or_index"))


def _next_timer_at(workflow: BpmnWorkflow) -> datetime | None:
    """The earliest due time of a pending timer, timezone-aware UTC."""
    due_times = []
    for task in workflow.event_manager.tasks.values():
        definition = getattr(task.task_spec, "event_definition", None)
        if not isinstance(definition, TimerEventDefinition):
            continue
        due = _timer_due(definition, definition.details(task).value)
        if due is not None:
            due_times.append(due)
    return min(due_times, default=None)


def _timer_due(definition: TimerEventDefinition, value: Any) -> datetime | None:
    """Parse a pending timer's value (an ISO date-time string) to aware UTC; None if unknown."""
    if not isinstance(value, str):
        return None
    try:
        if isinstance(definition, TimeDateEventDefinition):
            parsed = TimerEventDefinition.parse_time_or_duration(value)
        else:
            parsed = TimerEventDefinition.get_datetime(value)
    except Exception:  # an unparsable value fails loudly when the timer is refreshed
        return None
    return parsed.astimezone(UTC) if isinstance(parsed, datetime) else None


# --------------------------------------------------------------------------- errors


@contextmanager
def _engine_errors(engine: RestrictedScriptEngine) -> Iterator[None]:
    """Turn SpiffWorkflow/script failures into EngineError; let host and domain errors through."""
    try:
        yield
    except GrantFlowError:
        raise
    except Exception as exc:
        if any(exc is host_error for host_error in engine.host_errors):
            raise
        raise EngineError(_describe(exc), element=_element_of(exc, engine)) from exc


def _element_of(exc: Exception, engine: RestrictedScriptEngine) -> str | None:
    """The BPMN id of the element that failed, from the exception or the last scripted task."""
    task = getattr(exc, "task", None)
    spec = task.task_spec if task is not None else getattr(exc, "task_spec", None)
    if spec is None and engine.current_task is not None:
        spec = engine.current_task.task_spec
    if spec is None:
        return None
    return getattr(spec, "bpmn_id", None) or spec.name


def _describe(exc: BaseException) -> str:
    """A readable message for an engine failure, including the underlying script error."""
    message = str(exc).strip() or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, WorkflowException) and cause is not None and str(cause) not in message:
        message = f"{message}: {type(cause).__name__}: {cause}"
    return message
