"""Serialization of process specs and instance state.

The spec (process spec + subprocess specs) is serialized once per definition version
(``ProcessInfo.spec_json``).  Instance state is SpiffWorkflow's workflow dictionary *without*
the spec; the spec is re-injected on load.  If a run changed the spec (an event subprocess
that fired connects new outputs to the start task), the changed spec is kept in the state
under ``spec_override``.

The stored state has an integer version (``types.STATE_VERSION``); :data:`MIGRATIONS` maps
``from_version`` to a function producing the next version.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import date, time
from decimal import Decimal
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.serializer.helpers.registry import DefaultRegistry
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from app.engine.sandbox import RestrictedScriptEngine
from app.engine.types import STATE_VERSION
from app.errors import EngineError

SPEC_KEYS = ("spec", "subprocess_specs")
SPEC_OVERRIDE_KEY = "spec_override"
VERSION_KEY = BpmnWorkflowSerializer.VERSION_KEY

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


def _build_serializer() -> BpmnWorkflowSerializer:
    """Create a serializer for the Spiff flavour with Decimal/date/time support."""
    registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG, _DataRegistry())
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
    plain = workflow_to_plain(workflow)
    spec_parts = {key: plain.pop(key) for key in SPEC_KEYS}
    definition = _definition_parts(spec_json)
    if any(spec_parts[key] != definition[key] for key in SPEC_KEYS):
        plain[SPEC_OVERRIDE_KEY] = spec_parts
    return plain


def load_workflow(spec_json: str, state: dict[str, Any], state_version: int) -> BpmnWorkflow:
    """Rebuild a workflow from stored state (migrated to STATE_VERSION) and the spec.

    Works on a private copy of ``state``.  The returned workflow has SpiffWorkflow's default
    script engine: the caller must attach the restricted one.  Raises EngineError for an
    unknown version or a state that cannot be loaded.
    """
    dct = migrate_state(state, state_version)
    spec_parts = dct.pop(SPEC_OVERRIDE_KEY, None) or load_spec_parts(spec_json)
    for key in SPEC_KEYS:
        dct[key] = spec_parts[key]
    serializer = get_serializer()
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
