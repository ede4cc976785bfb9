"""Data authorization (Art. 2, 19, 20, 23, 27) through the service layer: intake refusals,
both routes, every outcome, task routing to the joint-meeting units, grants and agreements."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.errors import ForbiddenError, NotFoundError, ValidationError
from app.models import Agreement, Grant, HumanTask, ProcessInstance
from app.services import audit, processes, tasks
from app.services.clock import clock
from tests.helpers import complete, open_elements, open_task, org, user

PROCESS = "data_authorization"
STANDING_UNITS = ["authority", "finance", "cyberspace", "public_security", "secrecy"]
# Demo users and the joint-meeting unit each acts for, for a request on dept_market data.
MARKET_SIGNERS = {
    "authority": "authority",
    "finance": "finance",
    "cyberspace": "cyberspace",
    "public_security": "public_security",
    "secrecy": "secrecy",
    "source_dept": "dept_market",
    "third_party": "third_party",
}


# --------------------------------------------------------------------------- factories


def request(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "business_scenario": "企业信用画像服务：为南山区金融机构提供企业经营状况评估。",
        "catalog_items": ["MKT-001", "MKT-002"],
        "development_plan": "在运营平台内对企业登记与执照信息进行清洗、关联，输出评分模型结果，原始数据不出域。",
        "purpose": "public_governance",
        "scope": "仅用于南山区涉企信用评估，不对外提供原始数据。",
    }
    data.update(overrides)
    return data


def review(decision: str = "approve", comment: str = "申请材料齐全，数据需求与场景匹配。") -> dict[str, Any]:
    return {"decision": decision, "comment": comment}


def agreement(number: str = "NS-FW-2026-201", **overrides: Any) -> dict[str, Any]:
    today = clock.now().date()
    data = {"agreement_no": number, "signed_on": today.isoformat(), "valid_from": today.isoformat(),
            "valid_until": (today + timedelta(days=700)).isoformat(),
            "service_scope": "企业登记注册信息、营业执照信息的加工使用", "fee_terms": "按数据服务调用量计费。"}
    data.update(overrides)
    return data


def report(conclusion: str = "compliant") -> dict[str, Any]:
    return {"findings": "业务场景合法，数据需求符合最小授权原则，安全措施完备。", "risk_level": "low",
            "conclusion": conclusion, "recommendations": "按季度报送使用情况。"}


def opinion() -> dict[str, Any]:
    return {"opinion": "经联席会议评估，同意授权。", "conditions": "仅在运营平台内使用，结果数据脱敏后输出。",
            "valid_scope": "企业行政处罚信息用于信用评估模型训练。"}


def resubmit(**overrides: Any) -> dict[str, Any]:
    data = {k: v for k, v in request(**overrides).items() if k != "catalog_items"}
    return {"action": "resubmit", "comment": "已按意见补充安全保障措施。", **data}


def withdraw() -> dict[str, Any]:
    return {"action": "withdraw", "comment": "业务调整，暂不申请。"}


# --------------------------------------------------------------------------- helpers


def start(session, username: str = "partner_a", **overrides: Any) -> ProcessInstance:
    instance = processes.start(session, user(session, username), PROCESS, request(**overrides))
    session.commit()
    return instance


def instance_count(session) -> int:
    return session.execute(select(func.count(ProcessInstance.id))).scalar_one()


def grants_of(session, instance: ProcessInstance) -> list[Grant]:
    return list(session.execute(select(Grant).where(Grant.instance_id == instance.id)).scalars())


def signoff_tasks(session, instance: ProcessInstance, status: str = "open") -> list[HumanTask]:
    return list(session.execute(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.spec_id == "joint_signoff", HumanTask.status == status)).scalars())


def unit_of(session, task: HumanTask) -> str:
    from app.models import Organisation

    return session.get(Organisation, task.candidate_org_id).code


def inbox_for(session, username: str, instance: ProcessInstance) -> list[HumanTask]:
    page = tasks.inbox(session, user(session, username), per_page=100)
    return [t for t in page.items if t.instance_id == instance.id]


def to_joint_meeting(session, instance: ProcessInstance, reviewer: str = "operator") -> None:
    complete(session, "operator", "assign_compliance_reviewer", instance, {"reviewer": reviewer})
    complete(session, "third_party" if reviewer == "third_party" else "operator", "compliance_review", instance, report())


def sign_all(session, instance: ProcessInstance, signers: dict[str, str], decisions: dict[str, str] | None = None) -> None:
    decisions = decisions or {}
    for username, unit in signers.items():
        decision = decisions.get(unit, "approve")
        complete(session, username, "joint_signoff", instance, review(decision, f"{unit}：{decision}"))


def completed_decisions(session, instance: ProcessInstance) -> list[tuple[str, str | None, str | None]]:
    return [(e.payload.get("element"), e.payload.get("decision"), e.payload.get("comment"))
            for e in processes.history(session, instance) if e.action == "task.completed"]


# --------------------------------------------------------------------------- intake


def test_not_open_item_is_refused_at_intake_naming_it(session):
    before = instance_count(session)
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "partner_a"), PROCESS, request(catalog_items=["MKT-001", "HR-002"]))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["catalog_items"]
    assert "HR-002" in caught.value.errors[0].message
    assert "MKT-001" not in caught.value.errors[0].message
    assert instance_count(session) == before


def test_unknown_and_malformed_items_are_refused(session):
    before = instance_count(session)
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "partner_a"), PROCESS, request(catalog_items=["MKT-001", "ZZZ-999"]))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["catalog_items"]
    assert "ZZZ-999" in caught.value.errors[0].message

    bad = request(catalog_items=["mkt-1", "MKT-001", "MKT-001"], purpose="profit", extra="x")
    del bad["scope"]
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "partner_a"), PROCESS, bad)
    session.rollback()
    assert {"catalog_items", "catalog_items.0", "purpose", "scope", "extra"} <= {e.field for e in caught.value.errors}
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "partner_a"), PROCESS, request(catalog_items=[]))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["catalog_items"]
    assert instance_count(session) == before


def test_who_may_request_data(session):
    for username in ("operator", "authority", "source_dept"):
        with pytest.raises(ForbiddenError):
            processes.start(session, user(session, username), PROCESS, request())
    with pytest.raises(ForbiddenError):  # a partner that is not active yet
        processes.start(session, user(session, "applicant"), PROCESS, request())
    session.rollback()
    instance = start(session)
    assert instance.business_key.startswith("DA-")
    assert instance.data["classifications"] == ["unconditional"]
    assert instance.data["source_departments"] == ["dept_market"]
    assert [i["code"] for i in instance.data["catalog"]] == ["MKT-001", "MKT-002"]


# --------------------------------------------------------------------------- unconditional route


@pytest.mark.parametrize(("purpose", "fee_regime"), [
    ("public_governance", "free"), ("public_welfare", "free"), ("industry_development", "paid"),
])
def test_unconditional_request_approved_by_the_operator_issues_the_grant(session, purpose, fee_regime):
    instance = start(session, purpose=purpose)
    assert instance.data["route"] == "operator_review"
    assert open_elements(session, instance) == {"operator_review"}
    assert [t.spec_id for t in inbox_for(session, "operator", instance)] == ["operator_review"]
    for other in ("partner_a", "partner_b", "authority", "third_party", "source_dept"):
        assert inbox_for(session, other, instance) == []

    complete(session, "operator", "operator_review", instance, review())
    assert open_elements(session, instance) == {"sign_service_agreement"}
    task = open_task(session, "operator", "sign_service_agreement", instance)
    assert task.context["fee_regime"] == fee_regime
    complete(session, "operator", "sign_service_agreement", instance, agreement())

    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "approved")
    [grant] = grants_of(session, instance)
    assert grant.organisation.code == "partner_a"
    assert [i.code for i in grant.items] == ["MKT-001", "MKT-002"]
    assert (grant.purpose, grant.fee_regime) == (purpose, fee_regime)
    assert grant.scope == request()["scope"]
    expected = clock.now() + timedelta(days=365)  # no requested expiry: the host's default term
    assert abs((grant.expires_at - expected).total_seconds()) < 3600
    recorded = session.execute(select(Agreement).where(Agreement.number == "NS-FW-2026-201")).scalar_one()
    assert (recorded.kind, recorded.org_id, recorded.instance_id) == ("service", org(session, "partner_a").id, instance.id)
    actions = [e.action for e in processes.history(session, instance)]
    assert actions[0] == "instance.started" and actions[-1] == "instance.completed"
    assert "agreement.signed" in actions and "grant.issued" in actions
    assert audit.verify(session).ok


def test_grant_expiry_never_outlasts_the_service_agreement(session):
    framework = session.execute(select(Agreement).where(Agreement.number == "NS-FW-2025-011")).scalar_one()
    today = clock.now().date()
    assert today + timedelta(days=800) < framework.valid_until < today + timedelta(days=1000)
    requested = (today + timedelta(days=5 * 365)).isoformat()
    instance = start(session, requested_until=requested)
    complete(session, "operator", "operator_review", instance, review())
    complete(session, "operator", "sign_service_agreement", instance,
             agreement(valid_until=framework.valid_until.isoformat()))
    [grant] = grants_of(session, instance)
    assert grant.expires_at.date() == framework.valid_until  # capped (Art. 27(1)), not the 5 years asked for

    shorter = start(session, requested_until=(today + timedelta(days=90)).isoformat())
    complete(session, "operator", "operator_review", shorter, review())
    complete(session, "operator", "sign_service_agreement", shorter, agreement("NS-FW-2026-202"))
    [grant] = grants_of(session, shorter)
    assert grant.expires_at.date() == today + timedelta(days=90)


def test_unconditional_request_rejected(session):
    instance = start(session)
    complete(session, "operator", "operator_review", instance, review("reject", "业务场景与申请数据不匹配。"))
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "rejected")
    assert grants_of(session, instance) == []
    assert open_elements(session, instance) == set()
    visible = processes.get_instance(session, user(session, "partner_a"), instance.id)
    assert ("operator_review", "reject", "业务场景与申请数据不匹配。") in completed_decisions(session, visible)


def test_unconditional_request_returned_resubmitted_and_approved(session):
    instance = start(session, scope="初稿范围")
    complete(session, "operator", "operator_review", instance, review("return", "请细化使用范围。"))
    assert open_elements(session, instance) == {"revise_request"}
    assert inbox_for(session, "partner_b", instance) == []
    revise = open_task(session, "partner_a", "revise_request", instance)
    assert revise.context["application"]["scope"] == "初稿范围"
    assert revise.context["operator_review"]["comment"] == "请细化使用范围。"

    # The catalogue items are fixed: the revise form does not take them.
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "partner_a"), revise.id,
                       {**resubmit(), "catalog_items": ["MKT-001", "MKT-003"]})
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["catalog_items"]

    complete(session, "partner_a", "revise_request", instance,
             resubmit(scope="仅用于南山区涉企信用评估模型，按月输出评分。", purpose="industry_development"))
    assert open_elements(session, instance) == {"operator_review"}
    again = open_task(session, "operator", "operator_review", instance)
    assert again.context["application"]["scope"] == "仅用于南山区涉企信用评估模型，按月输出评分。"
    assert again.context["application"]["catalog_items"] == ["MKT-001", "MKT-002"]
    complete(session, "operator", "operator_review", instance, review())
    complete(session, "operator", "sign_service_agreement", instance, agreement())
    session.refresh(instance)
    assert instance.outcome == "approved"
    [grant] = grants_of(session, instance)
    assert (grant.scope, grant.purpose, grant.fee_regime) == (
        "仅用于南山区涉企信用评估模型，按月输出评分。", "industry_development", "paid")
    assert [i.code for i in grant.items] == ["MKT-001", "MKT-002"]


def test_returned_request_withdrawn(session):
    instance = start(session)
    complete(session, "operator", "operator_review", instance, review("return", "请补充开发利用方案。"))
    complete(session, "partner_a", "revise_request", instance, withdraw())
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "withdrawn")
    assert grants_of(session, instance) == []
    assert session.execute(select(func.count(Agreement.id)).where(Agreement.instance_id == instance.id)).scalar_one() == 0


def test_review_forms_are_validated_and_agreement_numbers_unique(session):
    instance = start(session)
    task = open_task(session, "operator", "operator_review", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "operator"), task.id, {"decision": "maybe"})
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"decision", "comment"}
    complete(session, "operator", "operator_review", instance, review())
    task = open_task(session, "operator", "sign_service_agreement", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "operator"), task.id, agreement("NS-FW-2025-011"))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["agreement_no"]
    assert session.get(HumanTask, task.id).status == "open"
    assert grants_of(session, instance) == []


# --------------------------------------------------------------------------- conditional route


@pytest.mark.parametrize("reviewer", ["operator", "third_party"])
def test_compliance_report_by_the_chosen_reviewer(session, reviewer):
    instance = start(session, catalog_items=["MKT-003"], purpose="industry_development")
    assert instance.data["route"] == "joint_meeting"
    assert open_elements(session, instance) == {"assign_compliance_reviewer"}
    assert inbox_for(session, "third_party", instance) == []
    complete(session, "operator", "assign_compliance_reviewer", instance, {"reviewer": reviewer})

    report_task = session.execute(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.spec_id == "compliance_review")).scalar_one()
    assert report_task.role == reviewer
    other = "operator" if reviewer == "third_party" else "third_party"
    assert [t.spec_id for t in inbox_for(session, reviewer, instance)] == ["compliance_review"]
    assert inbox_for(session, other, instance) == []
    with pytest.raises(ForbiddenError):
        tasks.complete(session, user(session, "authority"), report_task.id, report())
    session.rollback()
    complete(session, reviewer, "compliance_review", instance, report("compliant_with_conditions"))
    assert open_elements(session, instance) == {"joint_signoff"}
    assert len(signoff_tasks(session, instance)) == 7


def test_each_joint_meeting_unit_gets_exactly_its_own_task(session):
    instance = start(session, catalog_items=["MKT-003"])
    assert instance.data["joint_meeting_units"] == [*STANDING_UNITS, "dept_market", "third_party"]
    to_joint_meeting(session, instance)
    open_tasks = signoff_tasks(session, instance)
    assert sorted(unit_of(session, t) for t in open_tasks) == sorted(MARKET_SIGNERS.values())
    assert {t.role for t in open_tasks} == {"joint_meeting"}
    for username, unit in MARKET_SIGNERS.items():
        mine = inbox_for(session, username, instance)
        assert [(t.spec_id, unit_of(session, t)) for t in mine] == [("joint_signoff", unit)], username
    for username in ("partner_a", "partner_b", "operator", "dept_hrss", "dept_transport", "taskforce"):
        assert inbox_for(session, username, instance) == [], username
    finance_task = inbox_for(session, "finance", instance)[0]
    with pytest.raises(ForbiddenError):  # a member unit sees the case but cannot sign for another one
        tasks.complete(session, user(session, "cyberspace"), finance_task.id, review())
    session.rollback()
    with pytest.raises(NotFoundError):  # a partner not party to the case learns nothing
        tasks.complete(session, user(session, "partner_b"), finance_task.id, review())
    session.rollback()
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "finance"), finance_task.id, {"decision": "approve"})
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["comment"]
    assert session.get(HumanTask, finance_task.id).status == "open"


def test_conditional_request_all_units_approve_and_the_grant_is_issued(session):
    instance = start(session, catalog_items=["MKT-003"], purpose="industry_development")
    to_joint_meeting(session, instance, "third_party")
    sign_all(session, instance, MARKET_SIGNERS)
    assert open_elements(session, instance) == {"evaluation_opinion"}
    assert [t.spec_id for t in inbox_for(session, "authority", instance)] == ["evaluation_opinion"]
    session.refresh(instance)
    assert instance.data["joint_result"] == "approved"
    assert sorted(s["unit"] for s in instance.data["joint_signoffs"]) == sorted(MARKET_SIGNERS.values())

    complete(session, "authority", "evaluation_opinion", instance, opinion())
    assert open_elements(session, instance) == {"sign_service_agreement"}
    complete(session, "operator", "sign_service_agreement", instance, agreement(service_scope="企业行政处罚信息的加工使用"))
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "approved")
    [grant] = grants_of(session, instance)
    assert [i.code for i in grant.items] == ["MKT-003"]
    assert (grant.purpose, grant.fee_regime) == ("industry_development", "paid")
    elements = [d[0] for d in completed_decisions(session, instance)]
    assert elements.count("joint_signoff") == 7
    assert elements[-2:] == ["evaluation_opinion", "sign_service_agreement"]


def test_one_unit_rejects_and_the_other_sign_offs_are_cancelled(session):
    instance = start(session, catalog_items=["MKT-003"])
    to_joint_meeting(session, instance)
    complete(session, "authority", "joint_signoff", instance, review("approve", "同意。"))
    complete(session, "secrecy", "joint_signoff", instance, review("reject", "涉及敏感信息，不予通过。"))

    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "rejected")
    assert signoff_tasks(session, instance) == []
    assert sorted(unit_of(session, t) for t in signoff_tasks(session, instance, "cancelled")) == [
        "cyberspace", "dept_market", "finance", "public_security", "third_party"]
    assert grants_of(session, instance) == []
    assert instance.data["joint_signoffs"] == [
        {"unit": "authority", "decision": "approve", "comment": "同意。"},
        {"unit": "secrecy", "decision": "reject", "comment": "涉及敏感信息，不予通过。"},
    ]
    visible = processes.get_instance(session, user(session, "partner_a"), instance.id)
    decisions = completed_decisions(session, visible)
    assert ("joint_signoff", "approve", "同意。") in decisions
    assert ("joint_signoff", "reject", "涉及敏感信息，不予通过。") in decisions
    for username in ("finance", "source_dept", "third_party"):
        assert inbox_for(session, username, instance) == []


def test_one_unit_returns_the_request_is_revised_and_signed_off_afresh(session):
    instance = start(session, catalog_items=["MKT-003"], scope="初稿范围")
    to_joint_meeting(session, instance)
    first_round = {t.id for t in signoff_tasks(session, instance)}
    sign_all(session, instance, MARKET_SIGNERS, {"public_security": "return"})
    assert open_elements(session, instance) == {"revise_request"}
    session.refresh(instance)
    assert instance.data["joint_result"] == "returned"

    revise = open_task(session, "partner_a", "revise_request", instance)
    returned = [s for s in revise.context["joint_signoffs"] if s["decision"] == "return"]
    assert returned == [{"unit": "public_security", "decision": "return", "comment": "public_security：return"}]
    complete(session, "partner_a", "revise_request", instance, resubmit(scope="补正后的范围：仅限信用评估。"))

    assert open_elements(session, instance) == {"compliance_review"}
    complete(session, "operator", "compliance_review", instance, report())
    second_round = signoff_tasks(session, instance)
    assert len(second_round) == 7 and not first_round & {t.id for t in second_round}
    assert all(t.context["joint_signoffs"] == [] for t in second_round)  # nothing of round one leaks
    assert all(t.context["application"]["scope"] == "补正后的范围：仅限信用评估。" for t in second_round)

    sign_all(session, instance, MARKET_SIGNERS)
    session.refresh(instance)
    assert instance.data["joint_result"] == "approved"
    assert [s["decision"] for s in instance.data["joint_signoffs"]] == ["approve"] * 7
    complete(session, "authority", "evaluation_opinion", instance, opinion())
    complete(session, "operator", "sign_service_agreement", instance, agreement())
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "approved")
    [grant] = grants_of(session, instance)
    assert grant.scope == "补正后的范围：仅限信用评估。" and [i.code for i in grant.items] == ["MKT-003"]


def test_joint_meeting_return_then_withdraw(session):
    instance = start(session, catalog_items=["MKT-003"])
    to_joint_meeting(session, instance, "third_party")
    sign_all(session, instance, MARKET_SIGNERS, {"dept_market": "return"})
    complete(session, "partner_a", "revise_request", instance, withdraw())
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "withdrawn")
    assert grants_of(session, instance) == []


def test_mixed_request_takes_the_conditional_route_with_every_source_department(session):
    instance = start(session, catalog_items=["MKT-001", "HR-001", "TRF-002"])
    assert instance.data["classifications"] == ["conditional", "unconditional"]
    assert instance.data["route"] == "joint_meeting"
    assert instance.data["source_departments"] == ["dept_hrss", "dept_market", "dept_transport"]
    assert open_elements(session, instance) == {"assign_compliance_reviewer"}
    to_joint_meeting(session, instance)

    units = sorted(unit_of(session, t) for t in signoff_tasks(session, instance))
    assert units == sorted([*STANDING_UNITS, "dept_hrss", "dept_market", "dept_transport", "third_party"])
    assert sorted(unit_of(session, t) for t in inbox_for(session, "source_dept", instance)) == [
        "dept_hrss", "dept_market", "dept_transport"]
    assert [unit_of(session, t) for t in inbox_for(session, "dept_hrss", instance)] == ["dept_hrss"]
    assert [unit_of(session, t) for t in inbox_for(session, "dept_transport", instance)] == ["dept_transport"]

    for username in ("authority", "finance", "cyberspace", "public_security", "secrecy", "third_party",
                     "dept_hrss", "dept_transport"):
        complete(session, username, "joint_signoff", instance, review())
    complete(session, "source_dept", "joint_signoff", instance, review())  # dept_market, the last one
    complete(session, "authority", "evaluation_opinion", instance, opinion())
    complete(session, "operator", "sign_service_agreement", instance, agreement())
    session.refresh(instance)
    assert instance.outcome == "approved"
    [grant] = grants_of(session, instance)
    assert [i.code for i in grant.items] == ["HR-001", "MKT-001", "TRF-002"]


def test_other_partners_see_nothing_of_the_request(session):
    instance = start(session, catalog_items=["MKT-003"])
    partner_b = user(session, "partner_b")
    assert processes.list_instances(session, partner_b, process_key=PROCESS)[1] == 0
    with pytest.raises(NotFoundError):
        processes.get_instance(session, partner_b, instance.id)
    to_joint_meeting(session, instance)
    sign_all(session, instance, MARKET_SIGNERS, {"finance": "return"})
    revise = open_task(session, "partner_a", "revise_request", instance)
    assert tasks.inbox(session, partner_b).total == 0
    with pytest.raises(NotFoundError):
        tasks.get_task(session, partner_b, revise.id)
    with pytest.raises(NotFoundError):
        tasks.complete(session, partner_b, revise.id, withdraw())
    session.rollback()
    assert session.get(HumanTask, revise.id).status == "open"
    assert processes.get_instance(session, user(session, "partner_a"), instance.id).id == instance.id
