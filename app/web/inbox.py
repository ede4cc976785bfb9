"""The inbox and the task page (server-rendered)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from app.errors import EngineError, GrantFlowError, ValidationError
from app.extensions import db
from app.models import User
from app.services import (
    comments,
    definitions,
    documents,
    form_versions,
    processes,
    saved_filters,
    tasks,
)
from app.web.auth import current
from app.web.formdata import describe, parse
from app.web.i18n import lang
from app.web.openapi import MAX_PAGE

bp = Blueprint("inbox", __name__)
log = logging.getLogger(__name__)


def _int_arg(name: str, default: int) -> int:
    """A page number or size from the query: anything unreadable is the default, and pages
    deeper than MAX_PAGE are the last one allowed (the database is never asked a huge offset)."""
    raw = str(request.args.get(name, ""))
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        return default
    return min(max(1, int(raw)), MAX_PAGE)


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
    user = current()
    page = tasks.inbox(db.session, user, status=status, process_key=process_key,
                       page=_int_arg("page", 1), per_page=min(_int_arg("per_page", 20), 100))
    query = saved_filters.normalise_query({"status": status, "process": process_key or ""})
    return render_template("inbox.html", page=page, status=status, process_key=process_key,
                           process_names=_process_names(), saved=saved_filters.list_for(db.session, user),
                           query=query, bulk_ids=tasks.bulk_approvable(db.session, [t.id for t in page.items]))


def _process_names() -> dict[str, str]:
    return {d.process_key: d.name for d in definitions.latest_all(db.session)}


@bp.get("/tasks/<task_id>")
@login_required
def task(task_id: str) -> Any:
    return _render_task(task_id)


def _render_task(task_id: str, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                 status: int = 200, comment: str = "", comment_errors: dict[str, str] | None = None) -> Any:
    user = current()
    row = tasks.get_task(db.session, user, task_id)
    form = form_versions.of_task(db.session, row)  # the version the task was created with
    schema = form.schema if form else None
    if values is None and schema and schema.get("x-prefill"):
        values = dict(row.context.get(schema["x-prefill"]) or {})
    fields = describe(schema, lang(), values) if schema else []
    history = processes.history(db.session, row.instance)
    return render_template("task.html", task=row, instance=row.instance, schema=schema, fields=fields,
                           errors=errors or {}, history=history, user=user,
                           colleagues=tasks.colleagues(db.session, user, row) if row.status == "open" else [],
                           comments=comments.for_instance(db.session, user, row.instance_id),
                           case_documents=documents.instance_documents(db.session, user, row.instance_id),
                           comment=comment, comment_errors=comment_errors or {}), status


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


@bp.post("/tasks/<task_id>/assign")
@login_required
def assign(task_id: str) -> Any:
    """Hand the task to a colleague of the same role (and organisation)."""
    try:
        row = tasks.reassign(db.session, current(), task_id, request.form.get("username", ""))
    except ValidationError as exc:
        db.session.rollback()
        flash(" ".join([exc.message, *(e.message for e in exc.errors)]), "error")
        return _render_task(task_id, status=422)
    db.session.commit()
    flash(_("Handed to %(name)s: %(title)s", name=row.assignee.display_name if row.assignee else "", title=row.title),
          "success")
    return redirect(url_for("inbox.index"))


@bp.post("/tasks/<task_id>/comments")
@login_required
def comment(task_id: str) -> Any:
    """Comment on this step of the case."""
    user = current()
    row = tasks.get_task(db.session, user, task_id)
    text = request.form.get("body", "")
    try:
        comments.add(db.session, user, row.instance_id, text, task_id=row.id)
    except ValidationError as exc:
        db.session.rollback()
        return _render_task(task_id, status=422, comment=text,
                            comment_errors={e.field: e.message for e in exc.errors})
    db.session.commit()
    flash(_("Comment added."), "success")
    return redirect(url_for("inbox.task", task_id=row.id, _anchor="comments"))


@bp.post("/inbox/bulk")
@login_required
def bulk() -> Any:
    """Claim, or approve with one comment, the selected tasks: each in its own transaction."""
    form = request.form
    try:
        bulk_request = tasks.bulk_request(form.get("action"), form.getlist("task_ids"), form.get("comment", ""))
    except ValidationError as exc:
        flash(" ".join([exc.message, *(e.message for e in exc.errors)]), "error")
        return redirect(url_for("inbox.index"))
    outcomes = run_bulk(current(), bulk_request)
    return render_template("inbox_bulk.html", action=bulk_request.action, outcomes=outcomes,
                           done=sum(o.done for o in outcomes))


def run_bulk(user: User, bulk_request: tasks.BulkRequest) -> list[tasks.BulkOutcome]:
    """Do the request on each task in a transaction of its own; a refusal rolls back only that
    task and is reported with the reason."""
    db.session.commit()  # end the request's transaction: each task gets its own
    outcomes = []
    for task_id in bulk_request.task_ids:
        try:
            title = tasks.bulk_one(db.session, user, bulk_request, task_id).title
            db.session.commit()
            outcomes.append(tasks.BulkOutcome(task_id, True, title))
            continue
        except ValidationError as exc:
            outcome = tasks.BulkOutcome(task_id, False, None, exc.code, exc.message, tuple(exc.errors))
        except GrantFlowError as exc:
            outcome = tasks.BulkOutcome(task_id, False, None, exc.code, exc.message)
        except (StaleDataError, OperationalError):
            outcome = tasks.BulkOutcome(task_id, False, None, "conflict",
                                        _("Someone else changed this meanwhile; reload and try again."))
        except Exception:  # one task's failure must not lose the others' results
            log.exception("bulk %s of task %s failed", bulk_request.action, task_id)
            outcome = tasks.BulkOutcome(task_id, False, None, "internal_error", _("Something went wrong on our side."))
        db.session.rollback()
        outcomes.append(outcome)
    return outcomes


@bp.post("/inbox/filters")
@login_required
def save_filter() -> Any:
    """Save the inbox filters shown (status, process) under a name."""
    query = {key: request.form.get(key, "") for key in saved_filters.FILTER_KEYS}
    try:
        row = saved_filters.save(db.session, current(), request.form.get("name", ""), query)
    except ValidationError as exc:
        db.session.rollback()
        flash(" ".join([exc.message, *(e.message for e in exc.errors)]), "error")
        return redirect(_filter_url(saved_filters.normalise_query(query)))
    db.session.commit()
    flash(_("Filter saved: %(name)s", name=row.name), "success")
    return redirect(_filter_url(row.query))


@bp.get("/inbox/filters/<int:filter_id>")
@login_required
def open_filter(filter_id: int) -> Any:
    return redirect(_filter_url(saved_filters.get(db.session, current(), filter_id).query))


@bp.post("/inbox/filters/<int:filter_id>/delete")
@login_required
def delete_filter(filter_id: int) -> Any:
    saved_filters.delete(db.session, current(), filter_id)
    db.session.commit()
    flash(_("Filter deleted."), "info")
    return redirect(url_for("inbox.index"))


def _filter_url(query: str) -> str:
    return url_for("inbox.index") + (f"?{query}" if query else "")


@bp.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}
