"""Access control, table-driven: every URL rule of the application × every demo user and an
anonymous caller. Allowed callers get through (no 401/403/404, no redirect to the login
page), everyone else is refused with 403 or 404 (pages send anonymous callers to the login
page, the API answers 401). A route without an entry in ``ACCESS`` fails the test, so a new
route cannot ship without saying who may use it.

Then id guessing: partner_a and partner_b each own an instance, a task, a document and a
grant; neither can read the other's, over HTML or the API, and the refusal for an existing
id is the same as for an id that does not exist."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import CatalogItem, Grant, Notification
from app.services import demo, documents, processes, saved_filters
from app.services.clock import clock
from tests.conftest import make_test_app
from tests.helpers import complete, open_task, org, user

ANONYMOUS = "anonymous"
USERS = tuple(u[0] for u in demo.USERS)
EVERYONE = frozenset(USERS) | {ANONYMOUS}
SIGNED_IN = frozenset(USERS)
ADMIN = frozenset({"admin"})
# Who may see each kind of partner_a's things (partner_b's mirror them): the owner, and
# the oversight roles; the operator runs the processes; the document officer keeps documents.
INSTANCE_A = frozenset({"partner_a", "operator", "admin", "authority"})
TASK_A = frozenset({"partner_a"})
DOCUMENT_A = frozenset({"partner_a", "operator", "admin", "authority", "doc_officer"})
GRANT_A = frozenset({"partner_a", "operator", "admin", "authority"})
GRANT_VIEWERS = frozenset({"partner_a", "partner_b", "applicant", "candidate", "operator", "admin", "authority"})
# Active partners start data requests; applicant and candidate are not onboarded yet.
DATA_REQUESTERS = frozenset({"partner_a", "partner_b"})
# The authority edits the whole catalogue; `source_dept` acts for dept_market, MKT-001's source.
MARKET_EDITORS = frozenset({"authority", "source_dept"})


def data_request(**overrides: Any) -> dict[str, Any]:
    data = {"business_scenario": "企业信用画像服务。", "catalog_items": ["MKT-001"],
            "development_plan": "平台内加工，原始数据不出域。", "purpose": "public_welfare",
            "scope": "仅用于南山区涉企信用评估。"}
    data.update(overrides)
    return data


def catalog_item(code: str) -> dict[str, str]:
    return {"code": code, "name": "测试数据项", "name_en": "Test item", "description": "",
            "classification": "unconditional", "grade": "L1", "source_department": "dept_market"}


@dataclass(frozen=True)
class Access:
    """Who may use a route. ``args`` fill the rule's variables (names of world entries or
    literals); ``body`` is sent as a form (pages) or JSON (API); ``ok`` lists the statuses
    an allowed caller may get when it is not a plain 2xx/3xx (a 422 for an empty form)."""

    allowed: frozenset[str]
    args: dict[str, str] = field(default_factory=dict)
    body: Any = None
    ok: frozenset[int] = frozenset()


A = Access
# (endpoint, method) -> who may use it. Endpoints under designer* blueprints are checked by
# DESIGNER_BLUEPRINTS below instead: every one of them is for process administrators only.
ACCESS: dict[tuple[str, str], Access] = {
    # sign-in, language, health, static files: public
    ("auth.login", "GET"): A(EVERYONE),
    ("auth.login", "POST"): A(EVERYONE, body={"username": "nobody", "password": "x"}, ok=frozenset({401})),
    ("auth.set_locale", "POST"): A(EVERYONE, body={"locale": "zh_CN", "next": "/login"}),
    ("auth.logout", "POST"): A(SIGNED_IN),
    ("inbox.healthz", "GET"): A(EVERYONE),
    ("static", "GET"): A(EVERYONE, {"filename": "app.css"}),
    ("assets.asset", "GET"): A(EVERYONE, {"name": "bpmn-js/dist/assets/diagram-js.css"}),
    ("documents.verify", "GET"): A(EVERYONE),
    ("documents.verify", "POST"): A(EVERYONE, body={"code": ""}, ok=frozenset({422})),
    ("api.openapi", "GET"): A(EVERYONE),
    ("api.token", "POST"): A(EVERYONE, body={"username": "nobody", "password": "x"}, ok=frozenset({401})),
    # pages for every signed-in user
    ("inbox.home", "GET"): A(SIGNED_IN),
    ("inbox.index", "GET"): A(SIGNED_IN),
    ("instances.process_list", "GET"): A(SIGNED_IN),
    ("instances.index", "GET"): A(SIGNED_IN),
    ("instances.articles", "GET"): A(SIGNED_IN),
    ("catalog.index", "GET"): A(SIGNED_IN),
    ("documents.index", "GET"): A(SIGNED_IN),
    # the dashboard: the authority, the operator and admins
    ("dashboard.index", "GET"): A(frozenset({"authority", "operator", "admin"})),
    ("dashboard_api.api_index", "GET"): A(frozenset({"authority", "operator", "admin"})),
    ("catalog.grant_list", "GET"): A(GRANT_VIEWERS),
    # starting a data request (data_authorization): active partners; an empty form is a 422
    ("instances.start", "GET"): A(DATA_REQUESTERS, {"key": "data_authorization"}),
    ("instances.start", "POST"): A(DATA_REQUESTERS, {"key": "data_authorization"}, body={}, ok=frozenset({422})),
    # partner_a's instance, task and document
    ("instances.detail", "GET"): A(INSTANCE_A, {"instance_id": "instance_a"}),
    ("instances.diagram", "GET"): A(INSTANCE_A, {"instance_id": "instance_a"}),
    ("inbox.task", "GET"): A(TASK_A, {"task_id": "task_a"}),
    ("inbox.complete", "POST"): A(TASK_A, {"task_id": "task_a"}, body={}, ok=frozenset({422})),
    ("inbox.claim", "POST"): A(TASK_A, {"task_id": "task_a"}, body={}),
    ("inbox.unclaim", "POST"): A(TASK_A, {"task_id": "task_a"}, body={}),
    ("documents.detail", "GET"): A(DOCUMENT_A, {"document_id": "document_a"}),
    ("documents.download", "GET"): A(DOCUMENT_A, {"document_id": "document_a"}),
    ("documents.preview", "GET"): A(DOCUMENT_A, {"document_id": "document_a"}),
    # the catalogue: the authority, and the item's source department
    ("catalog.create", "GET"): A(MARKET_EDITORS | {"dept_hrss", "dept_transport"}),
    ("catalog.create", "POST"): A(MARKET_EDITORS, body=catalog_item("MKT-901"), ok=frozenset({422})),
    ("catalog.edit", "GET"): A(MARKET_EDITORS, {"item_id": "mkt_001"}),
    ("catalog.edit", "POST"): A(MARKET_EDITORS, {"item_id": "mkt_001"}, body={"name": "企业登记注册信息"},
                                ok=frozenset({422})),
    # the JSON API
    ("api.me", "GET"): A(SIGNED_IN),
    ("api.process_list", "GET"): A(SIGNED_IN),
    ("api.instance_list", "GET"): A(SIGNED_IN),
    ("api.task_list", "GET"): A(SIGNED_IN),
    ("api.catalog_list", "GET"): A(SIGNED_IN),
    ("documents_api.api_list", "GET"): A(SIGNED_IN),
    ("api.grant_list", "GET"): A(GRANT_VIEWERS),
    ("api.start_instance", "POST"): A(DATA_REQUESTERS, {"key": "data_authorization"}, body={"data": {}},
                                      ok=frozenset({422})),
    ("api.instance_detail", "GET"): A(INSTANCE_A, {"instance_id": "instance_a"}),
    ("api.task_detail", "GET"): A(TASK_A, {"task_id": "task_a"}),
    ("api.task_claim", "POST"): A(TASK_A, {"task_id": "task_a"}),
    ("api.task_unclaim", "POST"): A(TASK_A, {"task_id": "task_a"}, ok=frozenset({409})),
    ("api.task_complete", "POST"): A(TASK_A, {"task_id": "task_a"}, body={"data": {}}, ok=frozenset({422})),
    ("api.grant_detail", "GET"): A(GRANT_A, {"grant_id": "grant_a"}),
    ("api.catalog_create", "POST"): A(MARKET_EDITORS, body=catalog_item("MKT-902"), ok=frozenset({422})),
    ("api.catalog_update", "PATCH"): A(MARKET_EDITORS, {"item_id": "mkt_001"}, body={"name": "企业登记注册信息"}),
    ("documents_api.api_detail", "GET"): A(DOCUMENT_A, {"document_id": "document_a"}),
    ("documents_api.file", "GET"): A(DOCUMENT_A, {"document_id": "document_a"}),
    ("documents_api.check", "GET"): A(DOCUMENT_A, {"document_id": "document_a"}),
    ("documents_api.api_instance_documents", "GET"): A(INSTANCE_A | {"doc_officer"}, {"instance_id": "instance_a"}),
    ("api.revoke_token", "DELETE"): A(SIGNED_IN),
    # the audit log: the public data authority and the platform administrators
    ("audit_pages.index", "GET"): A(frozenset({"authority", "admin"})),
    ("audit_pages.export", "GET"): A(frozenset({"authority", "admin"})),
    ("audit_pages.verify", "POST"): A(frozenset({"authority", "admin"})),
    ("api.audit_verify", "POST"): A(frozenset({"authority", "admin"})),
    # notifications: each user's own (partner_a has one about its returned request)
    ("notifications.index", "GET"): A(SIGNED_IN),
    ("notifications.preferences", "GET"): A(SIGNED_IN),
    ("notifications.preferences", "POST"): A(SIGNED_IN, body={"task_new.in_app": "on"}),
    ("notifications.read_all", "POST"): A(SIGNED_IN, body={}),
    ("notifications.read", "POST"): A(frozenset({"partner_a"}), {"notification_id": "notification_a"}, body={}),
    ("notifications_api.api_list", "GET"): A(SIGNED_IN),
    ("notifications_api.api_read_all", "POST"): A(SIGNED_IN),
    ("notifications_api.api_preferences", "GET"): A(SIGNED_IN),
    ("notifications_api.api_set_preferences", "PATCH"): A(SIGNED_IN, body={"task_new": {"in_app": True}}),
    ("notifications_api.api_read", "POST"): A(frozenset({"partner_a"}), {"notification_id": "notification_a"}),
    # forms: read by anyone signed in (clients render them), changed by process administrators
    ("forms_api.form_list", "GET"): A(SIGNED_IN),
    ("forms_api.form_detail", "GET"): A(SIGNED_IN, {"key": "da_request"}),
    ("forms_api.form_history", "GET"): A(SIGNED_IN, {"key": "da_request"}),
    ("forms_api.form_save", "POST"): A(ADMIN, {"key": "da_request"}, body={}, ok=frozenset({422})),
    # inbox ergonomics: handing partner_a's task on (partner_b is no colleague: 422), comments
    # by whoever sees the case, bulk actions (on nothing, or a task nobody has), saved filters
    # (partner_a's own; every other caller gets 404)
    ("inbox.assign", "POST"): A(TASK_A, {"task_id": "task_a"}, body={"username": "partner_b"}, ok=frozenset({422})),
    ("inbox.comment", "POST"): A(TASK_A, {"task_id": "task_a"}, body={"body": "请补充说明。"}),
    ("instances.comment", "POST"): A(INSTANCE_A, {"instance_id": "instance_a"}, body={"body": "已阅。"}),
    ("inbox.bulk", "POST"): A(SIGNED_IN, body={"action": "claim"}),
    ("inbox.save_filter", "POST"): A(SIGNED_IN, body={"name": "我认领的", "status": "mine"}),
    ("inbox.open_filter", "GET"): A(frozenset({"partner_a"}), {"filter_id": "filter_a"}),
    ("inbox.delete_filter", "POST"): A(frozenset({"partner_a"}), {"filter_id": "filter_a"}),
    ("api.task_assign", "POST"): A(TASK_A, {"task_id": "task_a"}, body={"username": "partner_b"}, ok=frozenset({422})),
    ("api.task_bulk", "POST"): A(SIGNED_IN, body={"action": "claim", "task_ids": ["00000000-0000-0000-0000-000000000000"]}),
    ("api.instance_comments", "GET"): A(INSTANCE_A, {"instance_id": "instance_a"}),
    ("api.instance_comments", "POST"): A(INSTANCE_A, {"instance_id": "instance_a"}, body={"body": "已阅。"}),
}
DESIGNER_BLUEPRINTS = ("designer",)  # designer, designer_api, designer_forms, ...: admins only
DESIGNER_ARGS = {"key": "partner_onboarding", "version": "1"}
# Calls that change the caller's state run last, in this order (claim before unclaim).
LAST = ("inbox.claim", "inbox.unclaim", "api.task_claim", "api.task_unclaim", "api.revoke_token", "auth.set_locale",
        "auth.logout")


@pytest.fixture(scope="module")
def matrix_app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    folder = tmp_path_factory.mktemp("matrix")
    shutil.copyfile(sqlite_template, folder / "grantflow.db")
    application = make_test_app(f"sqlite:///{folder / 'grantflow.db'}", folder)
    yield application
    clock.set(None)
    db.engine.dispose()  # type: ignore[union-attr]


def build_world(app: Flask) -> dict[str, Any]:
    """For partner_a and partner_b each: a data request returned to them (so each has an open
    task of its own), a document on that instance and a grant. Returns their ids."""
    world: dict[str, Any] = {}
    with app.app_context():
        session = db.session
        for code, suffix in (("partner_a", "a"), ("partner_b", "b")):
            instance = processes.start(session, user(session, code), "data_authorization", data_request())
            session.commit()
            complete(session, "operator", "operator_review", instance, {"decision": "return", "comment": "请补充说明。"})
            task = open_task(session, code, "revise_request", instance)
            partner = org(session, code)
            document = documents.generate(
                session, kind="filing_certificate", instance=instance, org=partner,
                actor=user(session, "authority"), articles=["Art. 18"], context={
                    "parties": [documents.party(partner, "备案单位")], "issuer": "深圳市南山区政务服务和数据管理局",
                    "filing_no": f"NS-BA-2026-90{suffix}", "filed_matter": "授权合作方入驻备案",
                    "agreement_no": "NS-FW-2026-101", "filed_on": "2026-11-25", "comment": "已备案。"})
            grant = Grant(number=f"NS-SQ-M-{code}", org_id=partner.id, instance_id=instance.id,
                          purpose="public_welfare", fee_regime="free", scope="企业画像",
                          issued_at=clock.now(), expires_at=clock.now() + timedelta(days=30))
            grant.items = list(session.execute(select(CatalogItem).where(CatalogItem.code == "MKT-001")).scalars())
            session.add(grant)
            session.commit()
            saved = saved_filters.save(session, user(session, code), f"筛选-{suffix}", "status=mine")
            session.commit()
            world.update({f"instance_{suffix}": instance.id, f"task_{suffix}": task.id, f"filter_{suffix}": saved.id,
                          f"document_{suffix}": document.id, f"document_{suffix}_number": document.number,
                          f"grant_{suffix}": grant.id, f"grant_{suffix}_number": grant.number,
                          f"business_key_{suffix}": instance.business_key})
        world["mkt_001"] = session.execute(select(CatalogItem.id).where(CatalogItem.code == "MKT-001")).scalar_one()
        # the notice partner_a got when its request came back to it
        world["notification_a"] = session.execute(
            select(Notification.id).where(Notification.user_id == user(session, "partner_a").id,
                                          Notification.task_id == world["task_a"])).scalar_one()
    return world


@pytest.fixture(scope="module")
def world(matrix_app: Flask) -> dict[str, Any]:
    return build_world(matrix_app)


class Caller:
    """A demo user (or nobody) with a browser session and, when signed in, a bearer token."""

    def __init__(self, app: Flask, username: str) -> None:
        self.name = username
        self.client: FlaskClient = app.test_client()
        self.csrf = _csrf(self.client)
        self.bearer: dict[str, str] = {}
        if username != ANONYMOUS:
            r = self.client.post("/login", data={"username": username, "password": "demo", "csrf_token": self.csrf})
            assert r.status_code == 302, (username, r.status_code)
            self.csrf = _csrf(self.client, "/processes")
            token = self.client.post("/api/v1/auth/token", json={"username": username, "password": "demo"}).json
            self.bearer = {"Authorization": f"Bearer {token['token']}"}

    def call(self, method: str, path: str, body: Any) -> Any:
        if path.startswith("/api/"):
            return self.client.open(path, method=method, headers=self.bearer,
                                    json=body if body is not None or method in ("POST", "PATCH", "PUT") else None)
        data = {**(body or {}), "csrf_token": self.csrf} if method != "GET" else None
        return self.client.open(path, method=method, data=data)


def _csrf(client: FlaskClient, path: str = "/login") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def _path(rule: Any, args: dict[str, str], world: dict[str, Any]) -> str:
    path = rule.rule
    for name in rule.arguments:
        value = args.get(name, "1")
        value = str(world.get(value, value))
        path = re.sub(rf"<(?:[a-z]+(?:\([^)]*\))?:)?{name}>", value, path)
    return path


def _routes(app: Flask) -> list[tuple[Any, str]]:
    routes = [(rule, method) for rule in app.url_map.iter_rules() for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(routes, key=lambda r: (r[0].endpoint in LAST and LAST.index(r[0].endpoint) + 1, r[0].rule, r[1]))


def _is_designer(endpoint: str) -> bool:
    return endpoint.split(".")[0].startswith(DESIGNER_BLUEPRINTS)


def _verdict(path: str, response: Any) -> str:
    """'login' (sent to sign in: a redirect to the login page, or the API's 401), 'refused'
    (403/404), 'error' (5xx) or 'allowed'."""
    status = response.status_code
    if status >= 500:
        return "error"
    if (status == 401 and path.startswith("/api/")) or (
            status == 302 and "/login?next=" in response.headers.get("Location", "")):
        return "login"
    if status in (403, 404):
        return "refused"
    return "allowed"


def test_every_route_has_an_access_rule(matrix_app):
    missing = [f"{method} {rule.rule} ({rule.endpoint})" for rule, method in _routes(matrix_app)
               if (rule.endpoint, method) not in ACCESS and not _is_designer(rule.endpoint)]
    assert not missing, "routes without an entry in ACCESS:\n" + "\n".join(missing)
    stale = set(ACCESS) - {(rule.endpoint, method) for rule, method in _routes(matrix_app)}
    assert not stale, f"ACCESS names routes that no longer exist: {sorted(stale)}"


@pytest.mark.parametrize("username", [ANONYMOUS, *USERS])
def test_access_matrix(matrix_app, world, username):
    caller = Caller(matrix_app, username)
    wrong: list[str] = []
    for rule, method in _routes(matrix_app):
        if _is_designer(rule.endpoint):
            # admins reach every designer route (a made-up form or version may be a 404/422)
            access = Access(ADMIN, DESIGNER_ARGS, body={} if method != "GET" else None,
                            ok=frozenset({400, 404, 409, 422}))
        elif (rule.endpoint, method) in ACCESS:
            access = ACCESS[(rule.endpoint, method)]
        else:
            continue  # reported by test_every_route_has_an_access_rule
        path = _path(rule, access.args, world)
        response = caller.call(method, path, access.body)
        verdict, status = _verdict(path, response), response.status_code
        if username in access.allowed:
            good = verdict == "allowed" or status in access.ok
        elif username == ANONYMOUS:
            good = verdict == "login"
        else:
            good = verdict == "refused"
        if not good:
            wrong.append(f"{method} {path} ({rule.endpoint}): {status} "
                         f"{response.headers.get('Location', '')} expected "
                         f"{'allowed' if username in access.allowed else 'refused'}")
    assert not wrong, f"{username}:\n" + "\n".join(wrong)


# --- id guessing: partner_a against partner_b's things, and back --------------------------

GUESSED = [  # (path template, world key of the id, text that must not leak)
    ("/instances/{}", "instance", "business_key"),
    ("/instances/{}/diagram.bpmn", "instance", "business_key"),
    ("/tasks/{}", "task", "business_key"),
    ("/documents/{}", "document", "document_number"),
    ("/documents/{}/download", "document", "document_number"),
    ("/documents/{}/preview.png", "document", "document_number"),
    ("/api/v1/instances/{}", "instance", "business_key"),
    ("/api/v1/tasks/{}", "task", "business_key"),
    ("/api/v1/tasks/{}/claim", "task", "business_key"),
    ("/api/v1/tasks/{}/complete", "task", "business_key"),
    ("/api/v1/documents/{}", "document", "document_number"),
    ("/api/v1/documents/{}/file", "document", "document_number"),
    ("/api/v1/documents/{}/verify", "document", "document_number"),
    ("/api/v1/grants/{}", "grant", "grant_number"),
    ("/api/v1/instances/{}/comments", "instance", "business_key"),
]
NOWHERE = {"instance": 999_999, "task": "00000000-0000-0000-0000-000000000000", "document": 999_999, "grant": 999_999}


def _refusal(caller: Caller, path: str, target: Any) -> tuple[int, str, str]:
    """The status, the whole text, and what the caller is told (the JSON error, or the page's
    main section) with the id itself blanked out."""
    method = "POST" if path.endswith(("/claim", "/complete")) else "GET"
    body = {"data": {}} if path.endswith("/complete") else None
    r = caller.call(method, path, body)
    text = r.get_data(as_text=True)
    told = str(r.json) if r.is_json else text[text.find("<main"):text.find("</main>")]
    return r.status_code, text, re.sub(rf"\b{re.escape(str(target))}\b", "ID", told)


@pytest.mark.parametrize(("me", "other"), [("partner_a", "b"), ("partner_b", "a")])
def test_partners_cannot_reach_each_others_things_by_guessing_ids(matrix_app, world, me, other):
    caller = Caller(matrix_app, me)
    for template, kind, secret in GUESSED:
        target = world[f"{kind}_{other}"]
        status, text, told = _refusal(caller, template.format(target), target)
        assert status == 404, (template, status)
        key = {"business_key": f"business_key_{other}", "document_number": f"document_{other}_number",
               "grant_number": f"grant_{other}_number"}[secret]
        assert world[key] not in text, (template, "leaks", world[key])
        # the same answer as for an id that does not exist (only the id itself differs)
        missing_status, _text, missing_told = _refusal(caller, template.format(NOWHERE[kind]), NOWHERE[kind])
        assert (status, told) == (missing_status, missing_told), template
    # nor in the lists
    for path in ("/instances", "/inbox", "/documents", "/grants", "/api/v1/instances", "/api/v1/tasks",
                 "/api/v1/documents", "/api/v1/grants"):
        text = caller.call("GET", path, None).get_data(as_text=True)
        for key in (f"business_key_{other}", f"document_{other}_number", f"grant_{other}_number"):
            assert world[key] not in text, (path, key)
    # and the owner does see them (the refusals above are not an accident of the ids)
    owner = Caller(matrix_app, "partner_" + other)
    for template, kind, _secret in GUESSED:
        if "/claim" in template or "/complete" in template or "preview" in template:
            continue
        assert owner.call("GET", template.format(world[f"{kind}_{other}"]), None).status_code == 200, template


def test_id_guessing_is_refused_on_every_backend(app, api, client):
    """The same refusals on PostgreSQL (when configured) as on SQLite, for the API."""
    world = build_world(app)
    b = api("partner_b")
    for template, kind, _secret in GUESSED:
        if not template.startswith("/api/") or template.endswith(("/claim", "/complete")):
            continue
        r = client.get(template.format(world[f"{kind}_a"]), headers=b)
        assert r.status_code == 404 and r.json["error"] == "not_found", template
    mine: Callable[[str], list[Any]] = lambda p: client.get(p, headers=b).json["items"]  # noqa: E731
    assert world["instance_a"] not in [i["id"] for i in mine("/api/v1/instances")]
    assert world["grant_a"] not in [g["id"] for g in mine("/api/v1/grants")]
    assert world["document_a"] not in [d["id"] for d in mine("/api/v1/documents")]


def test_catalog_form_is_refused_to_non_editors(login_as):
    for username in ("partner_a", "operator", "finance"):
        assert login_as(username).get("/catalog/new").status_code == 403, username
    assert login_as("authority").get("/catalog/new").status_code == 200
