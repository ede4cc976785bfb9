"""Helpers shared by the engine tests (fixtures live in ./fixtures)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from app.engine import (
    ProcessInfo,
    RunResult,
    compile_definition,
    complete_task,
    fire_timers,
    start_instance,
)
from app.engine.sandbox import RestrictedScriptEngine
from app.engine.serializer import restore_specs, spec_to_json

FIXTURES = Path(__file__).parent / "fixtures"

KNOWN: dict[str, set[str]] = {
    "known_roles": {
        "reviewer", "manager", "director", "board", "staff", "dept_head", "applicant",
    },
    "known_forms": {
        "application_form", "review_form", "decision_form", "confirm_form", "approve_form",
        "follow_up_form", "signoff_form", "check_form", "prepare_form",
    },
    "known_articles": {"Art. 18", "Art. 20"},
    "known_actions": {"activate_partner"},
}


def fixture_bytes(name: str) -> bytes:
    """The content of a fixture file."""
    return (FIXTURES / name).read_bytes()


def compile_fixture(*names: str, **kwargs: Any) -> ProcessInfo:
    """compile_definition over fixture files, with the test catalogues unless overridden."""
    options = {**KNOWN, **kwargs}
    return compile_definition({name: fixture_bytes(name) for name in names}, **options)


def with_expression(template: str, expression: str) -> bytes:
    """A template fixture with ``{{EXPR}}`` replaced by the XML-escaped expression."""
    text = (FIXTURES / template).read_text(encoding="utf-8")
    return text.replace("{{EXPR}}", escape(expression)).encode("utf-8")


def spec_json_without_lint(xml: bytes, process_id: str) -> str:
    """Build spec_json with SpiffWorkflow alone, skipping GrantFlow's deploy-time checks."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_str(xml, filename="unlinted.bpmn")
    return spec_to_json(parser.get_spec(process_id), parser.get_subprocess_specs(process_id))


def db_round_trip(result: RunResult) -> dict:
    """What a host gets back from a JSON column."""
    return json.loads(json.dumps(result.state))


# --------------------------------------------------------------------------- loop drivers

def form_for(spec_id: str) -> dict:
    """Form data the loop drivers submit for a task."""
    return {"result": "ok"} if spec_id == "item_check" else {"note": "ok"}


def run_stored(info: ProcessInfo, data: dict, max_calls: int = 10_000) -> tuple[RunResult, list[int]]:
    """Drive an instance through save/load to the end; returns the last result and state sizes."""
    result = start_instance(info.spec_json, data)
    sizes = []
    for _ in range(max_calls):
        if result.completed:
            break
        result = fire_timers(info.spec_json, db_round_trip(result), result.state_version)
        if result.completed:
            break
        task = min(result.ready, key=lambda t: (t.spec_id, str(t.instance_item)))
        result = complete_task(
            info.spec_json, db_round_trip(result), result.state_version, task.id, form_for(task.spec_id)
        )
        sizes.append(len(json.dumps(result.state)))
    return result, sizes


def new_memory_workflow(info: ProcessInfo, data: dict) -> BpmnWorkflow:
    """A started workflow kept in memory (no save/load, no pruning)."""
    spec, subprocess_specs = restore_specs(info.spec_json)
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=RestrictedScriptEngine())
    workflow.task_tree.data.update(copy.deepcopy(data))
    workflow.do_engine_steps()
    return workflow


def memory_turn(workflow: BpmnWorkflow) -> bool:
    """Fire timers, then complete one ready task like run_stored; False when nothing is ready."""
    workflow.refresh_timers()
    workflow.do_engine_steps()
    ready = workflow.get_tasks(state=TaskState.READY, manual=True)
    if not ready:
        return False
    task = min(ready, key=lambda t: (t.task_spec.bpmn_id, str(t.data.get("item"))))
    task.data.update(form_for(task.task_spec.bpmn_id))
    task.run()
    workflow.do_engine_steps()
    return True


def run_memory(info: ProcessInfo, data: dict, max_calls: int = 10_000) -> dict:
    """Drive an in-memory workflow to the end and return its final data."""
    workflow = new_memory_workflow(info, data)
    for _ in range(max_calls):
        if workflow.is_completed() or not memory_turn(workflow):
            break
    assert workflow.is_completed()
    return dict(workflow.data)
