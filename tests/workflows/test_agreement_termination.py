"""Agreement termination (Art. 6, 15, 16, 26(4)) through the service layer: the task force's
decision and the platform's own start, permissions closed at once, logs kept, hand-over."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.errors import ForbiddenError, ValidationError
from app.models import Agreement, CatalogItem, Grant, LogRetention, ProcessInstance, RoleMembership
from app.services import audit, processes, tasks
from app.services.clock import clock
from tests.helpers import complete, open_elements, open_task, org, user

T0 = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
NUMBER = "NS-YY-2025-001"
HALF_YEAR = timedelta(days=182)


# ---------------------------------------------------------------------------- data


def grant(session, org_code: str, codes: tuple[str, ...] = ("MKT-001",)) -> Grant:
    items = session.execute(select(CatalogItem).where(CatalogItem.code.in_(codes))).scalars().all()
    row = Grant(number=f"T-AT-{org_code}-{len(codes)}", org_id=org(session, org_code).id, purpose="public_governance",
                fee_regime="free", issued_at=clock.now(), expires_at=clock.now() + timedelta(days=365))
    row.items = list(items)
    session.add(row)
    session.commit()
    return row


def decision(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "decision_no": "南数专班〔2026〕3号",
        "decision_date": "2026-05-04",
        "reason": "授权运营单位违规使用公共数据，经责令改正逾期未改正。",
        "legal_basis": ["Art. 6", "Art. 16", "Art. 26"],
    }
    data.update(overrides)
    return data


def handover() -> dict[str, Any]:
    return {"handover_date": "2026-05-20", "recipient": "深圳市南山区政务服务和数据管理局",
            "platform_handover": "运营平台系统、账号权限、运维文档已移交。",
            "partner_handover": "12家授权合作方名单及服务协议已移交，在途申请已告知。",
            "data_attestation": True}


def acceptance(result: str = "approve") -> dict[str, Any]:
    return {"decision": result, "comment": "交接完整。" if result == "approve" else "缺少运维文档。"}


def operation_agreement(session, number: str = NUMBER) -> Agreement:
    return session.execute(select(Agreement).where(Agreement.number == number)).scalar_one()


def start(session, **overrides: Any) -> ProcessInstance:
    instance = processes.start(session, user(session, "taskforce"), "agreement_termination", decision(**overrides))
    session.commit()
    return instance


def inbox_elements(session, username: str, instance) -> list[str]:
    return [t.spec_id for t in tasks.inbox(session, user(session, username), per_page=100).items
            if t.instance_id == instance.id]


def assert_closed_at_once(session, instance, grants: list[Grant], reason: str) -> None:
    """Art. 16: every grant on the platform revoked, the operator inactive, the agreement
    terminated and its network logs kept for at least six months, all at the start."""
    for row in grants:
        session.refresh(row)
        assert row.revoked_at == T0 and reason in (row.revoke_reason or "")
    live = session.execute(select(func.count(Grant.id)).where(Grant.revoked_at.is_(None))).scalar_one()
    assert live == 0
    assert org(session, "operator").status == "inactive"
    agreement = operation_agreement(session)
    assert agreement.status == "terminated"
    retention = session.execute(select(LogRetention).where(LogRetention.agreement_id == agreement.id)).scalar_one()
    assert retention.org_id == org(session, "operator").id and retention.instance_id == instance.id
    assert retention.started_at == T0
    assert retention.retain_until >= clock.now() + HALF_YEAR
    assert instance.data["termination"]["grants_revoked"] == len(grants)


# ---------------------------------------------------------------------------- outcomes


def test_taskforce_revocation_closes_every_permission_then_hands_over(session):
    clock.set(T0)
    grants = [grant(session, "partner_a"), grant(session, "partner_b", ("MKT-001", "TRF-002"))]
    instance = start(session)
    assert instance.status == "running" and instance.business_key.startswith("AT-")
    assert_closed_at_once(session, instance, grants, "逾期未改正")

    assert open_elements(session, instance) == {"handover"}
    assert inbox_elements(session, "operator", instance) == ["handover"]
    assert open_task(session, "operator", "handover", instance).candidate_org_id == org(session, "operator").id
    for username in ("authority", "taskforce", "partner_a"):
        assert inbox_elements(session, username, instance) == []
    complete(session, "operator", "handover", instance, handover())
    assert inbox_elements(session, "authority", instance) == ["handover_acceptance"]
    complete(session, "authority", "handover_acceptance", instance, acceptance())

    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "terminated")
    actions = [e.action for e in processes.history(session, instance)]
    assert actions[0] == "instance.started" and actions[-1] == "instance.completed"
    assert actions.count("grant.revoked") == 2 and actions.count("agreement.terminated") == 1
    assert actions.index("agreement.terminated") < actions.index("task.completed")
    assert actions.count("task.completed") == 2
    assert audit.verify(session).ok


def test_incomplete_handover_is_returned_to_the_operator(session):
    clock.set(T0)
    instance = start(session)
    complete(session, "operator", "handover", instance, handover())
    complete(session, "authority", "handover_acceptance", instance, acceptance("return"))
    assert open_elements(session, instance) == {"handover"}
    complete(session, "operator", "handover", instance, handover())
    complete(session, "authority", "handover_acceptance", instance, acceptance())
    session.refresh(instance)
    assert instance.outcome == "terminated"
    # the permissions were closed once, at the start
    assert session.execute(select(func.count(LogRetention.id)).where(
        LogRetention.instance_id == instance.id)).scalar_one() == 1


@pytest.mark.parametrize("with_operator_org", [True, False], ids=["calendar", "followup"])
def test_system_start_works_the_same(session, with_operator_org):
    """Started by the platform: the calendar (agreement expired unrenewed, names operator_org)
    or a missed rectification (start_followup: reason, source, forced only)."""
    clock.set(T0)
    grants = [grant(session, "partner_a")]
    data: dict[str, Any] = {"reason": "整改逾期未完成（第二十六条第四项）", "source": "RE-2026-000042", "forced": True}
    if with_operator_org:
        data["operator_org"] = "operator"
    instance = processes.start_system(session, "agreement_termination", org(session, "operator"), data)
    session.commit()
    assert instance.started_by_id is None and instance.org_id == org(session, "operator").id
    assert_closed_at_once(session, instance, grants, "整改逾期")
    complete(session, "operator", "handover", instance, handover())
    complete(session, "authority", "handover_acceptance", instance, acceptance())
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "terminated")
    assert all(e.actor_id is None for e in processes.history(session, instance)
               if e.action in ("instance.started", "agreement.terminated", "grant.revoked"))


def test_expired_agreement_is_terminated_with_its_own_number(session):
    agreement = operation_agreement(session)
    clock.set(datetime.combine(agreement.valid_until + timedelta(days=1), datetime.min.time(), UTC))
    reason = f"agreement {NUMBER} expired on {agreement.valid_until.isoformat()} without renewal"
    instance = processes.start_system(session, "agreement_termination", org(session, "operator"), {
        "reason": reason, "source": NUMBER, "forced": True, "operator_org": "operator"})
    session.commit()
    assert operation_agreement(session).status == "terminated"
    retention = session.execute(select(LogRetention).where(LogRetention.instance_id == instance.id)).scalar_one()
    assert retention.reason == reason and retention.retain_until >= clock.now() + HALF_YEAR


# ---------------------------------------------------------------------------- refusals


def test_only_the_taskforce_decides(session):
    before = session.execute(select(func.count(ProcessInstance.id))).scalar_one()
    for username in ("authority", "operator", "government", "partner_a"):
        with pytest.raises(ForbiddenError):
            processes.start(session, user(session, username), "agreement_termination", decision())
        session.rollback()
    assert session.execute(select(func.count(ProcessInstance.id))).scalar_one() == before
    assert operation_agreement(session).status == "active"


def test_invalid_decision_names_each_field_and_closes_nothing(session):
    clock.set(T0)
    row = grant(session, "partner_a")
    before = session.execute(select(func.count(ProcessInstance.id))).scalar_one()
    bad = decision(legal_basis=[], decision_date="yesterday", extra="x")
    del bad["reason"]
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "taskforce"), "agreement_termination", bad)
    session.rollback()
    assert {"reason", "legal_basis", "decision_date", "extra"} <= {e.field for e in caught.value.errors}
    assert session.execute(select(func.count(ProcessInstance.id))).scalar_one() == before
    session.refresh(row)
    assert row.revoked_at is None and operation_agreement(session).status == "active"


def test_handover_needs_the_data_attestation(session):
    clock.set(T0)
    instance = start(session)
    task = open_task(session, "operator", "handover", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "operator"), task.id, {**handover(), "data_attestation": False})
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["data_attestation"]
    with pytest.raises(ForbiddenError):  # the authority oversees, but the hand-over is the operator's
        tasks.complete(session, user(session, "authority"), task.id, handover())
    session.rollback()


def test_nothing_left_to_terminate_is_refused_up_front(session):
    clock.set(T0)
    start(session)
    with pytest.raises(ForbiddenError):
        processes.start(session, user(session, "taskforce"), "agreement_termination", decision())


def test_taskforce_revocation_reaches_whoever_is_the_operator(session):
    clock.set(T0)
    # candidate became the operator (operator_selection), with its own operation agreement
    candidate, previous = org(session, "candidate"), org(session, "operator")
    candidate.kind, candidate.status, previous.status = "operator", "active", "inactive"
    session.add(RoleMembership(user_id=user(session, "candidate").id, role="operator"))
    session.add(Agreement(kind="operation", number="NS-YY-2026-009", org_id=candidate.id,
                          counterparty_org_id=org(session, "authority").id, signed_on=date(2026, 4, 1),
                          valid_from=date(2026, 4, 1), valid_until=date(2029, 3, 31), scope="授权运营"))
    session.commit()
    instance = start(session)
    assert operation_agreement(session, "NS-YY-2026-009").status == "terminated"
    assert org(session, "candidate").status == "inactive"
    assert operation_agreement(session).status == "active"  # the former operator's is not touched
    session.expire_all()
    # the hand-over is the terminated operator's, not the former operator's
    assert inbox_elements(session, "candidate", instance) == ["handover"]
    assert inbox_elements(session, "operator", instance) == []
