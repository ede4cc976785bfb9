"""The inbox and the task page (server-rendered)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from app.errors import EngineError, ValidationError
from app.extensions import db
from app.services import definitions, form_versions, processes, tasks
from app.web.auth import current
from app.web.formdata import describe, parse
from app.web.i18n import lang

bp = Blueprint("inbox", __name__)


def _int_arg(name: str, default: int) -> int:
    try:
        return max(1, int(request.args.get(name, default)))
    except ValueError:
        return default


@bp.app_context_processor
def _badge() -> dict[str, Any]:
    from flask_login import current_user

    if current_user.is_authenticated:
        return {"open_task_count": tasks.open_count(db.session, current())}
    return {"open_task_count": 0}


@bp.get("/")
@login_required
def home() -> Any:
    return redirect(url_for("inbox.index"))


@bp.get("/inbox")
@login_required
def index() -> Any:
    status = request.args.get("status", "open")
    if status not in tasks.INBOX_STATUSES:
        status = "open"
    process_key = request.args.get("process") or None
    page = tasks.inbox(db.session, current(), status=status, process_key=process_key,
                       page=_int_arg("page", 1), per_page=min(_int_arg("per_page", 20), 100))
    return render_template("inbox.html", page=page, status=status, process_key=process_key,
                           process_names=_process_names())


def _process_names() -> dict[str, str]:
    return {d.process_key: d.name for d in definitions.latest_all(db.session)}


@bp.get("/tasks/<task_id>")
@login_required
def task(task_id: str) -> Any:
    return _render_task(task_id)


def _render_task(task_id: str, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                 status: int = 200) -> Any:
    user = current()
    row = tasks.get_task(db.session, user, task_id)
    form = form_versions.of_task(db.session, row)  # the version the task was created with
    schema = form.schema if form else None
    if values is None and schema and schema.get("x-prefill"):
        values = dict(row.context.get(schema["x-prefill"]) or {})
    fields = describe(schema, lang(), values) if schema else []
    history = processes.history(db.session, row.instance)
    return render_template("task.html", task=row, instance=row.instance, schema=schema, fields=fields,
                           errors=errors or {}, history=history, user=user), status


@bp.post("/tasks/<task_id>")
@login_required
def complete(task_id: str) -> Any:
    user = current()
    row = tasks.get_task(db.session, user, task_id)
    form = form_versions.of_task(db.session, row)
    schema = form.schema if form else {"properties": {}}
    data = parse(schema, request.form)
    try:
        tasks.complete(db.session, user, task_id, data)
    except ValidationError as exc:
        db.session.rollback()
        errors = {e.field: e.message for e in exc.errors}
        flash(exc.message, "error")
        return _render_task(task_id, values=data, errors=errors, status=422)
    except EngineError as exc:
        db.session.rollback()
        flash(_("The step could not be completed; nothing was saved. %(reason)s", reason=exc.message), "error")
        return _render_task(task_id, values=data, status=422)
    db.session.commit()
    flash(_("Done: %(title)s", title=row.title), "success")
    return redirect(url_for("inbox.index"))


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str) -> Any:
    tasks.claim(db.session, current(), task_id)
    db.session.commit()
    flash(_("The task is now yours."), "success")
    return redirect(request.form.get("next") == "inbox" and url_for("inbox.index") or url_for("inbox.task", task_id=task_id))


@bp.post("/tasks/<task_id>/unclaim")
@login_required
def unclaim(task_id: str) -> Any:
    tasks.unclaim(db.session, current(), task_id)
    db.session.commit()
    flash(_("The task is back in the shared inbox."), "info")
    return redirect(url_for("inbox.index"))


@bp.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}
