"""The notifications part of the OpenAPI document (app.web.notifications), merged by app.web.openapi."""

from __future__ import annotations

from functools import partial
from typing import Any

from app.models import NOTIFICATION_KINDS
from app.web.openapi_parts import errors, json_body, or_empty, ref, resp

_SECURED: list[dict[str, list[str]]] = [{"bearer": []}]
_TEXTS = {400: "Malformed request", 401: "Missing or invalid bearer token",
          404: "Not found (or another user's notification)", 422: "Invalid query or body: one entry per field"}
_MAX_PAGE = 10_000


_errors = partial(errors, _TEXTS)


def notification_paths() -> dict[str, Any]:
    return {
        "/api/v1/notifications": {"get": {
            "summary": "The caller's notifications, newest first, with the unread count", "security": _SECURED,
            "parameters": [
                {"name": "unread", "in": "query", "description": "true: unread only",
                 "schema": or_empty({"type": "string", "enum": ["true", "false"]})},
                {"name": "page", "in": "query",
                 "schema": or_empty({"type": "integer", "minimum": 1, "maximum": _MAX_PAGE})},
                {"name": "per_page", "in": "query", "schema": or_empty({"type": "integer", "minimum": 1, "maximum": 100})},
            ],
            "responses": {"200": resp("Notifications", {
                "type": "object", "required": ["items", "total", "unread", "page", "per_page"], "properties": {
                    "items": {"type": "array", "items": ref("Notification")}, "total": {"type": "integer"},
                    "unread": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"}}}),
                **_errors(401, 422)}}},
        "/api/v1/notifications/{notification_id}/read": {"post": {
            "summary": "Mark one of the caller's notifications read (again: unchanged)", "security": _SECURED,
            "parameters": [{"name": "notification_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 1}}],
            "responses": {"200": resp("Notification", ref("Notification")), **_errors(401, 404)}}},
        "/api/v1/notifications/read-all": {"post": {
            "summary": "Mark all of the caller's notifications read", "security": _SECURED,
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": False, "properties": {}}}}},
            "responses": {"200": resp("How many were marked", {
                "type": "object", "required": ["marked", "unread"], "properties": {
                    "marked": {"type": "integer"}, "unread": {"type": "integer", "const": 0}}}),
                **_errors(400, 401, 422)}}},
        "/api/v1/notifications/preferences": {
            "get": {"summary": "The caller's choice, per kind of notice, of in-app and e-mail delivery",
                    "security": _SECURED,
                    "responses": {"200": resp("Preferences", ref("NotificationPreferences")), **_errors(401)}},
            "patch": {"summary": "Change some of the caller's choices; a channel left out keeps its value",
                      "security": _SECURED,
                      "requestBody": json_body({
                          "type": "object", "additionalProperties": False, "minProperties": 1,
                          "properties": {kind: ref("PreferenceChoice") for kind in NOTIFICATION_KINDS}}),
                      "responses": {"200": resp("Preferences", ref("NotificationPreferences")),
                                    **_errors(400, 401, 422)}}},
    }


def notification_schemas() -> dict[str, Any]:
    nullable_str: dict[str, Any] = {"type": ["string", "null"]}
    choice = {"type": "object", "additionalProperties": False,
              "properties": {"in_app": {"type": "boolean"}, "email": {"type": "boolean"}}}
    return {
        "PreferenceChoice": {**choice, "minProperties": 1},
        "NotificationPreferences": {"type": "object", "required": ["preferences", "has_email"], "properties": {
            "preferences": {"type": "object", "additionalProperties": False, "required": list(NOTIFICATION_KINDS),
                            "properties": {kind: {**choice, "required": ["in_app", "email"]}
                                           for kind in NOTIFICATION_KINDS}},
            "has_email": {"type": "boolean", "description": "false: the account has no address, no e-mail is sent"}}},
        "Notification": {"type": "object", "required": ["id", "kind", "title", "body", "created_at", "read_at"],
                         "properties": {
            "id": {"type": "integer"}, "kind": {"type": "string", "enum": list(NOTIFICATION_KINDS)},
            "title": {"type": "string"}, "body": {"type": "string"},
            "link": {**nullable_str, "description": "path of the page it is about"},
            "instance_id": {"type": ["integer", "null"]}, "task_id": nullable_str, "params": {"type": "object"},
            "created_at": {"type": "string", "format": "date-time"},
            "read_at": {"type": ["string", "null"], "format": "date-time"}}},
    }
