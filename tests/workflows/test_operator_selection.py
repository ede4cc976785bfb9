"""Operator selection (Art. 11-15) through the service layer: every outcome, the public-notice
timer, task routing, side effects and refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.errors import ForbiddenError, NotFoundError, ValidationError
from app.models import Agreement, AuditEvent, HumanTask, ProcessInstance
from app.services import audit, processes, tasks, timers
from app.services.clock import clock
from tests.helpers import complete, open_elements, open_task, org, user

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
UNITS = ["authority", "cyberspace", "public_security", "secrecy", "finance",
         "development_reform", "justice", "commerce", "dept_market"]
CHECKLIST = ["art11_operations", "art11_integrity", "art11_security", "art11_regulations", "art11_capability"]


# ---------------------------------------------------------------------------- data


def application(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "company_name": "深圳南山数智运营集团有限公司",
        "unified_social_credit_code": "91440300MA5H2K7Q3N",
        "legal_representative": "何志远",
        "registered_address": "深圳市南山区粤海街道深圳湾科技生态园10栋",
        "registered_capital": "10000万元人民币",
        "contact_name": "何志远",
        "contact_phone": "0755-26661234",
        "contact_email": "he@shuzhi-ops.example.cn",
        "team_description": "运营团队60人，其中数据工程师25人、安全人员10人。",
        "mlps_level": "level3",
        "mlps_filing_no": "44030099999-00001",
        "crypto_assessment": "passed",
        "crypto_report_no": "MP-2025-0088",
        "data_security_capability": "已建立数据安全管理制度，部署数据脱敏、隐私计算和审计系统。",
        "operation_plan": "建设公共数据运营平台，开展授权合作方管理和数据产品开发。",
    }
    for key in CHECKLIST:
        data[key] = True
        data[f"{key}_evidence"] = f"{key} 证明材料已上传。"
    data.update(overrides)
    return data


def review(decision: str = "approve", comment: str = "符合要求。") -> dict[str, Any]:
    return {"decision": decision, "comment": comment}


def approval(decision: str = "approve", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"decision": decision, "comment": "同意。" if decision == "approve" else "不同意。"}
    if decision == "approve":
        data["approval_doc_no"] = "深南府函〔2026〕12号"
    data.update(overrides)
    return data


def notice(decision: str = "approve", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"notice_ref": "https://www.szns.gov.cn/gs/2026-001", "objections_received": False,
                            "decision": decision, "comment": "公示期满。"}
    data.update(overrides)
    return data


def agreement(number: str = "NS-YY-2026-001", **overrides: Any) -> dict[str, Any]:
    data = {"agreement_no": number, "signed_on": "2026-03-20", "valid_from": "2026-04-01",
            "valid_until": "2029-03-31", "scope": "南山区公共数据授权运营平台建设与运营"}
    data.update(overrides)
    return data


def staff() -> dict[str, Any]:
    return {"staff": [{"name": "刘洋", "position": "平台运维", "verified_on": "2026-03-21",
                       "confidentiality_signed_on": "2026-03-21"}],
            "real_name_attestation": True, "confidentiality_attestation": True}


def filing(decision: str = "approve") -> dict[str, Any]:
    if decision == "approve":
        return {"decision": "approve", "filing_no": "NS-BA-2026-0101", "comment": "已备案。"}
    return {"decision": decision, "comment": "缺少保密协议签订日期证明。"}


# ---------------------------------------------------------------------------- driving


def start(session, username: str = "candidate", **overrides: Any) -> ProcessInstance:
    instance = processes.start(session, user(session, username), "operator_selection", application(**overrides))
    session.commit()
    return instance


def unit_tasks(session, instance) -> dict[str, HumanTask]:
    page = tasks.inbox(session, user(session, "taskforce"), per_page=100)
    return {t.context["unit"]: t for t in page.items
            if t.instance_id == instance.id and t.spec_id == "taskforce_unit_review"}


def taskforce_signs(session, instance, **decisions: str) -> None:
    """Every member unit signs (approve unless named in ``decisions``)."""
    found = unit_tasks(session, instance)
    assert sorted(found) == sorted(UNITS)
    for unit, task in found.items():
        tasks.complete(session, user(session, "taskforce"), task.id, review(decisions.get(unit, "approve")))
        session.commit()


def through_notice(session, instance, **approval_overrides: Any) -> None:
    """Completeness, task force and government, then let the notice period pass."""
    complete(session, "authority", "completeness_check", instance, review())
    taskforce_signs(session, instance)
    complete(session, "government", "government_approval", instance, approval(**approval_overrides))
    session.refresh(instance)
    clock.set(instance.next_timer_at + timedelta(minutes=1))
    assert timers.fire(session, instance.id)
    session.commit()


def fired_count(session, instance) -> int:
    return session.execute(select(func.count(AuditEvent.id)).where(
        AuditEvent.instance_id == instance.id, AuditEvent.action == "timer.fired")).scalar_one()


def inbox_elements(session, username: str, instance) -> list[str]:
    return [t.spec_id for t in tasks.inbox(session, user(session, username), per_page=100).items
            if t.instance_id == instance.id]


# ---------------------------------------------------------------------------- outcomes


def test_approved_path_makes_the_candidate_the_operator(session):
    clock.set(T0)
    instance = start(session)
    assert instance.status == "running" and instance.business_key.startswith("OS-")
    assert open_elements(session, instance) == {"completeness_check"}
    assert inbox_elements(session, "authority", instance) == ["completeness_check"]
    assert inbox_elements(session, "candidate", instance) == []

    complete(session, "authority", "completeness_check", instance, review())
    assert open_elements(session, instance) == {"taskforce_unit_review"}
    found = unit_tasks(session, instance)
    assert sorted(found) == sorted(UNITS)  # one task per member unit, all for the task force
    assert all(t.role == "taskforce" and t.candidate_org_id is None for t in found.values())
    assert all(t.articles == ["Art. 6", "Art. 13"] for t in found.values())
    assert inbox_elements(session, "authority", instance) == []
    assert inbox_elements(session, "government", instance) == []
    taskforce_signs(session, instance)

    assert open_elements(session, instance) == {"government_approval"}
    assert inbox_elements(session, "government", instance) == ["government_approval"]
    complete(session, "government", "government_approval", instance, approval())

    # Public notice (Art. 13): nothing to do until the default period of 7 days has passed.
    session.refresh(instance)
    assert open_elements(session, instance) == set()
    assert instance.next_timer_at == T0 + timedelta(days=7)
    clock.set(T0 + timedelta(days=6, hours=23))
    assert timers.due_instance_ids(session) == []
    assert timers.fire(session, instance.id) is False
    session.rollback()
    assert open_elements(session, instance) == set() and fired_count(session, instance) == 0

    clock.set(T0 + timedelta(days=7, minutes=1))
    assert timers.due_instance_ids(session) == [instance.id]
    assert timers.fire(session, instance.id) is True
    session.commit()
    assert timers.fire(session, instance.id) is False  # fires exactly once
    session.rollback()
    assert fired_count(session, instance) == 1
    assert open_elements(session, instance) == {"notice_result"}

    complete(session, "authority", "notice_result", instance, notice())
    assert open_elements(session, instance) == {"sign_operation_agreement"}
    complete(session, "authority", "sign_operation_agreement", instance, agreement())
    assert open_elements(session, instance) == {"staff_compliance"}
    staff_task = open_task(session, "candidate", "staff_compliance", instance)
    assert staff_task.candidate_org_id == org(session, "candidate").id
    assert inbox_elements(session, "partner_a", instance) == []
    complete(session, "candidate", "staff_compliance", instance, staff())
    complete(session, "authority", "confirm_staff_filing", instance, filing())

    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "approved")
    candidate = org(session, "candidate")
    assert (candidate.kind, candidate.status) == ("operator", "active")
    assert org(session, "operator").status == "inactive"  # one legal entity operates (Art. 8)
    session.refresh(user(session, "candidate"))
    assert "operator" in user(session, "candidate").roles
    signed = session.execute(select(Agreement).where(Agreement.org_id == candidate.id)).scalar_one()
    assert (signed.kind, signed.number, signed.status) == ("operation", "NS-YY-2026-001", "active")
    assert signed.valid_until.isoformat() == "2029-03-31" and signed.instance_id == instance.id
    assert signed.counterparty_org_id == org(session, "authority").id

    actions = [e.action for e in processes.history(session, instance)]
    assert actions[0] == "instance.started" and actions[-1] == "instance.completed"
    assert actions.count("task.completed") == 1 + len(UNITS) + 1 + 1 + 1 + 1 + 1
    assert actions.count("timer.fired") == 1
    assert "agreement.signed" in actions and "organisation.operator_activated" in actions
    assert audit.verify(session).ok


def test_notice_period_is_set_by_the_government(session):
    clock.set(T0)
    instance = start(session)
    complete(session, "authority", "completeness_check", instance, review())
    taskforce_signs(session, instance)
    complete(session, "government", "government_approval", instance, approval(notice_period="P10D"))
    session.refresh(instance)
    assert instance.next_timer_at == T0 + timedelta(days=10)
    clock.set(T0 + timedelta(days=8))
    assert timers.fire(session, instance.id) is False
    session.rollback()
    clock.set(T0 + timedelta(days=10, hours=1))
    assert timers.fire(session, instance.id) is True
    session.commit()
    assert open_elements(session, instance) == {"notice_result"}
    assert fired_count(session, instance) == 1


def test_bad_notice_period_is_refused(session):
    instance = start(session)
    complete(session, "authority", "completeness_check", instance, review())
    taskforce_signs(session, instance)
    task = open_task(session, "government", "government_approval", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "government"), task.id, approval(notice_period="7 days"))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["notice_period"]
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "government"), task.id, {"decision": "approve", "comment": "同意"})
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["approval_doc_no"]
    assert session.get(HumanTask, task.id).status == "open"


def test_returned_application_is_supplemented_then_withdrawn_after_a_taskforce_return(session):
    instance = start(session, team_description="团队组建中。")
    complete(session, "authority", "completeness_check", instance, review("return", "请补充团队人员构成。"))
    assert open_elements(session, instance) == {"supplement_application"}
    supplement = open_task(session, "candidate", "supplement_application", instance)
    assert supplement.candidate_org_id == org(session, "candidate").id
    assert supplement.context["application"]["team_description"] == "团队组建中。"
    complete(session, "candidate", "supplement_application", instance,
             {"action": "resubmit", "comment": "已补充。", **application(team_description="运营团队80人。")})

    check = open_task(session, "authority", "completeness_check", instance)
    assert check.context["application"]["team_description"] == "运营团队80人。"
    assert "action" not in check.context["application"]
    complete(session, "authority", "completeness_check", instance, review())
    taskforce_signs(session, instance, secrecy="return")
    assert open_elements(session, instance) == {"supplement_application"}
    complete(session, "candidate", "supplement_application", instance,
             {"action": "withdraw", "comment": "暂不申请。"})

    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "withdrawn")
    assert (org(session, "candidate").kind, org(session, "candidate").status) == ("partner", "pending")
    assert org(session, "operator").status == "active"


def test_second_taskforce_round_starts_from_fresh_signoffs(session):
    instance = start(session)
    complete(session, "authority", "completeness_check", instance, review())
    taskforce_signs(session, instance, finance="return")
    complete(session, "candidate", "supplement_application", instance,
             {"action": "resubmit", "comment": "已补充资金情况。", **application()})
    complete(session, "authority", "completeness_check", instance, review())
    assert len(unit_tasks(session, instance)) == len(UNITS)
    taskforce_signs(session, instance)  # this time every unit approves: the old return is gone
    assert open_elements(session, instance) == {"government_approval"}
    government = open_task(session, "government", "government_approval", instance)
    signoffs = government.context["taskforce_signoffs"]
    assert sorted(signoffs) == sorted(UNITS)
    assert {s["decision"] for s in signoffs.values()} == {"approve"}
    assert government.context["taskforce_returns"] == [] and government.context["taskforce_result"] == "approve"


@pytest.mark.parametrize("where", ["completeness", "taskforce", "government", "notice"])
def test_rejections(session, where):
    clock.set(T0)
    instance = start(session)
    if where == "completeness":
        complete(session, "authority", "completeness_check", instance, review("reject", "不符合第十一条条件。"))
    else:
        complete(session, "authority", "completeness_check", instance, review())
        if where == "taskforce":  # a rejection outweighs a return
            taskforce_signs(session, instance, public_security="reject", finance="return")
        else:
            taskforce_signs(session, instance)
            if where == "government":
                complete(session, "government", "government_approval", instance, approval("reject"))
            else:
                complete(session, "government", "government_approval", instance, approval())
                clock.set(T0 + timedelta(days=8))
                assert timers.fire(session, instance.id)
                session.commit()
                complete(session, "authority", "notice_result", instance, notice(
                    "reject", objections_received=True, objection_summary="经核查，申请单位存在未披露的重大税收违法记录。"))
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "rejected")
    assert open_elements(session, instance) == set()
    assert org(session, "candidate").kind == "partner"
    assert session.execute(select(func.count(Agreement.id)).where(
        Agreement.org_id == org(session, "candidate").id)).scalar_one() == 0


def test_objection_needs_a_summary(session):
    clock.set(T0)
    instance = start(session)
    through_notice(session, instance)
    task = open_task(session, "authority", "notice_result", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "authority"), task.id, notice("reject", objections_received=True))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["objection_summary"]


def test_staff_filing_returned_then_filed(session):
    clock.set(T0)
    instance = start(session)
    through_notice(session, instance)
    complete(session, "authority", "notice_result", instance, notice())
    complete(session, "authority", "sign_operation_agreement", instance, agreement())
    complete(session, "candidate", "staff_compliance", instance, staff())
    complete(session, "authority", "confirm_staff_filing", instance, filing("return"))
    assert open_elements(session, instance) == {"staff_compliance"}
    assert org(session, "candidate").kind == "partner"  # not active before the filing
    complete(session, "candidate", "staff_compliance", instance, staff())
    complete(session, "authority", "confirm_staff_filing", instance, filing())
    session.refresh(instance)
    assert instance.outcome == "approved"
    # one agreement, recorded once, although the staff step ran twice
    assert session.execute(select(func.count(Agreement.id)).where(
        Agreement.org_id == org(session, "candidate").id)).scalar_one() == 1


# ---------------------------------------------------------------------------- refusals


def test_operation_agreement_over_three_years_or_with_a_taken_number_is_refused(session):
    clock.set(T0)
    instance = start(session)
    through_notice(session, instance)
    complete(session, "authority", "notice_result", instance, notice())
    task = open_task(session, "authority", "sign_operation_agreement", instance)
    authority = user(session, "authority")
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, authority, task.id, agreement(valid_until="2029-04-02"))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["valid_until"]
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, authority, task.id, agreement("NS-YY-2025-001"))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["agreement_no"]
    assert session.get(HumanTask, task.id).status == "open"
    assert session.execute(select(func.count(Agreement.id)).where(
        Agreement.org_id == org(session, "candidate").id)).scalar_one() == 0
    complete(session, "authority", "sign_operation_agreement", instance, agreement(valid_until="2029-04-01"))
    assert open_elements(session, instance) == {"staff_compliance"}


def test_who_may_apply(session):
    with pytest.raises(ForbiddenError):  # role
        processes.start(session, user(session, "operator"), "operator_selection", application())
    with pytest.raises(ForbiddenError):
        processes.start(session, user(session, "authority"), "operator_selection", application())
    start(session)
    with pytest.raises(ForbiddenError) as caught:  # one application in progress
        processes.start(session, user(session, "candidate"), "operator_selection", application())
    assert str(caught.value) in ("贵单位已有办理中的申请。", "Your organisation already has an application in progress.")


def test_the_active_operator_may_not_apply_again(session):
    clock.set(T0)
    instance = start(session)
    through_notice(session, instance)
    complete(session, "authority", "notice_result", instance, notice())
    complete(session, "authority", "sign_operation_agreement", instance, agreement())
    complete(session, "candidate", "staff_compliance", instance, staff())
    complete(session, "authority", "confirm_staff_filing", instance, filing())
    session.expire_all()
    candidate = user(session, "candidate")
    assert {"partner", "operator"} <= candidate.roles
    with pytest.raises(ForbiddenError) as caught:
        processes.start(session, candidate, "operator_selection", application())
    assert str(caught.value) in ("贵单位已是授权运营单位。", "Your organisation is already the authorized operator.")


def test_invalid_application_names_each_field_and_stores_nothing(session):
    before = session.execute(select(func.count(ProcessInstance.id))).scalar_one()
    bad = application(art11_integrity=False, unified_social_credit_code="123", mlps_level="level9",
                      crypto_assessment="", extra="x")
    del bad["art11_security_evidence"]
    del bad["operation_plan"]
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "candidate"), "operator_selection", bad)
    session.rollback()
    fields = {e.field for e in caught.value.errors}
    assert {"art11_integrity", "art11_security_evidence", "unified_social_credit_code", "mlps_level",
            "crypto_assessment", "operation_plan", "extra"} <= fields
    assert session.execute(select(func.count(ProcessInstance.id))).scalar_one() == before


def test_review_forms_require_decision_and_comment(session):
    instance = start(session)
    task = open_task(session, "authority", "completeness_check", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "authority"), task.id, {"decision": "maybe"})
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"decision", "comment"}


def test_roles_and_organisations_cannot_do_each_others_steps(session):
    instance = start(session)
    check = open_task(session, "authority", "completeness_check", instance)
    with pytest.raises(ForbiddenError):  # the applicant sees its case, not the authority's task
        tasks.complete(session, user(session, "candidate"), check.id, review())
    session.rollback()
    with pytest.raises(NotFoundError):  # another company learns nothing
        tasks.complete(session, user(session, "partner_b"), check.id, review())
    session.rollback()
    with pytest.raises(NotFoundError):
        processes.get_instance(session, user(session, "partner_b"), instance.id)
    complete(session, "authority", "completeness_check", instance, review())
    unit_task = next(iter(unit_tasks(session, instance).values()))
    with pytest.raises(ForbiddenError):  # the authority oversees, but does not sign for the task force
        tasks.complete(session, user(session, "authority"), unit_task.id, review())
    session.rollback()
    assert session.get(HumanTask, unit_task.id).status == "open"
