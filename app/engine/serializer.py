"""Serialization of process specs and instance state.

The spec (process spec + subprocess specs) is serialized once per definition version
(``ProcessInfo.spec_json``).  Instance state is SpiffWorkflow's workflow dictionary *without*
the spec; the spec is re-injected on load.  If a run changed the spec (an event subprocess
that fired connects new outputs to the start task), the changed spec is kept in the state
under ``spec_override``.

The stored state has an integer version (``types.STATE_VERSION``); :data:`MIGRATIONS` maps
``from_version`` to a function producing the next version.

Restoring the spec objects from ``spec_json`` costs more than restoring an instance's state,
so each thread keeps the restored specs of recent definitions (:func:`shared_specs`, keyed
by ``spec_json``) and the runtime loads and starts instances on them. That is safe only for
specs SpiffWorkflow never changes while running: a spec with an event sub-process (its start
task connects the triggered sub-process) or an ad-hoc sub-process (conditional paths) is
restored afresh every time, as before. Saving an instance on shared specs leaves the specs
out of the serialization altogether (they cannot differ from the definition's); a cheap
structural fingerprint, checked on save, drops a cache entry if a spec was changed after all.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.registry import DefaultRegistry
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.control import BpmnStartTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from app.engine.sandbox import RestrictedScriptEngine
from app.engine.types import STATE_VERSION
from app.errors import EngineError

SPEC_KEYS = ("spec", "subprocess_specs")
SPEC_OVERRIDE_KEY = "spec_override"
VERSION_KEY = BpmnWorkflowSerializer.VERSION_KEY
# Definitions whose restored specs each thread keeps (a few hundred KB each).
SHARED_SPECS_PER_THREAD = 32

StateMigration = Callable[[dict[str, Any]], dict[str, Any]]


class _DataRegistry(DefaultRegistry):
    """DefaultRegistry that leaves dicts with an unknown ``typename`` key as plain dicts.

    SpiffWorkflow's registry would call ``None`` for such a dict (from task data) and make the
    instance impossible to load.
    """

    def restore(self, val: Any, **kwargs: Any) -> Any:
        """Restore ``val``; a dict whose ``typename`` is not registered stays a dict."""
        if isinstance(val, dict) and "typename" in val and val["typename"] not in self.convert_from_dict:
            return {key: self.restore(item, **kwargs) for key, item in val.items()}
        return super().restore(val, **kwargs)


class _WorkflowConverter(BpmnWorkflowConverter):
    """BpmnWorkflowConverter that can leave the specs out (``registry.omit_specs``)."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        if not getattr(self.registry, "omit_specs", False):
            return dict(super().to_dict(workflow))
        # BpmnWorkflowConverter.to_dict without the two spec entries (SpiffWorkflow 3.2)
        dct = dict(super(BpmnWorkflowConverter, self).to_dict(workflow))
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


def _build_serializer() -> BpmnWorkflowSerializer:
    """Create a serializer for the Spiff flavour with Decimal/date/time support."""
    config = {cls: (_WorkflowConverter if converter is BpmnWorkflowConverter else converter)
              for cls, converter in SPIFF_CONFIG.items()}
    registry = BpmnWorkflowSerializer.configure(config, _DataRegistry())
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda d: Decimal(d["value"]))
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda d: date.fromisoformat(d["value"]))
    registry.register(time, lambda v: {"value": v.isoformat()}, lambda d: time.fromisoformat(d["value"]))
    return BpmnWorkflowSerializer(registry)


_local = threading.local()


def get_serializer() -> BpmnWorkflowSerializer:
    """Return this thread's serializer (its registry keeps a mode flag, so it is not shared)."""
    serializer = getattr(_local, "serializer", None)
    if serializer is None:
        serializer = _local.serializer = _build_serializer()
    return serializer


def workflow_to_plain(workflow: BpmnWorkflow) -> dict[str, Any]:
    """Serialize a whole workflow (spec included) to a JSON-compatible dict."""
    return json.loads(get_serializer().serialize_json(workflow))


def _state_to_plain(workflow: BpmnWorkflow) -> dict[str, Any]:
    """Serialize a workflow without its specs, as ``serialize_json`` would the rest."""
    serializer = get_serializer()
    registry = serializer.registry
    registry._encoder_mode = True  # what serialize_json sets while converting
    registry.omit_specs = True
    try:
        dct = serializer.to_dict(workflow)
        dct[VERSION_KEY] = serializer.VERSION
        text = json.dumps(dct, cls=serializer._encoder_cls)
    finally:
        registry._encoder_mode = False
        registry.omit_specs = False
    return dict(json.loads(text))


# --------------------------------------------------------------------------- specs


def spec_to_json(spec: Any, subprocess_specs: dict[str, Any]) -> str:
    """Serialize a process spec and its subprocess specs (the per-definition ``spec_json``)."""
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=RestrictedScriptEngine())
    plain = workflow_to_plain(workflow)
    parts = {key: plain[key] for key in SPEC_KEYS}
    parts[VERSION_KEY] = plain[VERSION_KEY]
    return json.dumps(parts, sort_keys=True)


def load_spec_parts(spec_json: str) -> dict[str, Any]:
    """Parse ``spec_json`` into a fresh dict with the spec keys; raises EngineError if invalid."""
    try:
        parts = json.loads(spec_json)
    except (TypeError, ValueError) as exc:
        raise EngineError(f"The process spec is not valid JSON: {exc}") from exc
    if not isinstance(parts, dict) or any(key not in parts for key in SPEC_KEYS):
        raise EngineError("The process spec is not a serialized SpiffWorkflow spec")
    return parts


@lru_cache(maxsize=64)
def _definition_parts(spec_json: str) -> dict[str, Any]:
    """Parsed ``spec_json`` shared between calls: read it, never mutate or restore from it."""
    return load_spec_parts(spec_json)


@dataclass
class SharedSpecs:
    """Restored specs of one definition, reused by the loads and starts of one thread."""

    spec: Any
    subprocess_specs: dict[str, Any]
    shareable: bool  # False: SpiffWorkflow may change these specs while running
    fingerprint: tuple[Any, ...]

    def unchanged(self) -> bool:
        return _fingerprint(self.spec, self.subprocess_specs) == self.fingerprint


def shared_specs(spec_json: str) -> SharedSpecs:
    """This thread's restored specs of ``spec_json`` (restored on first use; LRU).

    Callers must use the specs only when ``shareable``. Raises EngineError if invalid.
    """
    cache: OrderedDict[str, SharedSpecs] | None = getattr(_local, "specs", None)
    if cache is None:
        cache = _local.specs = OrderedDict()
    entry = cache.get(spec_json)
    if entry is not None:
        cache.move_to_end(spec_json)
        return entry
    spec, subprocess_specs = restore_specs(spec_json)
    entry = SharedSpecs(spec, subprocess_specs, _shareable(spec, subprocess_specs),
                        _fingerprint(spec, subprocess_specs))
    cache[spec_json] = entry
    while len(cache) > SHARED_SPECS_PER_THREAD:
        cache.popitem(last=False)
    return entry


def _forget_specs(spec_json: str) -> None:
    cache = getattr(_local, "specs", None)
    if cache is not None:
        cache.pop(spec_json, None)


def _shareable(spec: Any, subprocess_specs: dict[str, Any]) -> bool:
    """False when running may change the specs: event sub-processes (the start task connects
    the triggered one) and ad-hoc sub-processes (conditional paths get connected)."""
    for process in [spec, *subprocess_specs.values()]:
        if getattr(process, "conditional_paths", None):
            return False
        for task_spec in process.task_specs.values():
            if isinstance(task_spec, BpmnStartTask) and task_spec.trigger_specs:
                return False
    return True


def _fingerprint(spec: Any, subprocess_specs: dict[str, Any]) -> tuple[Any, ...]:
    """The specs' structure (task specs and their connections), cheap to recompute."""
    return tuple(
        (process.name, len(process.task_specs),
         tuple((name, tuple(task_spec._inputs), tuple(task_spec._outputs))
               for name, task_spec in process.task_specs.items()))
        for process in [spec, *subprocess_specs.values()]
    )


def restore_specs(spec_json: str) -> tuple[Any, dict[str, Any]]:
    """Rebuild ``(spec, subprocess_specs)`` from ``spec_json``; raises EngineError if invalid."""
    parts = load_spec_parts(spec_json)
    registry = get_serializer().registry
    try:
        spec = registry.restore(parts["spec"])
        subprocess_specs = {name: registry.restore(sub) for name, sub in parts["subprocess_specs"].items()}
    except Exception as exc:
        raise EngineError(f"The process spec cannot be restored: {exc}") from exc
    return spec, subprocess_specs


# --------------------------------------------------------------------------- state


def dump_state(workflow: BpmnWorkflow, spec_json: str) -> dict[str, Any]:
    """Serialize ``workflow`` to a JSON-compatible state dict without the definition's spec."""
    entry = getattr(_local, "specs", {}).get(spec_json)
    if entry is not None and entry.shareable and _runs_on(workflow, entry):
        if entry.unchanged():
            return _state_to_plain(workflow)
        _forget_specs(spec_json)  # changed after all: never hand these specs out again
    plain = workflow_to_plain(workflow)
    spec_parts = {key: plain.pop(key) for key in SPEC_KEYS}
    definition = _definition_parts(spec_json)
    if any(spec_parts[key] != definition[key] for key in SPEC_KEYS):
        plain[SPEC_OVERRIDE_KEY] = spec_parts
    return plain


def _runs_on(workflow: BpmnWorkflow, entry: SharedSpecs) -> bool:
    """True when the workflow uses exactly the shared spec objects of ``entry``."""
    return workflow.spec is entry.spec and workflow.subprocess_specs.keys() == entry.subprocess_specs.keys() and all(
        workflow.subprocess_specs[name] is sub for name, sub in entry.subprocess_specs.items())


def load_workflow(spec_json: str, state: dict[str, Any], state_version: int, *,
                  share_specs: bool = False) -> BpmnWorkflow:
    """Rebuild a workflow from stored state (migrated to STATE_VERSION) and the spec.

    Works on a private copy of ``state``.  With ``share_specs`` the workflow runs on this
    thread's shared spec objects when that is safe (see :func:`shared_specs`); otherwise on
    specs restored for it alone.  The returned workflow has SpiffWorkflow's default script
    engine: the caller must attach the restricted one.  Raises EngineError for an unknown
    version or a state that cannot be loaded.
    """
    dct = migrate_state(state, state_version)
    override = dct.pop(SPEC_OVERRIDE_KEY, None)
    serializer = get_serializer()
    entry = shared_specs(spec_json) if share_specs and not override else None
    if entry is not None and entry.shareable and dct.get(VERSION_KEY) == serializer.VERSION:
        # The registry hands objects that are not dicts back unchanged: the converter
        # builds the workflow on these spec objects instead of restoring new ones.
        dct["spec"] = entry.spec
        dct["subprocess_specs"] = dict(entry.subprocess_specs)
    else:
        spec_parts = override or load_spec_parts(spec_json)
        for key in SPEC_KEYS:
            dct[key] = spec_parts[key]
    try:
        serializer.migrate(dct)
        return serializer.from_dict(dct)
    except Exception as exc:
        raise EngineError(f"The stored instance state cannot be loaded: {exc!r}") from exc


def _copy_plain(state: Any) -> dict[str, Any]:
    """Deep copy a JSON-compatible dict through JSON; raises EngineError if it is not one."""
    try:
        copied = json.loads(json.dumps(state))
    except (TypeError, ValueError) as exc:
        raise EngineError(f"The stored instance state is not JSON: {exc}") from exc
    if not isinstance(copied, dict):
        raise EngineError("The stored instance state is not a JSON object")
    return copied


def _from_version_0(state: dict[str, Any]) -> dict[str, Any]:
    """Version 0 was SpiffWorkflow's own serialization with the spec embedded.

    The embedded spec is what the instance ran on, so it is kept as ``spec_override``; the
    next save drops it again when it equals the definition's spec.
    """
    if all(key in state for key in SPEC_KEYS):
        state[SPEC_OVERRIDE_KEY] = {key: state.pop(key) for key in SPEC_KEYS}
    return state


MIGRATIONS: dict[int, StateMigration] = {0: _from_version_0}


def migrate_state(state: Any, state_version: Any) -> dict[str, Any]:
    """Return a migrated private copy of ``state``.

    Raises EngineError for a version that is not an integer, is newer than STATE_VERSION or
    has no migration step.
    """
    if isinstance(state_version, bool) or not isinstance(state_version, int) or state_version < 0:
        raise EngineError(f"Invalid instance state version: {state_version!r}")
    if state_version > STATE_VERSION:
        raise EngineError(
            f"The instance state has version {state_version}, newer than this engine "
            f"supports ({STATE_VERSION})"
        )
    current = _copy_plain(state)
    version = state_version
    while version < STATE_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise EngineError(f"No migration from instance state version {version}")
        current = step(current)
        version += 1
    if VERSION_KEY not in current:
        raise EngineError("The stored instance state has no serializer version")
    return current
