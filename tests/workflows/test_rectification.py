"""Rectification (Art. 26(4), 27(3), 29) through the service layer: every outcome, the
deadline timer, task routing to the party ordered to correct, and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app import jobs
from app.errors import ForbiddenError, NotFoundError, ValidationError
from app.models import AuditEvent, HumanTask, ProcessInstance
from app.services import processes, tasks, timers
from app.services.clock import clock
from tests.helpers import complete, open_elements, open_task, org, user

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 2026-03-02 09:00 Beijing time
DEADLINE = "2026-03-16"
# End of the deadline day, Beijing time (UTC+8).
DEADLINE_AT = datetime(2026, 3, 16, 15, 59, 59, tzinfo=UTC)


# --------------------------------------------------------------------------- data


def order(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "前海智数超范围使用企业登记数据整改",
        "target_kind": "partner",
        "target_org": "partner_a",
        "findings": "2026年2月专项检查发现：授权合作方将企业登记注册信息用于授权场景以外的营销名单生成。",
        "required_corrections": "立即停止超范围使用；删除衍生数据；完善数据使用审批制度并提交整改报告。",
        "deadline": DEADLINE,
        "articles_violated": ["Art. 27"],
    }
    data.update(overrides)
    return data


def correction(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "cause_analysis": "业务部门未经数据安全负责人审批擅自扩大使用范围。",
        "corrections_made": "已停止相关营销业务，删除衍生数据12万条，修订《数据使用审批办法》。",
        "completed_on": "2026-03-10",
        "evidence": "删除记录 SC-2026-031；制度文件 QH-ZD-2026-07。",
    }
    data.update(overrides)
    return data


def verdict(decision: str = "approve", comment: str = "经现场核验，改正到位。") -> dict[str, Any]:
    return {"decision": decision, "comment": comment}


def start(session, username: str = "authority", **overrides: Any) -> ProcessInstance:
    clock.set(T0)
    instance = processes.start(session, user(session, username), "rectification", order(**overrides))
    session.commit()
    return instance


def instances_of(session, process_key: str, org_code: str) -> list[ProcessInstance]:
    return list(session.execute(select(ProcessInstance).where(
        ProcessInstance.process_key == process_key,
        ProcessInstance.org_id == org(session, org_code).id)).scalars())


def fired_count(session, instance: ProcessInstance) -> int:
    return session.execute(select(func.count(AuditEvent.id)).where(
        AuditEvent.instance_id == instance.id, AuditEvent.action == "timer.fired")).scalar_one()


# --------------------------------------------------------------------------- outcomes


def test_correction_reported_in_time_and_verified_closes_as_corrected(session):
    instance = start(session)
    assert instance.status == "running"
    assert instance.business_key.startswith("R-")
    assert instance.title == "前海智数超范围使用企业登记数据整改"
    assert instance.org_id == org(session, "authority").id
    assert open_elements(session, instance) == {"report_correction"}
    assert instance.next_timer_at == DEADLINE_AT

    report = open_task(session, "partner_a", "report_correction", instance)
    assert (report.role, report.candidate_org_id) == ("partner", org(session, "partner_a").id)
    assert report.context["application"]["required_corrections"].startswith("立即停止")
    assert report.articles == ["Art. 26", "Art. 27"]

    clock.set(T0 + timedelta(days=8))
    complete(session, "partner_a", "report_correction", instance, correction())
    session.refresh(instance)
    assert open_elements(session, instance) == {"verify_correction"}
    assert instance.next_timer_at is None  # the party reported in time: no clock runs against it
    verify = open_task(session, "authority", "verify_correction", instance)
    assert verify.role == "authority" and verify.candidate_org_id is None
    assert verify.context["report_correction"]["corrections_made"].startswith("已停止")

    complete(session, "authority", "verify_correction", instance, verdict())
    session.refresh(instance)
    assert (instance.status, instance.outcome, instance.next_timer_at) == ("completed", "corrected", None)
    assert open_elements(session, instance) == set()
    assert instances_of(session, "partner_exit", "partner_a") == []
    actions = [e.action for e in processes.history(session, instance)]
    assert actions[0] == "instance.started" and actions[-1] == "instance.completed"
    assert actions.count("task.completed") == 2 and "timer.fired" not in actions


def test_returned_correction_keeps_the_original_deadline(session):
    instance = start(session)
    clock.set(T0 + timedelta(days=3))
    complete(session, "partner_a", "report_correction", instance, correction(corrections_made="已停止营销业务。"))
    clock.set(T0 + timedelta(days=5))
    complete(session, "authority", "verify_correction", instance, verdict("return", "衍生数据未删除，请继续改正。"))
    session.refresh(instance)
    assert open_elements(session, instance) == {"report_correction"}
    assert instance.next_timer_at == DEADLINE_AT  # same deadline, not a new one
    again = open_task(session, "partner_a", "report_correction", instance)
    assert again.context["verify_correction"]["comment"] == "衍生数据未删除，请继续改正。"

    clock.set(T0 + timedelta(days=10))
    complete(session, "partner_a", "report_correction", instance, correction())
    complete(session, "authority", "verify_correction", instance, verdict())
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "corrected")
    assert [t.decision for t in session.execute(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.spec_id == "verify_correction")
        .order_by(HumanTask.completed_at)).scalars()] == ["return", "approve"]


def test_correction_returned_after_the_deadline_is_missed_at_once(session):
    instance = start(session)
    clock.set(T0 + timedelta(days=13))
    complete(session, "partner_a", "report_correction", instance, correction())
    clock.set(DEADLINE_AT + timedelta(days=2))  # the issuer verifies after the deadline
    assert timers.fire(session, instance.id) is False  # a report made in time is not overdue
    session.rollback()
    complete(session, "authority", "verify_correction", instance, verdict("return", "未改正到位。"))
    session.refresh(instance)
    # The returned correction is due by the original deadline, which has passed.
    assert (instance.status, instance.outcome) == ("completed", "missed")
    assert open_elements(session, instance) == set()
    assert len(instances_of(session, "partner_exit", "partner_a")) == 1


def test_missed_deadline_starts_partner_exit_once(app, session):
    instance = start(session)
    iid = instance.id
    clock.set(DEADLINE_AT - timedelta(minutes=1))
    assert timers.fire(session, iid) is False  # not due yet
    session.rollback()

    clock.set(DEADLINE_AT + timedelta(seconds=1))
    assert jobs.poll_timers(app) == 1
    assert jobs.poll_timers(app) == 0  # firing again does nothing
    assert timers.fire(session, iid) is False
    session.rollback()

    instance = session.get(ProcessInstance, iid)
    session.refresh(instance)
    assert (instance.status, instance.outcome, instance.next_timer_at) == ("completed", "missed", None)
    assert fired_count(session, instance) == 1
    report = session.execute(select(HumanTask).where(HumanTask.instance_id == iid)).scalar_one()
    assert report.status == "cancelled"
    exits = instances_of(session, "partner_exit", "partner_a")
    assert len(exits) == 1
    followup = exits[0]
    assert followup.started_by_id is None
    assert followup.data["initiator"] == "system"
    assert followup.data["application"]["source"] == instance.business_key
    assert followup.data["application"]["forced"] is True
    assert "逾期未改正" in followup.data["application"]["reason"]
    assert instance.data["followup"]["business_key"] == followup.business_key
    steps = [e.payload.get("element") for e in processes.history(session, instance) if e.action == "engine.step"]
    assert "start_termination" in steps
    assert instances_of(session, "partner_exit", "partner_b") == []


def test_operator_missing_its_deadline_starts_agreement_termination(session):
    instance = start(session, title="运营平台日志留存不足整改", target_kind="operator", target_org="operator",
                     articles_violated=["Art. 16", "Art. 26"])
    clock.set(DEADLINE_AT + timedelta(hours=1))
    assert timers.fire(session, instance.id) is True
    session.commit()
    session.refresh(instance)
    assert instance.outcome == "missed"
    terminations = instances_of(session, "agreement_termination", "operator")
    assert len(terminations) == 1 and terminations[0].data["initiator"] == "system"
    assert instances_of(session, "partner_exit", "partner_a") == []


# --------------------------------------------------------------------------- routing


def test_only_the_ordered_partner_sees_and_does_the_correction(session):
    instance = start(session)
    report = open_task(session, "partner_a", "report_correction", instance)
    partner_b = user(session, "partner_b")
    assert tasks.inbox(session, partner_b).total == 0
    assert processes.list_instances(session, partner_b)[1] == 0
    with pytest.raises(NotFoundError):
        processes.get_instance(session, partner_b, instance.id)
    with pytest.raises(NotFoundError):
        tasks.get_task(session, partner_b, report.id)
    with pytest.raises(NotFoundError):
        tasks.complete(session, partner_b, report.id, correction())
    session.rollback()
    # The operator has no part in an order the authority gave a partner.
    assert [t for t in tasks.inbox(session, user(session, "operator")).items if t.instance_id == instance.id] == []
    # The ordered partner sees the case it takes part in; the authority oversees it but may
    # not report for the partner.
    assert processes.get_instance(session, user(session, "partner_a"), instance.id).id == instance.id
    with pytest.raises(ForbiddenError):
        tasks.complete(session, user(session, "authority"), report.id, correction())
    session.rollback()
    assert session.get(HumanTask, report.id).status == "open"


def test_the_partner_cannot_verify_its_own_correction(session):
    instance = start(session)
    complete(session, "partner_a", "report_correction", instance, correction())
    verify = open_task(session, "authority", "verify_correction", instance)
    with pytest.raises(ForbiddenError):
        tasks.complete(session, user(session, "partner_a"), verify.id, verdict())
    session.rollback()
    with pytest.raises(NotFoundError):
        tasks.complete(session, user(session, "partner_b"), verify.id, verdict())
    session.rollback()
    assert tasks.inbox(session, user(session, "partner_a")).total == 0


def test_order_to_the_operator_goes_to_the_operator_and_the_authority_verifies(session):
    instance = start(session, title="运营平台日志留存不足整改", target_kind="operator", target_org="operator",
                     articles_violated=["Art. 16", "Art. 26"])
    report = open_task(session, "operator", "report_correction", instance)
    assert (report.role, report.candidate_org_id) == ("operator", org(session, "operator").id)
    assert tasks.inbox(session, user(session, "partner_a")).total == 0
    complete(session, "operator", "report_correction", instance, correction())
    verify = open_task(session, "authority", "verify_correction", instance)
    with pytest.raises(ForbiddenError):  # the operator may not verify its own correction
        tasks.complete(session, user(session, "operator"), verify.id, verdict())
    session.rollback()
    complete(session, "authority", "verify_correction", instance, verdict())
    session.refresh(instance)
    assert instance.outcome == "corrected"


def test_an_order_issued_by_the_operator_goes_to_the_partner_and_the_operator_verifies(session):
    instance = start(session, "operator")
    assert instance.org_id == org(session, "operator").id
    assert instance.data["issuer_role"] == "operator"
    assert [t.spec_id for t in tasks.inbox(session, user(session, "partner_a")).items] == ["report_correction"]
    assert tasks.inbox(session, user(session, "partner_b")).total == 0
    complete(session, "partner_a", "report_correction", instance, correction())
    verify = open_task(session, "operator", "verify_correction", instance)
    assert verify.role == "operator"
    with pytest.raises(ForbiddenError):  # the authority oversees but did not issue this order
        tasks.complete(session, user(session, "authority"), verify.id, verdict())
    session.rollback()
    complete(session, "operator", "verify_correction", instance, verdict())
    session.refresh(instance)
    assert instance.outcome == "corrected"


# --------------------------------------------------------------------------- refusals


def test_who_may_order_a_correction(session):
    clock.set(T0)
    for username in ("partner_a", "taskforce", "source_dept", "third_party"):
        with pytest.raises(ForbiddenError):
            processes.start(session, user(session, username), "rectification", order())
        session.rollback()
    assert session.execute(select(func.count(ProcessInstance.id)).where(
        ProcessInstance.process_key == "rectification")).scalar_one() == 0


def test_invalid_order_names_each_field_and_stores_nothing(session):
    clock.set(T0)
    before = session.execute(select(func.count(ProcessInstance.id))).scalar_one()
    bad = order(target_org="Partner-A", target_kind="department", deadline="16/03/2026",
                articles_violated=["Art. 99"], findings="", extra="x")
    del bad["required_corrections"]
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "authority"), "rectification", bad)
    session.rollback()
    fields = {e.field for e in caught.value.errors}
    assert {"target_org", "target_kind", "deadline", "articles_violated.0", "findings",
            "required_corrections", "extra"} <= fields
    assert session.execute(select(func.count(ProcessInstance.id))).scalar_one() == before


def test_correction_and_verification_forms_require_their_fields(session):
    instance = start(session)
    report = open_task(session, "partner_a", "report_correction", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "partner_a"), report.id, {"completed_on": "yesterday"})
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"cause_analysis", "corrections_made", "completed_on"}
    complete(session, "partner_a", "report_correction", instance, correction())
    verify = open_task(session, "authority", "verify_correction", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "authority"), verify.id, {"decision": "reject"})
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"decision", "comment"}
    assert session.get(HumanTask, verify.id).status == "open"


def _refused_at_intake(session, field: str, **overrides: Any) -> None:
    clock.set(T0)
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "authority"), "rectification", order(**overrides))
    session.rollback()
    assert field in {e.field for e in caught.value.errors}
    assert session.execute(select(func.count(ProcessInstance.id)).where(
        ProcessInstance.process_key == "rectification")).scalar_one() == 0


def test_unknown_target_organisation_is_refused_at_intake(session):
    _refused_at_intake(session, "target_org", target_org="nobody")


def test_target_must_be_an_active_partner_or_the_operator(session):
    _refused_at_intake(session, "target_org", target_org="applicant")  # a pending partner
    _refused_at_intake(session, "target_org", target_org="authority")
    _refused_at_intake(session, "target_kind", target_kind="operator", target_org="partner_a")
    _refused_at_intake(session, "target_kind", target_kind="partner", target_org="operator")


def test_the_operator_cannot_order_itself(session):
    clock.set(T0)
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "operator"), "rectification",
                        order(target_kind="operator", target_org="operator"))
    session.rollback()
    assert "target_kind" in {e.field for e in caught.value.errors}


def test_a_deadline_in_the_past_is_refused_at_intake(session):
    _refused_at_intake(session, "deadline", deadline="2026-03-01")
