"""Data product and service review (Art. 21) through the service layer: review by the operator
or a commissioned third party, rejection, return and resubmission, registration and filing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.errors import ForbiddenError, NotFoundError, ValidationError
from app.models import CatalogItem, DataProduct, Grant, HumanTask, ProcessInstance
from app.services import audit, processes, tasks
from app.services.clock import clock
from tests.helpers import complete, open_elements, open_task, org, user

# --------------------------------------------------------------------------- data


def submission(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "product_name": "南山商圈企业活力指数",
        "kind": "product",
        "description": "按月发布南山区各商圈企业新设、注销和经营活跃度指数，服务招商和商业选址。",
        "data_used": ["MKT-001", "MKT-002", "TRF-002"],
        "processing_methods": "在运营平台隐私计算环境中统计汇总，仅输出商圈级指数，原始数据不出域。",
        "privacy_security_measures": "不输出单个企业明细；最小统计单元不少于20家企业；结果经脱敏审查后发布。",
        "trading_venue": "data_exchange",
        "intended_market": "商业地产运营商、连锁零售企业选址部门。",
    }
    data.update(overrides)
    return data


def assignment(reviewer: str = "operator") -> dict[str, Any]:
    return {"reviewer": reviewer, "review_focus": ["personal_privacy", "authorized_scope"],
            "comment": "重点审查输出粒度。"}


def review(decision: str = "approve", findings: str = "未发现问题。", comment: str = "符合安全合规要求。") -> dict[str, Any]:
    return {"decision": decision, "findings": findings, "comment": comment}


def registration(**overrides: Any) -> dict[str, Any]:
    data = {"version": "1.0", "registration_summary": "商圈级企业活力指数，按月更新，API 交付，禁止反推单个企业。",
            "contact_name": "赵工", "contact_phone": "0755-86001234", "accuracy_commitment": True}
    data.update(overrides)
    return data


def filing(decision: str = "approve") -> dict[str, Any]:
    if decision == "approve":
        return {"decision": "approve", "filing_no": "NS-DJ-2026-0101", "comment": "准予登记备案。"}
    return {"decision": decision, "comment": "登记摘要未写明使用限制，请补正。"}


def resubmit(**overrides: Any) -> dict[str, Any]:
    return {"action": "resubmit", "comment": "已按审核意见修改。", **submission(**overrides)}


def start(session, username: str = "partner_a", **overrides: Any) -> ProcessInstance:
    instance = processes.start(session, user(session, username), "product_review", submission(**overrides))
    session.commit()
    return instance


def inbox_elements(session, username: str, instance: ProcessInstance) -> set[str]:
    page = tasks.inbox(session, user(session, username), per_page=100)
    return {t.spec_id for t in page.items if t.instance_id == instance.id}


def products(session, instance: ProcessInstance) -> list[DataProduct]:
    return list(session.execute(select(DataProduct).where(DataProduct.instance_id == instance.id)).scalars())


def register(session, instance: ProcessInstance) -> None:
    complete(session, "partner_a", "confirm_registration", instance, registration())
    complete(session, "operator", "file_registration", instance, filing())


@pytest.fixture(autouse=True)
def partner_grants(session):
    """The data the products are built on is authorized to the partners (Art. 21, 27(1))."""
    for org_code, codes in (("partner_a", ["MKT-001", "MKT-002", "TRF-002", "TRF-003"]),
                            ("partner_b", ["MKT-001", "MKT-002", "TRF-002"])):
        grant = Grant(number=f"NS-SQ-TEST-{org_code}", org_id=org(session, org_code).id,
                      purpose="industry_development", fee_regime="paid", issued_at=clock.now(),
                      expires_at=clock.now() + timedelta(days=365))
        grant.items = list(session.execute(select(CatalogItem).where(CatalogItem.code.in_(codes))).scalars())
        session.add(grant)
    session.commit()


# --------------------------------------------------------------------------- outcomes


def test_operator_reviews_itself_and_the_product_is_registered(session):
    instance = start(session)
    assert instance.business_key.startswith("PR-")
    assert open_elements(session, instance) == {"assign_review"}
    assert inbox_elements(session, "operator", instance) == {"assign_review"}
    complete(session, "operator", "assign_review", instance, assignment("operator"))

    assert open_elements(session, instance) == {"security_review"}
    row = open_task(session, "operator", "security_review", instance)
    assert (row.role, row.candidate_org_id) == ("operator", None)
    assert row.articles == ["Art. 21", "Art. 27"]
    for other in ("third_party", "partner_a", "partner_b", "authority"):
        assert inbox_elements(session, other, instance) == set()
    complete(session, "operator", "security_review", instance, review())

    assert open_elements(session, instance) == {"confirm_registration"}
    assert inbox_elements(session, "partner_a", instance) == {"confirm_registration"}
    assert inbox_elements(session, "partner_b", instance) == set()
    complete(session, "partner_a", "confirm_registration", instance, registration())
    assert open_elements(session, instance) == {"file_registration"}
    assert inbox_elements(session, "operator", instance) == {"file_registration"}
    assert products(session, instance) == []  # nothing registered before the filing
    complete(session, "operator", "file_registration", instance, filing())

    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "registered")
    [product] = products(session, instance)
    assert (product.name, product.kind, product.status) == ("南山商圈企业活力指数", "product", "registered")
    assert product.org_id == org(session, "partner_a").id
    assert product.registration_no.startswith("NS-CP-") and product.registration_no.endswith(f"-{instance.id}")
    assert instance.data["registration"]["registration_no"] == product.registration_no
    actions = [e.action for e in processes.history(session, instance)]
    assert actions[0] == "instance.started" and actions[-1] == "instance.completed"
    assert actions.count("task.completed") == 4 and "product.registered" in actions
    assert audit.verify(session).ok


def test_third_party_review_goes_to_the_third_party_only(session):
    instance = start(session, product_name="南山停车泊位预测服务", kind="service", data_used=["TRF-003"])
    complete(session, "operator", "assign_review", instance, assignment("third_party"))
    row = open_task(session, "third_party", "security_review", instance)
    assert (row.role, row.candidate_org_id) == ("third_party", None)
    assert inbox_elements(session, "third_party", instance) == {"security_review"}
    for other in ("operator", "partner_a", "partner_b", "authority", "finance", "cyberspace", "source_dept"):
        assert inbox_elements(session, other, instance) == set()
    # the operator took part and the partner owns the case: they see the task is not theirs
    for username in ("operator", "partner_a"):
        with pytest.raises(ForbiddenError):
            tasks.complete(session, user(session, username), row.id, review())
    with pytest.raises(NotFoundError):
        tasks.complete(session, user(session, "partner_b"), row.id, review())
    session.rollback()
    assert session.get(HumanTask, row.id).status == "open"

    complete(session, "third_party", "security_review", instance,
             review(findings="输出结果为泊位占用率预测，未含个人信息。") | {"report_no": "SA-2026-0042"})
    register(session, instance)
    session.refresh(instance)
    assert instance.outcome == "registered"
    [product] = products(session, instance)
    assert (product.name, product.kind) == ("南山停车泊位预测服务", "service")
    reviewed = next(e for e in processes.history(session, instance)
                    if e.action == "task.completed" and e.payload["element"] == "security_review")
    assert reviewed.actor == "third_party" and reviewed.payload["decision"] == "approve"


def test_rejected_product_is_not_registered(session):
    instance = start(session)
    complete(session, "operator", "assign_review", instance, assignment("operator"))
    complete(session, "operator", "security_review", instance,
             review("reject", "输出单个企业经营明细，存在商业秘密泄露风险。", "不符合第二十一条要求。"))
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "rejected")
    assert open_elements(session, instance) == set()
    assert products(session, instance) == []
    assert "product.registered" not in {e.action for e in processes.history(session, instance)}


def test_returned_submission_is_revised_reviewed_again_and_registered(session):
    instance = start(session, privacy_security_measures="按企业输出明细。")
    complete(session, "operator", "assign_review", instance, assignment("third_party"))
    complete(session, "third_party", "security_review", instance,
             review("return", "输出粒度过细，可识别单个企业。", "请调整输出粒度后重新提交。"))
    assert open_elements(session, instance) == {"revise_submission"}
    assert inbox_elements(session, "partner_a", instance) == {"revise_submission"}
    revise = open_task(session, "partner_a", "revise_submission", instance)
    assert revise.context["application"]["privacy_security_measures"] == "按企业输出明细。"
    assert revise.context["security_review"]["findings"] == "输出粒度过细，可识别单个企业。"
    complete(session, "partner_a", "revise_submission", instance, resubmit(product_name="南山商圈活力指数（修订）"))

    # the same reviewer (the third party) reviews the revision
    assert open_elements(session, instance) == {"security_review"}
    again = open_task(session, "third_party", "security_review", instance)
    assert again.context["application"]["product_name"] == "南山商圈活力指数（修订）"
    assert again.context["application"]["privacy_security_measures"] == submission()["privacy_security_measures"]
    assert "action" not in again.context["application"]
    assert inbox_elements(session, "operator", instance) == set()
    complete(session, "third_party", "security_review", instance, review())

    # a returned filing goes back to the partner's registration information
    complete(session, "partner_a", "confirm_registration", instance, registration(registration_summary="摘要"))
    complete(session, "operator", "file_registration", instance, filing("return"))
    assert open_elements(session, instance) == {"confirm_registration"}
    assert products(session, instance) == []
    register(session, instance)
    session.refresh(instance)
    assert instance.outcome == "registered"
    [product] = products(session, instance)
    assert product.name == "南山商圈活力指数（修订）"


def test_returned_submission_withdrawn(session):
    instance = start(session)
    complete(session, "operator", "assign_review", instance, assignment("operator"))
    complete(session, "operator", "security_review", instance, review("return", "缺少安全措施说明。", "请补充。"))
    complete(session, "partner_a", "revise_submission", instance,
             {"action": "withdraw", "comment": "产品暂停开发。"})
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "withdrawn")
    assert products(session, instance) == []


# --------------------------------------------------------------------------- visibility and refusals


def test_other_partners_see_nothing_of_the_submission(session):
    instance = start(session)
    partner_b = user(session, "partner_b")
    assert processes.list_instances(session, partner_b, process_key="product_review")[1] == 0
    with pytest.raises(NotFoundError):
        processes.get_instance(session, partner_b, instance.id)
    complete(session, "operator", "assign_review", instance, assignment("operator"))
    complete(session, "operator", "security_review", instance, review())
    confirm = open_task(session, "partner_a", "confirm_registration", instance)
    with pytest.raises(NotFoundError):
        tasks.complete(session, partner_b, confirm.id, registration())
    session.rollback()
    assert session.get(HumanTask, confirm.id).status == "open"


def test_who_may_submit_a_product(session):
    before = session.execute(select(func.count(ProcessInstance.id))).scalar_one()
    for username in ("applicant", "operator", "third_party"):  # a pending partner, other roles
        with pytest.raises(ForbiddenError):
            processes.start(session, user(session, username), "product_review", submission())
    session.rollback()
    assert session.execute(select(func.count(ProcessInstance.id))).scalar_one() == before
    start(session)
    start(session, product_name="第二个产品")  # several products may be under review at once
    start(session, "partner_b")


def test_invalid_submission_names_each_field_and_stores_nothing(session):
    before = session.execute(select(func.count(ProcessInstance.id))).scalar_one()
    bad = submission(kind="dataset", data_used=["HR-002"], trading_venue="anywhere", extra="x")
    del bad["privacy_security_measures"]
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "partner_a"), "product_review", bad)
    session.rollback()
    assert {e.field for e in caught.value.errors} == {
        "kind", "data_used.0", "trading_venue", "extra", "privacy_security_measures"}
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "partner_a"), "product_review", submission(data_used=[]))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["data_used"]
    assert session.execute(select(func.count(ProcessInstance.id))).scalar_one() == before


def test_a_product_may_use_only_data_authorized_to_the_partner(session):
    before = session.execute(select(func.count(ProcessInstance.id))).scalar_one()
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "partner_a"), "product_review",
                        submission(data_used=["MKT-001", "URB-002"]))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["data_used"]
    assert "URB-002" in caught.value.errors[0].message
    assert session.execute(select(func.count(ProcessInstance.id))).scalar_one() == before


def test_review_and_registration_forms_require_their_fields(session):
    instance = start(session)
    assign = open_task(session, "operator", "assign_review", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "operator"), assign.id, {"reviewer": "anyone"})
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["reviewer"]
    complete(session, "operator", "assign_review", instance, assignment("operator"))
    row = open_task(session, "operator", "security_review", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "operator"), row.id, {"decision": "approve"})
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"findings", "comment"}
    complete(session, "operator", "security_review", instance, review())
    confirm = open_task(session, "partner_a", "confirm_registration", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "partner_a"), confirm.id, registration(accuracy_commitment=False))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["accuracy_commitment"]
    complete(session, "partner_a", "confirm_registration", instance, registration())
    file_task = open_task(session, "operator", "file_registration", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "operator"), file_task.id, {"decision": "approve", "comment": "可"})
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["filing_no"]
    assert products(session, instance) == []
