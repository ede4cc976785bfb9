"""The public data catalogue (Art. 2, 9): kept by the authority and the source departments."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import gettext as _
from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import FieldError, ForbiddenError, NotFoundError, ValidationError
from app.models import CatalogItem, Organisation, User
from app.models.catalog import CLASSIFICATIONS
from app.services import audit
from app.services.clock import clock

ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "pattern": "^[A-Z]{2,4}-[0-9]{3}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "name_en": {"type": "string", "maxLength": 200},
        "description": {"type": "string", "maxLength": 4000},
        "classification": {"enum": list(CLASSIFICATIONS)},
        "grade": {"type": "string", "maxLength": 16},
        "source_department": {"type": "string", "maxLength": 64},
    },
}
EDITABLE = ("name", "name_en", "description", "classification", "grade")


def list_items(session: Session, *, classification: str | None = None) -> list[CatalogItem]:
    """Every catalogue item, by code; optionally one classification only."""
    query = select(CatalogItem).order_by(CatalogItem.code)
    if classification:
        query = query.where(CatalogItem.classification == classification)
    return list(session.execute(query).scalars())


def items_by_code(session: Session, codes: Iterable[str]) -> dict[str, CatalogItem]:
    """The catalogue items with these codes (codes no item has are left out)."""
    wanted = {str(code) for code in codes}
    if not wanted:
        return {}
    return {i.code: i for i in session.execute(select(CatalogItem).where(CatalogItem.code.in_(wanted))).scalars()}


def can_edit(user: User, source_org_id: int) -> bool:
    """The authority edits every item; a source department edits its own (Art. 9)."""
    return "authority" in user.roles or ("source_dept" in user.roles and source_org_id in user.acting_org_ids)


def get_item(session: Session, item_id: int) -> CatalogItem:
    item = session.get(CatalogItem, item_id)
    if item is None:
        raise NotFoundError(f"no catalogue item {item_id}")
    return item


def _validate(data: Any, required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError(_("The data must be a JSON object."), [FieldError("", _("must be an object"))])
    errors = [FieldError(".".join(map(str, e.absolute_path)) or (e.message.split("'")[1] if "'" in e.message else ""),
                         e.message) for e in Draft202012Validator(ITEM_SCHEMA).iter_errors(data)]
    errors += [FieldError(name, _("This field is required.")) for name in required if not data.get(name)]
    if errors:
        raise ValidationError(_("Some fields need attention."), errors)
    return data


def create_item(session: Session, user: User, data: Any) -> CatalogItem:
    """Add an item. Raises ValidationError (fields, taken code), ForbiddenError."""
    data = _validate(data, ("code", "name", "classification", "source_department"))
    dept = session.execute(
        select(Organisation).where(Organisation.code == data["source_department"], Organisation.kind == "department")
    ).scalar_one_or_none()
    if dept is None:
        raise ValidationError(_("Some fields need attention."),
                              [FieldError("source_department", _("Unknown source department."))])
    if not can_edit(user, dept.id):
        raise ForbiddenError(_("Only the authority or the item's source department may change the catalogue."))
    if session.execute(select(CatalogItem.id).where(CatalogItem.code == data["code"])).first():
        raise ValidationError(_("Some fields need attention."), [FieldError("code", _("This code is already in use."))])
    item = CatalogItem(code=data["code"], source_org_id=dept.id, updated_at=clock.now(), updated_by_id=user.id,
                       **{k: data.get(k, "") for k in EDITABLE})
    session.add(item)
    session.flush()
    audit.record(session, "catalog.created", actor=user, payload={"code": item.code, **{k: data.get(k) for k in EDITABLE}})
    return item


def update_item(session: Session, user: User, item_id: int, data: Any) -> CatalogItem:
    """Change an item's editable fields. Raises NotFoundError, ForbiddenError, ValidationError."""
    item = get_item(session, item_id)
    if not can_edit(user, item.source_org_id):
        raise ForbiddenError(_("Only the authority or the item's source department may change the catalogue."))
    data = _validate(data, ())
    unknown = sorted(set(data) - set(EDITABLE))
    if unknown:
        raise ValidationError(_("Some fields need attention."),
                              [FieldError(k, _("This field cannot be changed.")) for k in unknown])
    before = {k: getattr(item, k) for k in data}
    for key, value in data.items():
        setattr(item, key, value)
    item.updated_at, item.updated_by_id = clock.now(), user.id
    session.flush()
    audit.record(session, "catalog.updated", actor=user, payload={"code": item.code, "before": before, "after": data})
    return item
