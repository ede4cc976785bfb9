"""Partner exit (Art. 18, 27(3)) through the service layer: voluntary and forced exits, every
outcome, the side effects on the exiting partner only, and the refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.errors import ForbiddenError, NotFoundError, ValidationError
from app.models import Agreement, CatalogItem, Grant, HumanTask, LogRetention, ProcessInstance
from app.services import audit, processes, tasks
from app.services.clock import clock
from tests.helpers import complete, open_elements, open_task, org, user

# --------------------------------------------------------------------------- data


def exit_application(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "reason": "公司业务调整，不再开展公共数据产品开发。",
        "data_disposal": "destroy",
        "disposal_commitment": True,
        "planned_exit_date": "2026-12-31",
        "contact_name": "赵工",
        "contact_phone": "13800138001",
    }
    data.update(overrides)
    return data


def confirmation(decision: str = "approve", **overrides: Any) -> dict[str, Any]:
    if decision == "approve":
        data: dict[str, Any] = {"decision": "approve", "data_disposal": "destroy", "data_disposed": True,
                                "accounts_closed": True, "comment": "已核实数据销毁记录，账号已注销。"}
    else:
        data = {"decision": decision, "comment": "请补充数据销毁证明。"}
    data.update(overrides)
    return data


def filing(decision: str = "approve") -> dict[str, Any]:
    if decision == "approve":
        return {"decision": "approve", "filing_no": "NS-TC-2026-0003", "comment": "退出已备案。"}
    return {"decision": decision, "comment": "请核实账号关闭情况。"}


def resubmit(**overrides: Any) -> dict[str, Any]:
    return {"action": "resubmit", "comment": "已补充销毁证明。", **exit_application(**overrides)}


def withdraw() -> dict[str, Any]:
    return {"action": "withdraw", "comment": "继续合作，撤回退出申请。", "disposal_commitment": False}


def handover(**overrides: Any) -> dict[str, Any]:
    data = {"data_disposal": "return", "disposal_report": "已将全部数据及衍生数据返还运营平台，本地副本已删除。",
            "disposal_commitment": True}
    data.update(overrides)
    return data


def give_grant(session, org_code: str, number: str, codes: list[str]) -> Grant:
    """A live grant of ``codes`` to ``org_code`` (as data_authorization would issue it)."""
    grant = Grant(number=number, org_id=org(session, org_code).id, purpose="industry_development",
                  fee_regime="paid", scope="测试授权", issued_at=clock.now(),
                  expires_at=clock.now() + timedelta(days=365))
    grant.items = list(session.execute(select(CatalogItem).where(CatalogItem.code.in_(codes))).scalars())
    session.add(grant)
    session.commit()
    return grant


def start(session, username: str = "partner_a", **overrides: Any) -> ProcessInstance:
    instance = processes.start(session, user(session, username), "partner_exit", exit_application(**overrides))
    session.commit()
    return instance


def start_forced(session, org_code: str = "partner_a") -> ProcessInstance:
    instance = processes.start_system(session, "partner_exit", org(session, org_code), {
        "reason": "整改通知 RC-2026-000001 逾期未改正", "source": "RC-2026-000001", "forced": True})
    session.commit()
    return instance


def inbox_elements(session, username: str, instance: ProcessInstance) -> set[str]:
    page = tasks.inbox(session, user(session, username), per_page=100)
    return {t.spec_id for t in page.items if t.instance_id == instance.id}


def service_agreement(session, number: str) -> Agreement:
    return session.execute(select(Agreement).where(Agreement.number == number)).scalar_one()


# --------------------------------------------------------------------------- outcomes


def test_voluntary_exit_deactivates_the_partner_and_revokes_only_its_grants(session):
    grant_a = give_grant(session, "partner_a", "NS-SQ-TEST-A1", ["MKT-001", "TRF-002"])
    grant_b = give_grant(session, "partner_b", "NS-SQ-TEST-B1", ["MKT-001"])
    instance = start(session)
    assert instance.business_key.startswith("PE-")
    assert open_elements(session, instance) == {"confirm_exit"}
    assert inbox_elements(session, "operator", instance) == {"confirm_exit"}
    for other in ("partner_a", "partner_b", "authority", "third_party"):
        assert inbox_elements(session, other, instance) == set()
    confirm = open_task(session, "operator", "confirm_exit", instance)
    assert confirm.context["exit_case"] == {"kind": "voluntary", "reason": exit_application()["reason"],
                                            "data_disposal": "destroy", "planned_exit_date": "2026-12-31"}
    assert confirm.articles == ["Art. 18", "Art. 27"] and confirm.due_at is not None

    complete(session, "operator", "confirm_exit", instance, confirmation())
    assert open_elements(session, instance) == {"file_exit"}
    assert inbox_elements(session, "authority", instance) == {"file_exit"}
    assert inbox_elements(session, "operator", instance) == set()
    complete(session, "authority", "file_exit", instance, filing())

    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "exited")
    assert open_elements(session, instance) == set()
    partner_a = org(session, "partner_a")
    assert partner_a.status == "inactive"
    assert service_agreement(session, "NS-FW-2025-011").status == "terminated"
    session.refresh(grant_a)
    assert grant_a.revoked_at is not None and grant_a.revoke_reason == exit_application()["reason"]
    assert [i.code for i in grant_a.items] == ["MKT-001", "TRF-002"]
    retention = session.execute(select(LogRetention).where(LogRetention.org_id == partner_a.id)).scalar_one()
    assert retention.instance_id == instance.id
    assert retention.agreement_id == service_agreement(session, "NS-FW-2025-011").id
    assert retention.retain_until - retention.started_at >= timedelta(days=182)  # at least 6 months (Art. 16)

    # partner_b is untouched
    assert org(session, "partner_b").status == "active"
    assert service_agreement(session, "NS-FW-2025-012").status == "active"
    session.refresh(grant_b)
    assert grant_b.revoked_at is None
    assert session.execute(select(func.count(LogRetention.id)).where(
        LogRetention.org_id == org(session, "partner_b").id)).scalar_one() == 0

    actions = [e.action for e in processes.history(session, instance)]
    assert actions[0] == "instance.started" and actions[-1] == "instance.completed"
    assert actions.count("task.completed") == 2
    assert {"agreement.terminated", "grant.revoked", "organisation.deactivated"} <= set(actions)
    deactivated = next(e for e in processes.history(session, instance) if e.action == "organisation.deactivated")
    assert deactivated.payload["grants_revoked"] == 1
    assert audit.verify(session).ok

    # an exited partner may no longer start anything a partner starts
    with pytest.raises(ForbiddenError):
        processes.start(session, user(session, "partner_a"), "partner_exit", exit_application())


def test_forced_exit_started_by_the_system_skips_the_application(session):
    grant_a = give_grant(session, "partner_a", "NS-SQ-TEST-A2", ["HSG-002"])
    instance = start_forced(session)
    assert instance.started_by_id is None and instance.org_id == org(session, "partner_a").id
    assert open_elements(session, instance) == {"confirm_exit"}
    confirm = open_task(session, "operator", "confirm_exit", instance)
    assert confirm.context["exit_case"] == {
        "kind": "forced", "reason": "强制退出（未按要求改正）：整改通知 RC-2026-000001 逾期未改正",
        "source": "RC-2026-000001"}
    assert confirm.context["initiator"] == "system"

    # returned: the partner must report its data disposal; it cannot withdraw a forced exit
    complete(session, "operator", "confirm_exit", instance, confirmation("return"))
    assert open_elements(session, instance) == {"report_handover"}
    assert inbox_elements(session, "partner_a", instance) == {"report_handover"}
    assert inbox_elements(session, "partner_b", instance) == set()
    report = open_task(session, "partner_a", "report_handover", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "partner_a"), report.id, {"action": "withdraw", "comment": "不退出"})
    session.rollback()
    assert {"action", "data_disposal", "disposal_report", "disposal_commitment"} <= {
        e.field for e in caught.value.errors}
    complete(session, "partner_a", "report_handover", instance, handover())

    assert open_elements(session, instance) == {"confirm_exit"}
    complete(session, "operator", "confirm_exit", instance, confirmation(data_disposal="return"))
    complete(session, "authority", "file_exit", instance, filing())
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "exited")
    assert org(session, "partner_a").status == "inactive"
    assert service_agreement(session, "NS-FW-2025-011").status == "terminated"
    session.refresh(grant_a)
    assert grant_a.revoked_at is not None and grant_a.revoke_reason.startswith("强制退出")
    assert session.execute(select(func.count(LogRetention.id)).where(
        LogRetention.instance_id == instance.id)).scalar_one() == 1
    assert org(session, "partner_b").status == "active"
    started = processes.history(session, instance)[0]
    assert (started.action, started.actor_id) == ("instance.started", None)


def test_returned_exit_is_resubmitted_and_a_returned_filing_is_checked_again(session):
    instance = start(session, planned_exit_date="2026-12-15")
    complete(session, "operator", "confirm_exit", instance, confirmation("return"))
    assert open_elements(session, instance) == {"revise_exit"}
    revise = open_task(session, "partner_a", "revise_exit", instance)
    assert revise.context["application"]["planned_exit_date"] == "2026-12-15"  # the form is pre-filled
    complete(session, "partner_a", "revise_exit", instance, resubmit(planned_exit_date="2027-01-15"))

    assert open_elements(session, instance) == {"confirm_exit"}
    confirm = open_task(session, "operator", "confirm_exit", instance)
    assert confirm.context["application"]["planned_exit_date"] == "2027-01-15"
    assert confirm.context["exit_case"]["planned_exit_date"] == "2027-01-15"
    assert "action" not in confirm.context["application"]
    complete(session, "operator", "confirm_exit", instance, confirmation())
    complete(session, "authority", "file_exit", instance, filing("return"))
    assert open_elements(session, instance) == {"confirm_exit"}
    assert org(session, "partner_a").status == "active"  # nothing happens before the filing
    complete(session, "operator", "confirm_exit", instance, confirmation())
    complete(session, "authority", "file_exit", instance, filing())
    session.refresh(instance)
    assert instance.outcome == "exited"
    assert org(session, "partner_a").status == "inactive"


def test_returned_exit_withdrawn_keeps_the_partner_active(session):
    grant_a = give_grant(session, "partner_a", "NS-SQ-TEST-A3", ["TRF-002"])
    instance = start(session)
    complete(session, "operator", "confirm_exit", instance, confirmation("return"))
    complete(session, "partner_a", "revise_exit", instance, withdraw())
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "withdrawn")
    assert org(session, "partner_a").status == "active"
    assert service_agreement(session, "NS-FW-2025-011").status == "active"
    session.refresh(grant_a)
    assert grant_a.revoked_at is None
    assert session.execute(select(func.count(LogRetention.id))).scalar_one() == 0
    start(session)  # the partner may apply again later


# --------------------------------------------------------------------------- visibility and refusals


def test_other_partners_see_nothing_of_the_exit(session):
    instance = start(session)
    forced = start_forced(session, "partner_b")
    partner_b = user(session, "partner_b")
    _, total = processes.list_instances(session, partner_b, process_key="partner_exit")
    assert total == 1  # only its own (forced) exit
    with pytest.raises(NotFoundError):
        processes.get_instance(session, partner_b, instance.id)
    with pytest.raises(NotFoundError):
        processes.get_instance(session, user(session, "partner_a"), forced.id)
    complete(session, "operator", "confirm_exit", instance, confirmation("return"))
    revise = open_task(session, "partner_a", "revise_exit", instance)
    assert inbox_elements(session, "partner_b", instance) == set()
    with pytest.raises(NotFoundError):
        tasks.get_task(session, partner_b, revise.id)
    with pytest.raises(NotFoundError):
        tasks.complete(session, partner_b, revise.id, withdraw())
    with pytest.raises(NotFoundError):
        tasks.claim(session, partner_b, revise.id)
    session.rollback()
    assert session.get(HumanTask, revise.id).status == "open"


def test_roles_cannot_do_each_others_steps(session):
    instance = start(session)
    confirm = open_task(session, "operator", "confirm_exit", instance)
    for username in ("partner_a", "authority"):
        with pytest.raises(ForbiddenError):
            tasks.complete(session, user(session, username), confirm.id, confirmation())
    session.rollback()
    complete(session, "operator", "confirm_exit", instance, confirmation())
    file_task = open_task(session, "authority", "file_exit", instance)
    with pytest.raises(ForbiddenError):
        tasks.complete(session, user(session, "operator"), file_task.id, filing())
    session.rollback()
    assert session.get(HumanTask, file_task.id).status == "open"


def test_who_may_start_an_exit(session):
    before = session.execute(select(func.count(ProcessInstance.id))).scalar_one()
    for username in ("applicant", "operator", "authority"):  # a pending partner, other roles
        with pytest.raises(ForbiddenError):
            processes.start(session, user(session, username), "partner_exit", exit_application())
    session.rollback()
    assert session.execute(select(func.count(ProcessInstance.id))).scalar_one() == before
    start(session)
    with pytest.raises(ForbiddenError):  # one exit in progress per partner
        processes.start(session, user(session, "partner_a"), "partner_exit", exit_application())
    start(session, "partner_b")


def test_exit_application_requires_the_disposal_commitment_and_stores_nothing(session):
    before = session.execute(select(func.count(ProcessInstance.id))).scalar_one()
    bad = exit_application(disposal_commitment=False, data_disposal="keep", planned_exit_date="soon",
                           forced=True)
    del bad["reason"]
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "partner_a"), "partner_exit", bad)
    session.rollback()
    assert {e.field for e in caught.value.errors} == {
        "reason", "disposal_commitment", "data_disposal", "planned_exit_date", "forced"}
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "partner_a"), "partner_exit",
                        {k: v for k, v in exit_application().items() if k != "disposal_commitment"})
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["disposal_commitment"]
    assert session.execute(select(func.count(ProcessInstance.id))).scalar_one() == before


def test_confirmation_requires_disposed_data_and_closed_accounts(session):
    instance = start(session)
    confirm = open_task(session, "operator", "confirm_exit", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "operator"), confirm.id,
                       confirmation(data_disposed=False, accounts_closed=False))
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"data_disposed", "accounts_closed"}
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "operator"), confirm.id, {"decision": "approve"})
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"comment", "data_disposal", "data_disposed", "accounts_closed"}
    assert session.get(HumanTask, confirm.id).status == "open"
    complete(session, "operator", "confirm_exit", instance, confirmation())
    file_task = open_task(session, "authority", "file_exit", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "authority"), file_task.id, {"decision": "approve", "comment": "好"})
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["filing_no"]
    assert org(session, "partner_a").status == "active"
