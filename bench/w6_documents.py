"""W6 documents: issuing the operation agreement against WeasyPrint alone on the same HTML.

Ours: ``documents.generate`` in a temporary app (template + QR code, WeasyPrint PDF/A-2b
layout, PAdES signature, content-addressed file, numbering, row and audit entry; the
transaction is rolled back each time). Floor: ``weasyprint.HTML(string=html).write_pdf``
with the same base URL and PDF variant on the exact HTML our renderer produced for that
document: the agreement, without a staff list, runs to three pages.
One warm-up document (fonts load once per process) is not counted.
"""

from __future__ import annotations

import io
import statistics
import time
from datetime import date, timedelta
from typing import Any

from bench.common import Check, Result, Workspace, app_context, ratio, summary

REPEATS = 8
STAFF = [{"name": name, "position": position, "filing_no": f"NS-RY-2026-{i + 1:04d}"}
         for i, (name, position) in enumerate([("张伟", "运营负责人"), ("李娜", "数据安全负责人"), ("王强", "平台运维工程师")])]
TARGET = "our render + sign <= 1.5x WeasyPrint alone on the same HTML; the 3-page agreement under 0.5 s"


def run(ws: Workspace) -> Result:
    from weasyprint import HTML

    from app.extensions import db
    from app.services import documents
    from app.services.documents import render, signing

    result = Result("W6", "documents (operation agreement)", TARGET)
    url, folder = ws.sqlite("w6")
    parts: dict[str, list[float]] = {"html": [], "layout": [], "sign": []}
    captured: list[str] = []
    original_html, original_pdf, original_sign = render.Renderer.html, render.Renderer.pdf, signing.PlatformSigner.sign

    def timed_method(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            out = fn(*args, **kwargs)
            parts[name].append((time.perf_counter() - started) * 1000)
            if name == "html":
                captured.append(out)
            return out
        return wrapper

    ours, floor, pages = [], [], 0
    with app_context(url, folder):
        render.Renderer.html = timed_method("html", original_html)  # type: ignore[method-assign]
        render.Renderer.pdf = timed_method("layout", original_pdf)  # type: ignore[method-assign]
        signing.PlatformSigner.sign = timed_method("sign", original_sign)  # type: ignore[method-assign]
        try:
            session = db.new_session()
            context = _context(session)
            runtime = documents.current()
            _ = runtime.signer  # the demo certificate is made once, before timing
            for index in range(REPEATS + 1):
                started = time.perf_counter()
                document = documents.generate(session, kind="operation_agreement", context=context, instance=None,
                                              org=_org(session, "operator"), actor=None,
                                              articles=["Art. 14", "Art. 15", "Art. 16"])
                session.flush()
                elapsed = (time.perf_counter() - started) * 1000
                pdf = runtime.store.get(document.storage_key)
                session.rollback()
                html = captured[-1]
                started = time.perf_counter()
                HTML(string=html, base_url=str(runtime.renderer.folder)).write_pdf(pdf_variant=render.PDF_VARIANT)
                alone = (time.perf_counter() - started) * 1000
                if index:
                    ours.append(elapsed)
                    floor.append(alone)
                pages = _pages(pdf)
            session.close()
        finally:
            render.Renderer.html, render.Renderer.pdf = original_html, original_pdf  # type: ignore[method-assign]
            signing.PlatformSigner.sign = original_sign  # type: ignore[method-assign]
    ours_median, floor_median = statistics.median(ours), statistics.median(floor)
    result.figures = {"ours_generate": summary(ours), "pages": pages,
                      "pages_per_s": round(pages / (ours_median / 1000), 1),
                      "parts_median_ms": {name: round(statistics.median(values[1:]), 1) for name, values in parts.items()},
                      "pdf_variant": render.PDF_VARIANT}
    result.floor = {"weasyprint_alone": summary(floor),
                    "pages_per_s": round(pages / (floor_median / 1000), 1)}
    result.ratio = ratio(ours_median, floor_median)
    result.figure = (f"{pages} pages: ours {round(ours_median)} ms vs WeasyPrint alone {round(floor_median)} ms "
                     f"= x{result.ratio}; {result.figures['pages_per_s']} pages/s")
    result.checks = [Check("ours / WeasyPrint alone (median)", result.ratio, 1.5),
                     Check("3-page agreement median s", round(ours_median / 1000, 3), 0.5),
                     Check("pages", pages, 3, ">=")]
    return result


def _org(session: Any, code: str) -> Any:
    from sqlalchemy import select

    from app.models import Organisation

    return session.execute(select(Organisation).where(Organisation.code == code)).scalar_one()


def _context(session: Any) -> dict[str, Any]:
    from app.services import documents

    signed = date(2026, 11, 20)
    return {
        "parties": [
            documents.party(_org(session, "authority"), "甲方（区公共数据主管部门）", representative="王主任",
                            address="深圳市南山区桃园路 2 号"),
            documents.party(_org(session, "operator"), "乙方（授权运营单位）", representative="张伟",
                            address="深圳市南山区粤海街道高新南七道 18 号"),
        ],
        "subject": "南山区公共数据授权运营", "agreement_no": "NS-YY-2026-001",
        "signed_on": signed.isoformat(), "valid_from": signed.isoformat(),
        "valid_until": (signed + timedelta(days=3 * 365 - 1)).isoformat(),
        "scope": "南山区公共数据资源目录中无条件开放和有条件开放的公共数据，在区统一的公共数据授权运营平台内开展运营，"
                 "为授权合作方提供数据资源授权、数据产品和服务加工等服务。",
        "fee_terms": "乙方以数据服务、资源消耗为计费依据向授权合作方收取费用，收费标准报甲方备案后执行（第二十三条）。",
        "revenue_terms": "授权运营收益按“谁投入、谁贡献、谁受益”原则分配，具体比例由双方另行签订补充协议约定（第二十四条）。",
        "staff": [],  # the operator's filed staff (STAFF) would add a fourth page
        "notes": "本协议一式四份，甲乙双方各执两份，具有同等法律效力。本协议未尽事宜，由双方协商一致后签订补充协议。",
    }


def _pages(pdf: bytes) -> int:
    from pyhanko.pdf_utils.reader import PdfFileReader

    return int(PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Count"])
