"""Agreements: the operation agreement (Art. 14-16) and service agreements (Art. 18, 20, 23)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from app.errors import EngineError, FieldError, ValidationError
from app.models import Agreement, LogRetention, Organisation, RoleMembership, User
from app.services import audit
from app.services.actions.registry import ActionContext, action, as_date
from app.services.clock import clock

MAX_TERM_YEARS = 3  # Art. 15
LOG_RETENTION_DAYS = 183  # at least 6 months, Art. 16


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def create_agreement(
    ctx: ActionContext, kind: str, org: Organisation, counterparty: Organisation, record: dict[str, Any]
) -> Agreement:
    """Store an agreement from a recorded form (agreement_no, signed_on, valid_from, valid_until,
    service_scope, fee_terms). Raises ValidationError for a taken number or a term over 3 years."""
    number = str(record.get("agreement_no") or "")
    if not number:
        raise ValidationError("agreement number missing", [FieldError("agreement_no", "required")])
    if ctx.session.execute(select(Agreement.id).where(Agreement.number == number)).first():
        raise ValidationError("agreement number taken", [FieldError("agreement_no", f"{number} is already in use")])
    signed = as_date(record.get("signed_on") or clock.now().date(), "signed_on")
    valid_from = as_date(record.get("valid_from") or signed, "valid_from")
    valid_until = as_date(record["valid_until"], "valid_until") if record.get("valid_until") \
        else add_years(valid_from, MAX_TERM_YEARS) - timedelta(days=1)
    if valid_until <= valid_from:
        raise ValidationError("bad term", [FieldError("valid_until", "must be after the start date")])
    if kind == "operation" and valid_until > add_years(valid_from, MAX_TERM_YEARS):
        raise ValidationError("term too long (Art. 15)",
                              [FieldError("valid_until", "an operation agreement runs at most 3 years (Art. 15)")])
    agreement = Agreement(
        kind=kind, number=number, org_id=org.id, counterparty_org_id=counterparty.id, signed_on=signed,
        valid_from=valid_from, valid_until=valid_until, scope=str(record.get("service_scope") or record.get("scope") or ""),
        fee_terms=str(record.get("fee_terms") or ""), status="active", instance_id=ctx.instance_id,
    )
    ctx.session.add(agreement)
    ctx.session.flush()
    audit.record(ctx.session, "agreement.signed", actor=ctx.actor, instance_id=ctx.instance_id, org_id=org.id,
                 payload={"number": number, "kind": kind, "valid_until": valid_until.isoformat()})
    return agreement


def end_agreement(ctx: ActionContext, agreement: Agreement, reason: str) -> None:
    """Terminate an agreement and keep the organisation's network logs ≥ 6 months (Art. 16)."""
    agreement.status = "terminated"
    now = clock.now()
    ctx.session.add(LogRetention(org_id=agreement.org_id, agreement_id=agreement.id, instance_id=ctx.instance_id,
                                 reason=reason[:300], started_at=now, retain_until=now + timedelta(days=LOG_RETENTION_DAYS)))
    audit.record(ctx.session, "agreement.terminated", actor=ctx.actor, instance_id=ctx.instance_id,
                 org_id=agreement.org_id, payload={"number": agreement.number, "reason": reason})


def active_agreement(ctx: ActionContext, org: Organisation, kind: str, number: str | None = None) -> Agreement:
    """The organisation's active agreement of ``kind`` (or the one numbered). Raises EngineError."""
    query = select(Agreement).where(Agreement.org_id == org.id, Agreement.kind == kind, Agreement.status == "active")
    if number:
        query = query.where(Agreement.number == number)
    agreement = ctx.session.execute(query.order_by(Agreement.valid_until.desc()).limit(1)).scalar_one_or_none()
    if agreement is None:
        raise EngineError(f"{org.code} has no active {kind} agreement")
    return agreement


@action("record_agreement")
def record_agreement(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Store a signed agreement. Params: ``kind`` (service | operation), ``record`` (the form:
    agreement_no, signed_on, valid_from, valid_until, service_scope, fee_terms), ``org``
    (default the instance's). Service agreements are with the active operator, operation
    agreements with the authority."""
    kind = params.get("kind", "service")
    if kind not in ("service", "operation"):
        raise EngineError(f"unknown agreement kind {kind!r}", "record_agreement")
    org = ctx.org(params)
    counterparty_kind = "authority" if kind == "operation" else "operator"
    counterparty = ctx.session.execute(
        select(Organisation).where(Organisation.kind == counterparty_kind, Organisation.status == "active").limit(1)
    ).scalar_one_or_none()
    agreement = create_agreement(ctx, kind, org, counterparty or org, dict(params.get("record") or {}))
    return {"agreement_id": agreement.id, "number": agreement.number, "valid_until": agreement.valid_until.isoformat()}


@action("activate_operator")
def activate_operator(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Art. 14: the approved applicant becomes the authorized operator and its users take the
    operator role. There is one operator (Art. 3(4)): a previous one becomes inactive, its
    users lose the role and its operation agreement ends (logs kept, Art. 16)."""
    org = ctx.org(params)
    for previous in ctx.session.execute(
        select(Organisation).where(Organisation.kind == "operator", Organisation.id != org.id,
                                   Organisation.status == "active")
    ).scalars().all():
        previous.status = "inactive"
        for membership in ctx.session.execute(
            select(RoleMembership).join(User, User.id == RoleMembership.user_id)
            .where(User.org_id == previous.id, RoleMembership.role == "operator")
        ).scalars().all():
            ctx.session.delete(membership)
        for agreement in ctx.session.execute(
            select(Agreement).where(Agreement.org_id == previous.id, Agreement.kind == "operation",
                                    Agreement.status == "active")
        ).scalars().all():
            end_agreement(ctx, agreement, f"superseded: {org.code} became the operator")
    org.kind, org.status, org.activated_at = "operator", "active", clock.now()
    for user in ctx.session.execute(select(User).where(User.org_id == org.id)).scalars():
        if "operator" not in user.roles:
            user.role_rows.append(RoleMembership(role="operator"))
    ctx.session.flush()
    audit.record(ctx.session, "organisation.operator_activated", actor=ctx.actor, instance_id=ctx.instance_id,
                 org_id=org.id, payload={"organisation": org.code})
    return {"org": org.code, "status": "active"}


@action("renew_agreement")
def renew_agreement(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Art. 15: extend the active operation agreement (or ``agreement_no``) to ``valid_until``,
    at most 3 years after its current expiry. Params: ``org``, ``agreement_no``, ``valid_until``."""
    org = ctx.org(params)
    agreement = active_agreement(ctx, org, str(params.get("kind", "operation")), params.get("agreement_no"))
    old_until = agreement.valid_until
    new_until = as_date(params.get("valid_until") or add_years(old_until, MAX_TERM_YEARS), "valid_until")
    if new_until <= old_until or new_until > add_years(old_until, MAX_TERM_YEARS):
        raise ValidationError("bad renewal term", [FieldError(
            "valid_until", f"must be after {old_until.isoformat()} and at most 3 years later (Art. 15)")])
    agreement.valid_until = new_until
    audit.record(ctx.session, "agreement.renewed", actor=ctx.actor, instance_id=ctx.instance_id, org_id=org.id,
                 payload={"number": agreement.number, "from": old_until.isoformat(), "to": new_until.isoformat()})
    return {"number": agreement.number, "valid_until": new_until.isoformat(), "previous_valid_until": old_until.isoformat()}


@action("terminate_agreement")
def terminate_agreement(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Art. 16: end the organisation's active agreement of ``kind`` (default operation) and close
    the data permissions at once: for the operation agreement every grant on the platform,
    for a service agreement the partner's grants. Logs are kept ≥ 6 months.
    Params: ``org``, ``kind``, ``agreement_no``, ``reason``."""
    from app.services.actions.grants import revoke_all

    org = ctx.org(params)
    kind = str(params.get("kind", "operation"))
    reason = str(params.get("reason") or "terminated")[:300]
    agreement = active_agreement(ctx, org, kind, params.get("agreement_no"))
    end_agreement(ctx, agreement, reason)
    revoked = revoke_all(ctx, None if kind == "operation" else org, reason)
    if kind == "operation":
        org.status = "inactive"
    return {"number": agreement.number, "status": "terminated", "grants_revoked": revoked}
