"""A conditional data request in Chromium: seven units sign off in seven inboxes; one reject ends it."""

from __future__ import annotations

JOINT_MEETING = ("authority", "finance", "cyberspace", "public_security", "secrecy", "source_dept", "third_party")


def _open_task(page, base: str, title: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/inbox")
    page.click(f"a:has-text('{title}')")


def _submit(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.click("button.primary:has-text('提交')")
    page.wait_for_url(base + "/inbox")


def test_conditional_request_goes_to_seven_units_and_one_reject_ends_it(new_page, live_server):
    partner = new_page("partner_a")
    partner.goto(live_server + "/processes/data_authorization/start")
    partner.fill("#business_scenario", "基于企业行政处罚信息的信用风险评估模型")
    partner.check("input[name=catalog_items][value='MKT-003']")
    assert partner.is_disabled("input[name=catalog_items][value='HR-002']")  # not open: cannot be chosen
    partner.fill("#development_plan", "在平台内建模，仅输出评分结果，原始数据不出域。")
    partner.check("input[name=purpose][value=industry_development]")
    partner.fill("#scope", "仅用于南山区企业信用评估")
    partner.click("button.primary")
    assert "办理中" in partner.inner_text("main")
    case_url = partner.url

    operator = new_page("operator")
    _open_task(operator, live_server, "确定合规审查主体")
    operator.check("input[name=reviewer][value=operator]")
    _submit(operator, live_server)
    _open_task(operator, live_server, "出具合规审查报告")
    operator.fill("#findings", "数据已脱敏，使用范围限于信用评估。")
    operator.check("input[name=risk_level][value=medium]")
    operator.check("input[name=conclusion][value=compliant_with_conditions]")
    _submit(operator, live_server)

    pages = {}
    for username in JOINT_MEETING:
        page = new_page(username)
        page.goto(live_server + "/inbox?process=data_authorization")
        links = page.locator("a:has-text('成员单位审议')")
        assert links.count() == 1, username  # exactly one task, its own unit's
        pages[username] = page
    for outsider in ("partner_b", "operator"):
        page = new_page(outsider)
        page.goto(live_server + "/inbox?process=data_authorization")
        assert page.locator("a:has-text('成员单位审议')").count() == 0

    for username in ("authority", "finance"):
        page = pages[username]
        page.click("a:has-text('成员单位审议')")
        assert "出具合规审查报告" in page.inner_text("main")  # the report is shown to the units
        page.check("input[name=decision][value=approve]")
        page.fill("#comment", f"{username}：同意。")
        _submit(page, live_server)
    secrecy = pages["secrecy"]
    secrecy.click("a:has-text('成员单位审议')")
    secrecy.check("input[name=decision][value=reject]")
    secrecy.fill("#comment", "涉及未公开的执法信息，不同意授权。")
    _submit(secrecy, live_server)

    partner.goto(case_url)
    main = partner.inner_text("main")
    assert "已办结" in main and "未通过" in main
    assert "涉及未公开的执法信息，不同意授权。" in main and "finance：同意。" in main
    pages["cyberspace"].goto(live_server + "/inbox?process=data_authorization")
    assert pages["cyberspace"].locator("a:has-text('成员单位审议')").count() == 0  # withdrawn
