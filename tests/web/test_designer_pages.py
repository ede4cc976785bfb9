"""The designer pages over HTTP: admins only, the modeler's same-origin JSON endpoints
(CSRF token in a header, errors naming elements, nothing stored on a refusal), versions,
diff, upload, and migrating a running instance through the HTML forms."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, ProcessDefinition, ProcessInstance
from tests import factories
from tests.conftest import csrf_token

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
SOURCE = (WORKFLOWS / "partner_onboarding.bpmn").read_text(encoding="utf-8")
FORM_KEY = '<spiffworkflow:property name="formKey" value="onboarding_qualification_review"/>'
DUE_5 = '<spiffworkflow:property name="due" value="P5D"/>'  # review_qualifications' comes first
PAGES = ("/designer", "/designer/new", "/designer/partner_onboarding", "/designer/partner_onboarding/versions",
         "/designer/partner_onboarding/diff?from=1&to=1", "/designer/partner_onboarding/migrate?from=1")


def _token(c) -> str:
    page = c.get("/designer/partner_onboarding").get_data(as_text=True)
    match = re.search(r'data-csrf-token="([^"]+)"', page)
    assert match, "no CSRF token on the modeler page"
    return match.group(1)


def _post(c, path: str, body: dict, token: str | None):
    headers = {"X-CSRFToken": token} if token else {}
    return c.post(path, data=json.dumps(body), content_type="application/json", headers=headers)


def _count(app, model, **where) -> int:
    with app.app_context():
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(db.session.execute(query).scalar_one())


def _page_data(page: str, blob: str = "designer-data") -> dict:
    match = re.search(rf'<script type="application/json" id="{blob}">(.*?)</script>', page, re.S)
    assert match, f"no {blob} blob"
    return json.loads(match.group(1))


def test_admin_gets_every_page_in_chinese(login_as):
    admin = login_as("admin")
    for path in PAGES:
        r = admin.get(path)
        assert r.status_code == 200, (path, r.status_code)
    index = admin.get("/designer").get_data(as_text=True)
    assert "合作方入驻" in index and 'href="/designer/partner_onboarding/versions"' in index
    assert 'href="/designer"' in admin.get("/inbox").get_data(as_text=True)  # the nav link
    modeler = admin.get("/designer/partner_onboarding").get_data(as_text=True)
    assert 'data-lang="zh"' in modeler and "bpmn-modeler.production.min.js" in modeler
    assert "bpmn-js-i18n/translations/zn.js" in modeler and "onclick" not in modeler
    data = _page_data(modeler)
    assert data["key"] == "partner_onboarding" and data["version"] == 1
    assert data["bpmn_name"] == "partner_onboarding.bpmn" and 'id="review_qualifications"' in data["xml"]
    catalogue = data["catalogue"]
    assert {"operator", "partner", "authority"} <= {r["key"] for r in catalogue["roles"]}
    assert "onboarding_qualification_review" in {f["key"] for f in catalogue["forms"]}
    assert any(a["article"] == "Art. 18" and a["zh"].startswith("第18条") for a in catalogue["articles"])
    assert _page_data(modeler, "designer-i18n")["n_problems"]
    blank = _page_data(admin.get("/designer/new").get_data(as_text=True))
    assert blank["key"] is None and "<bpmn:startEvent" in blank["xml"] and "laneSet" not in blank["xml"]
    assert 'id="new_process"' in blank["xml"]


def test_non_admins_get_403_and_strangers_the_login(client, login_as):
    for username in ("operator", "authority", "applicant"):
        c = login_as(username)
        assert 'href="/designer"' not in c.get("/inbox").get_data(as_text=True)
        for path in PAGES:
            assert c.get(path).status_code == 403, (username, path)
        token = csrf_token(c, "/inbox")
        for path in ("/designer/-/validate", "/designer/-/deploy"):
            r = _post(c, path, {"files": {"partner_onboarding.bpmn": SOURCE}, "comment": "x"}, token)
            assert r.status_code == 403 and r.json["error"] == "forbidden", (username, path)
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_designer_posts_need_the_csrf_token(app, login_as):
    admin = login_as("admin")
    body = {"files": {"partner_onboarding.bpmn": SOURCE.replace(DUE_5, DUE_5.replace("P5D", "P6D"), 1)}, "comment": "x"}
    for path in ("/designer/-/validate", "/designer/-/deploy"):
        for token in (None, "forged"):
            r = _post(admin, path, body, token)
            assert r.status_code == 400 and "表单已过期" in r.get_data(as_text=True), (path, token)
    r = admin.post("/designer/partner_onboarding/migrate", data={"from": "1", "action": "preview"})
    assert r.status_code == 400
    r = admin.post("/designer/upload", data={"file": (io.BytesIO(SOURCE.encode()), "x.bpmn")},
                   content_type="multipart/form-data")
    assert r.status_code == 400
    assert _count(app, ProcessDefinition, process_key="partner_onboarding") == 1
    assert _post(admin, "/designer/-/validate", body, _token(admin)).status_code == 200


def test_validate_names_the_offending_elements(login_as):
    admin = login_as("admin")
    token = _token(admin)
    r = _post(admin, "/designer/-/validate", {"files": {"partner_onboarding.bpmn": SOURCE}}, token)
    assert r.status_code == 200 and r.json == {"errors": []}
    broken = SOURCE.replace(FORM_KEY, "").replace('value="operator"/>', 'value="nobody"/>', 1)
    r = _post(admin, "/designer/-/validate", {"files": {"partner_onboarding.bpmn": broken}}, token)
    assert r.status_code == 422
    elements = {e["element"] for e in r.json["errors"]}
    assert "review_qualifications" in elements
    assert all(e["message"] for e in r.json["errors"])
    for body in ({}, {"files": "x"}, {"files": {}}, {"files": {"../evil.bpmn": SOURCE}}, {"files": {"a.bpmn": "not xml"}},
                 {"files": {"a.bpmn": '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'}}):
        r = _post(admin, "/designer/-/validate", body, token)
        assert r.status_code == 422 and r.json["errors"], body


def test_validate_adds_the_decision_tables_of_the_base_process(login_as):
    admin = login_as("admin")
    token = _token(admin)
    source = (WORKFLOWS / "data_authorization.bpmn").read_text(encoding="utf-8")
    alone = _post(admin, "/designer/-/validate", {"files": {"data_authorization.bpmn": source}}, token)
    assert alone.status_code == 422
    with_base = _post(admin, "/designer/-/validate",
                      {"files": {"data_authorization.bpmn": source}, "base_key": "data_authorization"}, token)
    assert with_base.status_code == 200, with_base.json
    same = _post(admin, "/designer/-/deploy", {"files": {"data_authorization.bpmn": source},
                                               "base_key": "data_authorization", "comment": "unchanged"}, token)
    assert same.status_code == 200 and same.json["created"] is False and same.json["version"] == 1


def test_refused_deploy_stores_nothing_and_a_good_one_makes_version_2(app, login_as):
    admin = login_as("admin")
    token = _token(admin)
    before = _count(app, AuditEvent)
    r = _post(admin, "/designer/-/deploy", {"files": {"partner_onboarding.bpmn": SOURCE.replace(FORM_KEY, "")},
                                            "comment": "forgot the form"}, token)
    assert r.status_code == 422 and r.json["error"] == "invalid_definition"
    assert "review_qualifications" in {e["element"] for e in r.json["errors"]}
    assert _count(app, ProcessDefinition, process_key="partner_onboarding") == 1
    assert _count(app, AuditEvent) == before

    changed = SOURCE.replace(DUE_5, DUE_5.replace("P5D", "P7D"), 1)
    r = _post(admin, "/designer/-/deploy", {"files": {"partner_onboarding.bpmn": changed}, "comment": "审查期限7天"}, token)
    assert r.status_code == 201, r.json
    assert r.json["process_key"] == "partner_onboarding" and r.json["version"] == 2 and r.json["created"] is True
    again = _post(admin, "/designer/-/deploy", {"files": {"partner_onboarding.bpmn": changed}, "comment": "again"}, token)
    assert again.status_code == 200 and again.json["created"] is False and again.json["version"] == 2

    versions = admin.get("/designer/partner_onboarding/versions").get_data(as_text=True)
    assert "审查期限7天" in versions and "v2" in versions and "admin" in versions
    diff = admin.get("/designer/partner_onboarding/diff?from=1&to=2").get_data(as_text=True)
    assert 'data-element="review_qualifications"' in diff and "change-changed" in diff
    data = _page_data(diff, "diff-data")
    assert data["changed"] == ["review_qualifications"] and not data["added"] and not data["removed"]
    assert 'value="P7D"' in data["new_xml"] and admin.get("/designer/partner_onboarding/diff?from=1&to=9").status_code == 404
    modeler = _page_data(admin.get("/designer/partner_onboarding").get_data(as_text=True))
    assert modeler["version"] == 2 and modeler["xml"] == changed
    assert _page_data(admin.get("/designer/partner_onboarding?version=1").get_data(as_text=True))["xml"] == SOURCE
    assert admin.get("/designer/no_such_process").status_code == 404


def test_upload_opens_the_file_in_the_modeler(login_as):
    admin = login_as("admin")
    token = csrf_token(admin, "/designer")
    r = admin.post("/designer/upload", data={"csrf_token": token, "file": (io.BytesIO(SOURCE.encode()), "mine.bpmn")},
                   content_type="multipart/form-data")
    assert r.status_code == 200
    data = _page_data(r.get_data(as_text=True))
    assert data["xml"] == SOURCE and data["dirty"] is True and data["key"] is None
    assert "partner_onboarding" in data["known_keys"]
    for content in (b"\x89PNG\x00\x01binary", b""):
        r = admin.post("/designer/upload", data={"csrf_token": token, "file": (io.BytesIO(content), "x.bpmn")},
                       content_type="multipart/form-data")
        assert r.status_code == 302


def _start_onboarding(client, api) -> int:
    r = client.post("/api/v1/processes/partner_onboarding/instances", json={"data": factories.application()},
                    headers=api("applicant"))
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def _version_of(app, instance_id: int) -> int:
    with app.app_context():
        instance = db.session.get(ProcessInstance, instance_id)
        assert instance is not None
        return instance.definition.version


def test_migrating_a_running_instance_through_the_pages(app, client, api, login_as):
    iid = _start_onboarding(client, api)
    admin = login_as("admin")
    token = _token(admin)
    v2 = SOURCE.replace(DUE_5, DUE_5.replace("P5D", "P7D"), 1)
    assert _post(admin, "/designer/-/deploy", {"files": {"partner_onboarding.bpmn": v2}, "comment": "v2"},
                 token).status_code == 201
    # version 3 renames the open step: an instance on it cannot map
    v3 = v2.replace("review_qualifications", "check_qualifications")
    assert _post(admin, "/designer/-/deploy", {"files": {"partner_onboarding.bpmn": v3}, "comment": "v3"},
                 token).status_code == 201

    versions = admin.get("/designer/partner_onboarding/versions").get_data(as_text=True)
    assert "/designer/partner_onboarding/migrate?from=1" in versions
    page = admin.get("/designer/partner_onboarding/migrate?from=1").get_data(as_text=True)
    assert f'value="{iid}"' in page and "入驻资质审查" in page

    form = {"csrf_token": csrf_token(admin, "/designer/partner_onboarding/migrate?from=1"), "from": "1", "to": "3",
            "instance_id": str(iid)}
    refused = admin.post("/designer/partner_onboarding/migrate", data={**form, "action": "preview"})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "review_qualifications" in text and "result-bad" in text
    after = admin.post("/designer/partner_onboarding/migrate", data={**form, "action": "migrate"}).get_data(as_text=True)
    assert 'class="not-migrated"' in after and _version_of(app, iid) == 1

    form["to"] = "2"
    preview = admin.post("/designer/partner_onboarding/migrate", data={**form, "action": "preview"}).get_data(as_text=True)
    assert "result-ok" in preview and "<code>review_qualifications</code>" in preview
    done = admin.post("/designer/partner_onboarding/migrate", data={**form, "action": "migrate"}).get_data(as_text=True)
    assert 'class="migrated"' in done and _version_of(app, iid) == 2
    assert _count(app, AuditEvent, action="instance.migrated", instance_id=iid) == 1
    assert 'class="empty"' in admin.get("/designer/partner_onboarding/migrate?from=1").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/designer/partner_onboarding/migrate?from=7", "/designer/partner_onboarding/diff?from=5"])
def test_unknown_versions_are_404(login_as, path):
    assert login_as("admin").get(path).status_code == 404
