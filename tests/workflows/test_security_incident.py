"""Security incidents (Art. 25, 26(2)(3), 28) through the service layer: operations on the
affected data stop at once, the emergency plan, the authority's acknowledgement, the
closing report and review, and resumption or continued suspension."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.errors import ForbiddenError, NotFoundError, ValidationError
from app.models import AuditEvent, CatalogItem, Grant, HumanTask, ProcessInstance
from app.services import processes, tasks
from app.services.clock import clock
from tests.helpers import complete, open_elements, open_task, org, user

T0 = datetime(2026, 5, 11, 2, 30, tzinfo=UTC)


# --------------------------------------------------------------------------- data


def incident(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "企业登记数据接口异常调用",
        "incident_type": "leak",
        "occurred_at": "2026-05-10",
        "severity": "large",
        "description": "监测发现某合作方账号在非工作时间批量调用企业登记注册信息接口，疑似数据泄露。",
        "affected_items": ["MKT-001"],
    }
    data.update(overrides)
    return data


def plan() -> dict[str, Any]:
    return {"plan_activated": True, "activated_on": "2026-05-11",
            "measures": "冻结涉事账号；封堵异常接口；保全访问日志。"}


def acknowledgement(further: str | None = "对涉事合作方开展专项检查。") -> dict[str, Any]:
    data: dict[str, Any] = {"acknowledged": True, "comment": "已接报，请加快调查。"}
    if further:
        data["further_measures"] = further
    return data


def closing_report(resume: str = "yes", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "cause": "合作方员工账号口令泄露被冒用。",
        "impact": "约3000条企业登记记录被异常下载，均为公开登记信息，未涉及个人信息。",
        "remediation": "启用双因素认证；接口增加频率限制；开展全员安全培训。",
        "further_measures_done": "专项检查已完成，未发现其他异常。",
        "resume_operations": resume,
    }
    data.update(overrides)
    return data


def review(decision: str = "approve", comment: str = "处置到位，同意结案。") -> dict[str, Any]:
    return {"decision": decision, "comment": comment}


def grant(session, org_code: str, number: str, codes: list[str]) -> Grant:
    row = Grant(number=number, org_id=org(session, org_code).id, purpose="public_governance", fee_regime="free",
                scope="测试授权", issued_at=T0 - timedelta(days=30), expires_at=T0 + timedelta(days=300))
    row.items = list(session.execute(select(CatalogItem).where(CatalogItem.code.in_(codes))).scalars())
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def grants(session) -> dict[str, int]:
    """Live grants: two include the affected MKT-001 (partner_a, partner_b), one does not."""
    rows = {
        "a_affected": grant(session, "partner_a", "NS-SQ-TEST-0001", ["MKT-001", "TRF-002"]),
        "a_other": grant(session, "partner_a", "NS-SQ-TEST-0002", ["HSG-002", "URB-001"]),
        "b_affected": grant(session, "partner_b", "NS-SQ-TEST-0003", ["MKT-001"]),
    }
    session.commit()
    return {key: row.id for key, row in rows.items()}


def suspended(session, grant_ids: dict[str, int]) -> dict[str, bool]:
    session.expire_all()
    return {key: session.get(Grant, gid).suspended_at is not None for key, gid in grant_ids.items()}


def start(session, username: str = "operator", **overrides: Any) -> ProcessInstance:
    clock.set(T0)
    instance = processes.start(session, user(session, username), "security_incident", incident(**overrides))
    session.commit()
    return instance


def run_to_closing_review(session, instance: ProcessInstance, resume: str = "yes") -> None:
    complete(session, "operator", "activate_emergency_plan", instance, plan())
    complete(session, "authority", "acknowledge_incident", instance, acknowledgement())
    complete(session, "operator", "investigation_report", instance, closing_report(resume))


# --------------------------------------------------------------------------- outcomes


def test_report_suspends_affected_grants_at_once_and_closing_resumes_them(session, grants):
    instance = start(session)
    assert instance.status == "running"
    assert instance.business_key.startswith("SI-")
    assert instance.title == "企业登记数据接口异常调用"
    # Art. 26(3): stopped with the report itself, before anybody acts on a task.
    assert suspended(session, grants) == {"a_affected": True, "a_other": False, "b_affected": True}
    assert session.get(Grant, grants["a_affected"]).suspended_at == T0
    assert session.get(Grant, grants["a_affected"]).status_at(T0) == "suspended"
    assert open_elements(session, instance) == {"activate_emergency_plan"}
    session.refresh(instance)
    assert sorted(instance.data["suspension"]["suspended"]) == ["NS-SQ-TEST-0001", "NS-SQ-TEST-0003"]
    actions = [e.action for e in processes.history(session, instance)]
    assert actions.count("grant.suspended") == 2 and "task.completed" not in actions
    steps = [e.payload.get("element") for e in processes.history(session, instance) if e.action == "engine.step"]
    assert "suspend_affected_grants" in steps
    suspension_events = session.execute(select(AuditEvent).where(
        AuditEvent.instance_id == instance.id, AuditEvent.action == "grant.suspended")).scalars().all()
    assert {e.payload["grant"] for e in suspension_events} == {"NS-SQ-TEST-0001", "NS-SQ-TEST-0003"}
    assert all("第二十六条第三项" in e.payload["reason"] for e in suspension_events)

    clock.set(T0 + timedelta(hours=2))
    complete(session, "operator", "activate_emergency_plan", instance, plan())
    assert open_elements(session, instance) == {"acknowledge_incident"}
    ack = open_task(session, "authority", "acknowledge_incident", instance)
    assert ack.context["activate_emergency_plan"]["measures"].startswith("冻结涉事账号")
    complete(session, "authority", "acknowledge_incident", instance, acknowledgement())
    assert open_elements(session, instance) == {"investigation_report"}
    report = open_task(session, "operator", "investigation_report", instance)
    assert report.context["acknowledge_incident"]["further_measures"] == "对涉事合作方开展专项检查。"
    assert suspended(session, grants)["a_affected"] is True  # still stopped while investigated

    clock.set(T0 + timedelta(days=10))
    complete(session, "operator", "investigation_report", instance, closing_report("yes"))
    assert open_elements(session, instance) == {"review_closing"}
    complete(session, "authority", "review_closing", instance, review())

    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "closed")
    assert instance.data["operations_resumed"] is True
    assert suspended(session, grants) == {"a_affected": False, "a_other": False, "b_affected": False}
    assert all(session.get(Grant, gid).revoked_at is None for gid in grants.values())
    actions = [e.action for e in processes.history(session, instance)]
    assert "instance.started" in actions and actions[-1] == "instance.completed"
    assert actions.count("grant.suspended") == 2 and actions.count("grant.resumed") == 2
    assert actions.count("task.completed") == 4


def test_closing_without_resumption_keeps_the_grants_suspended(session, grants):
    instance = start(session)
    run_to_closing_review(session, instance, resume="no")
    complete(session, "authority", "review_closing", instance, review())
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "closed")
    assert instance.data["operations_resumed"] is False
    assert suspended(session, grants) == {"a_affected": True, "a_other": False, "b_affected": True}
    assert "grant.resumed" not in [e.action for e in processes.history(session, instance)]


def test_closing_returned_for_more_work_then_closed(session, grants):
    instance = start(session, affected_items=["MKT-001", "URB-001", "HR-001"], severity="major")
    assert suspended(session, grants) == {"a_affected": True, "a_other": True, "b_affected": True}
    run_to_closing_review(session, instance, resume="yes")
    complete(session, "authority", "review_closing", instance, review("return", "影响评估不充分，请补充受影响主体清单。"))
    assert open_elements(session, instance) == {"investigation_report"}
    again = open_task(session, "operator", "investigation_report", instance)
    assert again.context["review_closing"]["comment"] == "影响评估不充分，请补充受影响主体清单。"
    assert suspended(session, grants)["a_other"] is True  # nothing resumes on a return

    complete(session, "operator", "investigation_report", instance,
             closing_report("yes", impact="受影响主体清单见附件，共126家企业。"))
    complete(session, "authority", "review_closing", instance, review())
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "closed")
    assert instance.data["investigation_report"]["impact"].startswith("受影响主体清单")
    assert suspended(session, grants) == {"a_affected": False, "a_other": False, "b_affected": False}
    decisions = [t.decision for t in session.execute(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.spec_id == "review_closing")
        .order_by(HumanTask.completed_at)).scalars()]
    assert decisions == ["return", "approve"]


def test_grants_without_affected_items_and_revoked_grants_are_untouched(session, grants):
    revoked = grant(session, "partner_b", "NS-SQ-TEST-0004", ["TRF-001"])
    revoked.revoked_at, revoked.revoke_reason = T0 - timedelta(days=1), "合作方退出"
    session.commit()
    instance = start(session, affected_items=["TRF-001"])
    session.refresh(instance)
    assert instance.data["suspension"]["suspended"] == []
    assert suspended(session, grants) == {"a_affected": False, "a_other": False, "b_affected": False}
    assert session.get(Grant, revoked.id).suspended_at is None
    assert open_elements(session, instance) == {"activate_emergency_plan"}


# --------------------------------------------------------------------------- routing


def test_only_operator_and_authority_see_the_tasks(session, grants):
    instance = start(session)
    plan_task = open_task(session, "operator", "activate_emergency_plan", instance)
    for username in ("partner_a", "partner_b", "taskforce", "source_dept"):
        someone = user(session, username)
        assert tasks.inbox(session, someone).total == 0
        assert processes.list_instances(session, someone)[1] == 0
        with pytest.raises(NotFoundError):
            processes.get_instance(session, someone, instance.id)
        with pytest.raises(NotFoundError):
            tasks.complete(session, someone, plan_task.id, plan())
        session.rollback()
    # The authority oversees the case but does not activate the operator's plan.
    with pytest.raises(ForbiddenError):
        tasks.complete(session, user(session, "authority"), plan_task.id, plan())
    session.rollback()
    complete(session, "operator", "activate_emergency_plan", instance, plan())
    ack = open_task(session, "authority", "acknowledge_incident", instance)
    assert ack.role == "authority" and ack.candidate_org_id is None
    with pytest.raises(ForbiddenError):  # the operator cannot acknowledge its own report
        tasks.complete(session, user(session, "operator"), ack.id, acknowledgement())
    session.rollback()
    assert session.get(HumanTask, ack.id).status == "open"
    assert tasks.inbox(session, user(session, "partner_a")).total == 0


def test_the_operator_cannot_close_its_own_incident(session, grants):
    instance = start(session)
    run_to_closing_review(session, instance)
    closing = open_task(session, "authority", "review_closing", instance)
    with pytest.raises(ForbiddenError):
        tasks.complete(session, user(session, "operator"), closing.id, review())
    session.rollback()
    assert suspended(session, grants)["a_affected"] is True


# --------------------------------------------------------------------------- refusals


def test_only_the_operator_reports_incidents(session, grants):
    clock.set(T0)
    for username in ("partner_a", "authority", "taskforce", "third_party"):
        with pytest.raises(ForbiddenError):
            processes.start(session, user(session, username), "security_incident", incident())
        session.rollback()
    assert session.execute(select(func.count(ProcessInstance.id)).where(
        ProcessInstance.process_key == "security_incident")).scalar_one() == 0
    assert suspended(session, grants) == {"a_affected": False, "a_other": False, "b_affected": False}


def test_invalid_report_names_each_field_and_suspends_nothing(session, grants):
    clock.set(T0)
    bad = incident(incident_type="fire", affected_items=["mkt-001", "MKT-1"], occurred_at="2026-5-10",
                   severity="", extra="x")
    del bad["description"]
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "operator"), "security_incident", bad)
    session.rollback()
    fields = {e.field for e in caught.value.errors}
    assert {"incident_type", "affected_items.0", "affected_items.1", "occurred_at", "severity",
            "description", "extra"} <= fields
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "operator"), "security_incident", incident(affected_items=[]))
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"affected_items"}
    assert session.execute(select(func.count(ProcessInstance.id)).where(
        ProcessInstance.process_key == "security_incident")).scalar_one() == 0
    assert suspended(session, grants) == {"a_affected": False, "a_other": False, "b_affected": False}


def test_task_forms_require_their_fields(session, grants):
    instance = start(session)
    plan_task = open_task(session, "operator", "activate_emergency_plan", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "operator"), plan_task.id, {"plan_activated": False})
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"plan_activated", "activated_on", "measures"}
    complete(session, "operator", "activate_emergency_plan", instance, plan())
    ack = open_task(session, "authority", "acknowledge_incident", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "authority"), ack.id, {"further_measures": "x"})
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"acknowledged", "comment"}
    complete(session, "authority", "acknowledge_incident", instance, acknowledgement(None))
    report = open_task(session, "operator", "investigation_report", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "operator"), report.id, {"resume_operations": "maybe"})
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"cause", "impact", "remediation", "resume_operations"}
    complete(session, "operator", "investigation_report", instance, closing_report())
    closing = open_task(session, "authority", "review_closing", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "authority"), closing.id, {"decision": "reject"})
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"decision", "comment"}
    assert session.get(HumanTask, closing.id).status == "open"


def test_unknown_affected_item_is_refused_at_intake_naming_the_field(session, grants):
    clock.set(T0)
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "operator"), "security_incident",
                        incident(affected_items=["MKT-001", "ZZZ-999"]))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["affected_items"]
    assert session.execute(select(func.count(ProcessInstance.id)).where(
        ProcessInstance.process_key == "security_incident")).scalar_one() == 0
    assert suspended(session, grants) == {"a_affected": False, "a_other": False, "b_affected": False}
