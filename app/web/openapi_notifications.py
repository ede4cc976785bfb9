"""The notifications part of the OpenAPI document (app.web.notifications), merged by app.web.openapi."""

from __future__ import annotations

from typing import Any

from app.models import NOTIFICATION_KINDS

_SECURED: list[dict[str, list[str]]] = [{"bearer": []}]
_TEXTS = {401: "Missing or invalid bearer token", 404: "Not found (or another user's notification)",
          422: "Invalid query: one entry per parameter"}
_MAX_PAGE = 10_000


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _resp(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _resp(_TEXTS[c], _ref("Error")) for c in codes}


def _or_empty(schema: dict[str, Any]) -> dict[str, Any]:
    """An empty query value is read as absent (what an HTML form sends for a blank filter)."""
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


def notification_paths() -> dict[str, Any]:
    return {
        "/api/v1/notifications": {"get": {
            "summary": "The caller's notifications, newest first, with the unread count", "security": _SECURED,
            "parameters": [
                {"name": "unread", "in": "query", "description": "true: unread only",
                 "schema": _or_empty({"type": "string", "enum": ["true", "false"]})},
                {"name": "page", "in": "query",
                 "schema": _or_empty({"type": "integer", "minimum": 1, "maximum": _MAX_PAGE})},
                {"name": "per_page", "in": "query", "schema": _or_empty({"type": "integer", "minimum": 1, "maximum": 100})},
            ],
            "responses": {"200": _resp("Notifications", {
                "type": "object", "required": ["items", "total", "unread", "page", "per_page"], "properties": {
                    "items": {"type": "array", "items": _ref("Notification")}, "total": {"type": "integer"},
                    "unread": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"}}}),
                **_errors(401, 422)}}},
        "/api/v1/notifications/{notification_id}/read": {"post": {
            "summary": "Mark one of the caller's notifications read (again: unchanged)", "security": _SECURED,
            "parameters": [{"name": "notification_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 1}}],
            "responses": {"200": _resp("Notification", _ref("Notification")), **_errors(401, 404)}}},
    }


def notification_schemas() -> dict[str, Any]:
    nullable_str: dict[str, Any] = {"type": ["string", "null"]}
    return {
        "Notification": {"type": "object", "required": ["id", "kind", "title", "body", "created_at", "read_at"],
                         "properties": {
            "id": {"type": "integer"}, "kind": {"type": "string", "enum": list(NOTIFICATION_KINDS)},
            "title": {"type": "string"}, "body": {"type": "string"},
            "link": {**nullable_str, "description": "path of the page it is about"},
            "instance_id": {"type": ["integer", "null"]}, "task_id": nullable_str, "params": {"type": "object"},
            "created_at": {"type": "string", "format": "date-time"},
            "read_at": {"type": ["string", "null"], "format": "date-time"}}},
    }
