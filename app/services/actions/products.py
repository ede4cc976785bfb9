"""Data products (Art. 21) and social-data imports (Art. 22)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.models import DataProduct
from app.services import audit
from app.services.actions.registry import ActionContext, action
from app.services.clock import clock


@action("register_product")
def register_product(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Art. 21: register and file a reviewed product or service; it may then be traded.
    Params: ``name``, ``kind`` (product | service), ``org`` (default the instance's)."""
    org = ctx.org(params)
    now = clock.now()
    seq = (ctx.session.execute(select(func.count(DataProduct.id))).scalar_one() or 0) + 1
    product = DataProduct(org_id=org.id, instance_id=ctx.instance_id, name=str(params.get("name") or "")[:200],
                          kind=str(params.get("kind") or "product"),
                          registration_no=f"NS-CP-{now:%Y}-{seq:05d}-{ctx.instance_id}", registered_at=now)
    ctx.session.add(product)
    ctx.session.flush()
    audit.record(ctx.session, "product.registered", actor=ctx.actor, instance_id=ctx.instance_id, org_id=org.id,
                 payload={"registration_no": product.registration_no, "name": product.name})
    return {"registration_no": product.registration_no}


@action("record_import")
def record_import(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Art. 22: record that reviewed social data was imported for fused computation.
    Params: ``dataset`` (name), ``org`` (default the instance's). Returns the import number."""
    org = ctx.org(params)
    number = f"NS-DR-{clock.now():%Y}-{ctx.instance_id or 0:06d}"
    audit.record(ctx.session, "social_data.imported", actor=ctx.actor, instance_id=ctx.instance_id, org_id=org.id,
                 payload={"import_no": number, "dataset": params.get("dataset")})
    return {"import_no": number}
