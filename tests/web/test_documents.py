"""Documents over HTTP: the desk and its filters, download and preview, who may fetch what
(pages and API), and the public verification page with its CSRF check."""

from __future__ import annotations

import io
import shutil

import pytest

from app.extensions import db
from app.services import documents, processes
from tests import factories
from tests.conftest import csrf_token
from tests.helpers import org, user


def _filing(app, org_code: str, filing_no: str, instance_of: str | None = None) -> dict:
    """A filing certificate for ``org_code``, issued as the onboarding process will (Art. 18).

    Uses its own app context, so that each later request (and each signed-in client) gets a
    fresh one; with ``instance_of``, ``org_code``'s user first starts an onboarding instance.
    """
    with app.app_context():
        session = db.session
        partner = org(session, org_code)
        instance = None
        if instance_of:
            instance = processes.start(session, user(session, instance_of), "partner_onboarding",
                                       factories.application())
        d = documents.generate(
            session, kind="filing_certificate", instance=instance, org=partner, actor=user(session, "authority"),
            articles=["Art. 18"], context={
                "parties": [documents.party(partner, "备案单位")], "issuer": "深圳市南山区政务服务和数据管理局",
                "filing_no": filing_no, "filed_matter": "授权合作方入驻备案", "agreement_no": "NS-FW-2026-101",
                "filed_on": "2026-11-25", "comment": "已备案。"})
        session.commit()
        return {"id": d.id, "number": d.number, "code": d.verification_code, "org_id": partner.id,
                "pdf": documents.current().store.get(d.storage_key), "key": d.storage_key}


@pytest.fixture
def filed(app):
    return _filing(app, "partner_a", "NS-BA-2026-0007")


def test_owner_and_document_officer_fetch_others_get_404(filed, login_as, client, api):
    doc_id = filed["id"]
    for username in ("partner_a", "doc_officer"):
        c = login_as(username)
        listing = c.get("/documents").get_data(as_text=True)
        assert filed["number"] in listing and "备案登记证明" in listing
        page = c.get(f"/documents/{doc_id}")
        assert page.status_code == 200 and "真实有效" in page.get_data(as_text=True)
        download = c.get(f"/documents/{doc_id}/download")
        assert download.status_code == 200 and download.mimetype == "application/pdf"
        assert download.headers["Content-Disposition"] == f'attachment; filename="{filed["number"]}.pdf"'
        assert download.data == filed["pdf"]
        headers = api(username)
        record = client.get(f"/api/v1/documents/{doc_id}", headers={**headers, "Accept": "application/json"})
        assert record.json["number"] == filed["number"]
    b = login_as("partner_b")
    assert filed["number"] not in b.get("/documents").get_data(as_text=True)
    for path in (f"/documents/{doc_id}", f"/documents/{doc_id}/download", f"/documents/{doc_id}/preview.png",
                 "/documents/999999"):
        r = b.get(path)
        assert r.status_code == 404, path
        assert filed["number"] not in r.get_data(as_text=True)
    headers = api("partner_b")
    assert client.get("/api/v1/documents", headers=headers).json["items"] == []
    for path in (f"/api/v1/documents/{doc_id}", f"/api/v1/documents/{doc_id}/file",
                 f"/api/v1/documents/{doc_id}/verify", "/api/v1/documents/999999"):
        r = client.get(path, headers=headers)
        assert r.status_code == 404 and r.json["error"] == "not_found", path
    assert client.get(f"/api/v1/documents/{doc_id}").status_code == 401


def test_desk_filters_and_preview(filed, app, login_as):
    other = _filing(app, "partner_b", "NS-BA-2026-0008")
    c = login_as("doc_officer")
    everything = c.get("/documents").get_data(as_text=True)
    assert filed["number"] in everything and other["number"] in everything
    only_b = c.get(f"/documents?org={other['org_id']}").get_data(as_text=True)
    assert other["number"] in only_b and filed["number"] not in only_b
    assert filed["number"] not in c.get("/documents?kind=service_agreement").get_data(as_text=True)
    assert filed["number"] not in c.get("/documents?from=2099-01-01").get_data(as_text=True)
    assert filed["number"] in c.get("/documents?to=2099-01-01&kind=filing_certificate").get_data(as_text=True)
    assert c.get("/documents?from=yesterday").status_code == 422
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    png = c.get(f"/documents/{filed['id']}/preview.png")
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    with app.app_context():  # cached beside the file
        assert documents.current().store.get_variant(filed["key"], "page1.png") == png.data


def test_operator_sees_documents_of_its_instances_only(filed, app, login_as):
    d = _filing(app, "applicant", "NS-BA-2026-0009", instance_of="applicant")
    operator = login_as("operator")
    listing = operator.get("/documents?process=partner_onboarding").get_data(as_text=True)
    assert d["number"] in listing and filed["number"] not in listing
    assert operator.get(f"/documents/{filed['id']}").status_code == 404  # partner_a's, no instance of its
    assert login_as("partner_a").get(f"/documents/{d['id']}").status_code == 404
    assert login_as("applicant").get(f"/documents/{d['id']}").status_code == 200


def test_api_lists_and_verifies(filed, client, api):
    headers = api("partner_a")
    listing = client.get("/api/v1/documents?kind=filing_certificate", headers=headers).json
    assert listing["total"] == 1 and listing["items"][0]["organisation"]["code"] == "partner_a"
    item = listing["items"][0]
    assert item["articles"] == ["Art. 18"] and item["superseded_by"] is None and item["links"]["file"]
    pdf = client.get(f"/api/v1/documents/{filed['id']}", headers=headers)  # the PDF unless JSON is preferred
    assert pdf.mimetype == "application/pdf" and pdf.data == filed["pdf"]
    assert client.get(f"/api/v1/documents/{filed['id']}", headers={**headers, "Accept": "application/pdf"}).data == filed["pdf"]
    answer = client.get(f"/api/v1/documents/{filed['id']}/verify", headers=headers).json
    assert answer["genuine"] is True and answer["document"]["number"] == filed["number"]
    assert answer["superseded"] is False and answer["signature"]["valid"] and answer["signature"]["trusted"]
    assert client.get("/api/v1/documents?from=someday", headers=headers).status_code == 422


def test_verify_page_is_public_and_checks_csrf(filed, client):
    page = client.get("/documents/verify")
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)
    scanned = client.get(f"/documents/verify?code={filed['code']}").get_data(as_text=True)
    assert "真实有效" in scanned and filed["number"] in scanned
    assert client.post("/documents/verify", data={"code": filed["code"]}).status_code == 400  # no CSRF token
    token = csrf_token(client, "/documents/verify")
    typed = client.post("/documents/verify", data={"code": filed["code"].lower(), "csrf_token": token})
    assert typed.status_code == 200 and "真实有效" in typed.get_data(as_text=True)
    upload = client.post("/documents/verify", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(filed["pdf"]), "filing.pdf")}).get_data(as_text=True)
    assert "真实有效" in upload and filed["number"] in upload and "有效，由平台证书签署" in upload
    changed = bytearray(filed["pdf"])
    changed[len(changed) // 2] ^= 0x01
    forged = client.post("/documents/verify", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(bytes(changed)), "filing.pdf")}).get_data(as_text=True)
    assert "无法确认为真" in forged and "真实有效" not in forged
    unknown = client.post("/documents/verify", data={"code": "ABCDE-FGHJK", "csrf_token": token})
    assert "没有文书使用该校验码" in unknown.get_data(as_text=True)
    assert client.post("/documents/verify", data={"csrf_token": token}).status_code == 422


def test_every_download_is_audited(app, filed, login_as, client, api):
    """Page download, the API's PDF answer and /file each leave a "document.downloaded" entry
    naming the document and the route, in the transaction that served it."""
    from sqlalchemy import select

    from app.models import AuditEvent

    assert login_as("partner_a").get(f"/documents/{filed['id']}/download").data == filed["pdf"]
    headers = api("doc_officer")
    assert client.get(f"/api/v1/documents/{filed['id']}", headers=headers).data == filed["pdf"]
    assert client.get(f"/api/v1/documents/{filed['id']}/file", headers=headers).data == filed["pdf"]
    assert client.get(f"/api/v1/documents/{filed['id']}", headers={**headers, "Accept": "application/json"}).json
    with app.app_context():
        rows = db.session.execute(select(AuditEvent).where(AuditEvent.action == "document.downloaded")
                                  .order_by(AuditEvent.seq)).scalars().all()
        assert [(r.payload["number"], r.payload["via"]) for r in rows] == [
            (filed["number"], "page"), (filed["number"], "api"), (filed["number"], "api")]
        assert {r.actor for r in rows} == {"partner_a", "doc_officer"}
    assert client.get(f"/api/v1/documents/{filed['id']}", headers=api("partner_b")).status_code == 404


def test_out_of_range_filters_are_refused_not_500(filed, client, api, login_as):
    headers = api("doc_officer")
    for query in ("page=10001", "page=99999999999999999999", "org=99999999999", "instance=2147483648", "org=-1"):
        response = client.get(f"/api/v1/documents?{query}", headers=headers)
        assert response.status_code == 422, query
        assert response.json["errors"][0]["field"] == query.split("=")[0]
    assert login_as("doc_officer").get("/documents?page=99999999999999").status_code == 422
    assert login_as("operator").get("/inbox?page=99999999999999999").status_code == 200
