"""Social data import (Art. 22) through the service layer: every outcome, the partner's
attestation of legality, and the refusals."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.errors import ForbiddenError, NotFoundError, ValidationError
from app.models import AuditEvent, HumanTask, ProcessInstance
from app.services import audit, processes, tasks
from tests.helpers import complete, open_elements, open_task, org, user

# --------------------------------------------------------------------------- data


def request(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "dataset_name": "南山商圈客流热力数据（2026年）",
        "data_source": "本公司在合作商场部署的客流计数设备采集，按小时汇总。",
        "legal_basis": "与各商场运营方签订的数据采集和使用合同，约定可用于商业分析。",
        "data_categories": ["iot", "enterprise"],
        "contains_personal_info": False,
        "legality_attestation": True,
        "fusion_purpose": "与公交站点、停车泊位数据融合，计算商圈可达性指数。",
        "public_data_items": ["TRF-002", "TRF-003"],
        "data_volume": "约 200 万条/年，按小时更新",
    }
    data.update(overrides)
    return data


def review(decision: str = "approve", comment: str = "来源和合法依据已核实。") -> dict[str, Any]:
    data: dict[str, Any] = {"decision": decision, "comment": comment}
    if decision == "approve":
        data["checks"] = ["source_verified", "legal_basis_verified", "security_scan_passed"]
    return data


def resubmit(**overrides: Any) -> dict[str, Any]:
    return {"action": "resubmit", "comment": "已补充合同和授权材料说明。", **request(**overrides)}


def withdraw() -> dict[str, Any]:
    # an unticked checkbox is posted as false; a withdrawal does not need the attestation
    return {"action": "withdraw", "comment": "暂不导入。", "legality_attestation": False}


def start(session, username: str = "partner_a", **overrides: Any) -> ProcessInstance:
    instance = processes.start(session, user(session, username), "social_data_import", request(**overrides))
    session.commit()
    return instance


def inbox_elements(session, username: str, instance: ProcessInstance) -> set[str]:
    page = tasks.inbox(session, user(session, username), per_page=100)
    return {t.spec_id for t in page.items if t.instance_id == instance.id}


def imports(session, instance: ProcessInstance) -> list[AuditEvent]:
    return [e for e in processes.history(session, instance) if e.action == "social_data.imported"]


def instance_count(session) -> int:
    return session.execute(select(func.count(ProcessInstance.id))).scalar_one()


# --------------------------------------------------------------------------- outcomes


def test_approved_request_is_imported_and_audited(session):
    instance = start(session)
    assert instance.business_key.startswith("SDI-")
    assert open_elements(session, instance) == {"review_import"}
    assert inbox_elements(session, "operator", instance) == {"review_import"}
    for other in ("partner_a", "partner_b", "third_party", "authority", "source_dept"):
        assert inbox_elements(session, other, instance) == set()
    row = open_task(session, "operator", "review_import", instance)
    assert row.articles == ["Art. 22", "Art. 25"] and row.due_at is not None
    assert row.context["application"]["legality_attestation"] is True
    complete(session, "operator", "review_import", instance, review())

    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "imported")
    [event] = imports(session, instance)
    assert event.org_id == org(session, "partner_a").id and event.actor == "operator"
    assert event.payload["dataset"] == "南山商圈客流热力数据（2026年）"
    assert event.payload["import_no"] == instance.data["import_record"]["import_no"]
    assert event.payload["import_no"].startswith("NS-DR-")
    actions = [e.action for e in processes.history(session, instance)]
    assert actions[0] == "instance.started" and actions[-1] == "instance.completed"
    assert actions.count("task.completed") == 1
    assert audit.verify(session).ok


def test_rejected_request_is_not_imported(session):
    instance = start(session)
    complete(session, "operator", "review_import", instance, review("reject", "合同未约定可向第三方平台提供数据，来源不合规。"))
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "rejected")
    assert open_elements(session, instance) == set()
    assert imports(session, instance) == []


def test_returned_request_is_corrected_reviewed_again_and_imported(session):
    instance = start(session, contains_personal_info=True,
                     personal_info_basis="设备仅计数，不采集图像。", data_categories=["iot", "personal"])
    complete(session, "operator", "review_import", instance, review("return", "请说明是否采集手机 MAC 地址及其去标识化措施。"))
    assert open_elements(session, instance) == {"revise_request"}
    assert inbox_elements(session, "partner_a", instance) == {"revise_request"}
    assert inbox_elements(session, "partner_b", instance) == set()
    revise = open_task(session, "partner_a", "revise_request", instance)
    assert revise.context["application"]["personal_info_basis"] == "设备仅计数，不采集图像。"  # pre-filled
    assert revise.context["review_import"]["decision"] == "return"

    complete(session, "partner_a", "revise_request", instance, resubmit(
        dataset_name="南山商圈客流热力数据（去标识化）", contains_personal_info=True, data_categories=["iot", "personal"],
        personal_info_basis="MAC 地址在设备端加盐哈希且每日轮换，平台内不可还原；商场已在入口公示并取得同意。"))
    assert open_elements(session, instance) == {"review_import"}
    again = open_task(session, "operator", "review_import", instance)
    assert again.context["application"]["dataset_name"] == "南山商圈客流热力数据（去标识化）"
    assert "action" not in again.context["application"]
    complete(session, "operator", "review_import", instance, review())

    session.refresh(instance)
    assert instance.outcome == "imported"
    [event] = imports(session, instance)
    assert event.payload["dataset"] == "南山商圈客流热力数据（去标识化）"


def test_returned_request_withdrawn(session):
    instance = start(session)
    complete(session, "operator", "review_import", instance, review("return", "请补充合同。"))
    complete(session, "partner_a", "revise_request", instance, withdraw())
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "withdrawn")
    assert imports(session, instance) == []


# --------------------------------------------------------------------------- the attestation (Art. 22)


@pytest.mark.parametrize("attestation", [False, None, "yes"])
def test_the_attestation_of_legality_is_required(session, attestation):
    before = instance_count(session)
    data = request(legality_attestation=attestation)
    if attestation is None:
        del data["legality_attestation"]
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "partner_a"), "social_data_import", data)
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"legality_attestation"}
    assert instance_count(session) == before


def test_personal_information_needs_its_legal_basis(session):
    before = instance_count(session)
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "partner_a"), "social_data_import",
                        request(contains_personal_info=True))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["personal_info_basis"]
    bad = request(data_categories=[], public_data_items=["HR-002"], extra="x")
    del bad["dataset_name"]
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "partner_a"), "social_data_import", bad)
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"dataset_name", "data_categories", "public_data_items.0", "extra"}
    assert instance_count(session) == before


def test_a_resubmission_repeats_the_attestation(session):
    instance = start(session)
    complete(session, "operator", "review_import", instance, review("return", "请补充。"))
    revise = open_task(session, "partner_a", "revise_request", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "partner_a"), revise.id, resubmit(legality_attestation=False))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["legality_attestation"]
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "partner_a"), revise.id,
                       resubmit(contains_personal_info=True))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["personal_info_basis"]
    assert session.get(HumanTask, revise.id).status == "open"


# --------------------------------------------------------------------------- visibility and refusals


def test_who_may_request_an_import(session):
    before = instance_count(session)
    for username in ("applicant", "operator", "third_party"):  # a pending partner, other roles
        with pytest.raises(ForbiddenError):
            processes.start(session, user(session, username), "social_data_import", request())
    session.rollback()
    assert instance_count(session) == before
    start(session)
    start(session, "partner_b")


def test_other_partners_see_nothing_of_the_request(session):
    instance = start(session)
    partner_b = user(session, "partner_b")
    assert processes.list_instances(session, partner_b, process_key="social_data_import")[1] == 0
    with pytest.raises(NotFoundError):
        processes.get_instance(session, partner_b, instance.id)
    row = open_task(session, "operator", "review_import", instance)
    with pytest.raises(NotFoundError):
        tasks.complete(session, partner_b, row.id, review())
    with pytest.raises(ForbiddenError):  # the owner sees the case, but the review is not its step
        tasks.complete(session, user(session, "partner_a"), row.id, review())
    session.rollback()
    assert session.get(HumanTask, row.id).status == "open"
