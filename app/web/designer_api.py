"""JSON API v1 of the process designer (admins only): deploy and validate diagrams, list and
compare versions, preview and run the migration of running instances, the modeler's catalogue.

Uploads come as JSON ``{"files": {"name.bpmn": "<xml>"}, "comment": "..."}`` or as
``multipart/form-data`` with ``file`` parts and a ``comment`` field. Whatever is uploaded
gets 201/200 or a 422 naming the elements (413 above MAX_CONTENT_LENGTH), never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from functools import wraps
from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from jsonschema import Draft202012Validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.errors import (
    ConflictError,
    DefinitionError,
    ElementError,
    FieldError,
    ForbiddenError,
    GrantFlowError,
    ValidationError,
)
from app.extensions import csrf, db
from app.models import User
from app.services import designer
from app.web.api import me_user, token_required
from app.web.errors import error_body

bp = Blueprint("designer_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
log = logging.getLogger(__name__)

_VERSION = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
MIGRATION_BODY = {
    "type": "object", "additionalProperties": False, "required": ["from_version"],
    "properties": {
        "from_version": _VERSION,
        "to_version": _VERSION,
        "instance_ids": {"type": "array", "maxItems": 1000, "items": {"type": "integer", "minimum": 1,
                                                                       "maximum": 2**63 - 1}},
        "status": {"type": "string", "enum": ["running"]},
    },
}


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """A valid bearer token (401) of an admin (403), checked before the body is read."""

    @wraps(view)
    @token_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        designer.require_admin(me_user())
        return view(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- deployments


@bp.post("/definitions")
@admin_required
def deploy() -> Any:
    files, comment = _upload()
    try:
        result = designer.deploy(db.session, me_user(), files, comment)
        db.session.commit()
    except IntegrityError:  # a concurrent deployment took the version number
        db.session.rollback()
        raise ConflictError("Another deployment of this process happened meanwhile; try again.") from None
    return jsonify(asdict(result)), (201 if result.created else 200)


@bp.post("/definitions/validate")
@admin_required
def validate() -> Any:
    files, _comment = _upload()
    errors = designer.validate(files, db.session)
    if errors:
        message = f"The process definition has {len(errors)} problem(s)"
        return jsonify(error_body(DefinitionError(message, errors))), 422
    return jsonify({"errors": []})


def _upload() -> tuple[dict[str, Any], str]:
    """The uploaded files (name -> content) and comment; raises DefinitionError for a body
    that carries no usable files (so that every refusal looks the same to the modeler)."""
    if request.mimetype == "multipart/form-data":
        parts = request.files.getlist("file")
        files: dict[str, Any] = {}
        for part in parts:
            name = (part.filename or "").replace("\\", "/").rsplit("/", 1)[-1] or "upload.bpmn"
            if name in files:
                raise _refused(f"The file {name[:100]} was uploaded twice.")
            files[name] = part.read()
        comment = request.form.get("comment", "")
        if not files:
            raise _refused('Upload one or more file parts named "file".')
        return files, comment
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict) or not isinstance(body.get("files"), dict):
        raise _refused('Send {"files": {"name.bpmn": "<xml>"}, "comment": "..."} or multipart file parts.')
    if not isinstance(body.get("comment", ""), str) or set(body) - {"files", "comment"}:
        raise _refused('Only "files" and a text "comment" may be sent.')
    return body["files"], body.get("comment", "")


def _refused(message: str) -> DefinitionError:
    return DefinitionError(message, [ElementError(None, message)])


# --------------------------------------------------------------------------- versions


@bp.get("/definitions")
@admin_required
def definition_list() -> Any:
    items = [{"process_key": p.process_key, "name": p.name,
              "versions": [{**asdict(v), "deployed_at": v.deployed_at.isoformat()} for v in p.versions]}
             for p in designer.versions(db.session, me_user())]
    return jsonify({"items": items})


@bp.get("/definitions/<key>/versions/<int:version>")
@admin_required
def version_detail(key: str, version: int) -> Any:
    return jsonify(asdict(designer.version_files(db.session, me_user(), key, version)))


@bp.get("/definitions/<key>/diff")
@admin_required
def version_diff(key: str) -> Any:
    result = designer.diff(db.session, me_user(), key, _version_arg("from"), _version_arg("to"))
    return jsonify({"from": result.from_version, "to": result.to_version,
                    "added": [asdict(e) for e in result.added], "removed": [asdict(e) for e in result.removed],
                    "changed": [asdict(e) for e in result.changed], "moved": [asdict(e) for e in result.moved]})


def _version_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 2**31 - 1:
        raise ValidationError("bad query parameter", [FieldError(name, "must be a version number")])
    return int(raw)


# --------------------------------------------------------------------------- migrations


@bp.post("/definitions/<key>/migrations/preview")
@admin_required
def migration_preview(key: str) -> Any:
    body = _body(MIGRATION_BODY)
    previews = designer.preview_migration(db.session, me_user(), key, body["from_version"], body.get("to_version"),
                                          body.get("instance_ids"), body.get("status", "running"))
    return jsonify({"items": [asdict(p) for p in previews]})


@bp.post("/definitions/<key>/migrations")
@admin_required
def migrate(key: str) -> Any:
    body = _body(MIGRATION_BODY)
    plan = designer.plan_migration(db.session, me_user(), key, body["from_version"], body.get("to_version"),
                                   body.get("instance_ids"), body.get("status", "running"))
    user_id = me_user().id
    db.session.commit()  # end the request's transaction: each instance gets its own
    return jsonify({"items": [asdict(_migrate_alone(user_id, instance_id, plan))
                              for instance_id in plan.instance_ids]})


def _migrate_alone(user_id: int, instance_id: int, plan: designer.MigrationPlan) -> designer.MigrationOutcome:
    """Migrate one instance in its own session and transaction; a refusal rolls back only it."""
    session = db.new_session()
    try:
        user = session.get(User, user_id)
        if user is None:
            raise ForbiddenError(_("Only process administrators may use the designer."))
        outcome = designer.migrate_one(session, user, instance_id, plan.to_version,
                                       from_version=plan.from_version, process_key=plan.process_key)
        session.commit()
        return outcome
    except GrantFlowError as exc:
        session.rollback()
        reason = exc.message
    except StaleDataError:
        session.rollback()
        reason = _("Someone else changed this meanwhile; reload and try again.")
    except Exception:
        session.rollback()
        log.exception("migration of instance %s failed", instance_id)
        reason = _("Something went wrong on our side.")
    finally:
        session.close()
    return designer.MigrationOutcome(instance_id, plan.business_keys.get(instance_id), False, reason,
                                     plan.from_version, plan.to_version)


# --------------------------------------------------------------------------- catalogue


@bp.get("/designer/catalogue")
@admin_required
def catalogue() -> Any:
    return jsonify(asdict(designer.catalogue(db.session, me_user())))


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON object, checked against ``schema`` (unknown fields refused)."""
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object", [FieldError("", "malformed or missing JSON object")])
    errors = [FieldError(".".join(map(str, e.absolute_path)), e.message)
              for e in Draft202012Validator(schema).iter_errors(data)]
    if errors:
        raise ValidationError("the request body is not valid", errors)
    return data
