"""Documents: rendering (Chinese text, PDF/A-2b, page x of y), PAdES signature, storage,
numbering and versions, verification by code and by file, and clean failure."""

from __future__ import annotations

import io
import multiprocessing
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from app.errors import ConflictError
from app.extensions import db
from app.models import AuditEvent, Document
from app.services import documents
from app.services.documents.signing import ensure_demo_certificate, off_event_loop
from app.services.documents.store import LocalFileStore
from app.services.intake import JOINT_MEETING_STANDING, JOINT_MEETING_THIRD_PARTY
from tests.conftest import make_test_app
from tests.helpers import org, user

# --- realistic contexts, as the process steps will build them -------------------------------

PARTNER_A = "深圳前海智数科技有限公司"
OPERATOR = "深圳市南山数据运营有限公司"


def parties(session: Any) -> list[dict[str, Any]]:
    return [
        documents.party(org(session, "operator"), "甲方（授权运营单位）", representative="张伟",
                        address="深圳市南山区粤海街道高新南七道 18 号"),
        documents.party(org(session, "partner_a"), "乙方（授权合作方）", representative="赵明",
                        address="深圳市南山区前海深港合作区前湾一路 1 号"),
    ]


REQUEST = {
    "business_scenario": "面向南山区中小企业的信用画像与融资风险评估服务。",
    "purpose": "产业发展：为辖区金融机构提供企业信用评估模型结果。",
    "scope": "仅在公共数据授权运营平台内进行模型训练与结果输出，原始数据不出域。",
    "development_plan": "采用隐私计算方式联合建模，仅输出企业信用评分区间，不输出任何个人信息。",
}
CATALOG = [
    {"code": "MKT-001", "name": "企业登记注册信息", "classification": "unconditional", "grade": "L1"},
    {"code": "MKT-003", "name": "企业行政处罚信息", "classification": "conditional", "grade": "L2"},
    {"code": "HR-001", "name": "社保缴纳汇总统计（按行业）", "classification": "conditional", "grade": "L2"},
]


def service_agreement_context(session: Any) -> dict[str, Any]:
    return {
        "parties": parties(session), "subject": "公共数据资源授权申请 NS-DA-2026-000017",
        "agreement_no": "NS-FW-2026-101", "request_no": "NS-DA-2026-000017",
        "signed_on": "2026-11-20", "valid_from": "2026-11-20", "valid_until": "2029-11-19",
        "service_scope": "企业信用画像模型训练及评分结果输出服务", "purpose": REQUEST["purpose"],
        "fee_terms": "按资源消耗计费：每千次模型调用 200 元，按季度结算（第二十三条）。",
        "catalog_items": CATALOG,
        "facts": [{"label": "授权审核结论", "value": "经评估确认通过"},
                  {"label": "评估确认意见", "value": "NS-WS-2026-000016"}],
    }


def compliance_report_context(session: Any) -> dict[str, Any]:
    return {
        "parties": [documents.party(org(session, "partner_a"), "申请单位"),
                    documents.party(org(session, "third_party"), "审查机构（受托第三方机构）")],
        "issuer": "深圳数安合规评估中心", "subject": "公共数据资源授权申请 NS-DA-2026-000017",
        "request_no": "NS-DA-2026-000017", "request": REQUEST, "catalog_items": CATALOG,
        "findings": "业务场景合法，数据需求与用途相符，符合最小授权原则；开发利用方案采用隐私计算，"
                    "安全保障措施完备。行政处罚信息仅以统计特征形式参与建模。",
        "risk_level": "medium", "conclusion": "compliant_with_conditions",
        "recommendations": "模型输出仅限评分区间；每季度报送使用日志。", "reviewer": "卫评估师",
    }


def joint_decisions(session: Any) -> list[dict[str, Any]]:
    units = [*JOINT_MEETING_STANDING, "dept_market", JOINT_MEETING_THIRD_PARTY]
    opinions = {
        "authority": "同意。请运营单位做好平台侧访问控制。",
        "finance": "同意，收费标准符合第二十三条原则。",
        "cyberspace": "同意。输出结果须经脱敏审核。",
        "public_security": "同意，注意日志留存。",
        "secrecy": "经审查不涉及国家秘密，同意。",
        "dept_market": "同意开放行政处罚信息的统计特征。",
        "third_party": "同意，合规审查报告结论为附条件合规。",
    }
    return [{"unit": org(session, code).name, "decision": "approve", "opinion": opinions[code],
             "decided_at": f"2026-11-{10 + i:02d}"} for i, code in enumerate(units)]


def evaluation_opinion_context(session: Any) -> dict[str, Any]:
    return {
        "parties": parties(session), "issuer": "南山区公共数据授权运营联席会议",
        "subject": "公共数据资源授权申请 NS-DA-2026-000017", "request_no": "NS-DA-2026-000017",
        "opinion": "经联席会议各成员单位审议，同意该授权申请。",
        "valid_scope": "MKT-001、MKT-003、HR-001 三项数据资源，仅限企业信用画像模型训练，期限至 2029年11月19日。",
        "conditions": "输出结果不得包含个人信息；每季度报送使用情况。",
        "decisions": joint_decisions(session), "catalog_items": CATALOG,
    }


def rectification_context(session: Any) -> dict[str, Any]:
    return {
        "parties": [documents.party(org(session, "partner_a"), "整改单位")], "issuer": "深圳市南山区政务服务和数据管理局",
        "matter": "2026 年第四季度数据安全检查", "findings": "未按季度报送数据使用日志。",
        "required_corrections": "补报第三季度使用日志，并建立按季度报送制度。", "deadline": "2026-12-31",
        "articles_violated": ["Art. 27"],
    }


def _issue(session: Any, kind: str, context: dict[str, Any], articles: list[str], **kwargs: Any) -> Document:
    kwargs.setdefault("org", org(session, "partner_a"))
    kwargs.setdefault("instance", None)
    kwargs.setdefault("actor", user(session, "operator"))
    return documents.generate(session, kind=kind, context=context, articles=articles, **kwargs)


# --- three kinds rendered once for the whole module (SQLite) ---------------------------------

@pytest.fixture(scope="module")
def issued(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Service agreement, compliance report, evaluation opinion issued through the service."""
    folder = tmp_path_factory.mktemp("issued")
    target = folder / "grantflow.db"
    shutil.copyfile(sqlite_template, target)
    app = make_test_app(f"sqlite:///{target}", folder)
    out: dict[str, Any] = {}
    with app.app_context():
        session = db.session
        for kind, make, articles in [
            ("service_agreement", service_agreement_context, ["Art. 20", "Art. 23", "Art. 27"]),
            ("compliance_report", compliance_report_context, ["Art. 8", "Art. 20", "Art. 27"]),
            ("evaluation_opinion", evaluation_opinion_context, ["Art. 20", "Art. 27"]),
        ]:
            d = _issue(session, kind, make(session), articles)
            out[kind] = {"number": d.number, "code": d.verification_code, "pdf": documents.current().store.get(d.storage_key)}
        session.commit()
        out["cert"] = documents.current().signer.cert_path
    db.engine.dispose()  # type: ignore[union-attr]
    return out


def pdf_text(pdf: bytes) -> str:
    """The PDF's text in content order, all whitespace removed (table cells and lines wrap)."""
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    result = subprocess.run([exe, "-raw", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True)
    return re.sub(r"\s+", "", result.stdout.decode())


@pytest.mark.parametrize("kind,title,expected", [
    ("service_agreement", "公共数据资源授权服务协议",
     [OPERATOR, PARTNER_A, "NS-FW-2026-101", "2029年11月19日", "每千次模型调用200元", "企业行政处罚信息",
      "第20条授权审核与联席会议", "第23条收费", "第27条授权合作方安全工作要求"]),
    ("compliance_report", "合规审查报告",
     [PARTNER_A, "深圳数安合规评估中心", "附条件合规", "风险等级", "中", "隐私计算", "第8条授权运营单位职责",
      "第20条授权审核与联席会议"]),
    ("evaluation_opinion", "评估确认意见",
     [OPERATOR, PARTNER_A, "深圳市南山区政务服务和数据管理局", "南山区财政局", "南山区国家保密局",
      "深圳市公安局南山分局", "深圳市市场监督管理局南山监管局", "深圳数安合规评估中心",
      "中共深圳市南山区委网络安全和信息化委员会办公室", "经审查不涉及国家秘密，同意。", "参加审议的成员单位共7家，其中通过7家",
      "第20条授权审核与联席会议"]),
])
def test_rendered_text_has_title_parties_articles_number_and_pages(issued, kind, title, expected):
    doc = issued[kind]
    content = pdf_text(doc["pdf"])
    for needle in [title, doc["number"], f"{doc['code'][:5]}-{doc['code'][5:]}", *expected]:
        assert needle.replace(" ", "") in content, needle
    pages = re.findall(r"第(\d+)页共(\d+)页", content)
    assert pages and pages[0] == ("1", pages[0][1]) and all(total == pages[0][1] for _, total in pages)
    assert len(pages) == int(pages[0][1])


@pytest.mark.parametrize("kind", ["service_agreement", "compliance_report", "evaluation_opinion"])
def test_pdf_declares_pdf_a_2b_and_its_signature_validates(issued, kind):
    pdf = issued[kind]["pdf"]
    reader = PdfFileReader(io.BytesIO(pdf))
    xmp = reader.root["/Metadata"].get_object().data.decode()
    assert re.search(r'pdfaid:part(="|>)2', xmp) and re.search(r'pdfaid:conformance(="|>)B', xmp), xmp
    assert reader.input_version == (1, 7) and str(reader.root.get("/Version", "/1.7")) == "/1.7"  # PDF/A-2 is PDF 1.7
    intents = reader.root["/OutputIntents"]
    assert intents[0].get_object()["/S"] == "/GTS_PDFA1"
    signatures = reader.embedded_signatures
    assert len(signatures) == 1
    context = ValidationContext(trust_roots=[load_cert_from_pemder(str(issued["cert"]))])
    status = off_event_loop(validate_pdf_signature, signatures[0], context)
    assert status.bottom_line and status.intact and status.valid and status.trusted
    assert status.coverage.name == "ENTIRE_FILE"
    assert "/ETSI.CAdES.detached" in str(signatures[0].sig_object["/SubFilter"])


# --- the service against each database backend -----------------------------------------------

def test_generate_numbers_stores_and_records(session):
    d = _issue(session, "rectification_order", rectification_context(session), ["Art. 27", "Art. 29"])
    session.commit()
    assert re.fullmatch(r"NS-WS-\d{4}-000001", d.number) and d.version == 1 and d.supersedes_id is None
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{10}", d.verification_code)
    store = documents.current().store
    assert d.sha256 == d.storage_key and store.exists(d.storage_key) and len(store.get(d.storage_key)) == d.size
    assert d.title == "整改通知书（深圳前海智数科技有限公司）" and d.articles == ["Art. 27", "Art. 29"]
    assert d.template_version.startswith("reports@")
    runtime = documents.current()
    assert runtime.signer.cert_path.parent == runtime.signing_dir  # the demo pair, under <instance>/signing
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "document.generated")).scalar_one()
    assert event.payload["number"] == d.number and event.payload["sha256"] == d.sha256
    second = _issue(session, "rectification_order", rectification_context(session), ["Art. 27"])
    assert second.number.endswith("000002")
    session.commit()
    with pytest.raises(DatabaseError):  # issued rows are never edited
        session.execute(text("UPDATE document SET title = 'x' WHERE id = :id"), {"id": d.id})
    session.rollback()


def test_verify_by_code_and_by_upload_and_a_changed_byte(session):
    d = _issue(session, "rectification_order", rectification_context(session), ["Art. 27"])
    session.commit()
    typed = f"{d.verification_code[:5].lower()}-{d.verification_code[5:]} "
    by_code = documents.verify_code(session, typed)
    assert by_code.genuine and by_code.document.number == d.number and by_code.superseded_by is None
    assert by_code.as_dict()["document"]["kind_title"] == "整改通知书"
    pdf = documents.current().store.get(d.storage_key)
    by_file = documents.verify_pdf(session, pdf)
    assert by_file.genuine and by_file.document.id == d.id
    assert by_file.signature.ok and by_file.signature.signer
    for position in (len(pdf) // 3, len(pdf) - 200):  # inside a signed stream, and near the end
        changed = bytearray(pdf)
        changed[position] ^= 0x01
        answer = documents.verify_pdf(session, bytes(changed))
        assert not answer.genuine and answer.reason in {"content_mismatch", "unknown_file"}
    changed = bytearray(pdf)
    changed[len(pdf) // 3] ^= 0x01
    claimed = documents.verify_pdf(session, bytes(changed))
    assert claimed.reason == "content_mismatch" and claimed.document.number == d.number
    assert not claimed.signature.intact
    assert documents.verify_pdf(session, b"%PDF-1.7 not really").reason == "unknown_file"
    assert documents.verify_code(session, "ABCDEFGHJK").reason == "unknown_code"
    assert documents.verify_code(session, "0000000000").reason == "malformed_code"


def test_a_new_version_supersedes_the_old_one(session):
    first = _issue(session, "rectification_order", rectification_context(session), ["Art. 27"])
    corrected = dict(rectification_context(session), deadline="2027-01-15")
    second = _issue(session, "rectification_order", corrected, ["Art. 27"], supersedes=first)
    session.commit()
    assert (second.version, second.supersedes_id, second.number) == (2, first.id, f"{first.number}-V2")
    old = documents.verify_code(session, first.verification_code)
    assert old.genuine and old.superseded_by == second.number and old.as_dict()["superseded"] is True
    assert documents.verify_code(session, second.verification_code).superseded_by is None
    assert [v.id for v in documents.versions(session, first)] == [first.id, second.id]
    assert "第2版，替代文书" + first.number in pdf_text(documents.current().store.get(second.storage_key))
    with pytest.raises(ConflictError):
        _issue(session, "rectification_order", corrected, ["Art. 27"], supersedes=first)
    with pytest.raises(documents.DocumentError):
        _issue(session, "filing_certificate", {"parties": [{"role": "备案单位", "name": PARTNER_A}],
                                               "filing_no": "NS-BA-2026-0007", "filed_matter": "入驻"},
               ["Art. 18"], supersedes=second)
    session.rollback()
    assert session.execute(select(func.count()).select_from(Document)).scalar_one() == 2


def _stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_failing_render_raises_and_stores_nothing(session, app, tmp_path):
    root = app.config["GRANTFLOW"].instance_path / "files"
    context = rectification_context(session)
    del context["deadline"]
    with pytest.raises(documents.DocumentError, match="deadline"):
        _issue(session, "rectification_order", context, ["Art. 27"])
    with pytest.raises(documents.DocumentError, match="unknown article"):
        _issue(session, "rectification_order", rectification_context(session), ["Art. 99"])
    # A template that fails while rendering (an undefined name) fails the same way.
    broken = tmp_path / "reports"
    shutil.copytree(documents.runtime.REPORTS_DIR, broken)
    (broken / "rectification_order.html").write_text('{% extends "base.html" %}{% block body %}{{ no_such_key.x }}{% endblock %}')
    documents.configure(app.config["GRANTFLOW"], reports_dir=broken)
    with pytest.raises(documents.DocumentError, match="template failed"):
        _issue(session, "rectification_order", rectification_context(session), ["Art. 27"])
    session.rollback()
    assert session.execute(select(func.count()).select_from(Document)).scalar_one() == 0
    assert session.execute(select(func.count()).where(AuditEvent.action == "document.generated")).scalar_one() == 0
    assert _stored_files(root) == []


def test_file_store_is_content_addressed_and_refuses_bad_keys(tmp_path):
    store = LocalFileStore(tmp_path / "files")
    key = store.put(b"%PDF-1.7 demo")
    assert store.put(b"%PDF-1.7 demo") == key and store.get(key) == b"%PDF-1.7 demo" and store.exists(key)
    assert [p.name for p in _stored_files(tmp_path / "files")] == [key]  # no temporary file left
    store.put_variant(key, "page1.png", b"png")
    assert store.get_variant(key, "page1.png") == b"png" and store.get_variant(key, "page2.png") is None
    for bad in ("../../etc/passwd", key[:-1], key.upper()):
        with pytest.raises(documents.DocumentError):
            store.get(bad)
    with pytest.raises(documents.DocumentError):
        store.get("0" * 64)


def _make_demo(folder: str) -> bytes:
    return ensure_demo_certificate(Path(folder))[1].read_bytes()


def test_demo_certificate_is_created_once_even_by_racing_processes(tmp_path):
    folder = tmp_path / "signing"
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        certs = pool.map(_make_demo, [str(folder)] * 8)
    assert len(set(certs)) == 1
    assert _make_demo(str(folder)) == certs[0]
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "demo-signing-cert.pem", "demo-signing-key.pem"]
    assert (folder / "demo-signing-key.pem").stat().st_mode & 0o077 == 0


def test_concurrent_issuers_take_distinct_numbers(app):
    """Two transactions number documents of a year not yet opened: no repeat, no gap."""
    from app.services.documents import numbering

    barrier = threading.Barrier(2)
    numbers: list[str] = []

    def worker() -> None:
        session = db.new_session()
        try:
            barrier.wait()
            number = numbering.next_number(session, 2031)
            time.sleep(0.2)  # hold the year's row while "rendering"
            session.commit()
            numbers.append(number)
        finally:
            session.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(numbers) == ["NS-WS-2031-000001", "NS-WS-2031-000002"]


def test_on_postgresql_an_issuer_rendering_does_not_block_the_next(app):
    """The number is taken in its own short transaction on PostgreSQL: a second issuer gets
    its number while the first one's transaction (rendering, signing) is still open."""
    from app.services.documents import numbering

    if db.engine.dialect.name != "postgresql":  # type: ignore[union-attr]
        pytest.skip("SQLite queues writers by design")
    first_took, second_took = threading.Event(), threading.Event()
    numbers: dict[str, str] = {}

    def first() -> None:
        session = db.new_session()
        try:
            numbers["first"] = numbering.next_number(session, 2032)
            first_took.set()
            numbers["second_done_while_first_open"] = str(second_took.wait(10))
            session.rollback()  # the step failed: its number stays unused
        finally:
            session.close()

    def second() -> None:
        first_took.wait(10)
        session = db.new_session()
        try:
            numbers["second"] = numbering.next_number(session, 2032)
            second_took.set()
            session.commit()
        finally:
            session.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert numbers == {"first": "NS-WS-2032-000001", "second": "NS-WS-2032-000002",
                       "second_done_while_first_open": "True"}


def test_a_configured_signing_key_is_used(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from weasyprint import HTML

    from app.services.documents.signing import PlatformSigner, _demo_pair
    from config import load_settings
    from config.settings import SettingsError

    key_pem, cert_pem = _demo_pair()
    key = serialization.load_pem_private_key(key_pem, password=None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"s3cret"))
    (tmp_path / "key.pem").write_bytes(encrypted)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    env = {"GRANTFLOW_SIGNING_KEY": str(tmp_path / "key.pem"), "GRANTFLOW_SIGNING_CERT": str(tmp_path / "cert.pem"),
           "GRANTFLOW_SIGNING_KEY_PASSWORD": "s3cret", "GRANTFLOW_INSTANCE_PATH": str(tmp_path),
           "GRANTFLOW_SECRET_KEY": "x"}
    settings = load_settings(env)
    signer = PlatformSigner(settings.signing_key, settings.signing_cert, settings.signing_key_password)
    signed = signer.sign(HTML(string="<p>测试</p>").write_pdf(pdf_variant="pdf/a-2b"), reason="test")
    assert signer.check(signed).ok
    with pytest.raises(documents.DocumentError):
        PlatformSigner(settings.signing_key, settings.signing_cert, "wrong")
    with pytest.raises(SettingsError, match="together"):
        load_settings({**env, "GRANTFLOW_SIGNING_CERT": ""})
    with pytest.raises(SettingsError, match="GRANTFLOW_PUBLIC_URL"):
        load_settings({**env, "GRANTFLOW_PUBLIC_URL": "ftp://x"})


def test_init_signing_creates_the_demo_certificate_once(app):
    """`make run` calls `flask documents init-signing`: with no key configured it creates a
    self-signed pair under instance/signing/ and reuses it on the next start."""
    documents.configure(app.config["GRANTFLOW"])
    folder = app.config["GRANTFLOW"].instance_path / "signing"
    runner = app.test_cli_runner()
    first = runner.invoke(args=["documents", "init-signing"])
    assert first.exit_code == 0 and "self-signed demo certificate" in first.output, first.output
    cert = next(folder.glob("*cert*.pem"))
    pem = cert.read_bytes()
    assert b"BEGIN CERTIFICATE" in pem and (folder / "demo-signing-key.pem").stat().st_mode & 0o077 == 0
    documents.configure(app.config["GRANTFLOW"])  # a new process: the pair on disk is reused
    again = runner.invoke(args=["documents", "init-signing"])
    assert again.exit_code == 0 and cert.read_bytes() == pem
