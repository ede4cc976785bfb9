"""Agreement renewal (Art. 15) through the service layer: the renewal window, every outcome,
task routing, the extended agreement and refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.errors import ForbiddenError, ValidationError
from app.models import Agreement, HumanTask, ProcessInstance
from app.services import audit, processes, tasks
from app.services.clock import clock
from app.services.guards import renewal_window
from tests.helpers import complete, open_elements, open_task, user

NUMBER = "NS-YY-2025-001"  # the demo operation agreement: 1 January last year, 3 years less a day


# ---------------------------------------------------------------------------- data


def operation_agreement(session) -> Agreement:
    return session.execute(select(Agreement).where(Agreement.number == NUMBER)).scalar_one()


def years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def at(day: date) -> datetime:
    return datetime.combine(day, time(2, 0), UTC)


def application(session, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "agreement_no": NUMBER,
        "reason": "协议期内运营平稳，拟继续承担授权运营工作。",
        "performance_summary": "累计入驻授权合作方12家，上架数据产品30个，未发生数据安全事件。",
        "requested_valid_until": years_later(operation_agreement(session).valid_until, 3).isoformat(),
    }
    data.update(overrides)
    return data


def review(decision: str = "approve", comment: str = "同意续期。") -> dict[str, Any]:
    return {"decision": decision, "comment": comment}


def approval(decision: str = "approve", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"decision": decision, "comment": "同意。" if decision == "approve" else "不同意续期。"}
    if decision == "approve":
        data["approval_doc_no"] = "深南府函〔2027〕88号"
    data.update(overrides)
    return data


# ---------------------------------------------------------------------------- driving


def in_window(session) -> date:
    """Move the clock 60 days before expiry (inside the 6-month window) and return that day."""
    day = operation_agreement(session).valid_until - timedelta(days=60)
    clock.set(at(day))
    return day


def start(session, **overrides: Any) -> ProcessInstance:
    instance = processes.start(session, user(session, "operator"), "agreement_renewal",
                               application(session, **overrides))
    session.commit()
    return instance


def inbox_elements(session, username: str, instance) -> list[str]:
    return [t.spec_id for t in tasks.inbox(session, user(session, username), per_page=100).items
            if t.instance_id == instance.id]


# ---------------------------------------------------------------------------- the window


def test_renewal_inside_the_window_extends_the_agreement(session):
    old_until = operation_agreement(session).valid_until
    in_window(session)
    instance = start(session)
    assert instance.status == "running" and instance.business_key.startswith("AR-")
    assert open_elements(session, instance) == {"authority_review"}
    assert inbox_elements(session, "authority", instance) == ["authority_review"]
    assert inbox_elements(session, "operator", instance) == []
    complete(session, "authority", "authority_review", instance, review())
    assert inbox_elements(session, "taskforce", instance) == ["taskforce_review"]
    assert inbox_elements(session, "authority", instance) == []
    complete(session, "taskforce", "taskforce_review", instance, review())
    assert inbox_elements(session, "government", instance) == ["government_approval"]
    complete(session, "government", "government_approval", instance, approval())

    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "renewed")
    agreement = operation_agreement(session)
    assert agreement.status == "active"
    assert agreement.valid_until == years_later(old_until, 3)
    assert instance.data["renewal"]["previous_valid_until"] == old_until.isoformat()
    actions = [e.action for e in processes.history(session, instance)]
    assert actions[0] == "instance.started" and actions[-1] == "instance.completed"
    assert actions.count("task.completed") == 3 and "agreement.renewed" in actions
    assert audit.verify(session).ok


def test_first_and_last_day_of_the_window_are_inside(session):
    opens, closes = renewal_window(operation_agreement(session).valid_until)
    clock.set(at(opens))
    first = start(session)
    complete(session, "authority", "authority_review", first, review("reject", "材料不全。"))
    clock.set(at(closes))
    last = start(session)
    assert last.status == "running"


@pytest.mark.parametrize("offset", ["before", "after"])
def test_outside_the_window_is_refused_with_the_dates(session, offset):
    opens, closes = renewal_window(operation_agreement(session).valid_until)
    assert (closes - opens).days in range(181, 185)  # six months
    clock.set(at(opens - timedelta(days=1) if offset == "before" else closes + timedelta(days=1)))
    before = session.execute(select(func.count(ProcessInstance.id))).scalar_one()
    with pytest.raises(ForbiddenError) as caught:
        processes.start(session, user(session, "operator"), "agreement_renewal", application(session))
    session.rollback()
    message = str(caught.value)
    assert opens.isoformat() in message and closes.isoformat() in message and NUMBER in message
    assert session.execute(select(func.count(ProcessInstance.id))).scalar_one() == before
    assert operation_agreement(session).valid_until == closes
    startable = {s.definition.process_key: s for s in processes.startable(session, user(session, "operator"))}
    assert not startable["agreement_renewal"].can_start
    assert opens.isoformat() in (startable["agreement_renewal"].reason or "")


def test_one_renewal_at_a_time(session):
    in_window(session)
    start(session)
    with pytest.raises(ForbiddenError):
        processes.start(session, user(session, "operator"), "agreement_renewal", application(session))


def test_only_the_operator_may_apply(session):
    in_window(session)
    for username in ("authority", "taskforce", "partner_a", "candidate"):
        with pytest.raises(ForbiddenError):
            processes.start(session, user(session, username), "agreement_renewal", application(session))


# ---------------------------------------------------------------------------- outcomes


@pytest.mark.parametrize("where", ["authority", "taskforce", "government"])
def test_rejection_leaves_the_agreement_to_run_out(session, where):
    old_until = operation_agreement(session).valid_until
    in_window(session)
    instance = start(session)
    if where == "authority":
        complete(session, "authority", "authority_review", instance, review("reject", "运营考核不合格。"))
    else:
        complete(session, "authority", "authority_review", instance, review())
        if where == "taskforce":
            complete(session, "taskforce", "taskforce_review", instance, review("reject", "综合评审不通过。"))
        else:
            complete(session, "taskforce", "taskforce_review", instance, review())
            complete(session, "government", "government_approval", instance, approval("reject"))
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "rejected")
    agreement = operation_agreement(session)
    assert (agreement.status, agreement.valid_until) == ("active", old_until)
    assert "agreement.renewed" not in [e.action for e in processes.history(session, instance)]


def test_returned_application_is_corrected_then_withdrawn(session):
    in_window(session)
    instance = start(session, reason="继续运营。")
    complete(session, "authority", "authority_review", instance, review("return", "请补充运营情况。"))
    assert open_elements(session, instance) == {"revise_application"}
    revise = open_task(session, "operator", "revise_application", instance)
    assert revise.context["application"]["reason"] == "继续运营。"
    complete(session, "operator", "revise_application", instance,
             {"action": "resubmit", "comment": "已补充。", **application(session, reason="已补充运营考核结果。")})
    review_task = open_task(session, "authority", "authority_review", instance)
    assert review_task.context["application"]["reason"] == "已补充运营考核结果。"
    assert "action" not in review_task.context["application"]
    complete(session, "authority", "authority_review", instance, review("return", "仍需补充。"))
    complete(session, "operator", "revise_application", instance, {"action": "withdraw", "comment": "不再续期。"})
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "withdrawn")


def test_government_may_set_a_shorter_term(session):
    old_until = operation_agreement(session).valid_until
    in_window(session)
    instance = start(session)
    complete(session, "authority", "authority_review", instance, review())
    complete(session, "taskforce", "taskforce_review", instance, review())
    shorter = years_later(old_until, 2)
    complete(session, "government", "government_approval", instance, approval(valid_until=shorter.isoformat()))
    session.refresh(instance)
    assert instance.outcome == "renewed"
    assert operation_agreement(session).valid_until == shorter


def test_a_term_over_three_years_is_refused_and_nothing_changes(session):
    old_until = operation_agreement(session).valid_until
    in_window(session)
    instance = start(session)
    complete(session, "authority", "authority_review", instance, review())
    complete(session, "taskforce", "taskforce_review", instance, review())
    task = open_task(session, "government", "government_approval", instance)
    too_long = years_later(old_until, 3) + timedelta(days=1)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "government"), task.id, approval(valid_until=too_long.isoformat()))
    session.rollback()
    assert [e.field for e in caught.value.errors] == ["valid_until"]
    assert session.get(HumanTask, task.id).status == "open"
    assert operation_agreement(session).valid_until == old_until
    assert session.get(ProcessInstance, instance.id).status == "running"


def test_invalid_application_names_each_field_and_stores_nothing(session):
    in_window(session)
    before = session.execute(select(func.count(ProcessInstance.id))).scalar_one()
    bad = application(session, requested_valid_until="31/12/2030", agreement_no="ns 1", extra=1)
    del bad["reason"]
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "operator"), "agreement_renewal", bad)
    session.rollback()
    assert {"reason", "requested_valid_until", "agreement_no", "extra"} <= {e.field for e in caught.value.errors}
    assert session.execute(select(func.count(ProcessInstance.id))).scalar_one() == before


def test_roles_cannot_do_each_others_steps(session):
    in_window(session)
    instance = start(session)
    task = open_task(session, "authority", "authority_review", instance)
    with pytest.raises(ForbiddenError):  # the operator owns the case, not the review
        tasks.complete(session, user(session, "operator"), task.id, review())
    session.rollback()
    complete(session, "authority", "authority_review", instance, review())
    task = open_task(session, "taskforce", "taskforce_review", instance)
    with pytest.raises(ForbiddenError):
        tasks.complete(session, user(session, "authority"), task.id, review())
    session.rollback()
    assert session.get(HumanTask, task.id).status == "open"
