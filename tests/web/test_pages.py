"""Server-rendered pages: Chinese by default, onboarding through HTML forms, CSRF, refusals."""

from __future__ import annotations

import re

from tests.conftest import csrf_token


def _form_fields(app_data: dict) -> dict:
    fields = {k: v for k, v in app_data.items() if k not in ("qualifications", "personnel")}
    fields["qualifications"] = app_data["qualifications"]
    for i, person in enumerate(app_data["personnel"]):
        for key, value in person.items():
            fields[f"personnel-{i}-{key}"] = value
    return fields


def _task_link(page: str, title_part: str) -> str:
    match = re.search(r'href="(/tasks/[0-9a-f-]+)">[^<]*' + re.escape(title_part), page)
    assert match, f"no task link for {title_part}"
    return match.group(1)


def test_login_page_is_chinese_by_default_and_english_on_request(client):
    page = client.get("/login").get_data(as_text=True)
    assert "登录 GrantFlow" in page and 'lang="zh-CN"' in page
    token = csrf_token(client, "/login")
    client.post("/locale", data={"locale": "en", "next": "/login", "csrf_token": token})
    assert "Sign in to GrantFlow" in client.get("/login").get_data(as_text=True)


def test_pages_require_login(client):
    for path in ("/inbox", "/processes", "/instances", "/processes/partner_onboarding/start"):
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_wrong_password_is_refused(client):
    token = csrf_token(client, "/login")
    r = client.post("/login", data={"username": "operator", "password": "x", "csrf_token": token})
    assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(login_as):
    c = login_as("applicant")
    r = c.post("/processes/partner_onboarding/start", data={"company_name": "x"})
    assert r.status_code == 400 and "表单已过期" in r.get_data(as_text=True)


def test_onboarding_through_the_browser_in_chinese(login_as):
    from tests import factories

    applicant = login_as("applicant")
    assert "合作方入驻" in applicant.get("/processes").get_data(as_text=True)
    form = applicant.get("/processes/partner_onboarding/start").get_data(as_text=True)
    assert "统一社会信用代码" in form and 'name="personnel-0-name"' in form

    # a mistake is reported on its field and the typed values stay
    bad = _form_fields(factories.application(unified_social_credit_code="BAD"))
    bad["csrf_token"] = csrf_token(applicant, "/processes/partner_onboarding/start")
    r = applicant.post("/processes/partner_onboarding/start", data=bad)
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "格式不正确" in page and 'value="BAD"' in page
    assert 'value="李明"' in page

    good = _form_fields(factories.application())
    good["csrf_token"] = csrf_token(applicant, "/processes/partner_onboarding/start")
    r = applicant.post("/processes/partner_onboarding/start", data=good)
    assert r.status_code == 302
    instance_page = applicant.get(r.headers["Location"]).get_data(as_text=True)
    assert "办理中" in instance_page and "第18条" in instance_page

    operator = login_as("operator")
    inbox = operator.get("/inbox").get_data(as_text=True)
    assert "入驻资质审查" in inbox
    for title in ("入驻资质审查", "人员入场审核"):
        link = _task_link(operator.get("/inbox").get_data(as_text=True), title)
        task_page = operator.get(link).get_data(as_text=True)
        assert "第18条" in task_page and "深圳南山新锐数据科技有限公司" in task_page
        r = operator.post(link, data={"decision": "approve", "comment": "符合要求",
                                      "csrf_token": csrf_token(operator, link)})
        assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    link = _task_link(operator.get("/inbox").get_data(as_text=True), "签订服务协议")
    r = operator.post(link, data={**factories.agreement(), "csrf_token": csrf_token(operator, link)})
    assert r.status_code == 302

    authority = login_as("authority")
    link = _task_link(authority.get("/inbox").get_data(as_text=True), "入驻备案")
    history = authority.get(link).get_data(as_text=True)
    assert "符合要求" in history  # the reviewers' comments are in the history
    r = authority.post(link, data={**factories.filing(), "csrf_token": csrf_token(authority, link)})
    assert r.status_code == 302

    assert "已办结" in applicant.get("/instances").get_data(as_text=True)


def test_review_errors_shown_per_field(login_as):
    from tests import factories

    applicant = login_as("applicant")
    good = _form_fields(factories.application())
    good["csrf_token"] = csrf_token(applicant, "/processes/partner_onboarding/start")
    applicant.post("/processes/partner_onboarding/start", data=good)
    operator = login_as("operator")
    link = _task_link(operator.get("/inbox").get_data(as_text=True), "入驻资质审查")
    r = operator.post(link, data={"decision": "approve", "csrf_token": csrf_token(operator, link)})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "此项为必填项" in page
    assert re.search(r'value="approve" checked', page)


def test_partner_b_sees_no_trace_of_the_applicant(login_as):
    from tests import factories

    applicant = login_as("applicant")
    good = _form_fields(factories.application())
    good["csrf_token"] = csrf_token(applicant, "/processes/partner_onboarding/start")
    location = applicant.post("/processes/partner_onboarding/start", data=good).headers["Location"]
    partner_b = login_as("partner_b")
    assert partner_b.get(location).status_code == 404
    assert "新锐" not in partner_b.get("/instances").get_data(as_text=True)
    assert "新锐" not in partner_b.get("/inbox").get_data(as_text=True)
