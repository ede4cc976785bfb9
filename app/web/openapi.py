"""The OpenAPI 3.1 document of JSON API v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from functools import partial
from typing import Any

from app.models import DOCUMENT_KINDS
from app.services import audit
from app.web.openapi_collaboration import collaboration_paths, collaboration_schemas
from app.web.openapi_forms import form_paths, form_schemas
from app.web.openapi_notifications import notification_paths, notification_schemas
from app.web.openapi_parts import errors, json_body, or_empty, ref, resp

_TEXTS = {400: "Malformed request", 401: "Missing or invalid bearer token", 403: "Not allowed for this role or organisation",
          404: "Not found (or not visible to the caller)", 409: "Already done or changed meanwhile",
          413: "Request body too large", 422: "Invalid data: one entry per field"}
_errors = partial(errors, _TEXTS)

MAX_PAGE = 10_000  # deeper pages are refused (422) rather than asking the database for a huge offset


_PAGE = [
    {"name": "page", "in": "query", "schema": or_empty({"type": "integer", "minimum": 1, "maximum": MAX_PAGE})},
    {"name": "per_page", "in": "query", "schema": or_empty({"type": "integer", "minimum": 1, "maximum": 100})},
]
_TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 36}}
_INSTANCE_ID = {"name": "instance_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_SECURED: list[dict[str, list[str]]] = [{"bearer": []}]


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "GrantFlow API", "version": "1.0.0",
                 "description": "Approvals for public data authorized operation (Nanshan measures)."},
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {**_schemas(), **_designer_schemas(), **form_schemas(), **_document_schemas(),
                        **notification_schemas(), **collaboration_schemas()},
        },
        "paths": {
            "/api/v1/auth/token": {"post": {
                "summary": "Exchange a username and password for a bearer token",
                "requestBody": json_body({"type": "object", "additionalProperties": False,
                                           "required": ["username", "password"],
                                           "properties": {"username": {"type": "string", "maxLength": 64},
                                                          "password": {"type": "string", "maxLength": 256}}}),
                "responses": {"200": resp("Token", ref("Token")), **_errors(400, 401, 422)}},
                "delete": {
                "summary": "Revoke the bearer token this request carries (it is refused from then on)",
                "security": _SECURED,
                "responses": {"204": {"description": "Revoked"}, **_errors(401)}}},
            "/api/v1/me": {"get": {"summary": "The caller", "security": _SECURED,
                                   "responses": {"200": resp("User", ref("User")), **_errors(401)}}},
            "/api/v1/processes": {"get": {
                "summary": "Deployed processes (newest version) and whether the caller may start each",
                "security": _SECURED,
                "responses": {"200": resp("Processes", {"type": "object", "properties": {
                    "items": {"type": "array", "items": ref("Process")}}}), **_errors(401)}}},
            "/api/v1/processes/{key}/instances": {"post": {
                "summary": "Start an instance with start-form data", "security": _SECURED,
                "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": json_body({"type": "object", "additionalProperties": False,
                                           "properties": {"data": {"type": "object"}}}),
                "responses": {"201": resp("Started", ref("Instance")), **_errors(400, 401, 403, 404, 422)}}},
            "/api/v1/instances": {"get": {
                "summary": "Instances visible to the caller, newest first; searched by business key, "
                           "organisation, process and status", "security": _SECURED,
                "parameters": [*_PAGE, {"name": "process", "in": "query", "schema": {"type": "string"}},
                               {"name": "status", "in": "query", "schema": or_empty(
                                   {"type": "string", "enum": ["running", "completed", "cancelled", "error"]})},
                               {"name": "q", "in": "query", "description": "part of the business key (any case)",
                                "schema": {"type": "string", "maxLength": 64}},
                               {"name": "org", "in": "query", "description": "id of the owning organisation",
                                "schema": or_empty({"type": "integer", "minimum": 1, "maximum": 2**31 - 1})}],
                "responses": {"200": resp("Instances", {"type": "object"}), **_errors(401, 422)}}},
            "/api/v1/instances/{instance_id}": {"get": {
                "summary": "One instance: status, outcome, open tasks, history", "security": _SECURED,
                "parameters": [_INSTANCE_ID],
                "responses": {"200": resp("Instance", ref("Instance")), **_errors(401, 404)}}},
            "/api/v1/tasks": {"get": {
                "summary": "The caller's inbox, soonest due first", "security": _SECURED,
                "parameters": [*_PAGE, {"name": "status", "in": "query",
                                        "schema": {"type": "string", "enum": ["open", "mine", "completed"]}},
                               {"name": "process", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": resp("Tasks", {"type": "object", "required": ["items", "total"], "properties": {
                    "items": {"type": "array", "items": ref("Task")}, "total": {"type": "integer"},
                    "page": {"type": "integer"}, "per_page": {"type": "integer"}}}), **_errors(401, 422)}}},
            "/api/v1/tasks/{task_id}": {"get": {
                "summary": "One task with its form (JSON Schema)", "security": _SECURED, "parameters": [_TASK_ID],
                "responses": {"200": resp("Task", ref("Task")), **_errors(401, 403, 404)}}},
            "/api/v1/tasks/{task_id}/claim": {"post": {
                "summary": "Claim a task", "security": _SECURED, "parameters": [_TASK_ID],
                "responses": {"200": resp("Task", ref("Task")), **_errors(401, 403, 404, 409)}}},
            "/api/v1/tasks/{task_id}/unclaim": {"post": {
                "summary": "Release a claimed task", "security": _SECURED, "parameters": [_TASK_ID],
                "responses": {"200": resp("Task", ref("Task")), **_errors(401, 403, 404, 409)}}},
            "/api/v1/tasks/{task_id}/complete": {"post": {
                "summary": "Complete a task with form data", "security": _SECURED, "parameters": [_TASK_ID],
                "description": "Answers with the completed task and the instance as it is now: its open "
                               "tasks and the last 20 events of its history (history_total counts them "
                               "all; GET /api/v1/instances/{instance_id} gives the whole history).",
                "requestBody": json_body({"type": "object", "additionalProperties": False, "required": ["data"],
                                           "properties": {"data": {"type": "object"}}}),
                "responses": {"200": resp("Completed", {"type": "object", "properties": {
                    "task": ref("Task"), "instance": ref("Instance")}}), **_errors(400, 401, 403, 404, 409, 422)}}},
            "/api/v1/catalog": {"get": {
                "summary": "Public data catalogue items", "security": _SECURED,
                "parameters": [{"name": "classification", "in": "query",
                                "description": "empty or absent: every classification",
                                "schema": or_empty({"type": "string",
                                                     "enum": ["unconditional", "conditional", "not_open"]})}],
                "responses": {"200": resp("Catalogue", {"type": "object", "properties": {
                    "items": {"type": "array", "items": ref("CatalogItem")}}}), **_errors(401, 422)}},
                "post": {
                "summary": "Add a catalogue item (authority, or the item's source department)", "security": _SECURED,
                "requestBody": json_body(ref("CatalogItemInput")),
                "responses": {"201": resp("Created", ref("CatalogItem")), **_errors(400, 401, 403, 422)}}},
            "/api/v1/catalog/{item_id}": {"patch": {
                "summary": "Change a catalogue item (authority, or the item's source department)",
                "security": _SECURED,
                "parameters": [{"name": "item_id", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1}}],
                "requestBody": json_body(ref("CatalogItemInput")),
                "responses": {"200": resp("Changed", ref("CatalogItem")), **_errors(400, 401, 403, 404, 422)}}},
            "/api/v1/grants": {"get": {
                "summary": "Grants: a partner's own; all for the operator and the authority", "security": _SECURED,
                "responses": {"200": resp("Grants", {"type": "object", "properties": {
                    "items": {"type": "array", "items": ref("Grant")}}}), **_errors(401, 403)}}},
            "/api/v1/grants/{grant_id}": {"get": {
                "summary": "One grant", "security": _SECURED,
                "parameters": [{"name": "grant_id", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1}}],
                "responses": {"200": resp("Grant", ref("Grant")), **_errors(401, 404)}}},
            "/api/v1/audit/verify": {"post": {
                "summary": "Check the whole audit chain now and name the first entry that does not hold "
                           "(the authority and administrators; the check is itself recorded)",
                "security": _SECURED,
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": False, "properties": {}}}}},
                "responses": {"200": resp("What the check found", ref("AuditVerification")),
                              **_errors(400, 401, 403, 422)}}},
            **_designer_paths(),
            **form_paths(),
            **_document_paths(),
            **notification_paths(),
            **collaboration_paths(),
            **_dashboard_paths(),
        },
    }


def _schemas() -> dict[str, Any]:
    nullable_str = {"type": ["string", "null"]}
    return {
        "Error": {"type": "object", "required": ["error", "message"], "properties": {
            "error": {"type": "string"}, "message": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "element": nullable_str, "message": {"type": "string"}}}}}},
        "Token": {"type": "object", "required": ["token"], "properties": {
            "token": {"type": "string"}, "token_type": {"type": "string"}, "expires_in": {"type": "integer"}}},
        "User": {"type": "object", "required": ["id", "username", "roles", "organisation"], "properties": {
            "id": {"type": "integer"}, "username": {"type": "string"}, "display_name": {"type": "string"},
            "roles": {"type": "array", "items": {"type": "string"}}, "organisation": {"type": "object"}}},
        "Process": {"type": "object", "required": ["key", "version", "name", "can_start"], "properties": {
            "key": {"type": "string"}, "version": {"type": "integer"}, "name": {"type": "string"},
            "articles": {"type": "array", "items": {"type": "string"}},
            "start_form": {"type": ["object", "null"]}, "can_start": {"type": "boolean"}, "reason": nullable_str}},
        "Task": {"type": "object", "required": ["id", "instance_id", "process_key", "title", "role"], "properties": {
            "id": {"type": "string"}, "instance_id": {"type": "integer"}, "process_key": {"type": "string"},
            "element": {"type": "string"},
            "title": {"type": "string", "description": 'the step\'s title, "中文 / English" when the diagram gives both'},
            "title_zh": {"type": "string"}, "title_en": nullable_str, "role": {"type": "string"},
            "organisation": nullable_str, "assignee": nullable_str, "status": {"type": "string", "enum": ["open", "completed", "cancelled"]},
            "form_key": nullable_str, "articles": {"type": "array", "items": {"type": "string"}},
            "due_at": {"type": ["string", "null"], "format": "date-time"},
            "form": {"type": ["object", "null"]}, "form_version": {"type": ["integer", "null"]},
            "context": {"type": "object"}}},
        "Instance": {"type": "object", "required": ["id", "status"], "properties": {
            "id": {"type": "integer"}, "business_key": {"type": "string"}, "process_key": {"type": "string"},
            "version": {"type": "integer"}, "title": {"type": "string"},
            "status": {"type": "string", "enum": ["running", "completed", "cancelled", "error"]},
            "outcome": nullable_str, "articles": {"type": "array", "items": {"type": "string"}},
            "open_tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
            "history": {"type": "array", "items": {"type": "object"},
                        "description": "the instance's events in order (who, when, what, decision, comment); "
                                       "in a completion's answer only the last 20 of them"},
            "history_total": {"type": "integer", "description": "how many events the instance's history has"}}},
        "CatalogItemInput": {"type": "object", "additionalProperties": False, "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{2,4}-[0-9]{3}$"}, "name": {"type": "string"},
            "name_en": {"type": "string"}, "description": {"type": "string"}, "grade": {"type": "string"},
            "classification": {"type": "string", "enum": ["unconditional", "conditional", "not_open"]},
            "source_department": {"type": "string"}}},
        "Grant": {"type": "object", "required": ["id", "number", "items", "status"], "properties": {
            "id": {"type": "integer"}, "number": {"type": "string"}, "org": {"type": "string"},
            "items": {"type": "array", "items": {"type": "string"}}, "purpose": {"type": "string"},
            "fee_regime": {"type": "string", "enum": ["free", "paid"]}, "scope": {"type": "string"},
            "issued_at": {"type": "string", "format": "date-time"}, "expires_at": {"type": "string", "format": "date-time"},
            "suspended_at": {"type": ["string", "null"]}, "revoked_at": {"type": ["string", "null"]},
            "status": {"type": "string", "enum": ["active", "expired", "revoked", "suspended"]}}},
        "AuditVerification": {"type": "object", "required": ["ok", "checked", "broken_seq", "problem", "reason"],
                              "properties": {
            "ok": {"type": "boolean", "description": "every entry holds"},
            "checked": {"type": "integer", "description": "entries that hold, from the first on"},
            "broken_seq": {"type": ["integer", "null"], "description": "the first entry that does not hold"},
            "problem": {"type": ["string", "null"], "enum": [*audit.PROBLEMS, None],
                        "description": "missing: the entry is gone; link: its link to the entry before it does not "
                                       "match; content: its content does not match its hash; truncated: the entries "
                                       "after it were removed"},
            "reason": {"type": ["string", "null"], "description": "the problem in words (English)"}}},
        "CatalogItem": {"type": "object", "required": ["id", "code", "name", "classification"], "properties": {
            "id": {"type": "integer"}, "code": {"type": "string"}, "name": {"type": "string"},
            "name_en": {"type": "string"}, "grade": {"type": "string"},
            "classification": {"type": "string", "enum": ["unconditional", "conditional", "not_open"]},
            "source_department": {"type": "object"}}},
    }


# --- the process designer (admins only; app.web.designer_api) ------------------------------

_KEY = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
_UPLOAD = {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/DefinitionUpload"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "comment": {"type": "string", "maxLength": 500}}}}}}
_MIGRATION = json_body({"$ref": "#/components/schemas/MigrationRequest"})


def _designer_paths() -> dict[str, Any]:
    items = lambda name: {"type": "object", "required": ["items"], "properties": {  # noqa: E731
        "items": {"type": "array", "items": ref(name)}}}
    return {
        "/api/v1/definitions": {
            "post": {"summary": "Deploy BPMN/DMN files as a new version (identical content: the existing one)",
                     "security": _SECURED, "requestBody": _UPLOAD,
                     "responses": {"201": resp("New version", ref("Deployment")),
                                   "200": resp("Identical to an existing version", ref("Deployment")),
                                   **_errors(401, 403, 409, 413, 422)}},
            "get": {"summary": "Every process with its versions (newest first) and running instances",
                    "security": _SECURED,
                    "responses": {"200": resp("Processes", items("ProcessVersions")), **_errors(401, 403)}}},
        "/api/v1/definitions/validate": {"post": {
            "summary": "Check files like a deployment would, storing nothing", "security": _SECURED,
            "requestBody": _UPLOAD,
            "responses": {"200": resp("Valid", {"type": "object", "properties": {
                "errors": {"type": "array", "maxItems": 0}}}), **_errors(401, 403, 413, 422)}}},
        "/api/v1/definitions/{key}/versions/{version}": {"get": {
            "summary": "The files and metadata of one version", "security": _SECURED,
            "parameters": [_KEY, {"name": "version", "in": "path", "required": True,
                                  "schema": {"type": "integer", "minimum": 1}}],
            "responses": {"200": resp("Version", ref("VersionFiles")), **_errors(401, 403, 404)}}},
        "/api/v1/definitions/{key}/diff": {"get": {
            "summary": "Elements added, removed, changed (and only moved) between two versions",
            "security": _SECURED,
            "parameters": [_KEY, {"name": "from", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                           {"name": "to", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
            "responses": {"200": resp("Diff", ref("VersionDiff")), **_errors(401, 403, 404, 422)}}},
        "/api/v1/definitions/{key}/migrations/preview": {"post": {
            "summary": "Whether each running instance can move to another version, and how its open tasks map",
            "security": _SECURED, "parameters": [_KEY], "requestBody": _MIGRATION,
            "responses": {"200": resp("Previews", items("MigrationPreview")), **_errors(401, 403, 404, 422)}}},
        "/api/v1/definitions/{key}/migrations": {"post": {
            "summary": "Move running instances to another version, each in its own transaction",
            "security": _SECURED, "parameters": [_KEY], "requestBody": _MIGRATION,
            "responses": {"200": resp("Outcomes", items("MigrationOutcome")), **_errors(401, 403, 404, 422)}}},
        "/api/v1/designer/catalogue": {"get": {
            "summary": "Roles, forms, articles and actions a diagram may refer to", "security": _SECURED,
            "responses": {"200": resp("Catalogue", ref("DesignerCatalogue")), **_errors(401, 403)}}},
    }


def _designer_schemas() -> dict[str, Any]:
    text: dict[str, Any] = {"type": "string"}
    nullable_str: dict[str, Any] = {"type": ["string", "null"]}
    integer: dict[str, Any] = {"type": "integer"}
    element_properties = {"id": text, "type": text, "name": nullable_str}
    element = {"type": "object", "required": ["id", "type", "name"], "properties": element_properties}
    return {
        "DefinitionUpload": {"type": "object", "additionalProperties": False, "required": ["files"], "properties": {
            "files": {"type": "object", "additionalProperties": {"type": "string"},
                      "description": "file name (*.bpmn, *.dmn) -> XML text"},
            "comment": {"type": "string", "maxLength": 500}}},
        "Deployment": {"type": "object", "required": ["process_key", "version", "sha256", "created"], "properties": {
            "process_key": text, "version": integer, "sha256": text, "created": {"type": "boolean"}}},
        "ProcessVersions": {"type": "object", "required": ["process_key", "name", "versions"], "properties": {
            "process_key": text, "name": text, "versions": {"type": "array", "items": {
                "type": "object", "required": ["version", "sha256", "running_instances"], "properties": {
                    "version": integer, "sha256": text, "comment": text, "deployed_by": nullable_str,
                    "deployed_at": {"type": "string", "format": "date-time"}, "running_instances": integer}}}}},
        "VersionFiles": {"type": "object", "required": ["process_key", "version", "files", "meta"], "properties": {
            "process_key": text, "version": integer,
            "files": {"type": "object", "additionalProperties": {"type": "string"}}, "meta": {"type": "object"}}},
        "VersionDiff": {"type": "object", "required": ["from", "to", "added", "removed", "changed"], "properties": {
            "from": integer, "to": integer, "added": {"type": "array", "items": element},
            "removed": {"type": "array", "items": element}, "moved": {"type": "array", "items": element},
            "changed": {"type": "array", "items": {**element, "required": ["id", "type", "name", "changes"],
                                                    "properties": {**element_properties, "changes": {
                                                        "type": "array", "items": text}}}}}},
        "MigrationRequest": {"type": "object", "additionalProperties": False, "required": ["from_version"],
                             "properties": {"from_version": integer, "to_version": integer,
                                            "instance_ids": {"type": "array", "maxItems": 1000, "items": integer},
                                            "status": {"type": "string", "enum": ["running"]}}},
        "MigrationPreview": {"type": "object", "required": ["instance_id", "can_migrate", "tasks"], "properties": {
            "instance_id": integer, "business_key": nullable_str, "can_migrate": {"type": "boolean"},
            "reason": nullable_str, "tasks": {"type": "array", "items": {"type": "object", "properties": {
                "element": text, "title": text, "maps_to": nullable_str}}}}},
        "MigrationOutcome": {"type": "object", "required": ["instance_id", "migrated"], "properties": {
            "instance_id": integer, "business_key": nullable_str, "migrated": {"type": "boolean"},
            "reason": nullable_str, "from_version": integer, "to_version": integer}},
        "DesignerCatalogue": {"type": "object", "required": ["roles", "forms", "articles", "actions"], "properties": {
            "roles": {"type": "array", "items": {"type": "object", "properties": {"key": text, "zh": text, "en": text}}},
            "forms": {"type": "array", "items": {"type": "object", "properties": {
                "key": text, "title": text, "title_en": text}}},
            "articles": {"type": "array", "items": {"type": "object", "properties": {
                "article": text, "zh": text, "en": text}}},
            "actions": {"type": "array", "items": text}}},
    }


# --- documents (app.web.documents) ----------------------------------------------------------

_DOCUMENT_ID = {"name": "document_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_DOCUMENT_KINDS = list(DOCUMENT_KINDS)
_PDF: dict[str, Any] = {"description": "The signed PDF", "content": {"application/pdf": {
    "schema": {"type": "string", "format": "binary"}}}}


def _dashboard_paths() -> dict[str, Any]:
    integer: dict[str, Any] = {"type": "integer"}
    text: dict[str, Any] = {"type": "string"}
    number: dict[str, Any] = {"type": "number"}
    obj = lambda props: {"type": "object", "required": list(props), "properties": props}  # noqa: E731
    schema = obj({
        "generated_at": {"type": "string", "format": "date-time"},
        "instances": {"type": "array", "items": obj({
            "process_key": text, "name": text, "total": integer,
            "by_status": {"type": "object", "additionalProperties": integer}})},
        "tasks": obj({"open": integer, "overdue": integer, "overdue_by_unit": {"type": "array", "items": obj(
            {"unit": text, "key": text, "overdue": integer})}}),
        "step_times": {"type": "array", "items": obj({
            "process_key": text, "element": text, "title": text, "median_hours": number, "p90_hours": number,
            "completed": integer})},
        "expiring": {"type": "array", "items": obj({
            "kind": {"type": "string", "enum": ["operation_agreement", "service_agreement", "grant"]},
            "number": text, "organisation": text, "expires_on": {"type": "string", "format": "date"},
            "days_left": integer})},
        "articles": obj({"total": integer, "covered": integer, "missing": {"type": "array", "items": text}}),
    })
    return {"/api/v1/dashboard": {"get": {
        "summary": "Where things stand (authority, operator, admin): instances by process and status, overdue "
                   "tasks by unit, time per step, agreements and grants expiring in 6 months, article coverage",
        "security": _SECURED, "responses": {"200": resp("The dashboard", schema), **_errors(401, 403)}}}}


def _document_paths() -> dict[str, Any]:
    integer_query = lambda name, about: {"name": name, "in": "query", "description": about,  # noqa: E731
                                         "schema": or_empty({"type": "integer", "minimum": 1, "maximum": 2**31 - 1})}
    date_query = lambda name, about: {"name": name, "in": "query", "description": about,  # noqa: E731
                                      "schema": or_empty({"type": "string", "format": "date"})}
    return {
        "/api/v1/documents": {"get": {
            "summary": "Documents visible to the caller, newest first", "security": _SECURED,
            "parameters": [*_PAGE, {"name": "kind", "in": "query",
                                                    "schema": or_empty({"type": "string", "enum": _DOCUMENT_KINDS})},
                           {"name": "process", "in": "query", "schema": {"type": "string"}},
                           integer_query("org", "organisation id"), integer_query("instance", "instance id"),
                           date_query("from", "issued on or after (YYYY-MM-DD)"),
                           date_query("to", "issued on or before (YYYY-MM-DD)")],
            "responses": {"200": resp("Documents", {"type": "object", "required": ["items", "total"], "properties": {
                "items": {"type": "array", "items": ref("Document")}, "total": {"type": "integer"},
                "page": {"type": "integer"}, "per_page": {"type": "integer"}}}), **_errors(401, 422)}}},
        "/api/v1/instances/{instance_id}/documents": {"get": {
            "summary": "The documents issued by one instance's steps (404 when the instance is not visible)",
            "security": _SECURED, "parameters": [
                {"name": "instance_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}],
            "responses": {"200": resp("Documents", {"type": "object", "required": ["items", "total"], "properties": {
                "items": {"type": "array", "items": ref("Document")}, "total": {"type": "integer"}}}),
                **_errors(401, 404)}}},
        "/api/v1/documents/{document_id}": {"get": {
            "summary": "One document: its signed PDF, or its record when the client prefers application/json",
            "security": _SECURED, "parameters": [_DOCUMENT_ID],
            "responses": {"200": {"description": "The document", "content": {
                "application/json": {"schema": ref("Document")}, **_PDF["content"]}}, **_errors(401, 404, 422)}}},
        "/api/v1/documents/{document_id}/file": {"get": {
            "summary": "The signed PDF of one document", "security": _SECURED, "parameters": [_DOCUMENT_ID],
            "responses": {"200": _PDF, **_errors(401, 404, 422)}}},
        "/api/v1/documents/{document_id}/verify": {"get": {
            "summary": "Whether the platform's stored copy is present, unchanged and validly signed",
            "security": _SECURED, "parameters": [_DOCUMENT_ID],
            "responses": {"200": resp("Verification", ref("DocumentVerification")), **_errors(401, 404)}}},
    }


def _document_schemas() -> dict[str, Any]:
    text: dict[str, Any] = {"type": "string"}
    nullable_str: dict[str, Any] = {"type": ["string", "null"]}
    integer: dict[str, Any] = {"type": "integer"}
    return {
        "Document": {"type": "object", "required": ["id", "number", "kind", "version", "sha256", "verification_code"],
                     "properties": {
            "id": integer, "number": text, "kind": {"type": "string", "enum": _DOCUMENT_KINDS}, "kind_title": text,
            "version": integer, "title": text, "instance_id": {"type": ["integer", "null"]},
            "organisation": {"type": ["object", "null"]}, "supersedes": nullable_str, "superseded_by": nullable_str,
            "articles": {"type": "array", "items": text}, "sha256": text, "verification_code": text,
            "template_version": text, "size": integer, "created_at": {"type": "string", "format": "date-time"},
            "links": {"type": "object", "properties": {"file": text, "verify": text}}}},
        "DocumentVerification": {"type": "object", "required": ["genuine", "reason", "document"], "properties": {
            "genuine": {"type": "boolean"}, "reason": nullable_str, "document": {"type": ["object", "null"]},
            "superseded": {"type": "boolean"}, "superseded_by": nullable_str,
            "signature": {"type": ["object", "null"]}, "message": nullable_str}},
    }
