"""Documents produced by the process steps that decide them (issue 4): every kind from a real
run of its process, its text, PDF/A declaration and signature, verification, and a failed
render that fails the step cleanly."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Document, HumanTask, ProcessInstance
from app.services import documents, processes, tasks
from app.services.clock import clock
from app.services.documents.signing import off_event_loop
from tests import factories
from tests.conftest import make_test_app
from tests.helpers import complete, open_elements, open_task, user
from tests.services.test_documents import pdf_text
from tests.workflows import test_agreement_termination as at
from tests.workflows import test_data_authorization as da
from tests.workflows import test_operator_selection as os_
from tests.workflows import test_partner_exit as pe
from tests.workflows import test_product_review as pr
from tests.workflows import test_rectification as rc


def _docs(session: Any, instance: ProcessInstance) -> dict[str, Document]:
    rows = session.execute(select(Document).where(Document.instance_id == instance.id).order_by(Document.id)).scalars()
    return {d.kind: d for d in rows}


def _run_everything(session: Any) -> dict[str, tuple[Document, ProcessInstance]]:
    """Drive each process through the steps that issue documents; return kind -> (document, instance)."""
    out: dict[str, tuple[Document, ProcessInstance]] = {}

    # Data authorization, conditional route: compliance report, evaluation opinion, service agreement.
    instance = da.start(session, catalog_items=["MKT-003"], purpose="industry_development")
    da.to_joint_meeting(session, instance, "third_party")
    assert set(_docs(session, instance)) == {"compliance_report"}  # issued by the step that decided it
    da.sign_all(session, instance, da.MARKET_SIGNERS)
    complete(session, "authority", "evaluation_opinion", instance, da.opinion())
    complete(session, "operator", "sign_service_agreement", instance,
             da.agreement(service_scope="企业行政处罚信息的加工使用"))
    for kind, document in _docs(session, instance).items():
        out[kind] = (document, instance)

    # Partner onboarding: service agreement and filing certificate.
    instance = processes.start(session, user(session, "applicant"), "partner_onboarding", factories.application())
    session.commit()
    complete(session, "operator", "review_qualifications", instance, factories.review())
    complete(session, "operator", "admit_personnel", instance, factories.review())
    complete(session, "operator", "record_service_agreement", instance, factories.agreement())
    complete(session, "authority", "file_onboarding", instance, factories.filing())
    onboarding = _docs(session, instance)
    assert set(onboarding) == {"service_agreement", "filing_certificate"}
    out["filing_certificate"] = (onboarding["filing_certificate"], instance)
    out["service_agreement_onboarding"] = (onboarding["service_agreement"], instance)

    # Product review: registration filing.
    pe.give_grant(session, "partner_a", "NS-SQ-TEST-PRODUCT", ["MKT-001", "MKT-002", "TRF-002", "TRF-003"])
    instance = pr.start(session)
    complete(session, "operator", "assign_review", instance, pr.assignment("operator"))
    complete(session, "operator", "security_review", instance, pr.review())
    pr.register(session, instance)
    out["filing_certificate_product"] = (_docs(session, instance)["filing_certificate"], instance)

    # Rectification: the order is issued when the order is given.
    instance = rc.start(session)
    out["rectification_order"] = (_docs(session, instance)["rectification_order"], instance)
    clock.set(None)

    # Partner exit: exit filing.
    instance = pe.start(session, "partner_b")
    complete(session, "operator", "confirm_exit", instance, pe.confirmation())
    complete(session, "authority", "file_exit", instance, pe.filing())
    out["filing_certificate_exit"] = (_docs(session, instance)["filing_certificate"], instance)

    # Operator selection: the operation agreement (the candidate becomes the operator).
    clock.set(os_.T0)
    instance = os_.start(session)
    os_.through_notice(session, instance)
    complete(session, "authority", "notice_result", instance, os_.notice())
    complete(session, "authority", "sign_operation_agreement", instance, os_.agreement())
    out["operation_agreement"] = (_docs(session, instance)["operation_agreement"], instance)
    clock.set(None)

    # Agreement termination of the operator (the candidate is not active before its staff filing).
    instance = at.start(session)
    out["termination_notice"] = (_docs(session, instance)["termination_notice"], instance)
    return out


def _altered(pdf: bytes) -> bytes:
    changed = bytearray(pdf)
    at = len(changed) // 3
    changed[at] = (changed[at] + 1) % 256
    return bytes(changed)


def _fetches(app: Any, doc: dict[str, Any]) -> dict[str, tuple[int, bytes, list[str]]]:
    """What each user gets for ``doc`` through the API: (status of GET /documents/{id}, its body,
    the numbers listed by GET /instances/{id}/documents or [status])."""
    from app.services import accounts

    tokens = {name: accounts.issue_token(db.session, user(db.session, name), 1)
              for name in ("partner_a", "partner_b", "operator", "doc_officer")}
    db.session.commit()
    client = app.test_client()
    out = {}
    for name, token in tokens.items():
        headers = {"Authorization": f"Bearer {token}"}
        pdf = client.get(f"/api/v1/documents/{doc['id']}", headers=headers)
        listing = client.get(f"/api/v1/instances/{doc['instance_id']}/documents", headers=headers)
        numbers = [d["number"] for d in listing.get_json()["items"]] if listing.status_code == 200 \
            else [str(listing.status_code)]
        out[name] = (pdf.status_code, pdf.data, numbers)
    return out


@pytest.fixture(scope="module")
def issued(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every process run once on a SQLite copy. The app's engine is global (the next app
    replaces it), so everything that needs this database is read here."""
    folder = tmp_path_factory.mktemp("issued_by_processes")
    target = folder / "grantflow.db"
    shutil.copyfile(sqlite_template, target)
    app = make_test_app(f"sqlite:///{target}", folder)
    out: dict[str, Any] = {}
    try:
        with app.app_context():
            session = db.session
            for name, (document, instance) in _run_everything(session).items():
                pdf = documents.current().store.get(document.storage_key)
                genuine, altered = documents.verify_pdf(session, pdf), documents.verify_pdf(session, _altered(pdf))
                out[name] = {"id": document.id, "number": document.number, "code": document.verification_code,
                             "articles": list(document.articles), "instance_id": instance.id,
                             "org": document.organisation.name if document.organisation else None, "pdf": pdf,
                             "verified": (genuine.genuine, genuine.document.number if genuine.document else None),
                             "altered": (altered.genuine, altered.reason)}
            session.rollback()
            out["cert"] = documents.current().signer.cert_path
            out["fetches"] = _fetches(app, out["compliance_report"])
    finally:
        clock.set(None)
        db.engine.dispose()  # type: ignore[union-attr]
    return out


AUTHORITY = "深圳市南山区政务服务和数据管理局"
OPERATOR = "深圳市南山数据运营有限公司"
PARTNER_A = "深圳前海智数科技有限公司"

# name -> (Chinese title, words the text must contain)
EXPECTED: dict[str, tuple[str, list[str]]] = {
    "compliance_report": ("合规审查报告", [PARTNER_A, "深圳数安合规评估中心", "风险等级", "企业行政处罚信息", "按季度报送使用情况。", "第8条", "第20条"]),
    "evaluation_opinion": ("评估确认意见", [PARTNER_A, OPERATOR, AUTHORITY, "南山区财政局", "经联席会议评估，同意授权。",
                                       "参加审议的成员单位共7家，其中通过7家", "第20条"]),
    "service_agreement": ("公共数据资源授权服务协议", [OPERATOR, PARTNER_A, "NS-FW-2026-201", "企业行政处罚信息的加工使用",
                                                "产业发展", "有偿使用", "第20条", "第23条"]),
    "service_agreement_onboarding": ("公共数据资源授权服务协议", [OPERATOR, "第18条"]),
    "filing_certificate": ("备案登记证明", ["授权合作方入驻备案", AUTHORITY, "第18条"]),
    "filing_certificate_product": ("备案登记证明", ["数据产品和服务登记备案", PARTNER_A, "第21条"]),
    "filing_certificate_exit": ("备案登记证明", ["授权合作方退出备案", "第18条", "第16条"]),
    "rectification_order": ("整改通知书", [PARTNER_A, AUTHORITY, "第26条", "第27条"]),
    "operation_agreement": ("公共数据授权运营协议", [AUTHORITY, "深圳南山数智运营集团有限公司", "NS-YY-2026-001",
                                              "2029年3月31日", "第14条", "第15条", "第16条"]),
    "termination_notice": ("终止授权运营通知书", [OPERATOR, AUTHORITY, "南数专班〔2026〕3号", "NS-YY-2025-001",
                                            "第16条", "第6条", "第26条"]),
}


def test_every_kind_is_issued_by_a_process_step(issued):
    kinds = {documents.KINDS[name.split("_onboarding")[0].split("_product")[0].split("_exit")[0]].name
             for name in EXPECTED}
    assert kinds == set(documents.KINDS)
    assert set(EXPECTED) <= set(issued)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_text_names_the_title_parties_articles_and_the_instance(issued, name):
    doc = issued[name]
    title, words = EXPECTED[name]
    content = pdf_text(doc["pdf"])
    for needle in [title, doc["number"], f"{doc['code'][:5]}-{doc['code'][5:]}", *words]:
        assert needle.replace(" ", "") in content, (needle, content[:600])
    pages = re.findall(r"第(\d+)页共(\d+)页", content)
    assert pages and len(pages) == int(pages[0][1])
    assert doc["articles"], name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_pdf_a_declaration_signature_and_verification(issued, name):
    doc = issued[name]
    reader = PdfFileReader(io.BytesIO(doc["pdf"]))
    xmp = reader.root["/Metadata"].get_object().data.decode()
    assert re.search(r'pdfaid:part(="|>)2', xmp) and re.search(r'pdfaid:conformance(="|>)B', xmp)
    [signature] = reader.embedded_signatures
    context = ValidationContext(trust_roots=[load_cert_from_pemder(str(issued["cert"]))])
    status = off_event_loop(validate_pdf_signature, signature, context)
    assert status.bottom_line and status.intact and status.coverage.name == "ENTIRE_FILE"

    assert doc["verified"] == (True, doc["number"])
    assert doc["altered"][0] is False and doc["altered"][1] in ("content_mismatch", "unknown_file")


def test_documents_belong_to_the_organisation_the_decision_concerns(issued):
    assert issued["compliance_report"]["org"] == PARTNER_A
    assert issued["rectification_order"]["org"] == PARTNER_A
    assert issued["operation_agreement"]["org"] == "深圳南山数智运营集团有限公司"


def test_a_failed_render_fails_the_step_and_stores_nothing(app, session, tmp_path):
    """The compliance review is completed while the report template is broken: the step
    raises, the task stays open, the instance has not moved, no document, no audit entry."""
    instance = da.start(session, catalog_items=["MKT-003"], purpose="industry_development")
    complete(session, "operator", "assign_compliance_reviewer", instance, {"reviewer": "operator"})
    before = (instance.lock_version, session.execute(select(func.count(AuditEvent.id))).scalar_one())
    broken = tmp_path / "reports"
    shutil.copytree(documents.runtime.REPORTS_DIR, broken)
    (broken / "compliance_report.html").write_text('{% extends "base.html" %}{% block body %}{{ nope.x }}{% endblock %}')
    documents.configure(app.config["GRANTFLOW"], reports_dir=broken)
    task = open_task(session, "operator", "compliance_review", instance)
    with pytest.raises(documents.DocumentError, match="template failed"):
        tasks.complete(session, user(session, "operator"), task.id, da.report())
    session.rollback()
    session.refresh(instance)
    assert open_elements(session, instance) == {"compliance_review"}
    assert session.get(HumanTask, task.id).status == "open"
    assert (instance.lock_version, session.execute(select(func.count(AuditEvent.id))).scalar_one()) == before
    assert session.execute(select(func.count(Document.id))).scalar_one() == 0

    documents.configure(app.config["GRANTFLOW"])  # repaired: the same step now succeeds
    tasks.complete(session, user(session, "operator"), task.id, da.report())
    session.commit()
    assert [d.kind for d in _docs(session, instance).values()] == ["compliance_report"]
    assert open_elements(session, instance) == {"joint_signoff"}


def test_the_api_reports_a_failed_render_and_the_task_stays_open(app, client, api, session, tmp_path):
    instance = da.start(session, catalog_items=["MKT-003"], purpose="industry_development")
    complete(session, "operator", "assign_compliance_reviewer", instance, {"reviewer": "operator"})
    task = open_task(session, "operator", "compliance_review", instance)
    broken = tmp_path / "reports"
    shutil.copytree(documents.runtime.REPORTS_DIR, broken)
    (broken / "compliance_report.html").write_text("{% extends 'base.html' %}{% block body %}{{ nope.x }}{% endblock %}")
    documents.configure(app.config["GRANTFLOW"], reports_dir=broken)
    try:
        response = client.post(f"/api/v1/tasks/{task.id}/complete", headers=api("operator"), json={"data": da.report()})
    finally:
        documents.configure(app.config["GRANTFLOW"])
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"] == "document_failed" and "template failed" in body["message"]
    session.expire_all()
    assert session.get(HumanTask, task.id).status == "open"
    assert session.execute(select(func.count(Document.id))).scalar_one() == 0


def test_only_the_parties_fetch_a_process_document(issued):
    """The compliance report of partner_a's request: partner_a, the operator and the document
    officer get the PDF and see it listed on the instance; partner_b gets 404 for both
    (existence not revealed)."""
    doc = issued["compliance_report"]
    fetches = issued["fetches"]
    for allowed in ("partner_a", "operator", "doc_officer"):
        status, body, listed = fetches[allowed]
        assert status == 200 and body == doc["pdf"], allowed
        assert doc["number"] in listed, allowed
    assert fetches["partner_b"][0] == 404 and fetches["partner_b"][2] == ["404"]
