"""Grants of catalogue data (Art. 19-20, 26-27): issue, revoke, suspend, resume."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from app.errors import EngineError
from app.models import Agreement, CatalogItem, Grant, Organisation
from app.services import audit
from app.services.actions.registry import ActionContext, action, as_date
from app.services.clock import clock

DEFAULT_GRANT_DAYS = 365


def _items(ctx: ActionContext, codes: Any, *, grantable: bool = True) -> list[CatalogItem]:
    if not isinstance(codes, list | tuple) or not codes:
        raise EngineError("parameter 'items' must be a non-empty list of catalogue codes")
    items = ctx.session.execute(select(CatalogItem).where(CatalogItem.code.in_([str(c) for c in codes]))).scalars().all()
    missing = sorted(set(map(str, codes)) - {i.code for i in items})
    if missing:
        raise EngineError(f"unknown catalogue items: {', '.join(missing)}")
    if grantable and any(i.classification == "not_open" for i in items):
        raise EngineError("not_open items are never granted (Art. 2)")
    return list(items)


@action("issue_grant")
def issue_grant(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Issue the data resources (Art. 20): a grant of ``items`` (codes) to the organisation for
    ``purpose`` under ``fee_regime``, with ``scope``; it expires on ``expires_on`` (default one
    year) and never after its service agreement (``agreement_no``, default the partner's
    latest), the minimum necessary of Art. 27(1)."""
    org = ctx.org(params)
    items = _items(ctx, params.get("items"))
    now = clock.now()
    expires = datetime.combine(as_date(params["expires_on"], "expires_on"), time(23, 59, 59), UTC) \
        if params.get("expires_on") else now + timedelta(days=DEFAULT_GRANT_DAYS)
    query = select(Agreement).where(Agreement.org_id == org.id, Agreement.kind == "service",
                                    Agreement.status == "active")
    if params.get("agreement_no"):  # the request's own service agreement
        query = query.where(Agreement.number == str(params["agreement_no"]))
    agreement = ctx.session.execute(query.order_by(Agreement.valid_until.desc()).limit(1)).scalar_one_or_none()
    if agreement is not None:
        expires = min(expires, datetime.combine(agreement.valid_until, time(23, 59, 59), UTC))
    # The series number: one past the newest grant's id (read from the primary key's index,
    # not by counting every grant); the instance id at the end keeps numbers unique.
    seq = (ctx.session.execute(select(func.max(Grant.id))).scalar_one() or 0) + 1
    grant = Grant(
        number=f"NS-SQ-{now:%Y}-{seq:05d}-{ctx.instance_id}", org_id=org.id, instance_id=ctx.instance_id,
        agreement_id=agreement.id if agreement else None, purpose=str(params.get("purpose") or "public_governance"),
        fee_regime=str(params.get("fee_regime") or "free"), scope=str(params.get("scope") or "")[:4000],
        issued_at=now, expires_at=expires,
    )
    grant.items = items
    ctx.session.add(grant)
    ctx.session.flush()
    audit.record(ctx.session, "grant.issued", actor=ctx.actor, instance_id=ctx.instance_id, org_id=org.id,
                 payload={"grant": grant.number, "items": [i.code for i in items], "expires_at": expires.isoformat()})
    return {"grant_no": grant.number, "expires_at": expires.isoformat()}


def revoke_all(ctx: ActionContext, org: Organisation | None, reason: str) -> int:
    """Revoke every live grant of ``org`` (every grant on the platform when None)."""
    query = select(Grant).where(Grant.revoked_at.is_(None))
    if org is not None:
        query = query.where(Grant.org_id == org.id)
    now = clock.now()
    count = 0
    for grant in ctx.session.execute(query).scalars():
        grant.revoked_at, grant.revoke_reason = now, reason[:300]
        count += 1
        audit.record(ctx.session, "grant.revoked", actor=ctx.actor, instance_id=ctx.instance_id, org_id=grant.org_id,
                     payload={"grant": grant.number, "reason": reason})
    return count


@action("revoke_grants")
def revoke_grants(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Revoke every live grant of ``org`` (default the instance's) for ``reason``."""
    return {"revoked": revoke_all(ctx, ctx.org(params), str(params.get("reason") or "revoked"))}


def _grants_with(ctx: ActionContext, codes: Any) -> list[Grant]:
    items = {i.id for i in _items(ctx, codes, grantable=False)}
    grants = ctx.session.execute(select(Grant).where(Grant.revoked_at.is_(None))).scalars().all()
    return [g for g in grants if items & {i.id for i in g.items}]


@action("suspend_grants")
def suspend_grants(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Art. 26(3): stop operations on the affected data at once: suspend every live grant that
    includes one of ``items`` (codes)."""
    now = clock.now()
    affected = [g for g in _grants_with(ctx, params.get("items")) if g.suspended_at is None]
    for grant in affected:
        grant.suspended_at = now
        audit.record(ctx.session, "grant.suspended", actor=ctx.actor, instance_id=ctx.instance_id,
                     org_id=grant.org_id, payload={"grant": grant.number, "reason": params.get("reason")})
    return {"suspended": [g.number for g in affected]}


@action("resume_grants")
def resume_grants(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Lift the suspension of the grants that include one of ``items`` (codes); with ``grants``
    (grant numbers, e.g. what suspend_grants returned) only those, so that another open
    incident's suspensions stay."""
    candidates = _grants_with(ctx, params.get("items"))
    if params.get("grants") is not None:
        wanted = {str(n) for n in params["grants"]}
        candidates = [g for g in candidates if g.number in wanted]
    resumed = [g for g in candidates if g.suspended_at is not None]
    for grant in resumed:
        grant.suspended_at = None
        audit.record(ctx.session, "grant.resumed", actor=ctx.actor, instance_id=ctx.instance_id,
                     org_id=grant.org_id, payload={"grant": grant.number})
    return {"resumed": [g.number for g in resumed]}
