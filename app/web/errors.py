"""Domain errors and HTTP errors to responses: JSON under /api/, HTML elsewhere."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from app.errors import ConflictError, DefinitionError, GrantFlowError, ValidationError

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_body(exc: GrantFlowError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": exc.code, "message": exc.message or exc.code}
    if isinstance(exc, ValidationError):
        body["errors"] = [{"field": e.field, "message": e.message} for e in exc.errors]
    elif isinstance(exc, DefinitionError):
        body["errors"] = [{"element": e.element, "message": e.message} for e in exc.errors]
    return body


def _respond(status: int, body: dict[str, Any]) -> Any:
    if wants_json():
        return jsonify(body), status
    return render_template("error.html", status=status, message=body.get("message", "")), status


def init_app(app: Flask) -> None:
    @app.errorhandler(GrantFlowError)
    def _domain(exc: GrantFlowError) -> Any:
        return _respond(exc.status, error_body(exc))

    @app.errorhandler(StaleDataError)
    def _stale(exc: StaleDataError) -> Any:
        return _respond(409, error_body(ConflictError(_("Someone else changed this meanwhile; reload and try again."))))

    @app.errorhandler(OperationalError)
    def _busy(exc: OperationalError) -> Any:
        if "locked" in str(exc.orig).lower() or "could not serialize" in str(exc.orig).lower():
            return _respond(409, error_body(ConflictError(_("The database is busy; try again."))))
        log.exception("database error")
        return _respond(500, {"error": "internal_error", "message": _("Something went wrong on our side.")})

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        return _respond(400, {"error": "csrf_failed", "message": _("The form expired or was not sent from this site; reload the page and try again.")})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        code = exc.code or 500
        names = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}
        return _respond(code, {"error": names.get(code, "http_error"), "message": exc.description or exc.name})

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error")
        return _respond(500, {"error": "internal_error", "message": _("Something went wrong on our side.")})
