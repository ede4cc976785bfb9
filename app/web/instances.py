"""Processes to start, and instances with their history."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from app.errors import ForbiddenError, ValidationError
from app.extensions import db
from app.models.workflow import INSTANCE_STATUSES
from app.services import comments, coverage, definitions, documents, form_versions, processes
from app.web.auth import current
from app.web.formdata import describe, parse
from app.web.i18n import lang

bp = Blueprint("instances", __name__)
PER_PAGE = 20
MAX_PAGE = 10_000


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
            if not errors:  # field problems are shown once, in the form
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
    """The instances the user may see, searched by business key, organisation, process, status."""
    user = current()
    args = request.args
    status = args.get("status") if args.get("status") in INSTANCE_STATUSES else None
    raw_org = args.get("org", "")
    q, process_key = args.get("q", "").strip()[:64], args.get("process") or None
    org_id = int(raw_org) if raw_org.isdecimal() and raw_org.isascii() and len(raw_org) < 10 else None
    search: dict[str, Any] = {"q": q, "org": org_id, "process": process_key, "status": status}
    page = _page_arg()
    rows, total = processes.list_instances(db.session, user, process_key=process_key, status=status, q=q or None,
                                           org_id=org_id, page=page, per_page=PER_PAGE)
    return render_template("instances.html", rows=rows, total=total, page=page, pages=max(1, -(-total // PER_PAGE)),
                           status=status, search=search, process_names=_process_names(),
                           organisations=processes.instance_organisations(db.session, user),
                           statuses=INSTANCE_STATUSES)


def _page_arg() -> int:
    raw = request.args.get("page", "")
    return min(int(raw), MAX_PAGE) if raw.isdecimal() and raw.isascii() and 0 < len(raw) < 6 and int(raw) >= 1 else 1


def _process_names() -> dict[str, str]:
    return {d.process_key: d.name for d in definitions.latest_all(db.session)}


@bp.get("/instances/<int:instance_id>")
@login_required
def detail(instance_id: int) -> Any:
    return _render_detail(instance_id)


def _render_detail(instance_id: int, comment: str = "", comment_errors: dict[str, str] | None = None,
                   status: int = 200) -> Any:
    user = current()
    instance = processes.get_instance(db.session, user, instance_id)
    open_tasks = processes.open_tasks(db.session, instance)
    history = processes.history(db.session, instance)
    return render_template("instance.html", instance=instance, open_tasks=open_tasks, history=history,
                           progress=processes.progress(instance, history, open_tasks),
                           comments=comments.for_instance(db.session, user, instance.id), comment=comment,
                           case_documents=documents.instance_documents(db.session, user, instance.id),
                           comment_errors=comment_errors or {}), status


@bp.post("/instances/<int:instance_id>/comments")
@login_required
def comment(instance_id: int) -> Any:
    """Comment on the case."""
    text = request.form.get("body", "")
    try:
        comments.add(db.session, current(), instance_id, text)
    except ValidationError as exc:
        db.session.rollback()
        return _render_detail(instance_id, text, {e.field: e.message for e in exc.errors}, 422)
    db.session.commit()
    flash(_("Comment added."), "success")
    return redirect(url_for("instances.detail", instance_id=instance_id, _anchor="comments"))


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
