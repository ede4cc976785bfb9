"""The five script attacks of ENGINE-NOTES §3, in a gateway condition, a script task and a timer.

Each must fail at run time as EngineError without running (no marker file), also after the
state went through a save/load round trip, and be refused at deploy time naming the element.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from app.engine import compile_definition, complete_task, start_instance
from app.engine.serializer import restore_specs
from app.errors import DefinitionError, EngineError

from .support import KNOWN, spec_json_without_lint, with_expression

ATTACKS = {
    "dunder_import": "__import__('os').system('touch {m}')",
    "import_os": "import os; os.system('touch {m}')",
    "subclasses_escape": (
        "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()"
        "._module.__builtins__['__import__']('os').system('touch {m}')"
    ),
    "getattr_escape": (
        "getattr(getattr(getattr([c for c in getattr(getattr(getattr((), '__class__'), "
        "'__base__'), '__subclasses__')() if getattr(c, '__name__') == 'catch_warnings'][0](), "
        "'_module'), '__builtins__')['__import__']('os'), 'system')('touch {m}')"
    ),
    "open_file": "open('{m}', 'w')",
}

# template, process id, element named at run time, element named at deploy time
CONTEXTS = {
    "gateway": ("attack_gateway.bpmn", "attack_gateway_process", "attack_gateway", "attack_flow"),
    "script": ("attack_script.bpmn", "attack_script_process", "attack_script", "attack_script"),
    "timer": ("attack_timer.bpmn", "attack_timer_process", "attack_timer", "attack_timer"),
}


def attack_source(attack: str, context: str, marker: str) -> str:
    """The attack text for a context: script tasks assign expressions, statements stay as-is."""
    source = ATTACKS[attack].format(m=marker)
    if context == "script" and not source.startswith("import"):
        return f"x = {source}"
    return source


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "pwned"


@pytest.mark.parametrize("context", list(CONTEXTS))
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_fails_at_run_time(attack, context, marker):
    template, process_id, runtime_element, _ = CONTEXTS[context]
    xml = with_expression(template, attack_source(attack, context, str(marker)))
    spec_json = spec_json_without_lint(xml, process_id)

    with pytest.raises(EngineError) as caught:
        start_instance(spec_json, {"direct": True})

    assert caught.value.element == runtime_element
    assert not marker.exists()


@pytest.mark.parametrize("context", list(CONTEXTS))
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_fails_after_state_round_trip(attack, context, marker):
    template, process_id, runtime_element, _ = CONTEXTS[context]
    xml = with_expression(template, attack_source(attack, context, str(marker)))
    spec_json = spec_json_without_lint(xml, process_id)
    started = start_instance(spec_json, {"direct": False})
    stored = json.loads(json.dumps(started.state))
    [prepare] = started.ready

    with pytest.raises(EngineError) as caught:
        complete_task(spec_json, stored, started.state_version, prepare.id, {"ok": True})

    assert caught.value.element == runtime_element
    assert not marker.exists()


@pytest.mark.parametrize("context", list(CONTEXTS))
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_refused_at_deploy_time(attack, context, marker):
    template, _, _, deploy_element = CONTEXTS[context]
    xml = with_expression(template, attack_source(attack, context, str(marker)))

    with pytest.raises(DefinitionError) as caught:
        compile_definition({template: xml}, **KNOWN)

    assert deploy_element in {error.element for error in caught.value.errors}
    assert not marker.exists()


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_payloads_are_live_under_spiffworkflows_default_engine(attack, marker):
    """Control: the same scripts do run code with SpiffWorkflow's unrestricted default engine."""
    xml = with_expression("attack_script.bpmn", attack_source(attack, "script", str(marker)))
    spec, subprocess_specs = restore_specs(spec_json_without_lint(xml, "attack_script_process"))
    workflow = BpmnWorkflow(spec, subprocess_specs)  # default PythonScriptEngine
    workflow.task_tree.data.update({"direct": True})

    # The payload may fail after doing its damage (e.g. a file object left in task data).
    with contextlib.suppress(Exception):
        workflow.do_engine_steps()

    assert marker.exists()
