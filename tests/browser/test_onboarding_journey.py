"""The onboarding journey in Chromium, in Chinese: applicant, operator, authority; partner_b sees nothing."""

from __future__ import annotations

from tests import factories


def _fill_application(page) -> None:  # type: ignore[no-untyped-def]
    data = factories.application()
    for name in ("company_name", "unified_social_credit_code", "legal_representative", "registered_address",
                 "business_scope", "contact_name", "contact_phone", "contact_email"):
        page.fill(f"#{name}", data[name])
    for value in data["qualifications"]:
        page.check(f"input[name=qualifications][value={value}]")
    for i, person in enumerate(data["personnel"]):
        if i > 0:
            page.click("button.add-row")
        for key, value in person.items():
            page.fill(f"input[name='personnel-{i}-{key}']", value)


def _do_task(page, base: str, title: str, fill) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/inbox")
    page.click(f"a:has-text('{title}')")
    fill(page)
    page.click("button.primary:has-text('提交')")
    page.wait_for_url(base + "/inbox")
    assert "已完成" in page.inner_text(".flash")


def _review(page) -> None:  # type: ignore[no-untyped-def]
    page.check("input[name=decision][value=approve]")
    page.fill("#comment", "材料齐全，符合要求。")


def _agreement(page) -> None:  # type: ignore[no-untyped-def]
    for key, value in factories.agreement().items():
        page.fill(f"#{key}", value)


def _filing(page) -> None:  # type: ignore[no-untyped-def]
    page.check("input[name=decision][value=approve]")
    page.fill("#filing_no", "NS-BA-2026-0007")
    page.fill("#comment", "已备案。")


def test_applicant_onboards_in_chinese_and_becomes_active(new_page, live_server):
    applicant = new_page("applicant")
    assert "待办" in applicant.inner_text("nav")
    applicant.click("nav >> text=发起事项")
    applicant.click("a[href$='/processes/partner_onboarding/start']")
    assert "统一社会信用代码" in applicant.content()
    # a mistake is shown on its field, the typed values stay
    _fill_application(applicant)
    applicant.fill("#unified_social_credit_code", "BAD")
    applicant.click("button.primary")
    assert "格式不正确" in applicant.inner_text(".field.invalid")
    assert applicant.input_value("#company_name") == factories.application()["company_name"]
    applicant.fill("#unified_social_credit_code", factories.application()["unified_social_credit_code"])
    applicant.click("button.primary")
    assert "办理中" in applicant.inner_text("main")
    case_url = applicant.url

    operator = new_page("operator")
    assert operator.inner_text(".badge") == "2"
    _do_task(operator, live_server, "入驻资质审查", _review)
    _do_task(operator, live_server, "人员入场审核", _review)
    _do_task(operator, live_server, "签订服务协议", _agreement)

    partner_b = new_page("partner_b")
    assert partner_b.goto(case_url).status == 404
    partner_b.goto(live_server + "/instances")
    assert "新锐" not in partner_b.inner_text("main")

    authority = new_page("authority")
    _do_task(authority, live_server, "入驻备案", _filing)

    applicant.goto(case_url)
    status = applicant.inner_text(".status")
    assert "已办结" in status and "已通过" in status
    applicant.goto(live_server + "/processes")
    assert "贵单位已是正式授权合作方" in applicant.inner_text("main")
