"""Pruning finished history keeps state and cost flat; the depth-1,000 stop is detected.

These tests pin the behaviour of the private-attribute surgery in app.engine.pruning to
SpiffWorkflow 3.2.x: a pruned run through save/load must end with the same data as an
unpruned in-memory run of the same loop shape.
"""

from __future__ import annotations

import json

import pytest
import SpiffWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from app.engine import STATE_VERSION, complete_task
from app.engine.pruning import check_not_stuck, prune
from app.engine.serializer import dump_state
from app.errors import EngineError

from .support import compile_fixture, memory_turn, new_memory_workflow, run_memory, run_stored

SHAPES = ["loop_plain", "loop_parallel", "loop_subprocess", "loop_timer", "loop_mi"]


def loop_data(limit: int) -> dict:
    return {
        "count": 0, "limit": limit, "total": 0, "note": "", "right_total": 0, "inner_total": 0,
        "called_total": 0, "escalate": False, "escalations": 0, "checked": 0, "items": ["a", "b"],
    }


def test_pinned_spiffworkflow_version():
    assert SpiffWorkflow.__version__.startswith("3.2."), "pruning touches private attributes of 3.2.x"


@pytest.mark.parametrize("shape", SHAPES)
def test_pruned_save_load_run_equals_in_memory_run(shape):
    info = compile_fixture(f"{shape}.bpmn")
    stored, _ = run_stored(info, loop_data(8))
    assert stored.completed
    assert stored.data == run_memory(info, loop_data(8))
    assert stored.data["count"] == 8


def test_timer_shape_really_escalates():
    info = compile_fixture("loop_timer.bpmn")
    stored, _ = run_stored(info, loop_data(8))
    assert stored.data["escalations"] == 2


@pytest.mark.parametrize("shape", SHAPES)
def test_state_size_stays_flat(shape):
    info = compile_fixture(f"{shape}.bpmn")
    _, sizes = run_stored(info, loop_data(40))
    assert max(sizes[-10:]) < 1.3 * max(sizes[5:15])


def test_four_hundred_turn_loop_completes_with_flat_state():
    info = compile_fixture("loop_plain.bpmn")
    result, sizes = run_stored(info, loop_data(400))

    assert result.completed
    assert result.data["count"] == 400
    assert result.data["total"] == 400 * len("ok")
    assert len(sizes) == 400
    assert sizes[399 - 1] < 1.2 * sizes[10 - 1]
    assert max(sizes) < 1.2 * sizes[10 - 1]


def test_unpruned_spiffworkflow_silently_stops_near_turn_333():
    """The failure pruning prevents: past depth 1,000 the READY task is invisible."""
    info = compile_fixture("loop_plain.bpmn")
    workflow = new_memory_workflow(info, loop_data(400))
    turns = 0
    while memory_turn(workflow):
        turns += 1
    assert 300 < turns < 400
    with pytest.raises(EngineError, match="stuck") as caught:
        check_not_stuck(workflow)
    assert caught.value.element == "review"
    assert workflow.is_completed()  # SpiffWorkflow's own (wrong) verdict
    assert workflow.data == {}


def deepen(workflow, levels: int = 1_100):
    """Insert a chain of finished filler tasks between the root and the rest of the tree."""
    root = workflow.task_tree
    first = root.children[0]
    filler_spec = workflow.spec.task_specs["count_turn"]
    parent = root
    for _ in range(levels):
        parent = Task(workflow, filler_spec, parent=parent, state=TaskState.COMPLETED)
    root._children.remove(first.id)
    first._parent = parent.id
    parent._children.append(first.id)
    # The serializer stores data as deltas against the parent: keep parents first.
    ordered, queue = {}, [root]
    while queue:
        task = queue.pop(0)
        ordered[task.id] = task
        queue.extend(task.children)
    workflow.tasks = ordered
    return workflow


def test_stuck_detection_on_a_deep_tree():
    info = compile_fixture("loop_plain.bpmn")
    workflow = deepen(new_memory_workflow(info, loop_data(5)))

    assert workflow.get_tasks(state=TaskState.READY, manual=True) == []
    with pytest.raises(EngineError, match="stuck"):
        check_not_stuck(workflow)


def test_pruning_heals_a_deep_tree():
    info = compile_fixture("loop_plain.bpmn")
    workflow = deepen(new_memory_workflow(info, loop_data(5)))
    [review] = [t for t in workflow.tasks.values() if t.task_spec.name == "review" and t.state == TaskState.READY]

    assert prune(workflow) >= 1_100
    check_not_stuck(workflow)
    assert workflow.get_tasks(state=TaskState.READY, manual=True) == [review]


def test_a_stored_deep_tree_is_healed_on_load():
    info = compile_fixture("loop_plain.bpmn")
    workflow = deepen(new_memory_workflow(info, loop_data(2)))
    [review] = [t for t in workflow.tasks.values() if t.task_spec.name == "review" and t.state == TaskState.READY]
    state = json.loads(json.dumps(dump_state(workflow, info.spec_json)))
    assert len(state["tasks"]) > 1_100

    result = complete_task(info.spec_json, state, STATE_VERSION, str(review.id), {"note": "ok"})
    assert [t.spec_id for t in result.ready] == ["review"]
    assert len(result.state["tasks"]) < 20


def test_prune_keeps_everything_unfinished():
    info = compile_fixture("loop_parallel.bpmn")
    workflow = new_memory_workflow(info, loop_data(5))
    for _ in range(7):
        memory_turn(workflow)
    unfinished = {t.id for t in workflow.tasks.values() if t.has_state(TaskState.NOT_FINISHED_MASK)}
    prune(workflow)
    assert unfinished <= set(workflow.tasks)
    assert workflow.task_tree.children[0].has_state(TaskState.FINISHED_MASK)
