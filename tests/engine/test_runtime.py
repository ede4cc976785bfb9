"""Running instances: ready tasks, completion checks, routing, service tasks, timers, state."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app.engine import (
    STATE_VERSION,
    StepRecord,
    complete_task,
    fire_timers,
    runtime,
    start_instance,
)
from app.engine.serializer import load_workflow, workflow_to_plain
from app.errors import EngineError, TaskNotReadyError, ValidationError

from .support import compile_fixture, db_round_trip

# --------------------------------------------------------------------------- basics


def test_start_gives_ready_tasks_and_state():
    info = compile_fixture("routing.bpmn")
    result = start_instance(info.spec_json, {"amount": 5})

    assert [t.spec_id for t in result.ready] == ["manager_review"]
    assert result.completed is False
    assert result.state_version == STATE_VERSION
    assert result.data == {"amount": 5}
    assert result.next_timer_at is None


@pytest.mark.parametrize(("amount", "route"), [(5, "manager_review"), (9_999, "manager_review"), (10_000, "board_review")])
def test_exclusive_gateway_routes(amount, route):
    info = compile_fixture("routing.bpmn")
    assert [t.spec_id for t in start_instance(info.spec_json, {"amount": amount}).ready] == [route]


def test_completion_runs_to_the_end():
    info = compile_fixture("routing.bpmn")
    started = start_instance(info.spec_json, {"amount": 5})
    done = complete_task(info.spec_json, db_round_trip(started), started.state_version, started.ready[0].id, {"decision": "yes"})

    assert done.completed is True
    assert done.ready == []
    assert done.data == {"amount": 5, "decision": "yes"}
    assert done.steps == [StepRecord("end_manager", "end_manager", "EndEvent")]


def test_state_is_json_and_has_no_spec():
    info = compile_fixture("loop_subprocess.bpmn")
    result = start_instance(info.spec_json, {"count": 0, "limit": 3, "inner_total": 0, "called_total": 0})
    text = json.dumps(result.state)
    assert not {"spec", "subprocess_specs", "spec_override"} & set(result.state)
    assert len(text) < len(info.spec_json) + 8_000
    assert '"task_specs"' not in text


# --------------------------------------------------------------------------- task checks


@pytest.fixture
def routed():
    info = compile_fixture("routing.bpmn")
    return info, start_instance(info.spec_json, {"amount": 5})


@pytest.mark.parametrize("task_id", ["5b1e8f0a-3c2d-4e6f-9a7b-1c2d3e4f5a6b", "not-a-uuid", ""])
def test_unknown_task_is_not_ready(routed, task_id):
    info, started = routed
    with pytest.raises(TaskNotReadyError):
        complete_task(info.spec_json, started.state, started.state_version, task_id, {})


def test_completed_task_is_not_ready(routed):
    info, started = routed
    task_id = started.ready[0].id
    done = complete_task(info.spec_json, started.state, started.state_version, task_id, {})
    with pytest.raises(TaskNotReadyError, match="COMPLETED"):
        complete_task(info.spec_json, done.state, done.state_version, task_id, {})


def test_non_user_task_is_not_ready(routed):
    info, started = routed
    root_id = started.state["root"]
    with pytest.raises(TaskNotReadyError, match="not a user task"):
        complete_task(info.spec_json, started.state, started.state_version, root_id, {})


def test_predicted_user_task_is_not_ready():
    """Task.run() would happily 'complete' a predicted (MAYBE) task: the engine must refuse."""
    info = compile_fixture("loop_plain.bpmn")
    started = start_instance(info.spec_json, {"count": 0, "limit": 3, "total": 0})
    [predicted] = [
        task_id for task_id, task in started.state["tasks"].items()
        if task["task_spec"] == "review" and task_id != started.ready[0].id
    ]
    with pytest.raises(TaskNotReadyError, match="MAYBE"):
        complete_task(info.spec_json, started.state, started.state_version, predicted, {})


@pytest.mark.parametrize("data", [{"_private": 1}, {"nested": {"typename": "Decimal", "value": "1"}}, {"rows": [{"typename": "x"}]}])
def test_reserved_data_keys_are_refused(routed, data):
    info, started = routed
    with pytest.raises(ValidationError):
        complete_task(info.spec_json, started.state, started.state_version, started.ready[0].id, data)


def test_script_failure_is_an_engine_error_naming_the_element():
    info = compile_fixture("routing.bpmn")
    with pytest.raises(EngineError) as caught:
        start_instance(info.spec_json, {})  # 'amount' is missing in the gateway condition
    assert caught.value.element == "by_amount"
    assert "amount" in caught.value.message


def test_bad_spec_json_is_an_engine_error():
    with pytest.raises(EngineError):
        start_instance("{not json", {})


# --------------------------------------------------------------------------- service tasks


def test_service_task_calls_the_action_with_evaluated_params():
    info = compile_fixture("service.bpmn")
    calls = []

    def activate_partner(params, task_data):
        calls.append((params, task_data))
        return {"activated": params["org"], "label": params["label"]}

    result = start_instance(info.spec_json, {"applicant_org_id": 42, "seats": 3}, actions={"activate_partner": activate_partner})

    assert calls == [({"org": 42, "label": "org-42", "seats": 6}, {"applicant_org_id": 42, "seats": 3})]
    assert result.ready[0].data["activation"] == {"activated": 42, "label": "org-42"}
    assert result.steps == [StepRecord("activate", "Activate partner organisation", "ServiceTask")]


def test_unknown_action_at_run_time():
    info = compile_fixture("service.bpmn")
    with pytest.raises(EngineError) as caught:
        start_instance(info.spec_json, {"applicant_org_id": 1, "seats": 1}, actions={})
    assert caught.value.element == "activate"
    assert "activate_partner" in caught.value.message


def test_host_exceptions_propagate_unchanged():
    class PartnerDown(RuntimeError):
        pass

    def failing(params, task_data):
        raise PartnerDown("partner registry unavailable")

    info = compile_fixture("service.bpmn")
    with pytest.raises(PartnerDown):
        start_instance(info.spec_json, {"applicant_org_id": 1, "seats": 1}, actions={"activate_partner": failing})


def test_non_json_action_result_is_an_engine_error():
    info = compile_fixture("service.bpmn")
    with pytest.raises(EngineError) as caught:
        start_instance(info.spec_json, {"applicant_org_id": 1, "seats": 1}, actions={"activate_partner": lambda p, d: object()})
    assert caught.value.element == "activate"


# --------------------------------------------------------------------------- timers


def test_boundary_timer_sets_next_timer_at_and_fires_when_due():
    info = compile_fixture("timer_boundary.bpmn")
    before = datetime.now(UTC)
    started = start_instance(info.spec_json, {"timeout": "PT0.3S"})

    assert [t.spec_id for t in started.ready] == ["manager_approval"]
    assert started.next_timer_at is not None and started.next_timer_at.tzinfo is not None
    assert before < started.next_timer_at < before + timedelta(seconds=5)

    early = fire_timers(info.spec_json, db_round_trip(started), started.state_version)
    assert [t.spec_id for t in early.ready] == ["manager_approval"]

    time.sleep(max(0.0, (started.next_timer_at - datetime.now(UTC)).total_seconds()) + 0.05)
    fired = fire_timers(info.spec_json, db_round_trip(early), early.state_version)

    assert [t.spec_id for t in fired.ready] == ["director_approval"]
    assert fired.next_timer_at is None
    assert [s.spec_id for s in fired.steps] == ["too_slow", "mark_escalated"]
    assert fired.data["escalated"] is True


def test_time_date_timer_reports_its_due_time():
    info = compile_fixture("timer_date.bpmn")
    due = datetime(2999, 1, 2, 3, 4, 5, tzinfo=UTC)
    started = start_instance(info.spec_json, {"due_at": due.isoformat()})
    assert started.ready == []
    assert started.next_timer_at == due


def test_time_date_in_the_past_moves_on():
    info = compile_fixture("timer_date.bpmn")
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    result = start_instance(info.spec_json, {"due_at": past})
    assert [t.spec_id for t in result.ready] == ["follow_up"]
    assert result.next_timer_at is None


# --------------------------------------------------------------------------- state versions and data


def test_future_state_version_is_refused(routed):
    info, started = routed
    with pytest.raises(EngineError, match="newer"):
        complete_task(info.spec_json, started.state, STATE_VERSION + 1, started.ready[0].id, {})


@pytest.mark.parametrize("version", [-1, "1", None, True])
def test_invalid_state_version_is_refused(routed, version):
    info, started = routed
    with pytest.raises(EngineError):
        fire_timers(info.spec_json, started.state, version)


def test_version_zero_state_with_embedded_spec_is_migrated(routed):
    info, started = routed
    workflow = load_workflow(info.spec_json, started.state, started.state_version)
    legacy = workflow_to_plain(workflow)  # SpiffWorkflow's own format, spec included
    assert "spec" in legacy

    done = complete_task(info.spec_json, legacy, 0, started.ready[0].id, {"decision": "ok"})
    assert done.completed and "spec_override" not in done.state


def test_migrations_are_chained_by_integer_version(routed, monkeypatch):
    from app.engine import serializer

    info, started = routed
    seen = []
    monkeypatch.setattr(serializer, "STATE_VERSION", 3)
    monkeypatch.setattr(serializer, "MIGRATIONS", {
        1: lambda s: seen.append(1) or s,
        2: lambda s: seen.append(2) or s,
    })
    serializer.load_workflow(info.spec_json, started.state, 1)
    assert seen == [1, 2]


def test_changed_spec_is_kept_with_the_instance(routed):
    from app.engine.serializer import dump_state

    info, started = routed
    workflow = load_workflow(info.spec_json, started.state, started.state_version)
    workflow.spec.task_specs["manager_review"].bpmn_name = "Renamed during the run"
    state = dump_state(workflow, info.spec_json)
    assert "spec_override" in state
    reloaded = load_workflow(info.spec_json, json.loads(json.dumps(state)), STATE_VERSION)
    assert reloaded.spec.task_specs["manager_review"].bpmn_name == "Renamed during the run"


def test_corrupt_state_is_an_engine_error(routed):
    info, started = routed
    broken = dict(started.state, tasks={"x": {"nonsense": True}})
    with pytest.raises(EngineError):
        fire_timers(info.spec_json, broken, started.state_version)


def test_decimal_date_and_datetime_round_trip():
    info = compile_fixture("routing.bpmn")
    data = {
        "amount": Decimal("12500.50"),
        "decided_on": date(2024, 5, 17),
        "received_at": datetime(2024, 5, 17, 9, 30, tzinfo=UTC),
    }
    started = start_instance(info.spec_json, data)
    assert started.ready[0].spec_id == "board_review"
    done = complete_task(info.spec_json, db_round_trip(started), started.state_version, started.ready[0].id, {"fee": Decimal("1.10")})
    assert done.data == {**data, "fee": Decimal("1.10")}
    assert isinstance(done.data["decided_on"], date) and not isinstance(done.data["decided_on"], datetime)


# --------------------------------------------------------------------------- automatic loops


def test_long_automatic_loop_in_one_call_completes():
    info = compile_fixture("auto_loop.bpmn")
    result = start_instance(info.spec_json, {"count": 0, "limit": 1_200})
    assert result.completed and result.data["count"] == 1_200
    assert len(result.steps) == 1_201


def test_endless_automatic_loop_is_stopped(monkeypatch):
    monkeypatch.setattr(runtime, "MAX_ENGINE_STEPS", 300)
    info = compile_fixture("auto_loop.bpmn")
    with pytest.raises(EngineError, match="endless loop"):
        start_instance(info.spec_json, {"count": 0, "limit": 10**9})


def test_the_host_clock_drives_timers():
    info = compile_fixture("timer_boundary.bpmn")
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    started = start_instance(info.spec_json, {"timeout": "PT4H"}, now=t0)
    assert started.next_timer_at == t0 + timedelta(hours=4)

    early = fire_timers(info.spec_json, db_round_trip(started), started.state_version,
                        now=t0 + timedelta(hours=3, minutes=59))
    assert [t.spec_id for t in early.ready] == ["manager_approval"]
    assert early.next_timer_at == t0 + timedelta(hours=4)

    fired = fire_timers(info.spec_json, db_round_trip(early), early.state_version, now=t0 + timedelta(hours=4, seconds=1))
    assert [t.spec_id for t in fired.ready] == ["director_approval"]
    assert fired.data["escalated"] is True


def test_engine_clock_refuses_naive_times():
    info = compile_fixture("timer_boundary.bpmn")
    with pytest.raises(ValueError, match="timezone-aware"):
        start_instance(info.spec_json, {"timeout": "PT4H"}, now=datetime(2026, 1, 5, 9, 0))
