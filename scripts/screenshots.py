"""Screenshots of the main pages for the README, taken in Debian's Chromium.

Builds a throw-away SQLite database with the demo set, puts a few cases in different states
through the services (an onboarding waiting for its first review, a conditional data request
half-way through the joint meeting, an unconditional one finished with its grant and service
agreement), serves the app on a loopback port and writes PNGs into docs/screenshots/:

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import io
import logging
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from PIL import Image
from sqlalchemy import select
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from app.models import HumanTask, ProcessInstance, User
from app.services import processes, tasks
from app.services.clock import clock
from config import load_settings

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
MAX_BYTES = 300_000

APPLICATION = {
    "company_name": "深圳南山新锐数据科技有限公司", "unified_social_credit_code": "91440300MA5G8XY12K",
    "legal_representative": "孙立新", "registered_address": "深圳市南山区粤海街道科技园科苑路15号",
    "business_scope": "数据处理和存储支持服务；软件开发；信息技术咨询服务。", "contact_name": "孙立新",
    "contact_phone": "13800138000", "contact_email": "sun@xinrui-data.example.cn",
    "qualifications": ["data_security_policy", "mlps_level3_filing"],
    "personnel": [{"name": "李明", "position": "数据工程师", "responsibility": "数据加工"},
                  {"name": "王芳", "position": "安全负责人", "responsibility": "数据安全管理"}],
}


def data_request(items: list[str], purpose: str, scenario: str) -> dict[str, Any]:
    return {"business_scenario": scenario, "catalog_items": items, "purpose": purpose,
            "development_plan": "在运营平台内建模，仅输出评分结果，原始数据不出域。",
            "scope": "仅用于南山区企业信用评估，不对外提供原始数据。"}


def build_app(folder: Path) -> Flask:
    """A migrated, seeded database with the workflows deployed and a demo signing certificate."""
    settings = load_settings(env={}, database_url=f"sqlite:///{folder / 'grantflow.db'}", instance_path=folder,
                             demo=True, secret_key=secrets.token_hex(16))
    app = create_app(settings)
    runner = app.test_cli_runner()
    for args in (["db", "upgrade"], ["seed-demo"], ["deploy-workflows"], ["documents", "init-signing"]):
        result = runner.invoke(args=args)
        if result.exit_code != 0:
            raise SystemExit(f"flask {' '.join(args)} failed:\n{result.output}")
    return app


def _user(username: str) -> User:
    return db.session.execute(select(User).where(User.username == username)).scalar_one()


def _complete(username: str, element: str, instance: ProcessInstance, data: dict[str, Any]) -> None:
    person = _user(username)
    page = tasks.inbox(db.session, person, per_page=200)
    [task] = [t for t in page.items if t.spec_id == element and t.instance_id == instance.id]
    tasks.complete(db.session, person, task.id, data)
    db.session.commit()


def populate(app: Flask) -> dict[str, Any]:
    """The cases shown on the screenshots; returns what the pages need (ids, a code)."""
    today = clock.now().date()
    agreement = {"agreement_no": "NS-FW-2026-201", "signed_on": today.isoformat(), "valid_from": today.isoformat(),
                 "valid_until": (today + timedelta(days=700)).isoformat(),
                 "service_scope": "企业登记注册信息的加工使用", "fee_terms": "用于公共治理，无偿使用。"}
    with app.app_context():
        processes.start(db.session, _user("applicant"), "partner_onboarding", APPLICATION)
        finished = processes.start(db.session, _user("partner_b"), "data_authorization", data_request(
            ["MKT-001"], "public_governance", "企业开办一件事：为政务服务窗口核验企业登记信息。"))
        db.session.commit()
        _complete("operator", "operator_review", finished, {"decision": "approve", "comment": "数据需求与场景匹配。"})
        _complete("operator", "sign_service_agreement", finished, agreement)
        conditional = processes.start(db.session, _user("partner_a"), "data_authorization", data_request(
            ["MKT-003"], "industry_development", "基于企业行政处罚信息的信用风险评估模型"))
        db.session.commit()
        _complete("operator", "assign_compliance_reviewer", conditional, {"reviewer": "operator"})
        _complete("operator", "compliance_review", conditional, {
            "findings": "数据已脱敏，使用范围限于信用评估；安全措施完备。", "risk_level": "medium",
            "conclusion": "compliant_with_conditions", "recommendations": "按季度报送使用情况。"})
        for username in ("authority", "finance", "cyberspace"):
            _complete(username, "joint_signoff", conditional, {"decision": "approve", "comment": "同意。"})
        task_id = db.session.execute(select(HumanTask.id).where(
            HumanTask.instance_id == conditional.id, HumanTask.spec_id == "joint_signoff",
            HumanTask.status == "open", HumanTask.candidate_org.has(code="dept_market"))).scalar_one()
        from app.models import Document

        document = db.session.execute(select(Document).where(Document.instance_id == finished.id,
                                                             Document.kind == "service_agreement")).scalar_one()
        return {"conditional": conditional.id, "task": task_id, "code": document.verification_code}


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def save(png: bytes, path: Path) -> None:
    """Write the PNG, reduced to a 256-colour palette when it is larger than MAX_BYTES."""
    if len(png) > MAX_BYTES:
        image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        png = buffer.getvalue()
    path.write_bytes(png)
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {len(png) // 1024} KB")


def stacked(page: Any, selectors: list[str]) -> bytes:
    """The parts of a full-page screenshot that show ``selectors``, one under the other (a case
    page's head and its diagram, without the tables in between)."""
    full = Image.open(io.BytesIO(page.screenshot(full_page=True)))
    boxes = [page.evaluate("""(s) => { const r = document.querySelector(s).getBoundingClientRect();
        return [Math.max(0, r.top + window.scrollY - 12), r.bottom + window.scrollY + 12]; }""", s) for s in selectors]
    parts = [full.crop((0, int(top), full.width, int(bottom))) for top, bottom in boxes]
    image = Image.new("RGB", (full.width, sum(p.height for p in parts)), "#f5f7fa")
    y = 0
    for part in parts:
        image.paste(part, (0, y))
        y += part.height
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def shoot(base: str, facts: dict[str, Any], out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        def login(username: str, viewport: dict[str, int] = DESKTOP) -> Any:
            page = browser.new_context(viewport=viewport, locale="zh-CN", device_scale_factor=1).new_page()
            page.goto(base + "/login")
            page.fill("#username", username)
            page.fill("#password", "demo")
            page.click("button.primary")
            page.wait_for_url(base + "/inbox")
            return page

        operator = login("operator")
        save(operator.screenshot(), out / "inbox.png")
        source = login("source_dept")
        source.goto(f"{base}/tasks/{facts['task']}")
        save(source.screenshot(full_page=True), out / "task.png")
        source.goto(f"{base}/instances/{facts['conditional']}")
        source.wait_for_selector("#diagram[data-rendered=true]")
        save(stacked(source, ["header.top", "main .page-head", "section[aria-labelledby=diagram-h]"]),
             out / "instance.png")
        admin = login("admin")
        admin.goto(base + "/designer/data_authorization")
        admin.wait_for_selector("#designer[data-ready=true]")
        admin.click("g[data-element-id=operator_review]")
        admin.wait_for_selector("#designer-panel-body[data-element=operator_review]")
        save(admin.screenshot(), out / "designer.png")
        officer = login("doc_officer")
        officer.goto(base + "/documents")
        save(officer.screenshot(), out / "documents.png")
        officer.goto(base + "/documents/verify")
        officer.fill("#code", facts["code"])
        officer.click("main button.primary")
        officer.wait_for_selector("#result-h")
        save(officer.screenshot(full_page=True), out / "verify.png")
        authority = login("authority")
        authority.goto(base + "/dashboard")
        save(authority.screenshot(), out / "dashboard.png")
        phone = login("operator", PHONE)
        save(phone.screenshot(), out / "inbox-phone.png")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="gf-shots-") as tmp:
        app = build_app(Path(tmp))
        facts = populate(app)
        with serve(app) as base:
            shoot(base, facts, args.out.resolve())
        with app.app_context():
            db.engine.dispose()  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
