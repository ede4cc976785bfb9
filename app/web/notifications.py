"""Notifications: the bell in the header, the list (mark read, mark all read), per-kind
preferences, and GET /api/v1/notifications, POST /api/v1/notifications/{id}/read."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.errors import FieldError, ValidationError
from app.extensions import csrf, db
from app.models import Notification
from app.services import notifications
from app.web.api import json_object, me_user, no_body, token_required
from app.web.auth import current

bp = Blueprint("notifications", __name__)
api_bp = Blueprint("notifications_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)
PER_PAGE = 20
MAX_PAGE = 10_000


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    settings = state.app.config["GRANTFLOW"]
    notifications.configure(settings.public_url or f"http://{settings.host}:{settings.port}")


@bp.app_context_processor
def _bell() -> dict[str, Any]:
    if current_user.is_authenticated:
        return {"unread_notification_count": notifications.unread_count(db.session, current())}
    return {"unread_notification_count": 0}


def _page_arg() -> int:
    raw = request.args.get("page", "")
    return min(int(raw), MAX_PAGE) if raw.isdecimal() and raw.isascii() and int(raw) >= 1 else 1


@bp.get("/notifications")
@login_required
def index() -> Any:
    unread_only = request.args.get("show") == "unread"
    page = notifications.list_for(db.session, current(), unread_only=unread_only, page=_page_arg(),
                                  per_page=PER_PAGE)
    return render_template("notifications.html", page=page, unread_only=unread_only, text=notifications.render)


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def read(notification_id: int) -> Any:
    note = notifications.mark_read(db.session, current(), notification_id)
    db.session.commit()
    if request.form.get("open") and _inside(note.link):
        return redirect(request.script_root + str(note.link))
    return redirect(url_for("notifications.index"))


def _inside(link: str | None) -> bool:
    """Only paths of this application are followed (never another site)."""
    return bool(link and link.startswith("/") and not link.startswith("//") and "\\" not in link)


@bp.post("/notifications/read-all")
@login_required
def read_all() -> Any:
    count = notifications.mark_all_read(db.session, current())
    db.session.commit()
    flash(_("%(n)s notifications marked as read.", n=count), "info")
    return redirect(url_for("notifications.index"))


@bp.route("/notifications/preferences", methods=["GET", "POST"])
@login_required
def preferences() -> Any:
    user = current()
    if request.method == "POST":
        choices = {kind: notifications.Preference(in_app=f"{kind}.in_app" in request.form,
                                                  email=f"{kind}.email" in request.form)
                   for kind in notifications.KINDS}
        notifications.set_preferences(db.session, user, choices)
        db.session.commit()
        flash(_("Your notification preferences are saved."), "success")
        return redirect(url_for("notifications.preferences"))
    return render_template("notifications_preferences.html", prefs=notifications.preferences(db.session, user),
                           kind_label=notifications.kind_label, has_email=bool(user.email))


# --- the JSON API ----------------------------------------------------------------------


def notification_json(note: Notification) -> dict[str, Any]:
    text = notifications.render(note.kind, note.params)
    return {"id": note.id, "kind": note.kind, "title": text.title, "body": text.body, "link": note.link,
            "instance_id": note.instance_id, "task_id": note.task_id, "params": note.params,
            "created_at": note.created_at.isoformat(),
            "read_at": note.read_at.isoformat() if note.read_at else None}


def _query_int(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= int(raw) <= maximum:
        raise ValidationError("bad query parameter", [FieldError(name, f"must be an integer from 1 to {maximum}")])
    return int(raw)


@api_bp.get("/notifications")
@token_required
def api_list() -> Any:
    unread = request.args.get("unread", "")
    if unread not in ("", "true", "false"):
        raise ValidationError("bad query parameter", [FieldError("unread", "must be true or false")])
    page = notifications.list_for(db.session, me_user(), unread_only=unread == "true",
                                  page=_query_int("page", 1, MAX_PAGE), per_page=_query_int("per_page", 20, 100))
    return jsonify({"items": [notification_json(n) for n in page.items], "total": page.total,
                    "unread": page.unread, "page": page.page, "per_page": page.per_page})


@api_bp.post("/notifications/<int:notification_id>/read")
@token_required
def api_read(notification_id: int) -> Any:
    note = notifications.mark_read(db.session, me_user(), notification_id)
    db.session.commit()
    return jsonify(notification_json(note))


@api_bp.post("/notifications/read-all")
@token_required
def api_read_all() -> Any:
    no_body()
    count = notifications.mark_all_read(db.session, me_user())
    db.session.commit()
    return jsonify({"marked": count, "unread": 0})


# A choice per kind: either channel may be left out (it keeps its value).
PREFERENCES_BODY: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {kind: {"type": "object", "additionalProperties": False, "minProperties": 1,
                          "properties": {"in_app": {"type": "boolean"}, "email": {"type": "boolean"}}}
                   for kind in notifications.KINDS}}


def preferences_json(prefs: dict[str, notifications.Preference], has_email: bool) -> dict[str, Any]:
    return {"preferences": {kind: {"in_app": p.in_app, "email": p.email} for kind, p in prefs.items()},
            "has_email": has_email}


@api_bp.get("/notifications/preferences")
@token_required
def api_preferences() -> Any:
    user = me_user()
    return jsonify(preferences_json(notifications.preferences(db.session, user), bool(user.email)))


@api_bp.patch("/notifications/preferences")
@token_required
def api_set_preferences() -> Any:
    user = me_user()
    body = json_object(PREFERENCES_BODY)
    current_prefs = notifications.preferences(db.session, user)
    choices = {kind: notifications.Preference(in_app=choice.get("in_app", current_prefs[kind].in_app),
                                              email=choice.get("email", current_prefs[kind].email))
               for kind, choice in body.items()}
    notifications.set_preferences(db.session, user, choices)
    db.session.commit()
    return jsonify(preferences_json(notifications.preferences(db.session, user), bool(user.email)))
