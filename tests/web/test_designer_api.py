"""The designer's JSON API: deploy/validate (JSON and multipart), hostile and foreign uploads,
versions, diff, migration preview and run, the catalogue; admins only."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import engine
from app.extensions import db
from app.models import AuditEvent, HumanTask, ProcessDefinition, ProcessInstance
from app.services import processes
from tests import factories
from tests.helpers import complete, org
from tests.services.test_designer import SOURCE, onboarding_v2

FIXTURES = Path(__file__).parent / "fixtures"
ENGINE_FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "fixtures"
KEY = "partner_onboarding"
ENDPOINTS = [
    ("post", "/api/v1/definitions"),
    ("post", "/api/v1/definitions/validate"),
    ("get", "/api/v1/definitions"),
    ("get", f"/api/v1/definitions/{KEY}/versions/1"),
    ("get", f"/api/v1/definitions/{KEY}/diff?from=1&to=1"),
    ("post", f"/api/v1/definitions/{KEY}/migrations/preview"),
    ("post", f"/api/v1/definitions/{KEY}/migrations"),
    ("get", "/api/v1/designer/catalogue"),
]


def counts(app) -> tuple[int, int]:
    """Rows that a refused upload must not change: definitions and audit events."""
    with app.app_context():
        try:
            return (db.session.execute(select(func.count(ProcessDefinition.id))).scalar_one(),
                    db.session.execute(select(func.count(AuditEvent.id))).scalar_one())
        finally:
            db.session.rollback()


def deploy_json(client, headers, files, comment="test"):
    return client.post("/api/v1/definitions", json={"files": files, "comment": comment}, headers=headers)


def multipart(client, headers, parts, comment="via multipart", path="/api/v1/definitions"):
    data = {"comment": comment, "file": [(io.BytesIO(content), name) for name, content in parts]}
    return client.post(path, data=data, headers=headers, content_type="multipart/form-data")


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_gets_401_and_non_admins_403(client, api, method, path):
    body = {"json": {"from_version": 1}} if method == "post" else {}
    assert getattr(client, method)(path, **body).status_code == 401
    for username in ("operator", "applicant"):
        r = getattr(client, method)(path, headers=api(username), **body)
        assert r.status_code == 403 and r.json["error"] == "forbidden", (username, r.json)


# --------------------------------------------------------------------------- deploy


def test_deploy_json_then_identical_then_multipart(app, client, api):
    h = api("admin")
    r = deploy_json(client, h, {"partner_onboarding.bpmn": SOURCE})
    assert r.status_code == 200 and r.json == {"process_key": KEY, "version": 1, "sha256": r.json["sha256"],
                                               "created": False}
    r = deploy_json(client, h, {"partner_onboarding.bpmn": onboarding_v2()}, comment="v2 from the modeler")
    assert r.status_code == 201 and r.json["version"] == 2 and r.json["created"] is True
    sha = r.json["sha256"]
    r = multipart(client, h, [("partner_onboarding.bpmn", onboarding_v2().encode())])
    assert r.status_code == 200 and (r.json["version"], r.json["sha256"], r.json["created"]) == (2, sha, False)
    v3 = onboarding_v2().replace('name="合规复核"', 'name="合规复核（第三版）"')
    r = multipart(client, h, [("partner_onboarding.bpmn", v3.encode())], comment="v3 uploaded as a file")
    assert r.status_code == 201 and r.json["version"] == 3
    listing = client.get("/api/v1/definitions", headers=h).json["items"]
    versions = next(p for p in listing if p["process_key"] == KEY)["versions"]
    assert [(v["version"], v["comment"], v["deployed_by"]) for v in versions] == [
        (3, "v3 uploaded as a file", "admin"), (2, "v2 from the modeler", "admin"), (1, "", None)]


def test_a_deployment_with_a_decision_table_goes_through_multipart(client, api):
    parts = [("dmn_process.bpmn", (ENGINE_FIXTURES / "dmn_process.bpmn").read_bytes()),
             ("level.dmn", (ENGINE_FIXTURES / "level.dmn").read_bytes())]
    r = multipart(client, api("admin"), parts)
    assert r.status_code == 422  # the engine fixture uses roles and forms GrantFlow does not know
    assert {e["element"] for e in r.json["errors"]} and all(e["message"] for e in r.json["errors"])


@pytest.mark.parametrize(("old", "new", "element", "words"), [
    ('value="onboarding_filing"', 'value="no_such_form"', "file_onboarding", "no_such_form"),
    ('<spiffworkflow:property name="role" value="authority"/>', "", "file_onboarding", "role"),
    ('file_onboarding["decision"] == "approve"', "__import__(&apos;os&apos;).system(&apos;id&apos;)",
     "flow_filing_approved", "__import__"),
])
def test_refused_deployments_name_the_element_and_store_nothing(app, client, api, old, new, element, words):
    h = api("admin")
    before = counts(app)
    broken = SOURCE.replace(old, new, 1)
    assert broken != SOURCE
    for response in (deploy_json(client, h, {"partner_onboarding.bpmn": broken}),
                     client.post("/api/v1/definitions/validate", json={"files": {"p.bpmn": broken}}, headers=h)):
        assert response.status_code == 422, response.json
        assert response.json["error"] == "invalid_definition" and response.json["message"]
        assert any(e["element"] == element and words in e["message"] for e in response.json["errors"]), response.json
    assert counts(app) == before


def test_validate_stores_nothing_and_says_200_for_a_good_diagram(app, client, api):
    h = api("admin")
    before = counts(app)
    r = client.post("/api/v1/definitions/validate", json={"files": {"p.bpmn": onboarding_v2()}}, headers=h)
    assert r.status_code == 200 and r.json == {"errors": []}
    r = multipart(client, h, [("p.bpmn", onboarding_v2().encode())], path="/api/v1/definitions/validate")
    assert r.status_code == 200 and r.json == {"errors": []}
    assert counts(app) == before


def _billion_laughs() -> bytes:
    return (ENGINE_FIXTURES / "billion_laughs.bpmn").read_bytes()


HOSTILE_FILES = {
    "empty": b"",
    "whitespace": b"   \n\t  ",
    "binary": bytes(range(256)) * 64,
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 200,
    "latin1": SOURCE.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("utf-8"),
    "utf16": SOURCE.encode("utf-16"),
    "gbk": SOURCE.replace('encoding="UTF-8"', 'encoding="GBK"').encode("gbk"),
    "not_xml": b"name,role\nreview,operator\n",
    "truncated": SOURCE.encode()[: len(SOURCE.encode()) // 2],
    "doctype_entity": (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "boom">]>'
                       b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;'
                       b'</bpmn:definitions>'),
    "external_entity": (ENGINE_FIXTURES / "xxe.bpmn").read_bytes(),
    "billion_laughs": _billion_laughs(),
    "xinclude": (b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
                 b'xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/passwd" parse="text"/>'
                 b'</bpmn:definitions>'),
    "deep_nesting": b"<a>" * 50_000 + b"</a>" * 50_000,
    "other_root": b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>',
    "camunda": (FIXTURES / "camunda_invoice.bpmn").read_bytes(),
    "signavio": (FIXTURES / "signavio_onboarding.bpmn").read_bytes(),
    "bizagi": (FIXTURES / "bizagi_purchase.bpmn").read_bytes(),
}


@pytest.mark.parametrize("kind", list(HOSTILE_FILES))
def test_hostile_and_foreign_uploads_get_422_and_change_nothing(app, client, api, kind):
    h = api("admin")
    before = counts(app)
    content = HOSTILE_FILES[kind]
    responses = [multipart(client, h, [("upload.bpmn", content)])]
    with contextlib.suppress(UnicodeDecodeError):  # else not JSON text; multipart covers it
        responses.append(deploy_json(client, h, {"upload.bpmn": content.decode("utf-8")}))
    for r in responses:
        assert r.status_code == 422, (kind, r.status_code, r.get_data()[:300])
        assert r.json["error"] == "invalid_definition" and r.json["errors"]
        assert all(e["message"] for e in r.json["errors"])
        assert "root:" not in r.get_data(as_text=True)  # /etc/passwd is never read
    assert counts(app) == before


def test_foreign_modeler_exports_are_refused_naming_their_elements(client, api):
    h = api("admin")
    expected = {"camunda": {"approve_invoice", "Flow_yes", "book_invoice"},
                "signavio": {"sid-7C6B5A4F-3E2D-4C1B-8A9F-0E1D2C3B4A5F", None},
                "bizagi": {"Id_a7b8c9d0-5e6f-4a7b-8c8d-9e0f1a2b3c4d"}}
    for kind, elements in expected.items():
        r = deploy_json(client, h, {f"{kind}.bpmn": HOSTILE_FILES[kind].decode()})
        assert elements <= {e["element"] for e in r.json["errors"]}, (kind, r.json)


@pytest.mark.parametrize(("body", "content_type"), [
    (b"", "application/json"),
    (b"not json at all", "application/json"),
    (b"\xff\xfe\x00binary", "application/octet-stream"),
    (b"[1, 2, 3]", "application/json"),
    (b'{"files": []}', "application/json"),
    (b'{"files": {}}', "application/json"),
    (b'{"files": {"a.bpmn": 42}}', "application/json"),
    (b'{"files": {"a.bpmn": "\\ud800"}}', "application/json"),
    (b'{"files": {"../../etc/passwd": "<x/>"}}', "application/json"),
    (b'{"files": {"notes.txt": "<x/>"}}', "application/json"),
    (b'{"files": {"a.bpmn": "<x/>"}, "comment": 5}', "application/json"),
    (b'{"files": {"a.bpmn": "<x/>"}, "extra": true}', "application/json"),
    (b"files=1&comment=x", "application/x-www-form-urlencoded"),
])
def test_malformed_bodies_get_422(app, client, api, body, content_type):
    h = api("admin")
    before = counts(app)
    for path in ("/api/v1/definitions", "/api/v1/definitions/validate"):
        r = client.post(path, data=body, content_type=content_type, headers=h)
        assert r.status_code == 422 and r.json["error"] == "invalid_definition", (path, r.json)
    assert counts(app) == before


def test_multipart_without_files_or_with_twice_the_same_name_gets_422(client, api):
    h = api("admin")
    r = client.post("/api/v1/definitions", data={"comment": "nothing"}, headers=h, content_type="multipart/form-data")
    assert r.status_code == 422
    r = multipart(client, h, [("p.bpmn", SOURCE.encode()), ("p.bpmn", SOURCE.encode())])
    assert r.status_code == 422 and "twice" in r.json["message"]
    r = multipart(client, h, [("exports/2026/partner_onboarding.bpmn", SOURCE.encode())])
    assert r.status_code == 200 and r.json["created"] is False  # only the base name is kept


def test_uploads_over_the_size_limit_get_413_json(app, client, api):
    h = api("admin")
    before = counts(app)
    huge = b"<!-- " + b"x" * (20 * 1024 * 1024) + b" -->"
    r = multipart(client, h, [("huge.bpmn", huge)])
    assert r.status_code == 413 and r.json["error"] == "payload_too_large"
    r = deploy_json(client, h, {"huge.bpmn": huge.decode()})
    assert r.status_code == 413 and r.json["error"] == "payload_too_large"
    assert counts(app) == before


# --------------------------------------------------------------------------- versions and diff


def test_versions_detail_and_diff(client, api):
    h = api("admin")
    assert deploy_json(client, h, {"partner_onboarding.bpmn": onboarding_v2()}).status_code == 201
    r = client.get(f"/api/v1/definitions/{KEY}/versions/2", headers=h)
    assert r.status_code == 200 and r.json["process_key"] == KEY and r.json["version"] == 2
    assert "compliance_check" in r.json["files"]["partner_onboarding.bpmn"]
    assert r.json["meta"]["tasks"]["compliance_check"]["form_key"] == "onboarding_qualification_review"
    assert client.get(f"/api/v1/definitions/{KEY}/versions/9", headers=h).status_code == 404
    assert client.get("/api/v1/definitions/nope/versions/1", headers=h).json["error"] == "not_found"

    r = client.get(f"/api/v1/definitions/{KEY}/diff?from=1&to=2", headers=h)
    assert r.status_code == 200 and (r.json["from"], r.json["to"]) == (1, 2)
    assert {"id": "compliance_check", "type": "userTask", "name": "合规复核"} in r.json["added"]
    assert {"id": "revise_application", "type": "userTask", "name": "补正或撤回申请"} in r.json["removed"]
    changed = {e["id"]: e for e in r.json["changed"]}
    assert changed["record_service_agreement"]["changes"] == ["name", "due"]
    assert changed["file_onboarding"] == {"id": "file_onboarding", "type": "userTask", "name": "入驻备案",
                                          "changes": ["incoming/outgoing"]}
    assert [e["id"] for e in r.json["moved"]] == ["end_approved"]
    assert client.get(f"/api/v1/definitions/{KEY}/diff", headers=h).json["from"] == 1
    assert client.get(f"/api/v1/definitions/{KEY}/diff?from=1&to=7", headers=h).status_code == 404
    for query in ("from=abc&to=2", "from=0&to=2", "from=-1", "to=99999999999"):
        r = client.get(f"/api/v1/definitions/{KEY}/diff?{query}", headers=h)
        assert r.status_code == 422 and r.json["errors"][0]["field"] in ("from", "to"), query


# --------------------------------------------------------------------------- migration


@pytest.fixture
def running(app):
    """Three v1 instances: A at the reviews, B at the agreement, C returned to the partner."""
    with app.app_context():
        session = db.session
        made = {}
        for key, code in (("A", "applicant"), ("B", "candidate"), ("C", "partner_b")):
            made[key] = processes.start_system(session, KEY, org(session, code), factories.application())
            session.commit()
        for key in "BC":
            complete(session, "operator", "review_qualifications", made[key], factories.review())
        complete(session, "operator", "admit_personnel", made["B"], factories.review())
        complete(session, "operator", "admit_personnel", made["C"], factories.review("return", "请补充材料。"))
        ids = {key: instance.id for key, instance in made.items()}
        session.commit()
    return ids


def snapshot(app, instance_id):
    with app.app_context():
        try:
            instance = db.session.get(ProcessInstance, instance_id)
            rows = sorted((t.id, t.spec_id, t.status) for t in db.session.execute(
                select(HumanTask).where(HumanTask.instance_id == instance_id)).scalars())
            return instance.definition.version, instance.lock_version, instance.state, rows
        finally:
            db.session.rollback()


def test_preview_and_migrate_running_instances(app, client, api, running):
    h, op = api("admin"), api("operator")
    assert deploy_json(client, h, {"partner_onboarding.bpmn": onboarding_v2()}).status_code == 201
    c_before = snapshot(app, running["C"])
    listing = client.get("/api/v1/definitions", headers=h).json["items"]
    versions = next(p for p in listing if p["process_key"] == KEY)["versions"]
    assert [(v["version"], v["running_instances"]) for v in versions] == [(2, 0), (1, 3)]

    audit_before = counts(app)[1]
    r = client.post(f"/api/v1/definitions/{KEY}/migrations/preview", json={"from_version": 1}, headers=h)
    assert r.status_code == 200 and counts(app)[1] == audit_before  # a preview stores nothing
    items = {i["instance_id"]: i for i in r.json["items"]}
    assert set(items) == set(running.values())
    assert items[running["A"]]["can_migrate"] and items[running["B"]]["can_migrate"]
    c = items[running["C"]]
    assert not c["can_migrate"] and "revise_application" in c["reason"]
    assert c["tasks"] == [{"element": "revise_application", "title": "补正或撤回申请", "maps_to": None}]
    assert items[running["B"]]["tasks"] == [{"element": "record_service_agreement", "title": "签订服务协议",
                                             "maps_to": "record_service_agreement"}]

    r = client.post(f"/api/v1/definitions/{KEY}/migrations", json={"from_version": 1, "to_version": 2}, headers=h)
    assert r.status_code == 200
    results = {i["instance_id"]: i for i in r.json["items"]}
    assert results[running["A"]] == {"instance_id": running["A"], "business_key": results[running["A"]]["business_key"],
                                     "migrated": True, "reason": None, "from_version": 1, "to_version": 2}
    assert results[running["B"]]["migrated"] and not results[running["C"]]["migrated"]
    assert "revise_application" in results[running["C"]]["reason"]
    assert results[running["C"]]["business_key"].startswith("PO-")
    assert counts(app)[1] > audit_before
    assert snapshot(app, running["C"]) == c_before  # untouched

    for key in "AB":
        detail = client.get(f"/api/v1/instances/{running[key]}", headers=h).json
        assert detail["version"] == 2 and "instance.migrated" in [e["action"] for e in detail["history"]]
        with app.app_context():
            instance = db.session.get(ProcessInstance, running[key])
            ready = engine.fire_timers(instance.definition.spec_json, instance.state, instance.state_version).ready
            assert {t["id"] for t in detail["open_tasks"]} == {t.id for t in ready}
            db.session.rollback()
    # B goes on through the step that only exists in v2
    task = next(t for t in client.get("/api/v1/tasks", headers=op).json["items"] if t["instance_id"] == running["B"])
    assert task["title"] == "签订服务协议（含合规承诺） / Sign the service agreement"
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": factories.agreement("NS-FW-2026-301")},
                    headers=op)
    assert r.status_code == 200 and [t["element"] for t in r.json["instance"]["open_tasks"]] == ["compliance_check"]

    again = client.post(f"/api/v1/definitions/{KEY}/migrations", json={"from_version": 1}, headers=h).json["items"]
    assert [(i["instance_id"], i["migrated"]) for i in again] == [(running["C"], False)]
    listing = client.get("/api/v1/definitions", headers=h).json["items"]
    versions = next(p for p in listing if p["process_key"] == KEY)["versions"]
    assert [(v["version"], v["running_instances"]) for v in versions] == [(2, 2), (1, 1)]


def test_migration_requests_are_checked(client, api, running):
    h = api("admin")
    assert deploy_json(client, h, {"partner_onboarding.bpmn": onboarding_v2()}).status_code == 201
    path = f"/api/v1/definitions/{KEY}/migrations"
    for body in ({}, {"from_version": "1"}, {"from_version": 1, "instance_ids": "all"},
                 {"from_version": 1, "status": "completed"}, {"from_version": 1, "surprise": 1},
                 {"from_version": 2}, {"from_version": 1, "to_version": 1}):
        for suffix in ("", "/preview"):
            r = client.post(path + suffix, json=body, headers=h)
            assert r.status_code == 422, (body, r.json)
    assert client.post(path, json={"from_version": 5}, headers=h).status_code == 404
    assert client.post("/api/v1/definitions/nope/migrations/preview", json={"from_version": 1},
                       headers=h).status_code == 404
    r = client.post(path, json={"from_version": 1, "instance_ids": [running["B"], 987654]}, headers=h)
    assert [(i["instance_id"], i["migrated"]) for i in r.json["items"]] == [(running["B"], True), (987654, False)]
    assert r.json["items"][1]["business_key"] is None and r.json["items"][1]["reason"]


# --------------------------------------------------------------------------- catalogue and docs


def test_catalogue_for_the_side_panel(client, api):
    r = client.get("/api/v1/designer/catalogue", headers=api("admin"))
    assert r.status_code == 200
    assert {"key": "operator", "zh": "授权运营单位", "en": "Authorized operator"} in r.json["roles"]
    assert {"key": "onboarding_filing", "title": "入驻备案", "title_en": "Onboarding filing"} in r.json["forms"]
    assert {"article": "Art. 18", "zh": "第18条 合作方入驻及退出", "en": "Art. 18 Partner onboarding and exit"} \
        in r.json["articles"]
    assert "activate_partner" in r.json["actions"] and r.json["actions"] == sorted(r.json["actions"])


def test_openapi_documents_the_designer_api(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for method, path in ENDPOINTS:
        template = path.split("?")[0].replace(f"/{KEY}/", "/{key}/").replace("/versions/1", "/versions/{version}")
        assert method in paths[template], template
