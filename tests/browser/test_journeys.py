"""Three journeys in Chromium, in Chinese, through the pages only (sign-in page, nav links, forms,
buttons), with axe-core run on every main page on the way at 1280 px and at 390 px:

* the reviewer journey: partner_a asks for conditionally open data, the operator assigns the
  compliance review and writes the report, the seven joint-meeting units sign off from their
  inboxes, the authority writes the evaluation opinion, the operator signs the service
  agreement, and partner_a finds the grant and the three documents;
* the admin journey: change a due time in the modeler's side panel, validate, deploy version 2,
  and migrate a running case to it after the preview;
* the document officer journey: filter the desk, open a document and its page-1 preview,
  download the PDF, and verify it by upload and by code; a changed file is not genuine.

The database is read only to confirm what the pages said (and, for the document officer, to
issue the two documents the desk starts with)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Document, Grant, ProcessInstance
from app.services import documents
from app.services.clock import clock
from tests.browser.axe import Checker
from tests.helpers import org, user

JOINT_MEETING = ("authority", "finance", "cyberspace", "public_security", "secrecy", "source_dept", "third_party")
DOCUMENT_KINDS = ("合规审查报告", "评估确认意见", "公共数据资源授权服务协议")


def sign_in(page: Page, base: str, username: str) -> None:
    """The sign-in page as a user meets it: type the name and password, press the button."""
    page.goto(base + "/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("demo")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(base + "/inbox")


def open_task(page: Page, title: str) -> None:
    page.click("nav[aria-label] >> text=待办")
    page.click(f"main table a:has-text('{title}')")
    expect(page.locator("h1")).to_contain_text(title)


def submit_task(page: Page, base: str) -> None:
    page.click("main form button.primary:has-text('提交')")
    page.wait_for_url(base + "/inbox")
    expect(page.locator(".flash")).to_contain_text("已完成")


def fill_by_label(page: Page, values: dict[str, str]) -> None:
    form = page.locator("main form:has(button.primary)")
    for label, value in values.items():
        form.get_by_label(label).fill(value)


def test_reviewer_journey_partner_applies_seven_units_sign_and_the_grant_is_issued(new_page, live_server, app):
    base, axe = live_server, Checker()
    partner = new_page()
    partner.goto(base + "/login")
    axe(partner, "login")
    sign_in(partner, base, "partner_a")
    axe(partner, "inbox")

    # the partner looks the item up in the catalogue, then applies through 发起事项
    partner.click("nav >> text=数据目录")
    expect(partner.locator("main table")).to_contain_text("MKT-003")
    axe(partner, "catalogue")
    partner.click("nav >> text=发起事项")
    axe(partner, "processes")
    partner.click("a[href$='/processes/data_authorization/start']")
    axe(partner, "start form")
    partner.get_by_label("业务场景").fill("基于企业行政处罚信息的信用风险评估模型")
    partner.check("input[name=catalog_items][value='MKT-003']")
    partner.get_by_label("开发利用方案").fill("在平台内建模，仅输出评分结果，原始数据不出域。")
    partner.get_by_label("产业发展").check()
    partner.get_by_label("使用范围").fill("仅用于南山区企业信用评估")
    partner.click("main button.primary")
    expect(partner.locator("main .page-head")).to_contain_text("办理中")
    case_url = partner.url
    instance_id = int(case_url.rsplit("/", 1)[1])
    partner.wait_for_selector("#diagram[data-rendered=true]")
    axe(partner, "instance")

    operator = new_page()
    sign_in(operator, base, "operator")
    open_task(operator, "确定合规审查主体")
    axe(operator, "task page")
    operator.get_by_label("授权运营单位自行出具").check()
    submit_task(operator, base)
    open_task(operator, "出具合规审查报告")
    fill_by_label(operator, {"审查情况": "数据已脱敏，使用范围限于信用评估。", "审查建议": "按季度报送使用情况。"})
    operator.get_by_label("中", exact=True).check()
    operator.get_by_label("附条件合规").check()
    submit_task(operator, base)

    units = {}
    for username in JOINT_MEETING:
        page = units[username] = new_page()
        sign_in(page, base, username)
        assert page.locator("main table a:has-text('成员单位审议')").count() == 1, username  # its own unit's only
        page.click("main table a:has-text('成员单位审议')")
        expect(page.locator("main")).to_contain_text("附条件合规")  # the compliance report is in front of them
        axe(page, "task page (sign-off)")
        page.get_by_label("通过", exact=True).check()
        page.get_by_label("审议意见").fill(f"{username}：同意授权。")
        submit_task(page, base)

    authority = units["authority"]
    open_task(authority, "出具评估确认意见")
    fill_by_label(authority, {"评估确认意见": "经联席会议评估，同意授权。", "使用条件": "仅在运营平台内使用。",
                              "确认的使用范围": "企业行政处罚信息用于信用评估模型。"})
    submit_task(authority, base)
    authority.click("nav >> text=仪表板")
    axe(authority, "dashboard")
    authority.click("nav >> text=审计日志")
    expect(authority.locator("main table")).to_contain_text("task.completed")
    axe(authority, "audit log")

    today = clock.now().date()  # the server's today, as the form checks the dates against it
    open_task(operator, "签订服务协议")
    fill_by_label(operator, {"服务协议编号": "NS-FW-2026-301", "签订日期": today.isoformat(),
                             "生效日期": today.isoformat(), "有效期至": (today + timedelta(days=700)).isoformat(),
                             "服务范围": "企业行政处罚信息的加工使用", "收费条款": "按数据服务调用量计费。"})
    submit_task(operator, base)

    # the partner: the case is closed, the bell has news, the grant and the three documents are there
    partner.goto(case_url)
    expect(partner.locator("main .page-head")).to_contain_text("已办结")
    expect(partner.locator("main .page-head")).to_contain_text("已通过")
    history = partner.locator("main ol.history")
    for username in JOINT_MEETING:
        expect(history).to_contain_text(f"{username}：同意授权。")
    partner.click("header a.bell")
    expect(partner.locator("main")).to_contain_text("已通过")
    axe(partner, "notifications")
    partner.click("nav >> text=数据授权")
    grant_row = partner.locator("main table tbody tr", has_text="MKT-003")
    expect(grant_row).to_contain_text("有效")
    expect(grant_row).to_contain_text("产业发展")
    axe(partner, "grants")
    partner.click("nav >> text=文书")
    rows = partner.locator("main table.list tbody")
    for kind in DOCUMENT_KINDS:
        expect(rows).to_contain_text(kind)
    axe(partner, "documents")

    with app.app_context():
        instance = db.session.get(ProcessInstance, instance_id)
        assert (instance.status, instance.outcome) == ("completed", "approved")
        [grant] = db.session.execute(select(Grant).where(Grant.instance_id == instance_id)).scalars()
        assert [i.code for i in grant.items] == ["MKT-003"] and grant.organisation.code == "partner_a"
        kinds = sorted(db.session.execute(select(Document.kind).where(Document.instance_id == instance_id)).scalars())
        assert kinds == ["compliance_report", "evaluation_opinion", "service_agreement"]


def test_admin_journey_edit_validate_deploy_and_migrate(new_page, live_server, app):
    base, axe = live_server, Checker()
    partner = new_page()
    sign_in(partner, base, "partner_a")  # a running case on version 1, waiting for the operator
    partner.click("nav >> text=发起事项")
    partner.click("a[href$='/processes/data_authorization/start']")
    partner.get_by_label("业务场景").fill("企业开办核验")
    partner.check("input[name=catalog_items][value='MKT-001']")
    partner.get_by_label("开发利用方案").fill("平台内核验，不留存数据。")
    partner.get_by_label("公共治理").check()
    partner.get_by_label("使用范围").fill("仅用于政务窗口核验")
    partner.click("main button.primary")
    expect(partner.locator("main")).to_contain_text("授权申请审核")
    instance_id = int(partner.url.rsplit("/", 1)[1])

    admin = new_page()
    problems: list[str] = []
    admin.on("pageerror", lambda e: problems.append(str(e)))
    sign_in(admin, base, "admin")
    admin.click("nav >> text=流程设计")
    axe(admin, "designer")
    admin.click("#designer-processes a[href='/designer/data_authorization']")
    admin.wait_for_selector("#designer[data-ready=true]")
    admin.wait_for_function("document.getElementById('designer').dataset.errors === '0'")
    axe(admin, "designer modeler")

    admin.click("g[data-element-id=operator_review]")
    panel = admin.locator("#designer-panel-body[data-element=operator_review]")
    due = panel.get_by_label("办理时限（ISO 时长）")
    expect(due).to_have_value(re.compile(r"^P\d+D$"))  # the deployed due time
    new_due = "P12D" if due.input_value() != "P12D" else "P14D"
    due.fill(new_due)
    due.press("Tab")
    admin.click("#designer-validate")
    expect(admin.locator("#designer-status")).to_have_text("未发现问题。")
    admin.click("#designer-deploy")
    admin.wait_for_selector("#deploy-dialog[open] #deploy-submit:not([disabled])")
    admin.get_by_label("修改内容（说明）").fill("授权申请审核期限改为12天")
    admin.click("#deploy-submit")
    admin.wait_for_selector("#deploy-outcome[data-version='2'][data-created=true]")
    admin.click("#deploy-cancel")

    admin.click(".page-head a[href='/designer/data_authorization/versions']")
    newest = admin.locator("#designer-versions tr[data-version='2']")
    expect(newest).to_contain_text("授权申请审核期限改为12天")
    expect(admin.locator("#designer-versions tr[data-version='1'] td.running")).to_have_text("1")
    axe(admin, "designer versions")

    admin.click("tr[data-version='1'] a.migrate")
    row = admin.locator(f"#migrate-instances tr[data-instance='{instance_id}']")
    expect(row.locator("input[name=instance_id]")).to_be_checked()
    expect(admin.locator("button[value=migrate]")).to_be_disabled()  # preview first
    admin.click("button[value=preview]")
    expect(row.locator("td.preview .result-ok")).to_be_visible()
    expect(row.locator("td.preview")).to_contain_text("operator_review")
    axe(admin, "migrate")
    admin.click("button[value=migrate]")
    result = admin.locator(f"#migration-results tr[data-instance='{instance_id}']")
    expect(result).to_have_class(re.compile(r"\bmigrated\b"))
    result.locator("a").click()
    expect(admin.locator("main .page-head .sub")).to_contain_text("v2")
    assert problems == []

    with app.app_context():
        instance = db.session.get(ProcessInstance, instance_id)
        assert instance.definition.version == 2
        assert instance.definition.meta["tasks"]["operator_review"]["due"] == new_due


def _issue_filing(app, org_code: str, filing_no: str) -> str:
    """A filing certificate for ``org_code``, as the onboarding process issues it; its number."""
    with app.app_context():
        partner = org(db.session, org_code)
        document = documents.generate(
            db.session, kind="filing_certificate", instance=None, org=partner, actor=user(db.session, "authority"),
            articles=["Art. 18"], context={
                "parties": [documents.party(partner, "备案单位")], "issuer": "深圳市南山区政务服务和数据管理局",
                "filing_no": filing_no, "filed_matter": "授权合作方入驻备案", "agreement_no": "NS-FW-2026-101",
                "filed_on": clock.now().date().isoformat(), "comment": "已备案。"})
        db.session.commit()
        return document.number


def test_document_officer_journey_find_preview_download_and_verify(new_page, live_server, app, tmp_path: Path):
    base, axe = live_server, Checker()
    wanted = _issue_filing(app, "partner_a", "NS-BA-2026-0007")
    other = _issue_filing(app, "partner_b", "NS-BA-2026-0008")

    officer = new_page()
    sign_in(officer, base, "doc_officer")
    officer.click("nav >> text=文书")
    rows = officer.locator("main table.list tbody tr")
    expect(rows).to_have_count(2)
    axe(officer, "documents")
    officer.get_by_label("机构").select_option(label="深圳前海智数科技有限公司")
    officer.get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(wanted)
    expect(rows).not_to_contain_text(other)

    officer.click(f"main table a:has-text('{wanted}')")
    expect(officer.locator("h1")).to_contain_text("备案")
    preview = officer.get_by_role("img", name=re.compile("^第 1 页预览"))
    expect(preview).to_be_visible()
    officer.wait_for_function("(img) => img.complete && img.naturalWidth > 300", arg=preview.element_handle())
    axe(officer, "document detail")
    code = officer.locator("dl.facts code").first.inner_text()
    with officer.expect_download() as download:
        officer.get_by_role("link", name="下载 PDF").click()
    assert download.value.suggested_filename == f"{wanted}.pdf"
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")

    officer.click("main a:has-text('返回文书列表')")
    officer.click("main a:has-text('核验文书')")
    axe(officer, "verify")
    officer.set_input_files("#file", files=[{"name": f"{wanted}.pdf", "mimeType": "application/pdf", "buffer": pdf}])
    officer.click("main form button.primary")
    result = officer.locator("section[aria-labelledby=result-h]")
    expect(result.locator("h2")).to_have_text("真实有效")
    expect(result).to_contain_text(wanted)
    axe(officer, "verification result")

    officer.get_by_label("校验码（10 位）").fill(code.lower())  # as typed from the paper: case does not matter
    officer.click("main form button.primary")
    expect(result.locator("h2")).to_have_text("真实有效")
    expect(result).to_contain_text(wanted)

    changed = bytearray(pdf)
    middle = len(changed) // 2
    changed[middle] = (changed[middle] + 1) % 256
    officer.set_input_files("#file", files=[{"name": "altered.pdf", "mimeType": "application/pdf", "buffer": bytes(changed)}])
    officer.click("main form button.primary")
    expect(result.locator("h2")).to_have_text("无法确认为真")
    axe(officer, "verification refused")
