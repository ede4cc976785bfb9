"""The forms part of the OpenAPI document (app.web.designer_forms_api), merged by app.web.openapi."""

from __future__ import annotations

from functools import partial
from typing import Any

from app.web.openapi_parts import errors, ref, resp

_SECURED: list[dict[str, list[str]]] = [{"bearer": []}]
_KEY = {"name": "key", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 100}}
_TEXTS = {400: "Malformed request", 401: "Missing or invalid bearer token", 403: "Only process administrators",
          404: "No such form (or version)", 409: "Another version was saved meanwhile",
          413: "Request body too large", 422: "Invalid data: one entry per field"}


_errors = partial(errors, _TEXTS)


def form_paths() -> dict[str, Any]:
    return {
        "/api/v1/forms": {"get": {
            "summary": "Every form (stored, or only in forms/) with its newest version", "security": _SECURED,
            "responses": {"200": resp("Forms", {"type": "object", "required": ["items"], "properties": {
                "items": {"type": "array", "items": ref("FormSummary")}}}), **_errors(401)}}},
        "/api/v1/forms/{key}": {
            "get": {"summary": "A form's JSON Schema: the newest version, or ?version=N", "security": _SECURED,
                    "parameters": [_KEY, {"name": "version", "in": "query",
                                          "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}],
                    "responses": {"200": resp("Form", ref("Form")), **_errors(401, 404, 422)}},
            "post": {"summary": "Save a new version of a form (admins; identical content: the stored version)",
                     "security": _SECURED, "parameters": [_KEY],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": ref("FormInput")}}},
                     "responses": {"201": resp("New version", ref("FormSaved")),
                                   "200": resp("Identical to a stored version", ref("FormSaved")),
                                   "422": resp("The schema cannot be used as a form; nothing was stored",
                                                ref("FormProblems")),
                                   **_errors(400, 401, 403, 409, 413)}}},
        "/api/v1/forms/{key}/versions": {"get": {
            "summary": "The stored versions of a form, newest first", "security": _SECURED, "parameters": [_KEY],
            "responses": {"200": resp("Versions", {"type": "object", "required": ["key", "items"], "properties": {
                "key": {"type": "string"}, "items": {"type": "array", "items": ref("FormVersion")}}}),
                **_errors(401, 404)}}},
    }


def form_schemas() -> dict[str, Any]:
    text: dict[str, Any] = {"type": "string"}
    integer: dict[str, Any] = {"type": "integer"}
    info = {"comment": text, "created_by": {"type": ["string", "null"]},
            "created_at": {"type": ["string", "null"], "format": "date-time"}}
    return {
        "FormSummary": {"type": "object", "required": ["key", "title", "version", "versions"], "properties": {
            "key": text, "title": text, "title_en": text,
            "version": {"type": ["integer", "null"], "description": "null: only the file in forms/, never stored"},
            "versions": integer, "in_files": {"type": "boolean"}, **info}},
        "Form": {"type": "object", "required": ["key", "version", "sha256", "schema"], "properties": {
            "key": text, "version": {"type": ["integer", "null"]}, "sha256": text,
            "schema": {"type": "object", "description": "JSON Schema 2020-12 with zh/en titles and x-ui hints"},
            **info}},
        "FormVersion": {"type": "object", "required": ["version", "sha256"], "properties": {
            "version": integer, "sha256": text, **info}},
        "FormInput": {"type": "object", "additionalProperties": False, "required": ["schema"], "properties": {
            "schema": {"type": "object"}, "comment": {"type": "string", "maxLength": 500}}},
        "FormSaved": {"type": "object", "required": ["key", "version", "sha256", "created"], "properties": {
            "key": text, "version": integer, "sha256": text, "created": {"type": "boolean"}}},
        "FormProblems": {"type": "object", "required": ["error", "message", "errors"], "properties": {
            "error": text, "message": text, "errors": {"type": "array", "items": {
                "type": "object", "required": ["path", "message"], "properties": {
                    "path": {"type": "string", "description": 'JSON Pointer into the schema ("" = all of it), '
                                                              'or "key" / "comment"'},
                    "message": text}}}}},
    }
