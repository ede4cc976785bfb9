"""The inbox-ergonomics part of the OpenAPI document (hand-over, bulk actions, comments),
merged by app.web.openapi. Request bodies are the ones app.web.api checks."""

from __future__ import annotations

from functools import partial
from typing import Any

from app.models.collaboration import COMMENT_MAX_LENGTH
from app.services.tasks import BULK_ACTIONS, BULK_COMMENT_MAX, BULK_MAX_TASKS
from app.web.openapi_parts import errors, json_body, ref, resp

# The request bodies, checked by app.web.api with these very schemas.
BULK_BODY: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["action", "task_ids"], "properties": {
        "action": {"type": "string", "enum": list(BULK_ACTIONS)},
        "task_ids": {"type": "array", "minItems": 1, "maxItems": BULK_MAX_TASKS,
                     "items": {"type": "string", "minLength": 1, "maxLength": 36}},
        "comment": {"type": "string", "maxLength": BULK_COMMENT_MAX,
                    "description": "required (not blank) for approve"}}}
COMMENT_BODY: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["body"], "properties": {
        "body": {"type": "string", "minLength": 1, "maxLength": COMMENT_MAX_LENGTH},
        "task_id": {"type": ["string", "null"], "maxLength": 36, "description": "a step of this instance"}}}
ASSIGN_BODY: dict[str, Any] = {"type": "object", "additionalProperties": False, "required": ["username"],
                               "properties": {"username": {"type": "string", "maxLength": 64}}}

_SECURED: list[dict[str, list[str]]] = [{"bearer": []}]
_TEXTS = {400: "Malformed request", 401: "Missing or invalid bearer token",
          403: "Not allowed for this role or organisation (or a task someone else holds)",
          404: "Not found (or not visible to the caller)", 409: "The task is no longer open or changed meanwhile",
          422: "Invalid data: one entry per field"}
_TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 36}}
_INSTANCE_ID = {"name": "instance_id", "in": "path", "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}


_errors = partial(errors, _TEXTS)


def collaboration_paths() -> dict[str, Any]:
    return {
        "/api/v1/tasks/{task_id}/assign": {"post": {
            "summary": "Hand an open task to a colleague of the same role (and, for an organisation's task, "
                       "organisation); the caller must hold it, or it must be unclaimed and theirs to do",
            "security": _SECURED, "parameters": [_TASK_ID],
            "requestBody": json_body(ASSIGN_BODY),
            "responses": {"200": resp("The task, now assigned to the colleague", ref("Task")),
                          **_errors(400, 401, 403, 404, 409, 422)}}},
        "/api/v1/tasks/bulk": {"post": {
            "summary": "Claim, or approve with one comment (steps marked bulkApprovable only), several tasks; "
                       "each in its own transaction, with a result per task",
            "security": _SECURED, "requestBody": json_body(BULK_BODY),
            "responses": {"200": resp("A result per task", ref("BulkResults")), **_errors(400, 401, 422)}}},
        "/api/v1/instances/{instance_id}/comments": {
            "get": {
                "summary": "The instance's comments, oldest first (those on its steps included)",
                "security": _SECURED, "parameters": [_INSTANCE_ID],
                "responses": {"200": resp("Comments", {"type": "object", "required": ["items", "total"], "properties": {
                    "items": {"type": "array", "items": ref("Comment")}, "total": {"type": "integer"}}}),
                    **_errors(401, 404)}},
            "post": {
                "summary": "Comment on the instance, or on one of its steps (task_id)",
                "security": _SECURED, "parameters": [_INSTANCE_ID], "requestBody": json_body(COMMENT_BODY),
                "responses": {"201": resp("The comment", ref("Comment")), **_errors(400, 401, 404, 422)}}},
    }


def collaboration_schemas() -> dict[str, Any]:
    nullable_str: dict[str, Any] = {"type": ["string", "null"]}
    return {
        "Comment": {"type": "object", "required": ["id", "instance_id", "author", "body", "created_at"], "properties": {
            "id": {"type": "integer"}, "instance_id": {"type": "integer"}, "task_id": nullable_str,
            "author": {"type": "string"}, "author_name": {"type": "string"}, "body": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"}}},
        "BulkResults": {"type": "object", "required": ["action", "done", "items"], "properties": {
            "action": {"type": "string", "enum": ["claim", "approve"]}, "done": {"type": "integer"},
            "items": {"type": "array", "items": {
                "type": "object", "required": ["task_id", "status"], "properties": {
                    "task_id": {"type": "string"}, "status": {"type": "string", "enum": ["done", "refused"]},
                    "title": nullable_str, "error": nullable_str, "message": nullable_str,
                    "errors": {"type": "array", "items": {"type": "object", "properties": {
                        "field": {"type": "string"}, "message": {"type": "string"}}}}}}}}},
    }
