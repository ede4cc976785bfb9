"""Migrating running instances to another version of their process (app.engine.migration).

Open tasks keep their id, data and claims; what follows them comes from the new version,
also after a running sub-process, a multi-instance or a boundary timer.  An open task the new
version lacks (removed, or given another id) refuses the migration naming the element.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from app.engine import (
    STATE_VERSION,
    compile_definition,
    complete_task,
    fire_timers,
    migrate_instance,
    preview_migration,
    start_instance,
)
from app.engine.serializer import load_workflow
from app.errors import EngineError

from .support import (
    FIXTURES,
    KNOWN,
    compile_fixture,
    db_round_trip,
    spec_json_without_lint,
    with_expression,
)

FORMS = {"review": {"decision": "approve"}, "compliance": {"ok": True}, "check": {"receipts": "fine"},
         "audit": {"sampled": 3}, "approve": {"paid": True}}
WRAP_UP = ('<bpmn:userTask id="wrap_up" name="Wrap up"><bpmn:extensionElements><spiffworkflow:properties>'
           '<spiffworkflow:property name="role" value="staff"/><spiffworkflow:property name="formKey" '
           'value="confirm_form"/></spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>')


@pytest.fixture(scope="module")
def v1():
    return compile_fixture("migration_v1.bpmn")


def step(spec_json, result, element=None, data=None):
    """Complete the (only, or named) ready task through a JSON round trip, like the host
    (which puts the form data under the element id), or with raw ``data``."""
    task = next(t for t in result.ready if element in (None, t.spec_id))
    form = data if data is not None else {task.spec_id: FORMS.get(task.spec_id, {})}
    return complete_task(spec_json, db_round_trip(result), result.state_version, task.id, form)


def at(info, element):
    """A v1 instance whose open task is ``element``."""
    result = start_instance(info.spec_json, {"amount": 120})
    while element not in {t.spec_id for t in result.ready}:
        result = step(info.spec_json, result)
    return result


def run_to_end(spec_json, result):
    """Complete whatever is ready until the instance ends; returns (result, elements done)."""
    done = []
    for _ in range(20):
        if result.completed:
            return result, done
        done.append(result.ready[0].spec_id)
        result = step(spec_json, result)
    raise AssertionError("the instance did not end")


def test_a_step_added_after_the_open_one_is_taken_after_migration(v1):
    v2 = compile_fixture("migration_v2_added.bpmn")
    before = at(v1, "review")
    preview = preview_migration(v1.spec_json, v2.spec_json, db_round_trip(before), before.state_version)
    assert preview.can_migrate and preview.reason is None
    assert [(t.element, t.maps_to) for t in preview.tasks] == [("review", "review")]

    migrated = migrate_instance(v1.spec_json, v2.spec_json, db_round_trip(before), before.state_version)
    assert migrated.state_version == STATE_VERSION
    assert [(t.id, t.spec_id, t.role) for t in migrated.ready] == [(before.ready[0].id, "review", "reviewer")]
    result, done = run_to_end(v2.spec_json, migrated)
    assert done == ["review", "compliance", "check", "audit", "approve"]
    assert result.data["review"] == {"decision": "approve"} and result.data["amount"] == 120


def test_an_instance_inside_a_running_sub_process_takes_the_step_added_after_it(v1):
    """SpiffWorkflow's own migrate_workflow leaves the sub-process task's predicted future on
    the old path; the migrated instance must go through the new audit step."""
    v2 = compile_fixture("migration_v2_added.bpmn")
    before = at(v1, "check")
    preview = preview_migration(v1.spec_json, v2.spec_json, db_round_trip(before), before.state_version)
    assert preview.can_migrate
    assert {(t.element, t.state, t.maps_to) for t in preview.tasks} == {
        ("checks", "STARTED", "checks"), ("check", "READY", "check")}
    migrated = migrate_instance(v1.spec_json, v2.spec_json, db_round_trip(before), before.state_version)
    assert [t.id for t in migrated.ready] == [before.ready[0].id]
    _result, done = run_to_end(v2.spec_json, migrated)
    assert done == ["check", "audit", "approve"]


def test_removing_a_later_step_migrates_and_the_instance_ends_without_it(v1):
    v2 = compile_fixture("migration_v2_removed.bpmn")
    before = at(v1, "review")
    migrated = migrate_instance(v1.spec_json, v2.spec_json, db_round_trip(before), before.state_version)
    result, done = run_to_end(v2.spec_json, migrated)
    assert done == ["review", "check"] and result.completed


def test_a_version_without_the_open_task_cannot_migrate_and_names_it(v1):
    v2 = compile_fixture("migration_v2_removed.bpmn")
    before = at(v1, "approve")
    state = db_round_trip(before)
    preview = preview_migration(v1.spec_json, v2.spec_json, state, before.state_version)
    assert not preview.can_migrate
    assert "approve" in preview.reason and "does not exist in the new version" in preview.reason
    assert [(t.element, t.maps_to) for t in preview.tasks] == [("approve", None)]
    with pytest.raises(EngineError) as caught:
        migrate_instance(v1.spec_json, v2.spec_json, state, before.state_version)
    assert caught.value.element == "approve" and "approve" in caught.value.message
    assert state == db_round_trip(before)  # the caller's state is untouched


def test_a_renamed_element_id_cannot_map(v1):
    v2 = compile_fixture("migration_v2_renamed.bpmn")
    before = at(v1, "review")
    preview = preview_migration(v1.spec_json, v2.spec_json, db_round_trip(before), before.state_version)
    assert not preview.can_migrate
    assert [(t.element, t.maps_to) for t in preview.tasks] == [("review", None)]
    assert "first_review" in preview.reason  # the hint names the element it looks renamed to
    with pytest.raises(EngineError) as caught:
        migrate_instance(v1.spec_json, v2.spec_json, db_round_trip(before), before.state_version)
    assert caught.value.element == "review"
    # instances that already passed the renamed step migrate (finished tasks align by structure)
    later = at(v1, "approve")
    migrated = migrate_instance(v1.spec_json, v2.spec_json, db_round_trip(later), later.state_version)
    assert run_to_end(v2.spec_json, migrated)[1] == ["approve"]


def test_a_finished_step_the_new_version_removed_is_spliced_out(v1):
    v2 = compile_fixture("migration_v2_no_checks.bpmn")
    before = at(v1, "approve")  # the finished checks sub-process is still in the pruned tree
    assert "checks" in {t["task_spec"] for t in before.state["tasks"].values()}
    migrated = migrate_instance(v1.spec_json, v2.spec_json, db_round_trip(before), before.state_version)
    assert [t.id for t in migrated.ready] == [before.ready[0].id]
    assert "checks" not in {t["task_spec"] for t in migrated.state["tasks"].values()}
    assert migrated.state["subprocesses"] == {}
    result, done = run_to_end(v2.spec_json, migrated)
    assert done == ["approve"] and result.data["check"] == {"receipts": "fine"}  # its data stays


def test_migrating_back_and_forth_follows_each_version(v1):
    v2 = compile_fixture("migration_v2_removed.bpmn")
    before = at(v1, "check")
    migrated = migrate_instance(v1.spec_json, v2.spec_json, db_round_trip(before), before.state_version)
    v1_again = migrate_instance(v2.spec_json, v1.spec_json, db_round_trip(migrated), migrated.state_version)
    assert run_to_end(v2.spec_json, migrated)[1] == ["check"]
    assert run_to_end(v1.spec_json, v1_again)[1] == ["check", "approve"]


def test_the_migrated_state_loads_completes_and_prunes_like_any_other(v1):
    v2 = compile_fixture("migration_v2_added.bpmn")
    before = at(v1, "review")
    migrated = migrate_instance(v1.spec_json, v2.spec_json, db_round_trip(before), before.state_version)
    stored = db_round_trip(migrated)
    assert "spec_override" not in stored  # the state runs on the new definition's spec
    workflow = load_workflow(v2.spec_json, stored, migrated.state_version)
    assert workflow.spec.task_specs["compliance"] is not None
    fresh = start_instance(v2.spec_json, {"amount": 120})
    assert len(stored["tasks"]) <= len(fresh.state["tasks"])  # pruned like a fresh run
    result, _done = run_to_end(v2.spec_json, migrated)
    assert len(result.state["tasks"]) < 10
    fresh_end, _ = run_to_end(v2.spec_json, fresh)
    assert result.data == fresh_end.data


def test_the_restricted_engine_is_attached_after_migration(v1, tmp_path):
    marker = tmp_path / "pwned"
    hostile = with_expression("migration_v2_gateway.bpmn", f"__import__('os').system('touch {marker}')")
    v2_spec_json = spec_json_without_lint(hostile, "migration_demo")
    before = at(v1, "review")
    preview = preview_migration(v1.spec_json, v2_spec_json, db_round_trip(before), before.state_version)
    assert preview.can_migrate and not marker.exists()  # nothing is evaluated by a preview
    migrated = migrate_instance(v1.spec_json, v2_spec_json, db_round_trip(before), before.state_version)
    with pytest.raises(EngineError) as caught:
        step(v2_spec_json, migrated)
    assert caught.value.element in ("fast_track", "flow_fast")
    assert not marker.exists()
    # and a harmless condition on the same diagram just runs
    harmless = spec_json_without_lint(with_expression("migration_v2_gateway.bpmn", "amount < 100"), "migration_demo")
    migrated = migrate_instance(v1.spec_json, harmless, db_round_trip(before), before.state_version)
    assert run_to_end(harmless, migrated)[1] == ["review", "check", "approve"]


def test_a_running_multi_instance_keeps_its_items_and_takes_the_new_step():
    source = (FIXTURES / "multi_instance.bpmn").read_text()
    v2_source = source.replace(
        '<bpmn:sequenceFlow id="flow_end" sourceRef="dept_signoff" targetRef="end"/>',
        f'{WRAP_UP}<bpmn:sequenceFlow id="flow_end" sourceRef="dept_signoff" targetRef="wrap_up"/>'
        '<bpmn:sequenceFlow id="flow_wrap" sourceRef="wrap_up" targetRef="end"/>')
    v1 = compile_definition({"mi.bpmn": source.encode()}, **KNOWN)
    v2 = compile_definition({"mi.bpmn": v2_source.encode()}, **KNOWN)
    result = start_instance(v1.spec_json, {"departments": ["finance", "legal", "it"]})
    result = step(v1.spec_json, result, data={"signoff": "finance ok"})
    before = {(t.id, t.instance_item, t.role) for t in result.ready}
    migrated = migrate_instance(v1.spec_json, v2.spec_json, db_round_trip(result), result.state_version)
    assert {(t.id, t.instance_item, t.role) for t in migrated.ready} == before
    assert {(t.element, t.state) for t in preview_migration(
        v1.spec_json, v2.spec_json, db_round_trip(result), result.state_version).tasks} == {("dept_signoff", "READY")}
    for _ in range(2):
        migrated = step(v2.spec_json, migrated, data={"signoff": "ok"})
    assert [t.spec_id for t in migrated.ready] == ["wrap_up"]
    assert len(migrated.data["signoffs"]) == 3


def test_a_waiting_boundary_timer_keeps_its_due_time():
    source = (FIXTURES / "timer_boundary.bpmn").read_text()
    v2_source = source.replace(
        '<bpmn:sequenceFlow id="flow_approved" sourceRef="manager_approval" targetRef="end_normal"/>',
        f'{WRAP_UP}<bpmn:sequenceFlow id="flow_approved" sourceRef="manager_approval" targetRef="wrap_up"/>'
        '<bpmn:sequenceFlow id="flow_wrap" sourceRef="wrap_up" targetRef="end_normal"/>')
    v1 = compile_definition({"t.bpmn": source.encode()}, **KNOWN)
    v2 = compile_definition({"t.bpmn": v2_source.encode()}, **KNOWN)
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    started = start_instance(v1.spec_json, {"timeout": "P2D"}, now=t0)
    migrated = migrate_instance(v1.spec_json, v2.spec_json, db_round_trip(started), started.state_version,
                                now=t0 + timedelta(days=1))
    assert migrated.next_timer_at == started.next_timer_at == t0 + timedelta(days=2)  # not restarted
    approved = complete_task(v2.spec_json, db_round_trip(migrated), migrated.state_version, migrated.ready[0].id,
                             {"ok": True}, now=t0 + timedelta(days=1))
    assert [t.spec_id for t in approved.ready] == ["wrap_up"] and approved.next_timer_at is None
    escalated = fire_timers(v2.spec_json, db_round_trip(migrated), migrated.state_version, now=t0 + timedelta(days=3))
    assert [t.spec_id for t in escalated.ready] == ["director_approval"]


def test_a_state_that_cannot_be_loaded_gives_a_refusing_preview_not_an_exception(v1):
    v2 = compile_fixture("migration_v2_added.bpmn")
    for state, version in (({"tasks": "nonsense"}, 1), ({}, 99), (json.loads('{"x": [1]}'), 0)):
        preview = preview_migration(v1.spec_json, v2.spec_json, state, version)
        assert not preview.can_migrate and preview.reason and preview.tasks == []
        with pytest.raises(EngineError):
            migrate_instance(v1.spec_json, v2.spec_json, state, version)


def test_a_version_0_state_migrates_but_an_instance_on_a_modified_spec_does_not(v1):
    v2 = compile_fixture("migration_v2_added.bpmn")
    before = at(v1, "review")
    parts = json.loads(v1.spec_json)
    legacy = {**db_round_trip(before), "spec": parts["spec"], "subprocess_specs": parts["subprocess_specs"]}
    migrated = migrate_instance(v1.spec_json, v2.spec_json, legacy, 0)  # spec embedded, as version 0 stored it
    assert run_to_end(v2.spec_json, migrated)[1] == ["review", "compliance", "check", "audit", "approve"]
    other = json.loads(v2.spec_json)
    modified = {**db_round_trip(before),
                "spec_override": {key: other[key] for key in ("spec", "subprocess_specs")}}
    preview = preview_migration(v1.spec_json, v2.spec_json, modified, before.state_version)
    assert not preview.can_migrate and "modified copy" in preview.reason


def test_boundary_events_cannot_be_removed_from_or_added_to_an_open_task():
    with_timer = (FIXTURES / "timer_boundary.bpmn").read_text()
    without = re.sub(r"<bpmn:boundaryEvent.*?</bpmn:boundaryEvent>|<bpmn:scriptTask id=\"mark_escalated\".*?"
                     r"</bpmn:scriptTask>|<bpmn:userTask id=\"director_approval\".*?</bpmn:userTask>|"
                     r"<bpmn:endEvent id=\"end_escalated\"/>|<bpmn:sequenceFlow id=\"flow_(timeout|escalate|director)\"[^>]*/>",
                     "", with_timer, flags=re.S)
    timed = compile_definition({"t.bpmn": with_timer.encode()}, **KNOWN)
    plain = compile_definition({"t.bpmn": without.encode()}, **KNOWN)
    started = start_instance(timed.spec_json, {"timeout": "P2D"})
    removed = preview_migration(timed.spec_json, plain.spec_json, db_round_trip(started), started.state_version)
    assert not removed.can_migrate and "too_slow" in removed.reason
    assert ("too_slow", "WAITING", None) in {(t.element, t.state, t.maps_to) for t in removed.tasks}
    started = start_instance(plain.spec_json, {"timeout": "P2D"})
    with pytest.raises(EngineError) as caught:
        migrate_instance(plain.spec_json, timed.spec_json, db_round_trip(started), started.state_version)
    assert caught.value.element == "manager_approval" and "boundary events" in caught.value.message
