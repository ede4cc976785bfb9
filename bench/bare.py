"""The floor: SpiffWorkflow alone, whole state in and out, as ENGINE-NOTES §2 measured it.

One step of the bare engine is: deserialize the whole workflow (spec included) from JSON,
put the form data into the READY task, run it, run the engine until it waits, serialize the
whole workflow to JSON. No database, no restricted script environment, no pruning, no
inbox rows, no audit. Service tasks get a stub answer.
"""

from __future__ import annotations

import json
import time
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState


class StubServices(PythonScriptEngine):
    """Spiff's default script engine, with every service task answered by a stub."""

    def call_service(self, task: Any, **kwargs: Any) -> str:
        return json.dumps({"id": 1, "number": "BENCH-1", "document_id": 1, "expires_at": "2030-01-01"})


SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
ENGINE = StubServices()


def whole_state(state: dict[str, Any], spec_json: str) -> str:
    """SpiffWorkflow's own serialization of a stored instance: our state plus the spec."""
    spec = json.loads(spec_json)
    return json.dumps({**state, "spec": spec["spec"], "subprocess_specs": spec["subprocess_specs"]})


def load(serialized: str) -> Any:
    workflow = SERIALIZER.deserialize_json(serialized)
    workflow.script_engine = ENGINE
    return workflow


def ready_task(workflow: Any, element: str, task_id: str | None = None) -> Any:
    """The READY user task (by id when given, else the first of ``element``), or None."""
    if task_id is not None:
        return workflow.get_task_from_id(UUID(task_id))
    for task in workflow.get_tasks(state=TaskState.READY, manual=True):
        if task.task_spec.bpmn_id == element:
            return task
    return None


def complete(workflow: Any, task: Any, element: str, data: dict[str, Any]) -> None:
    task.data.update({element: data})
    task.run()
    workflow.do_engine_steps()


def step(serialized: str, task_id: str, element: str, data: dict[str, Any]) -> tuple[float, str]:
    """Load, complete, run and save one step; returns (milliseconds, the new serialization)."""
    started = time.perf_counter()
    workflow = load(serialized)
    complete(workflow, ready_task(workflow, element, task_id), element, data)
    out = SERIALIZER.serialize_json(workflow)
    return (time.perf_counter() - started) * 1000, out
