"""Processes to start, and instances with their history."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from app.errors import ForbiddenError, ValidationError
from app.extensions import db
from app.services import coverage, definitions, form_versions, processes
from app.web.auth import current
from app.web.formdata import describe, parse
from app.web.i18n import lang

bp = Blueprint("instances", __name__)


@bp.get("/processes")
@login_required
def process_list() -> Any:
    return render_template("processes.html", items=processes.startable(db.session, current()))


@bp.route("/processes/<key>/start", methods=["GET", "POST"])
@login_required
def start(key: str) -> Any:
    user = current()
    definition = definitions.latest(db.session, key)
    refusal = processes.refusal_to_start(db.session, user, definition)
    if refusal is not None:
        raise ForbiddenError(refusal)
    form_key = definition.meta.get("start_form_key")
    schema = form_versions.current(db.session, form_key).schema if form_key else {"properties": {}}
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = parse(schema, request.form)
        try:
            instance = processes.start(db.session, user, key, values)
        except ValidationError as exc:
            db.session.rollback()
            errors = {e.field: e.message for e in exc.errors}
            flash(exc.message, "error")
            status = 422
        else:
            db.session.commit()
            flash(_("Submitted: %(key)s", key=instance.business_key), "success")
            return redirect(url_for("instances.detail", instance_id=instance.id))
    return render_template("start.html", definition=definition, schema=schema,
                           fields=describe(schema, lang(), values), errors=errors), status


@bp.get("/instances")
@login_required
def index() -> Any:
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    status = request.args.get("status") or None
    rows, total = processes.list_instances(db.session, current(), process_key=request.args.get("process") or None,
                                           status=status, page=page)
    return render_template("instances.html", rows=rows, total=total, page=page, status=status)


@bp.get("/instances/<int:instance_id>")
@login_required
def detail(instance_id: int) -> Any:
    instance = processes.get_instance(db.session, current(), instance_id)
    open_tasks = processes.open_tasks(db.session, instance)
    history = processes.history(db.session, instance)
    return render_template("instance.html", instance=instance, open_tasks=open_tasks, history=history,
                           progress=processes.progress(instance, history, open_tasks))


@bp.get("/instances/<int:instance_id>/diagram.bpmn")
@login_required
def diagram(instance_id: int) -> Any:
    """The BPMN of the version this instance runs on (for the viewer)."""
    instance = processes.get_instance(db.session, current(), instance_id)
    xml = processes.diagram_source(instance)
    return Response(xml, mimetype="application/xml", headers={"Cache-Control": "private, max-age=300"})


@bp.get("/articles")
@login_required
def articles() -> Any:
    rows = coverage.coverage(db.session)
    missing = [r for r in rows if r.prescribes_steps and not r.implemented]
    return render_template("articles.html", rows=rows, missing=missing)
