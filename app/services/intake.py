"""Intake checks and enrichment at the start of a process, beyond its start form.

A data authorization request naming a `not_open` item is refused here, before any instance
exists (Art. 2); otherwise the request is enriched with what the diagram routes on: each
item's classification and source department, and the joint-meeting units (Art. 20).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import FieldError, ValidationError
from app.models import CatalogItem, Grant, Organisation, User
from app.services.clock import clock

# The standing members of the joint meeting (Art. 20); the source departments of the items
# requested join them.
JOINT_MEETING_STANDING = ("authority", "finance", "cyberspace", "public_security", "secrecy")
JOINT_MEETING_THIRD_PARTY = "third_party"


def prepare(session: Session, user: User, process_key: str, data: dict[str, Any]) -> dict[str, Any]:
    """Extra start data for ``process_key``; raises ValidationError naming what is refused."""
    extra: dict[str, Any] = {"initiator_roles": sorted(user.roles)}
    if process_key == "data_authorization":
        extra.update(_data_authorization(session, data))
    elif process_key == "agreement_termination":
        extra["operator_org"] = _operator_code(session)
    elif process_key == "rectification":
        _check_rectification(session, user, data)
    elif process_key == "security_incident":
        _check_items(session, data.get("affected_items") or [], "affected_items")
    elif process_key == "product_review":
        _check_granted(session, user, data.get("data_used") or [], "data_used")
    return extra


def _check_granted(session: Session, user: User, codes: list[Any], field: str) -> None:
    """Art. 21, 27(1): a product may use only data the partner holds a live grant for."""
    _check_items(session, codes, field)
    now = clock.now()
    granted = {
        item.code
        for grant in session.execute(
            select(Grant).where(Grant.org_id == user.org_id, Grant.revoked_at.is_(None), Grant.expires_at > now)
        ).scalars()
        for item in grant.items
    }
    missing = [str(c) for c in codes if str(c) not in granted]
    if missing:
        raise ValidationError(_("Some fields need attention."), [FieldError(
            field, _("Your organisation holds no grant for: %(items)s (Art. 21, 27)", items=", ".join(missing)))])


def system_extra(session: Session, process_key: str) -> dict[str, Any]:
    """Extra start data for a process the platform starts by itself."""
    if process_key == "agreement_termination":
        return {"operator_org": _operator_code(session)}
    return {}


def _check_items(session: Session, codes: list[Any], field: str) -> dict[str, CatalogItem]:
    wanted = [str(c) for c in codes]
    items = {i.code: i for i in session.execute(select(CatalogItem).where(CatalogItem.code.in_(wanted))).scalars()}
    unknown = [c for c in wanted if c not in items]
    if unknown:
        raise ValidationError(_("Some fields need attention."), [
            FieldError(field, _("Unknown catalogue item: %(items)s", items=", ".join(unknown)))])
    return items


def _operator_code(session: Session) -> str | None:
    return session.execute(
        select(Organisation.code).where(Organisation.kind == "operator", Organisation.status == "active").limit(1)
    ).scalar_one_or_none()


def _check_rectification(session: Session, user: User, data: dict[str, Any]) -> None:
    """Art. 27(3), 26: an order is addressed to an active partner or the operator (not by the
    operator to itself) and its deadline is not in the past."""
    target = session.execute(
        select(Organisation).where(Organisation.code == str(data.get("target_org") or ""))
    ).scalar_one_or_none()
    if target is None or target.status != "active" or target.kind not in ("partner", "operator"):
        raise ValidationError(_("Some fields need attention."), [FieldError(
            "target_org", _("Name an active partner or the operator."))])
    kind = data.get("target_kind")
    if kind is not None and kind != target.kind:
        raise ValidationError(_("Some fields need attention."), [FieldError(
            "target_kind", _("Does not match the organisation named."))])
    if target.id == user.org_id:
        raise ValidationError(_("Some fields need attention."), [FieldError(
            "target_kind", _("An organisation cannot order its own rectification."))])
    deadline = str(data.get("deadline") or "")
    if deadline and deadline < clock.now().date().isoformat():
        raise ValidationError(_("Some fields need attention."), [FieldError(
            "deadline", _("The deadline cannot be in the past."))])


def _data_authorization(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    codes = [str(c) for c in data.get("catalog_items") or []]
    items = _check_items(session, codes, "catalog_items")
    if data.get("requested_until") and str(data["requested_until"]) <= clock.now().date().isoformat():
        raise ValidationError(_("Some fields need attention."), [FieldError(
            "requested_until", _("The date must be in the future."))])
    refused = [items[c] for c in codes if items[c].classification == "not_open"]
    if refused:
        names = "、".join(f"{i.name}（{i.code}）" for i in refused)
        raise ValidationError(_("The request names data that is not open."), [FieldError(
            "catalog_items", _("Not open for authorized operation (Art. 2): %(items)s", items=names))])
    departments = sorted({items[c].source_org.code for c in codes})
    return {
        "catalog": [{"code": c, "name": items[c].name, "classification": items[c].classification,
                     "grade": items[c].grade, "source_department": items[c].source_org.code} for c in codes],
        "classifications": sorted({items[c].classification for c in codes}),
        "source_departments": departments,
        "joint_meeting_units": [*JOINT_MEETING_STANDING, *departments, JOINT_MEETING_THIRD_PARTY],
    }
