"""Catalogue pages (zh/en, editable by the authority and source departments) and grants."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from app.errors import ValidationError
from app.extensions import db
from app.models.catalog import CLASSIFICATIONS
from app.services import catalog, grants
from app.services.clock import clock
from app.web.auth import current

bp = Blueprint("catalog", __name__)
FIELDS = ("code", "name", "name_en", "description", "classification", "grade", "source_department")


@bp.get("/catalog")
@login_required
def index() -> Any:
    user = current()
    items = catalog.list_items(db.session, classification=request.args.get("classification") or None)
    return render_template("catalog.html", items=items, classifications=CLASSIFICATIONS,
                           can_edit=lambda item: catalog.can_edit(user, item.source_org_id),
                           can_create=bool(user.roles & {"authority", "source_dept"}),
                           selected=request.args.get("classification"))


def _departments() -> list[Any]:
    from sqlalchemy import select

    from app.models import Organisation

    user = current()
    query = select(Organisation).where(Organisation.kind == "department").order_by(Organisation.code)
    return [o for o in db.session.execute(query).scalars() if catalog.can_edit(user, o.id)]


@bp.route("/catalog/new", methods=["GET", "POST"])
@login_required
def create() -> Any:
    departments = _departments()
    if not departments:  # only the authority and source departments keep the catalogue (Art. 9)
        from app.errors import ForbiddenError

        raise ForbiddenError(_("Only the authority or the item's source department may change the catalogue."))
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in FIELDS}
        try:
            item = catalog.create_item(db.session, current(), values)
        except ValidationError as exc:
            db.session.rollback()
            errors = {e.field: e.message for e in exc.errors}
        else:
            db.session.commit()
            flash(_("Saved: %(code)s", code=item.code), "success")
            return redirect(url_for("catalog.index"))
    return render_template("catalog_edit.html", item=None, values=values, errors=errors,
                           classifications=CLASSIFICATIONS, departments=departments), (422 if errors else 200)


@bp.route("/catalog/<int:item_id>/edit", methods=["GET", "POST"])
@login_required
def edit(item_id: int) -> Any:
    item = catalog.get_item(db.session, item_id)
    values = {k: getattr(item, k) for k in catalog.EDITABLE}
    errors: dict[str, str] = {}
    if not catalog.can_edit(current(), item.source_org_id):
        from app.errors import ForbiddenError

        raise ForbiddenError(_("Only the authority or the item's source department may change the catalogue."))
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in catalog.EDITABLE}
        try:
            catalog.update_item(db.session, current(), item_id, values)
        except ValidationError as exc:
            db.session.rollback()
            errors = {e.field: e.message for e in exc.errors}
        else:
            db.session.commit()
            flash(_("Saved: %(code)s", code=item.code), "success")
            return redirect(url_for("catalog.index"))
    return render_template("catalog_edit.html", item=item, values=values, errors=errors,
                           classifications=CLASSIFICATIONS, departments=[]), (422 if errors else 200)


@bp.get("/grants")
@login_required
def grant_list() -> Any:
    return render_template("grants.html", grants=grants.visible(db.session, current()), now=clock.now())
