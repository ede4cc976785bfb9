"""The registry of host functions that workflows may call from service tasks.

A BPMN service task names one of these (``spiffworkflow:serviceTaskOperator id=...``).
Each runs inside the transaction of the step that reached it: if it raises, nothing of the
step is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from app.errors import EngineError
from app.models import Agreement, Organisation, ProcessInstance, User
from app.services import audit
from app.services.clock import clock

Action = Callable[[dict[str, Any], dict[str, Any]], Any]

ACTION_NAMES = ("activate_partner",)


def bind(session: Session, instance: ProcessInstance, actor: User | None) -> dict[str, Action]:
    """The actions, bound to one instance, its session and the acting user."""

    def activate_partner(params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        return _activate_partner(session, instance, actor, params, data)

    return {"activate_partner": activate_partner}


def _activate_partner(
    session: Session, instance: ProcessInstance, actor: User | None, params: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """Art. 18: after filing, the applicant company becomes an active partner with its
    service agreement on record. Only the organisation that owns the instance can be activated."""
    org_id = params.get("org_id", instance.org_id)
    if org_id != instance.org_id or instance.org_id is None:
        raise EngineError("activate_partner may only activate the applicant of this instance", "activate_partner")
    org = session.get(Organisation, instance.org_id)
    assert org is not None
    org.status = "active"
    org.kind = "partner"
    org.activated_at = clock.now()
    application = data.get("application") or {}
    if application.get("unified_social_credit_code"):
        org.credit_code = application["unified_social_credit_code"]
    agreement = _record_service_agreement(session, instance, org, data.get("record_service_agreement") or {})
    audit.record(
        session,
        "organisation.activated",
        actor=actor,
        instance_id=instance.id,
        org_id=org.id,
        payload={"organisation": org.code, "agreement": agreement.number if agreement else None},
    )
    return {"org_id": org.id, "status": org.status, "agreement": agreement.number if agreement else None}


def _record_service_agreement(
    session: Session, instance: ProcessInstance, org: Organisation, record: dict[str, Any]
) -> Agreement | None:
    if not record.get("agreement_no"):
        return None
    operator = session.query(Organisation).filter_by(kind="operator", status="active").first()
    agreement = Agreement(
        kind="service",
        number=record["agreement_no"],
        org_id=org.id,
        counterparty_org_id=operator.id if operator else org.id,
        signed_on=_date(record.get("signed_on")) or clock.now().date(),
        valid_from=_date(record.get("valid_from")) or _date(record.get("signed_on")) or clock.now().date(),
        valid_until=_date(record.get("valid_until")) or clock.now().date(),
        scope=record.get("service_scope", ""),
        fee_terms=record.get("fee_terms", "") or "",
        instance_id=instance.id,
    )
    session.add(agreement)
    session.flush()
    return agreement


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None
