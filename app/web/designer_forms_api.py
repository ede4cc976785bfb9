"""JSON API v1 of the forms: read them (any signed-in client) and save a new version
(admins only). A refused schema gets a 422 whose ``errors`` carry a JSON Pointer ``path``
into the schema and a ``message``; nothing is stored then.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import IntegrityError

from app.errors import ConflictError, FieldError, ValidationError
from app.extensions import csrf, db
from app.services import form_versions
from app.services.designer import forms_editor
from app.web import input_guard
from app.web.api import me_user, token_required
from app.web.designer_api import admin_required

bp = Blueprint("forms_api", __name__, url_prefix="/api/v1/forms")
csrf.exempt(bp)

MAX_VERSION = 2**31 - 1


@bp.get("")
@token_required
def form_list() -> Any:
    return jsonify({"items": [summary_json(s) for s in form_versions.summaries(db.session)]})


@bp.get("/<key>")
@token_required
def form_detail(key: str) -> Any:
    version = _version_arg()
    form = form_versions.get(db.session, key, version) if version else form_versions.current(db.session, key)
    return _unsorted({"key": form.key, "version": form.version, "sha256": form.sha256, "schema": form.schema,
                      **_info_json(form.info)})


@bp.get("/<key>/versions")
@token_required
def form_history(key: str) -> Any:
    items = form_versions.history(db.session, key)
    if not items:
        form_versions.current(db.session, key)  # NotFoundError unless forms/<key>.json exists
    return jsonify({"key": key, "items": [{"version": v.version, "sha256": v.sha256, **_info_json(v)}
                                          for v in items]})


@bp.post("/<key>")
@admin_required
def form_save(key: str) -> Any:
    try:
        body = request.get_json(silent=True, force=True)
    except RecursionError:  # nested deeper than the JSON parser goes
        body = None
    try:
        if not isinstance(body, dict) or "schema" not in body or set(body) - {"schema", "comment"}:
            raise ValidationError("The form cannot be saved.", [FieldError(
                "", 'Send {"schema": {...the JSON Schema...}, "comment": "what changed"}.')])
        unstorable, _depth = input_guard.unstorable_paths(body)
        if unstorable:  # NUL or a lone surrogate: no database stores it
            raise ValidationError("The form cannot be saved.", [
                FieldError("/" + path.replace(".", "/"), "contains a character that cannot be stored (NUL or a lone "
                           "surrogate)") for path in unstorable[:20]])
        result = forms_editor.save(db.session, me_user(), key, body["schema"], body.get("comment", ""))
        db.session.commit()
    except ValidationError as exc:
        db.session.rollback()
        return jsonify({"error": "invalid_form", "message": exc.message,
                        "errors": [{"path": e.field, "message": e.message} for e in exc.errors]}), 422
    except IntegrityError:  # a concurrent save took the version number
        db.session.rollback()
        raise ConflictError("Another version of this form was saved meanwhile; try again.") from None
    return jsonify({"key": result.key, "version": result.version, "sha256": result.sha256,
                    "created": result.created}), (201 if result.created else 200)


def _unsorted(body: dict[str, Any]) -> Response:
    """JSON with the keys in their order (jsonify sorts them): a form's fields are shown in order."""
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")


def summary_json(s: form_versions.FormSummary) -> dict[str, Any]:
    return {"key": s.key, "title": s.title, "title_en": s.title_en, "version": s.latest.version if s.latest else None,
            "versions": s.versions, "in_files": s.in_files, **_info_json(s.latest)}


def _info_json(info: form_versions.VersionInfo | None) -> dict[str, Any]:
    if info is None:
        return {"comment": "", "created_by": None, "created_at": None}
    return {"comment": info.comment, "created_by": info.created_by, "created_at": info.created_at.isoformat()}


def _version_arg() -> int | None:
    raw = request.args.get("version")
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_VERSION:
        raise ValidationError("bad query parameter", [FieldError("version", "must be a version number")])
    return int(raw)

