"""ProcessInfo/TaskMeta read from BPMN properties and lanes; ReadyTask details."""

from __future__ import annotations

import json

from app.engine import ReadyTask, TaskMeta, complete_task, start_instance

from .support import compile_fixture, db_round_trip


def test_process_info_from_properties():
    info = compile_fixture("loop_plain.bpmn")

    assert info.process_key == "loop_plain"
    assert info.name == "Plain review loop"
    assert info.start_form_key == "application_form"
    assert info.start_roles == ("applicant", "staff")
    assert info.articles == ("Art. 18",)
    assert info.tasks == {
        "review": TaskMeta(
            spec_id="review",
            title="Review the application",
            role="reviewer",
            form_key="review_form",
            articles=("Art. 18", "Art. 20"),
            due="P5D",
            lane="Reviewers",
            documentation="Check the budget line.",
            role_expression=None,
            org_expression=None,
            bulk_approvable=True,
        )
    }


def test_spec_json_holds_the_spec_only():
    info = compile_fixture("loop_plain.bpmn")
    parts = json.loads(info.spec_json)
    assert set(parts) == {"spec", "subprocess_specs", "serializer_version"}
    assert "review" in parts["spec"]["task_specs"]


def test_user_tasks_of_subprocesses_and_called_processes_are_listed():
    info = compile_fixture("loop_subprocess.bpmn")
    assert set(info.tasks) == {"review", "inner", "called_task"}
    assert info.tasks["inner"].form_key == "check_form"


def test_expression_properties_are_kept():
    meta = compile_fixture("multi_instance.bpmn").tasks["dept_signoff"]
    assert meta.role == "dept_head"
    assert meta.role_expression == "department + '_heads'"
    assert meta.org_expression == "department.upper()"
    assert meta.bulk_approvable is False


def test_ready_task_carries_the_metadata_and_a_copy_of_the_data():
    info = compile_fixture("loop_plain.bpmn")
    result = start_instance(info.spec_json, {"count": 0, "limit": 2, "total": 0})

    [task] = result.ready
    assert isinstance(task, ReadyTask)
    assert (task.spec_id, task.title, task.role, task.org_hint) == ("review", "Review the application", "reviewer", None)
    assert (task.form_key, task.articles, task.due, task.lane) == ("review_form", ("Art. 18", "Art. 20"), "P5D", "Reviewers")
    assert task.instance_item is None
    assert task.data == {"count": 0, "limit": 2, "total": 0}
    task.data["count"] = 99
    again = complete_task(info.spec_json, db_round_trip(result), result.state_version, task.id, {"note": "x"})
    assert again.ready[0].data["count"] == 1


def test_parallel_multi_instance_gives_one_ready_task_per_item():
    info = compile_fixture("multi_instance.bpmn")
    result = start_instance(info.spec_json, {"departments": ["finance", "legal", "it"]})

    by_item = {t.instance_item: t for t in result.ready}
    assert set(by_item) == {"finance", "legal", "it"}
    assert by_item["legal"].role == "legal_heads"
    assert by_item["legal"].org_hint == "LEGAL"
    assert by_item["legal"].spec_id == "dept_signoff"
    assert by_item["legal"].form_key == "signoff_form"
    assert by_item["legal"].data["department"] == "legal"
    assert len({t.id for t in result.ready}) == 3

    for item in ("it", "finance", "legal"):
        task = next(t for t in result.ready if t.instance_item == item)
        result = complete_task(
            info.spec_json, db_round_trip(result), result.state_version, task.id, {"signoff": {"by": item}}
        )
    assert result.completed
    assert result.data["signoffs"] == [{"by": "it"}, {"by": "finance"}, {"by": "legal"}]


def test_role_expression_over_a_dmn_decision():
    info = compile_fixture("dmn_process.bpmn", "level.dmn")
    roles = {amount: start_instance(info.spec_json, {"amount": amount}).ready[0].role for amount in (5, 5_000, 50_000)}
    assert roles == {5: "manager", 5_000: "director", 50_000: "board"}
