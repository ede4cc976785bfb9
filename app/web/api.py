"""JSON API v1: bearer tokens, processes, instances, tasks, catalogue. Errors are JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from jsonschema import Draft202012Validator

from app.errors import AuthenticationError, FieldError, ValidationError
from app.extensions import csrf, db
from app.models import Comment, HumanTask, ProcessInstance, User
from app.models.workflow import INSTANCE_STATUSES
from app.services import accounts, audit, catalog, comments, form_versions, grants, processes, tasks
from app.services.clock import clock
from app.web import MAX_ID
from app.web.inbox import run_bulk
from app.web.openapi import MAX_PAGE, document
from app.web.openapi_collaboration import ASSIGN_BODY, BULK_BODY, COMMENT_BODY

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


_BODY_VALIDATORS: dict[str, Draft202012Validator] = {}


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator per body schema, built once (the schemas are the fixed ones of this module)."""
    key = json.dumps(schema, sort_keys=True)
    found = _BODY_VALIDATORS.get(key)
    if found is None:
        found = _BODY_VALIDATORS[key] = Draft202012Validator(schema)
    return found


def json_object(schema: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON object, checked against a small schema (unknown fields refused)."""
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object", [FieldError("", "malformed or missing JSON object")])
    errors = [FieldError(_field(e), e.message) for e in _validator(schema).iter_errors(data)]
    if errors:
        raise ValidationError("the request body is not valid", errors)
    return data


_NO_FIELDS: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}


def no_body() -> None:
    """An action without parameters takes no body or an empty JSON object; anything else sent
    is refused (400/422), not ignored."""
    if request.content_length or request.is_json:
        json_object(_NO_FIELDS)


def _field(err: Any) -> str:
    """The dotted path of the offending field; for a field that is missing or not allowed, the
    field's own (``task_new.sms``), not its parent's."""
    path = ".".join(map(str, err.absolute_path))
    if err.validator in ("required", "additionalProperties") and "'" in err.message:
        return ".".join(filter(None, (path, err.message.split("'")[1])))
    return path


def _int_arg(name: str, default: int, maximum: int | None = MAX_PAGE) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError("bad query parameter", [FieldError(name, "must be a positive integer")]) from None
    if value < 1 or (maximum is not None and value > maximum):
        raise ValidationError("bad query parameter", [FieldError(name, f"must be between 1 and {maximum or 'any'}")])
    return value


def bearer_token() -> str:
    """The token of the request's ``Authorization: Bearer ...`` header, or ""."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def token_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = bearer_token()
        user = accounts.user_for_token(db.session, token) if token else None
        if user is None:
            raise AuthenticationError("a valid bearer token is required (POST /api/v1/auth/token)")
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def me_user() -> User:
    return g.api_user


# --- representations -------------------------------------------------------------------

def user_json(user: User) -> dict[str, Any]:
    org = user.organisation
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "roles": sorted(user.roles),
            "organisation": {"id": org.id, "code": org.code, "name": org.name, "kind": org.kind, "status": org.status}}


def task_json(task: HumanTask) -> dict[str, Any]:
    return _task_body(task, task.candidate_org.code if task.candidate_org else None,
                      task.assignee.username if task.assignee else None)


def task_row_json(row: Any) -> dict[str, Any]:
    """:func:`task_json` of a row of ``processes.open_task_rows`` (its unit and assignee joined)."""
    return _task_body(row, row.organisation, row.assignee)


def _task_body(task: Any, organisation: str | None, assignee: str | None) -> dict[str, Any]:
    return {"id": task.id, "instance_id": task.instance_id, "process_key": task.process_key,
            "element": task.spec_id, "title": task.title, "title_zh": task.title.split(" / ", 1)[0],
            "title_en": task.title.split(" / ", 1)[1] if " / " in task.title else None, "role": task.role,
            "organisation": organisation, "assignee": assignee,
            "status": task.status, "form_key": task.form_key, "articles": task.articles,
            "due_at": task.due_at.isoformat() if task.due_at else None,
            "created_at": task.created_at.isoformat()}


# A completion answers with the instance's latest events, not its whole history: the answer's
# cost and size stay the same however long the instance has run (GET the instance for all).
COMPLETION_HISTORY = 20


def instance_json(instance: ProcessInstance, history_limit: int | None = None) -> dict[str, Any]:
    """The instance with its open tasks and its history: all of it, or its last ``history_limit``
    events (``history_total`` says how many there are)."""
    events: list[processes.HistoryEntry]
    if history_limit is None:
        events = list(processes.history(db.session, instance))
        total = len(events)
    else:
        events, total = processes.latest_history(db.session, instance, history_limit)
    history = [
        {"at": e.at.isoformat(), "actor": e.actor, "action": e.action,
         "element": e.payload.get("element"), "title": e.payload.get("title"),
         "decision": e.payload.get("decision"), "comment": e.payload.get("comment")}
        for e in events
    ]
    return {"id": instance.id, "business_key": instance.business_key, "process_key": instance.process_key,
            "version": instance.definition.version, "title": instance.title, "status": instance.status,
            "outcome": instance.outcome, "org_id": instance.org_id,
            "articles": instance.definition.meta.get("articles", []),
            "created_at": instance.created_at.isoformat(),
            "completed_at": instance.completed_at.isoformat() if instance.completed_at else None,
            "open_tasks": [task_row_json(t) for t in processes.open_task_rows(db.session, instance)],
            "history": history, "history_total": total}


# --- endpoints --------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document())


@bp.post("/auth/token")
def token() -> Any:
    body = json_object({"type": "object", "additionalProperties": False, "required": ["username", "password"],
                        "properties": {"username": {"type": "string", "maxLength": 64},
                                       "password": {"type": "string", "maxLength": 256}}})
    settings = current_app.config["GRANTFLOW"]
    try:
        user = accounts.authenticate(db.session, body["username"], body["password"],
                                     max_failures=settings.login_max_failures)
    except AuthenticationError:
        db.session.commit()
        raise
    value = accounts.issue_token(db.session, user, settings.token_ttl_hours)
    db.session.commit()
    return jsonify({"token": value, "token_type": "Bearer", "expires_in": settings.token_ttl_hours * 3600})


@bp.delete("/auth/token")
@token_required
def revoke_token() -> Any:
    """Revoke the token this request carries (sign out of the API); it fails from now on."""
    accounts.revoke_token(db.session, bearer_token())
    db.session.commit()
    return "", 204


@bp.get("/me")
@token_required
def me() -> Any:
    return jsonify(user_json(me_user()))


@bp.get("/processes")
@token_required
def process_list() -> Any:
    items = []
    for p in processes.startable(db.session, me_user()):
        key = p.definition.meta.get("start_form_key")
        items.append({"key": p.definition.process_key, "version": p.definition.version, "name": p.definition.name,
                      "articles": p.definition.meta.get("articles", []),
                      "start_form": form_versions.current(db.session, key).schema if key else None,
                      "can_start": p.can_start, "reason": p.reason})
    return jsonify({"items": items})


@bp.post("/processes/<key>/instances")
@token_required
def start_instance(key: str) -> Any:
    body = json_object({"type": "object", "additionalProperties": False,
                        "properties": {"data": {"type": "object"}}})
    instance = processes.start(db.session, me_user(), key, body.get("data", {}))
    answer = instance_json(instance)  # read in the starting transaction, then committed
    db.session.commit()
    return jsonify(answer), 201


@bp.get("/instances")
@token_required
def instance_list() -> Any:
    page, per_page = _int_arg("page", 1), _int_arg("per_page", 20, 100)
    status = request.args.get("status") or None
    if status not in (None, *INSTANCE_STATUSES):
        raise ValidationError("bad query parameter", [FieldError("status", f"one of {', '.join(INSTANCE_STATUSES)}")])
    q = request.args.get("q", "")
    if len(q) > 64:
        raise ValidationError("bad query parameter", [FieldError("q", "at most 64 characters")])
    org = _int_arg("org", 0, MAX_ID) or None
    rows, total = processes.list_instances(db.session, me_user(), process_key=request.args.get("process"),
                                           status=status, q=q or None, org_id=org, page=page, per_page=per_page)
    items = [{"id": r.id, "business_key": r.business_key, "process_key": r.process_key, "title": r.title,
              "status": r.status, "outcome": r.outcome, "created_at": r.created_at.isoformat()} for r in rows]
    return jsonify({"items": items, "total": total, "page": page, "per_page": per_page})


@bp.get("/instances/<int:instance_id>")
@token_required
def instance_detail(instance_id: int) -> Any:
    return jsonify(instance_json(processes.get_instance(db.session, me_user(), instance_id)))


@bp.get("/tasks")
@token_required
def task_list() -> Any:
    status = request.args.get("status", "open")
    page = tasks.inbox(db.session, me_user(), status=status, process_key=request.args.get("process") or None,
                       page=_int_arg("page", 1), per_page=_int_arg("per_page", 20, 100))
    return jsonify({"items": [task_json(t) for t in page.items], "total": page.total,
                    "page": page.page, "per_page": page.per_page})


@bp.get("/tasks/<task_id>")
@token_required
def task_detail(task_id: str) -> Any:
    task = tasks.get_task(db.session, me_user(), task_id)
    body = task_json(task)
    form = form_versions.of_task(db.session, task)  # the version the task was created with
    body["form"] = form.schema if form else None
    body["form_version"] = form.version if form else None
    body["context"] = task.context
    return jsonify(body)


@bp.post("/tasks/<task_id>/claim")
@token_required
def task_claim(task_id: str) -> Any:
    task = tasks.claim(db.session, me_user(), task_id)
    db.session.commit()
    return jsonify(task_json(task))


@bp.post("/tasks/<task_id>/unclaim")
@token_required
def task_unclaim(task_id: str) -> Any:
    task = tasks.unclaim(db.session, me_user(), task_id)
    db.session.commit()
    return jsonify(task_json(task))


@bp.post("/tasks/<task_id>/complete")
@token_required
def task_complete(task_id: str) -> Any:
    body = json_object({"type": "object", "additionalProperties": False, "required": ["data"],
                        "properties": {"data": {"type": "object"}}})
    task = tasks.complete(db.session, me_user(), task_id, body["data"])
    # The answer is read inside the completing transaction (what it commits, without a second
    # transaction after it), then committed.
    answer = {"task": task_json(task), "instance": instance_json(task.instance, COMPLETION_HISTORY)}
    db.session.commit()
    return jsonify(answer)


@bp.post("/tasks/<task_id>/assign")
@token_required
def task_assign(task_id: str) -> Any:
    """Hand the task to a colleague of the same role (and organisation)."""
    body = json_object(ASSIGN_BODY)
    task = tasks.reassign(db.session, me_user(), task_id, body["username"])
    db.session.commit()
    return jsonify(task_json(task))


@bp.post("/tasks/bulk")
@token_required
def task_bulk() -> Any:
    """Claim, or approve with one comment, several tasks: each in its own transaction."""
    body = json_object(BULK_BODY)
    outcomes = run_bulk(me_user(), tasks.bulk_request(body["action"], body["task_ids"], body.get("comment", "")))
    return jsonify({"action": body["action"], "done": sum(o.done for o in outcomes), "items": [
        {"task_id": o.task_id, "status": "done" if o.done else "refused", "title": o.title, "error": o.error,
         "message": o.message, "errors": [{"field": e.field, "message": e.message} for e in o.errors]}
        for o in outcomes]})


def comment_json(c: Comment) -> dict[str, Any]:
    return {"id": c.id, "instance_id": c.instance_id, "task_id": c.task_id, "author": c.author.username,
            "author_name": c.author.display_name, "body": c.body, "created_at": c.created_at.isoformat()}


# One rule for both methods: with two, werkzeug answers 405 rather than 404 for an id too
# large to name a row (the other method's rule matches the path before the id is checked).
@bp.route("/instances/<int:instance_id>/comments", methods=["GET", "POST"])
@token_required
def instance_comments(instance_id: int) -> Any:
    """GET: the instance's comments, oldest first. POST: add one (on a step with ``task_id``)."""
    if request.method == "GET":
        items = [comment_json(c) for c in comments.for_instance(db.session, me_user(), instance_id)]
        return jsonify({"items": items, "total": len(items)})
    body = json_object(COMMENT_BODY)
    comment = comments.add(db.session, me_user(), instance_id, body["body"], task_id=body.get("task_id"))
    db.session.commit()
    return jsonify(comment_json(comment)), 201


def catalog_json(i: Any) -> dict[str, Any]:
    return {"id": i.id, "code": i.code, "name": i.name, "name_en": i.name_en, "description": i.description,
            "classification": i.classification, "grade": i.grade,
            "source_department": {"id": i.source_org.id, "code": i.source_org.code, "name": i.source_org.name}}


@bp.get("/catalog")
@token_required
def catalog_list() -> Any:
    classification = request.args.get("classification") or None
    if classification not in (None, "unconditional", "conditional", "not_open"):
        raise ValidationError("bad query parameter", [FieldError("classification", "unknown classification")])
    return jsonify({"items": [catalog_json(i) for i in catalog.list_items(db.session, classification=classification)]})


@bp.post("/catalog")
@token_required
def catalog_create() -> Any:
    item = catalog.create_item(db.session, me_user(), request.get_json(silent=True, force=True))
    db.session.commit()
    return jsonify(catalog_json(item)), 201


@bp.patch("/catalog/<int:item_id>")
@token_required
def catalog_update(item_id: int) -> Any:
    item = catalog.update_item(db.session, me_user(), item_id, request.get_json(silent=True, force=True))
    db.session.commit()
    return jsonify(catalog_json(item))


def grant_json(g: Any) -> dict[str, Any]:
    return {"id": g.id, "number": g.number, "org": g.organisation.code, "instance_id": g.instance_id,
            "items": [i.code for i in g.items], "purpose": g.purpose, "fee_regime": g.fee_regime, "scope": g.scope,
            "issued_at": g.issued_at.isoformat(), "expires_at": g.expires_at.isoformat(),
            "suspended_at": g.suspended_at.isoformat() if g.suspended_at else None,
            "revoked_at": g.revoked_at.isoformat() if g.revoked_at else None,
            "status": g.status_at(clock.now())}


@bp.get("/grants")
@token_required
def grant_list() -> Any:
    return jsonify({"items": [grant_json(g) for g in grants.visible(db.session, me_user())]})


@bp.get("/grants/<int:grant_id>")
@token_required
def grant_detail(grant_id: int) -> Any:
    return jsonify(grant_json(grants.get(db.session, me_user(), grant_id)))


@bp.post("/audit/verify")
@token_required
def audit_verify() -> Any:
    """Check the whole audit chain now (the authority and administrators)."""
    no_body()
    report = audit.verify_for(db.session, me_user())
    db.session.commit()
    return jsonify(report.as_dict())
