"""Restored specs are shared between loads of a thread, only where SpiffWorkflow never
changes them, and saving on shared specs stores exactly what a full serialization would."""

from __future__ import annotations

import threading

import pytest

from app.engine import STATE_VERSION, complete_task, start_instance
from app.engine.serializer import (
    SPEC_KEYS,
    _local,
    dump_state,
    load_workflow,
    shared_specs,
    workflow_to_plain,
)

from .support import (
    compile_fixture,
    db_round_trip,
    form_for,
    run_memory,
    run_stored,
    spec_json_without_lint,
)
from .test_pruning import SHAPES, loop_data

EVENT_SUBPROCESS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs"
                  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:signal id="stop_signal" name="stop"/>
  <bpmn:process id="with_event_subprocess" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="work"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    <bpmn:subProcess id="on_stop" triggeredByEvent="true">
      <bpmn:startEvent id="stop_start"><bpmn:outgoing>f3</bpmn:outgoing>
        <bpmn:signalEventDefinition signalRef="stop_signal"/></bpmn:startEvent>
      <bpmn:endEvent id="stop_end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="f3" sourceRef="stop_start" targetRef="stop_end"/>
    </bpmn:subProcess>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture(autouse=True)
def empty_cache():
    _local.__dict__.pop("specs", None)
    yield
    _local.__dict__.pop("specs", None)


def test_loads_share_the_restored_specs_of_a_definition():
    info = compile_fixture("loop_mi.bpmn")
    started = start_instance(info.spec_json, loop_data(3))
    first = load_workflow(info.spec_json, db_round_trip(started), STATE_VERSION, share_specs=True)
    second = load_workflow(info.spec_json, db_round_trip(started), STATE_VERSION, share_specs=True)
    assert shared_specs(info.spec_json).shareable
    assert first.spec is second.spec is shared_specs(info.spec_json).spec
    alone = load_workflow(info.spec_json, db_round_trip(started), STATE_VERSION)
    assert alone.spec is not first.spec  # without share_specs: restored for this load only


def test_other_threads_get_their_own_specs():
    info = compile_fixture("loop_plain.bpmn")
    mine = shared_specs(info.spec_json).spec
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(shared_specs(info.spec_json).spec))
    thread.start()
    thread.join()
    assert theirs and theirs[0] is not mine


def test_a_spec_with_an_event_subprocess_is_never_shared():
    spec_json = spec_json_without_lint(EVENT_SUBPROCESS, "with_event_subprocess")
    assert not shared_specs(spec_json).shareable
    started = start_instance(spec_json, {})
    first = load_workflow(spec_json, db_round_trip(started), STATE_VERSION, share_specs=True)
    second = load_workflow(spec_json, db_round_trip(started), STATE_VERSION, share_specs=True)
    assert first.spec is not second.spec


@pytest.mark.parametrize("shape", SHAPES)
def test_saving_on_shared_specs_equals_a_full_serialization_without_the_spec(shape):
    info = compile_fixture(f"{shape}.bpmn")
    result = start_instance(info.spec_json, loop_data(4))
    for _ in range(3):
        task = min(result.ready, key=lambda t: (t.spec_id, str(t.instance_item)))
        result = complete_task(info.spec_json, db_round_trip(result), result.state_version, task.id,
                               form_for(task.spec_id))
        workflow = load_workflow(info.spec_json, db_round_trip(result), STATE_VERSION, share_specs=True)
        full = workflow_to_plain(workflow)
        for key in SPEC_KEYS:
            del full[key]
        assert dump_state(workflow, info.spec_json) == full


@pytest.mark.parametrize("shape", SHAPES)
def test_runs_on_shared_specs_end_like_in_memory_runs_twice_over(shape):
    info = compile_fixture(f"{shape}.bpmn")
    expected = run_memory(info, loop_data(6))
    for _ in range(2):  # the second run reuses the specs the first one ran on
        stored, _ = run_stored(info, loop_data(6))
        assert stored.completed and stored.data == expected
    assert shared_specs(info.spec_json).unchanged()


def test_a_shared_spec_changed_after_all_is_dropped_and_saved_in_full():
    info = compile_fixture("loop_plain.bpmn")
    started = start_instance(info.spec_json, loop_data(3))
    workflow = load_workflow(info.spec_json, db_round_trip(started), STATE_VERSION, share_specs=True)
    entry = shared_specs(info.spec_json)
    entry.spec.start._outputs.append("Start")  # what a spec change would look like
    try:
        state = dump_state(workflow, info.spec_json)
        assert "spec_override" in state
        assert shared_specs(info.spec_json) is not entry
    finally:
        entry.spec.start._outputs.pop()
