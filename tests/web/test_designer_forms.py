"""The forms editor over HTTP: admin-only pages (list, editor with its zh/en preview and
versions), the preview fragment, saving with and without changes, CSRF, the JSON API, and a
task page keeping the form version its task was created with."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, FormVersion
from app.services import processes
from tests import factories
from tests.conftest import csrf_token
from tests.helpers import open_task, user

ROOT = Path(__file__).resolve().parents[2]
KEY = "onboarding_qualification_review"
EDITOR = f"/designer/forms/{KEY}"
PAGES = ("/designer/forms", EDITOR)
API = [("get", "/api/v1/forms"), ("get", f"/api/v1/forms/{KEY}"), ("get", f"/api/v1/forms/{KEY}/versions"),
       ("post", f"/api/v1/forms/{KEY}")]


def schema() -> dict:
    return json.loads((ROOT / "forms" / f"{KEY}.json").read_text(encoding="utf-8"))


def retitled(title: str = "入驻资质审查（修订）", title_en: str = "Qualification review (revised)") -> dict:
    s = schema()
    s["title"], s["x-title-en"] = title, title_en
    return s


def counts(app) -> tuple[int, int]:
    """Form versions and form audit entries (signing in is audited too)."""
    with app.app_context():
        try:
            return (db.session.execute(select(func.count(FormVersion.id))).scalar_one(),
                    db.session.execute(select(func.count(AuditEvent.id))
                                       .where(AuditEvent.action == "form.saved")).scalar_one())
        finally:
            db.session.rollback()


def textarea(page: str) -> str:
    match = re.search(r'<textarea id="form-schema"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "no schema text area"
    return html.unescape(match.group(1))


def pane(page: str, lang: str) -> str:
    match = re.search(rf'<div class="card form-preview" lang="[^"]+" data-lang="{lang}">(.*?)</div>\s*</div>', page, re.S)
    assert match, f"no {lang} preview"
    return match.group(1)


def editor_token(c) -> str:
    page = c.get(EDITOR).get_data(as_text=True)
    match = re.search(r'data-csrf-token="([^"]+)"', page)
    assert match
    return match.group(1)


# ------------------------------------------------------------------------------ pages


def test_admin_sees_the_forms_and_the_editor_with_a_preview_in_both_languages(login_as):
    admin = login_as("admin")
    assert 'href="/designer/forms"' in admin.get("/designer").get_data(as_text=True)
    listing = admin.get("/designer/forms")
    assert listing.status_code == 200
    page = listing.get_data(as_text=True)
    assert "入驻资质审查" in page and f'href="{EDITOR}"' in page and "表单" in page

    r = admin.get(EDITOR)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert json.loads(textarea(page)) == schema()
    zh, en = pane(page, "zh"), pane(page, "en")
    assert "入驻资质审查" in zh and "审查结论" in zh and "退回补正" in zh and "Decision" not in zh
    assert "Onboarding qualification review" in en and "Decision" in en and "Return for correction" in en
    assert "审查结论" not in en and "— choose —" not in en
    # each pane has inputs of its own, so that labels point at the right one
    assert 'id="zh-comment"' in zh and 'id="en-comment"' in en and 'for="en-comment"' in en
    row = re.search(r'<tr data-version="1".*?</tr>', page, re.S)
    assert row and "系统（forms/）" in row.group(0) and f"forms/{KEY}.json" in row.group(0)
    assert "designer_forms.js" in page and "onclick" not in page


def test_non_admins_get_403_and_strangers_the_login(app, client, login_as):
    before = counts(app)
    for username in ("operator", "authority", "applicant"):
        c = login_as(username)
        for path in PAGES:
            assert c.get(path).status_code == 403, (username, path)
        token = csrf_token(c, "/inbox")
        for path in (EDITOR, EDITOR + "/preview"):
            r = c.post(path, data={"schema": json.dumps(retitled()), "action": "save", "csrf_token": token})
            assert r.status_code == 403, (username, path)
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert counts(app) == before


def test_posts_need_the_csrf_token(app, login_as):
    admin = login_as("admin")
    before = counts(app)
    body = {"schema": json.dumps(retitled()), "action": "save", "comment": "x"}
    for token in (None, "forged"):
        data = body | ({"csrf_token": token} if token else {})
        assert admin.post(EDITOR, data=data).status_code == 400
        headers = {"X-CSRFToken": token} if token else {}
        assert admin.post(EDITOR + "/preview", data={"schema": body["schema"]}, headers=headers).status_code == 400
    assert counts(app) == before


def test_the_preview_fragment_follows_the_text_and_names_problems(app, login_as):
    admin = login_as("admin")
    headers = {"X-CSRFToken": editor_token(admin)}
    before = counts(app)
    r = admin.post(EDITOR + "/preview", data={"schema": json.dumps(retitled("资质审查（新）", "Review (new)"))},
                   headers=headers)
    assert r.status_code == 200
    fragment = r.get_data(as_text=True)
    assert "<html" not in fragment and "资质审查（新）" in pane(fragment, "zh") and "Review (new)" in pane(fragment, "en")

    broken = schema()
    del broken["title"]
    broken["properties"]["comment"]["type"] = "object"
    r = admin.post(EDITOR + "/preview", data={"schema": json.dumps(broken)}, headers=headers)
    assert r.status_code == 422
    fragment = r.get_data(as_text=True)
    assert "/title" in fragment and "/properties/comment/type" in fragment and 'role="alert"' in fragment
    assert "form-preview" not in fragment.replace("form-problems", "")

    r = admin.post(EDITOR + "/preview", data={"schema": '{"title": '}, headers=headers)
    assert r.status_code == 422 and "不是有效的 JSON" in r.get_data(as_text=True)
    assert "第 1 行，第 11 列" in r.get_data(as_text=True)
    assert counts(app) == before


def test_saving_without_javascript(app, login_as):
    admin = login_as("admin")
    token = csrf_token(admin, EDITOR)
    before_rows, before_events = counts(app)
    text = json.dumps(retitled(), ensure_ascii=False, indent=2)

    # Preview: the page again with the preview of the posted text; nothing stored
    r = admin.post(EDITOR, data={"schema": text, "comment": "改标题", "action": "preview", "csrf_token": token})
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "入驻资质审查（修订）" in pane(page, "zh") and textarea(page) == text and 'value="改标题"' in page
    assert counts(app) == (before_rows, before_events)

    # Save: a new version, listed with its author and comment
    r = admin.post(EDITOR, data={"schema": text, "comment": "改标题", "action": "save", "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith(EDITOR)
    page = admin.get(EDITOR).get_data(as_text=True)
    assert "已保存为第 2 版。" in page
    row = re.search(r'<tr data-version="2".*?</tr>', page, re.S)
    assert row and "admin" in row.group(0) and "改标题" in row.group(0)
    assert json.loads(textarea(page))["title"] == "入驻资质审查（修订）"
    assert counts(app) == (before_rows + 1, before_events + 1)

    # the same content again: no new version
    r = admin.post(EDITOR, data={"schema": text, "comment": "再存", "action": "save", "csrf_token": token},
                   follow_redirects=True)
    assert r.status_code == 200 and 'data-version="3"' not in r.get_data(as_text=True)
    assert counts(app) == (before_rows + 1, before_events + 1)

    # refused: the page again with the problems and the text as typed
    bad = text.replace('"type": "object"', '"type": "array"', 1)
    r = admin.post(EDITOR, data={"schema": bad, "comment": "", "action": "save", "csrf_token": token})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "/type" in page and textarea(page) == bad and 'aria-invalid="true"' in page
    assert counts(app) == (before_rows + 1, before_events + 1)


def test_a_new_form_starts_from_a_review_form(app, login_as):
    admin = login_as("admin")
    r = admin.get("/designer/forms?new=site_visit_check")
    assert r.status_code == 302 and r.headers["Location"].endswith("/designer/forms/site_visit_check")
    page = admin.get("/designer/forms/site_visit_check").get_data(as_text=True)
    starter = json.loads(textarea(page))
    assert starter["required"] == ["decision", "comment"] and "新表单" in pane(page, "zh")
    assert "保存后成为第 1 版" in page
    r = admin.get("/designer/forms?new=Bad Key", follow_redirects=True)
    assert "表单键" in r.get_data(as_text=True)
    assert admin.get("/designer/forms/Bad-Key").status_code == 404
    assert admin.get(f"{EDITOR}?version=9").status_code == 404

    token = csrf_token(admin, "/designer/forms/site_visit_check")
    r = admin.post("/designer/forms/site_visit_check",
                   data={"schema": json.dumps(starter), "action": "save", "csrf_token": token})
    assert r.status_code == 302
    listing = admin.get("/designer/forms").get_data(as_text=True)
    assert 'data-key="site_visit_check"' in listing


def test_a_task_page_keeps_the_form_version_of_its_task(app, client, login_as, api):
    with app.app_context():
        instance = processes.start(db.session, user(db.session, "applicant"), "partner_onboarding",
                                   factories.application())
        db.session.commit()
        task_id = open_task(db.session, "operator", "review_qualifications", instance).id
    v2 = schema()
    v2["properties"]["comment"]["title"] = "审查意见（第二版）"
    r = client.post(f"/api/v1/forms/{KEY}", json={"schema": v2, "comment": "改字段名"}, headers=api("admin"))
    assert r.status_code == 201 and r.json["version"] == 2

    operator = login_as("operator")
    page = operator.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "审查意见" in page and "审查意见（第二版）" not in page
    body = client.get(f"/api/v1/tasks/{task_id}", headers=api("operator")).json
    assert body["form_version"] == 1 and body["form"]["properties"]["comment"]["title"] == "审查意见"


# ------------------------------------------------------------------------------ JSON API


@pytest.mark.parametrize(("method", "path"), API)
def test_api_needs_a_token_and_saving_needs_an_admin(client, api, method, path):
    body = {"json": {"schema": retitled()}} if method == "post" else {}
    assert getattr(client, method)(path, **body).status_code == 401
    for username in ("operator", "applicant"):
        r = getattr(client, method)(path, headers=api(username), **body)
        if method == "post":
            assert r.status_code == 403 and r.json["error"] == "forbidden", (username, r.json)
        else:
            assert r.status_code == 200, (username, path)


def test_api_reads_forms_and_versions(client, api):
    h = api("operator")
    items = {i["key"]: i for i in client.get("/api/v1/forms", headers=h).json["items"]}
    assert items[KEY]["version"] == 1 and items[KEY]["title"] == "入驻资质审查" and items[KEY]["in_files"] is True
    r = client.get(f"/api/v1/forms/{KEY}", headers=h)
    assert r.status_code == 200 and r.json["version"] == 1 and r.json["schema"] == schema()
    assert list(r.json["schema"]["properties"]) == list(schema()["properties"])  # field order kept
    assert client.get(f"/api/v1/forms/{KEY}?version=1", headers=h).json["sha256"] == r.json["sha256"]
    assert client.get(f"/api/v1/forms/{KEY}?version=9", headers=h).status_code == 404
    for bad in ("abc", "0", "-1", "99999999999"):
        assert client.get(f"/api/v1/forms/{KEY}?version={bad}", headers=h).status_code == 422, bad
    assert client.get("/api/v1/forms/nope", headers=h).status_code == 404
    assert client.get("/api/v1/forms/nope/versions", headers=h).status_code == 404
    versions = client.get(f"/api/v1/forms/{KEY}/versions", headers=h).json
    assert [(v["version"], v["created_by"]) for v in versions["items"]] == [(1, None)]


def test_api_saves_versions_and_refuses_bad_schemas_storing_nothing(app, client, api):
    h = api("admin")
    before_rows, before_events = counts(app)
    r = client.post(f"/api/v1/forms/{KEY}", json={"schema": retitled(), "comment": "改标题"}, headers=h)
    assert r.status_code == 201
    assert r.json == {"key": KEY, "version": 2, "sha256": r.json["sha256"], "created": True}
    r2 = client.post(f"/api/v1/forms/{KEY}", json={"schema": retitled()}, headers=h)
    assert r2.status_code == 200 and r2.json["created"] is False and r2.json["version"] == 2
    assert counts(app) == (before_rows + 1, before_events + 1)

    no_title = schema()
    del no_title["title"]
    nested = schema()
    nested["properties"]["extra"] = {"title": "附加", "type": "object"}
    refused = [
        ({"schema": no_title}, "/title"),
        ({"schema": nested}, "/properties/extra/type"),
        ({"schema": schema() | {"properties": {"a": {"type": 5, "title": "x"}}}}, "/properties/a/type"),
        ({"schema": ["not", "an", "object"]}, ""),
        ({"schema": retitled("再改"), "comment": "x" * 501}, "comment"),
        ({"schema": retitled("再改"), "surprise": 1}, ""),
        ({"comment": "no schema"}, ""),
    ]
    for body, path in refused:
        r = client.post(f"/api/v1/forms/{KEY}", json=body, headers=h)
        assert r.status_code == 422, (body, r.json)
        assert r.json["error"] == "invalid_form" and path in [e["path"] for e in r.json["errors"]], r.json
        assert all(e["message"] for e in r.json["errors"])
    for raw in ("not json", "[1, 2]", '{"schema": ' + "[" * 5000 + "]" * 5000 + "}"):
        r = client.post(f"/api/v1/forms/{KEY}", data=raw, content_type="application/json", headers=h)
        assert r.status_code == 422
    r = client.post("/api/v1/forms/Bad-Key", json={"schema": retitled()}, headers=h)
    assert r.status_code == 422 and [e["path"] for e in r.json["errors"]] == ["key"]
    assert counts(app) == (before_rows + 1, before_events + 1)

    latest = client.get(f"/api/v1/forms/{KEY}", headers=h).json
    assert latest["version"] == 2 and latest["created_by"] == "admin" and latest["comment"] == "改标题"
    assert [v["version"] for v in client.get(f"/api/v1/forms/{KEY}/versions", headers=h).json["items"]] == [2, 1]


def test_openapi_documents_the_forms_api(client):
    doc = client.get("/api/v1/openapi.json").json
    for method, path in API:
        assert method in doc["paths"][path.replace(KEY, "{key}")], path
    assert "FormProblems" in doc["components"]["schemas"]


def test_a_schema_with_unstorable_text_is_refused_not_500(client, api):
    """A lone surrogate (from a JSON "\\ud800" escape) or a NUL in a schema: 422 naming where, nothing stored."""
    body = '{"schema": {"title": "表单\\ud800", "type": "object", "properties": {}}, "comment": "x\\u0000"}'
    response = client.post("/api/v1/forms/new_form_x", data=body, content_type="application/json",
                           headers=api("admin"))
    assert response.status_code == 422, response.data
    assert sorted(e["path"] for e in response.json["errors"]) == ["/comment", "/schema/title"]
    assert client.get("/api/v1/forms/new_form_x", headers=api("admin")).status_code == 404
