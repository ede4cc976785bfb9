"""Partner onboarding and exit (Art. 18)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.errors import EngineError
from app.models import Agreement, Organisation
from app.services import audit
from app.services.actions.agreements import create_agreement, end_agreement
from app.services.actions.grants import revoke_all
from app.services.actions.registry import ActionContext, action
from app.services.clock import clock


@action("activate_partner")
def activate_partner(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """After filing, the applicant company becomes an active partner with its service
    agreement on record. Only the organisation that owns the instance can be activated."""
    org = ctx.org(params, "org_id")
    if ctx.instance is None or org.id != ctx.instance.org_id:
        raise EngineError("activate_partner may only activate the applicant of this instance", "activate_partner")
    org.status = "active"
    org.kind = "partner"
    org.activated_at = clock.now()
    application = data.get("application") or {}
    if application.get("unified_social_credit_code"):
        org.credit_code = application["unified_social_credit_code"]
    record = data.get("record_service_agreement") or {}
    agreement = None
    if record.get("agreement_no"):
        operator = _operator(ctx)
        agreement = create_agreement(ctx, "service", org, operator or org, record)
    audit.record(ctx.session, "organisation.activated", actor=ctx.actor, instance_id=ctx.instance_id, org_id=org.id,
                 payload={"organisation": org.code, "agreement": agreement.number if agreement else None})
    return {"org_id": org.id, "status": org.status, "agreement": agreement.number if agreement else None}


@action("deactivate_partner")
def deactivate_partner(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Partner exit: the organisation becomes inactive, its service agreements end, every grant
    is revoked at once and its logs are kept. Params: ``org`` (code; default the instance's),
    ``reason``."""
    org = ctx.org(params)
    if org.kind != "partner":
        raise EngineError(f"{org.code} is not a partner", "deactivate_partner")
    reason = str(params.get("reason") or "partner exit")[:300]
    org.status = "inactive"
    agreements = ctx.session.execute(
        select(Agreement).where(Agreement.org_id == org.id, Agreement.kind == "service", Agreement.status == "active")
    ).scalars().all()
    for agreement in agreements:
        end_agreement(ctx, agreement, reason)
    revoked = revoke_all(ctx, org, reason)
    audit.record(ctx.session, "organisation.deactivated", actor=ctx.actor, instance_id=ctx.instance_id,
                 org_id=org.id, payload={"organisation": org.code, "reason": reason, "grants_revoked": revoked})
    return {"org": org.code, "status": org.status, "grants_revoked": revoked, "agreements_ended": len(agreements)}


def _operator(ctx: ActionContext) -> Organisation | None:
    return ctx.session.execute(
        select(Organisation).where(Organisation.kind == "operator", Organisation.status == "active").limit(1)
    ).scalar_one_or_none()
