"""Hostile input beyond what the API fuzzer generates: text no database stores (NUL, lone
surrogates: a 500 on PostgreSQL before the guard), JSON nested too deeply, malformed JSON on
every write endpoint, oversized forms and uploads, path traversal on static and document
routes, and Chinese text at the edges of Unicode stored and shown exactly, escaped."""

from __future__ import annotations

import io
import json

import pytest

from tests import factories
from tests.conftest import csrf_token

UNSTORABLE = {"nul": "数据\x00项", "lone surrogate": "\ud800数据"}
# Chinese at the edges: CJK Extension B and G, an emoji, a combining mark, a zero-width
# joiner, a right-to-left override, full-width punctuation, an ideographic space.
EDGE_TEXT = "𠀾𪚥𰀀 😀 é\u200d 数据\u202e项 ＜全角＞　「引号」"
HOSTILE = "<script>alert('x')</script> '; DROP TABLE catalog_item; -- \" & ' "


def _raw_json(client, method, path, value, headers):
    """Send ``value`` JSON-encoded with ASCII escapes, as a client would send "\\u0000"."""
    return client.open(path, method=method, data=json.dumps(value, ensure_ascii=True),
                       content_type="application/json", headers=headers)


@pytest.mark.parametrize("kind", sorted(UNSTORABLE))
def test_unstorable_text_is_refused_not_a_500(client, api, login_as, kind):
    text = UNSTORABLE[kind]
    authority, applicant = api("authority"), api("applicant")
    r = _raw_json(client, "POST", "/api/v1/catalog", {"code": "TST-001", "name": text, "classification": "unconditional",
                                                      "grade": "L1", "source_department": "dept_market"}, authority)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "name", r.json
    r = _raw_json(client, "POST", "/api/v1/processes/partner_onboarding/instances",
                  {"data": factories.application(company_name=text)}, applicant)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "data.company_name", r.json
    r = _raw_json(client, "POST", "/api/v1/auth/token", {"username": text, "password": "x"}, {})
    assert r.status_code == 422 and r.is_json
    r = _raw_json(client, "POST", "/api/v1/auth/token", {text: "x"}, {})
    assert r.status_code == 422 and r.is_json
    assert client.get("/api/v1/instances?process=%00", headers=applicant).status_code == 422
    assert client.get("/api/v1/tasks/abc%00def", headers=applicant).status_code == 404
    assert client.get("/api/v1/tasks/abc%00def", headers=applicant).is_json
    page = login_as("authority")
    r = page.post("/catalog/new", data={"code": "TST-002", "name": "数据\x00项", "classification": "unconditional",
                                        "grade": "L1", "source_department": "dept_market",
                                        "csrf_token": csrf_token(page, "/catalog/new")})
    assert r.status_code == 422
    assert page.get("/instances?process=%00").status_code == 422
    assert client.get("/api/v1/catalog", headers=authority).json["items"][-1]["code"] != "TST-001"


def test_json_nested_too_deeply_is_refused(client, api):
    headers = api("authority")
    for body in ("[" * 100_000, json.dumps({"data": json.loads("[" * 100 + "]" * 100)})):
        for path in ("/api/v1/auth/token", "/api/v1/catalog", "/api/v1/processes/partner_onboarding/instances"):
            r = client.post(path, data=body, content_type="application/json", headers=headers)
            assert r.status_code == 422 and "nested too deeply" in r.json["message"], (path, r.status_code)


def test_malformed_json_on_every_write_endpoint_is_a_json_4xx(app, client, api):
    headers = api("admin")
    writes = [(rule, method) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in rule.methods & {"POST", "PUT", "PATCH"}]
    assert len(writes) >= 10
    for rule, method in writes:
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", "1").replace(f"<{name}>", "partner_onboarding")
        for body in ("{not json", "", "[1, 2", "\"just a string\"", "null", "{\"a\": NaN}"):
            r = client.open(path, method=method, data=body, content_type="application/json", headers=headers)
            assert 400 <= r.status_code < 500 and r.is_json, (method, path, body, r.status_code)


def test_oversized_forms_and_uploads_get_413(app, client, login_as):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == app.config["GRANTFLOW"].max_content_length == 5 * 1024 * 1024
    big = "数" * (limit // 3 + 10)
    r = client.post("/login", data={"username": big, "password": "x"})
    assert r.status_code == 413
    upload = {"file": (io.BytesIO(b"%PDF-1.7\n" + b"0" * (limit + 1)), "big.pdf")}
    r = client.post("/documents/verify", data=upload, content_type="multipart/form-data")
    assert r.status_code == 413 and "GrantFlow" in r.get_data(as_text=True)
    r = login_as("admin").post("/designer/upload", data={"file": (io.BytesIO(b"<x/>" * (limit // 4 + 1)), "a.bpmn")},
                               content_type="multipart/form-data")
    assert r.status_code == 413


TRAVERSALS = [
    "/static/../config/settings.py", "/static/%2e%2e/%2e%2e/config/settings.py", "/static/..%2f..%2fREADME.md",
    "/static//etc/passwd", "/static/%2fetc%2fpasswd", "/static/app.css%00.py", "/static/..\\..\\README.md",
    "/assets/..%2f..%2fpyproject.toml", "/documents/..%2f..%2fetc%2fpasswd/download", "/documents/1%2f..%2f2",
    "/documents/-1/download", "/documents/1e3/download", "/api/v1/documents/..%2f1/file",
    "/api/v1/documents/%2e%2e/verify", "/instances/1%2f..%2f2/diagram.bpmn",
]


def test_path_traversal_finds_nothing(login_as):
    c = login_as("doc_officer")
    for path in TRAVERSALS:
        r = c.get(path, follow_redirects=True)  # "//" is merged by a redirect, then refused
        assert r.status_code in (400, 404), (path, r.status_code)
        body = r.get_data()
        assert b"GRANTFLOW_SECRET_KEY" not in body and b"root:" not in body and b"[project]" not in body, path


def test_chinese_edge_text_round_trips_and_markup_is_escaped(client, api, login_as):
    headers = api("authority")
    item = {"code": "TST-777", "name": EDGE_TEXT, "name_en": HOSTILE, "description": HOSTILE,
            "classification": "unconditional", "grade": "L1", "source_department": "dept_market"}
    r = client.post("/api/v1/catalog", json=item, headers=headers)
    assert r.status_code == 201, r.json
    stored = next(i for i in client.get("/api/v1/catalog", headers=headers).json["items"] if i["code"] == "TST-777")
    assert (stored["name"], stored["name_en"], stored["description"]) == (EDGE_TEXT, HOSTILE, HOSTILE)
    assert len(client.get("/api/v1/catalog", headers=headers).json["items"]) >= 15  # the table is still there
    page = login_as("partner_a").get("/catalog").get_data(as_text=True)
    assert EDGE_TEXT in page  # nothing mangled or dropped
    assert "<script>alert(" not in page and "&lt;script&gt;alert(" in page
