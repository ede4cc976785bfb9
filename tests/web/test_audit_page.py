"""The audit page (/audit) and its CSV export (/audit.csv): for the authority and
administrators only; filters by action, user, organisation, case and dates; pages of 50;
UTF-8 with a byte-order mark, formulas neutralised, and each export itself audited; the chain
checked on the spot from the page and the API, naming the first entry that does not hold."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import AuditEvent
from app.services import audit, processes
from app.services.clock import LOCAL_TZ, clock
from tests import factories
from tests.conftest import csrf_token
from tests.helpers import org, user


def _rows(page: str) -> list[str]:
    """The table rows of an audit page, as text without tags."""
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))).strip() for row in body.split("<tr>")[1:]]


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode()), raw[:10]  # Excel reads UTF-8 only with the BOM
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


@pytest.fixture
def started(app):
    """An onboarding case started by the applicant: a few entries with an instance and an org."""
    with app.app_context():
        instance = processes.start(db.session, user(db.session, "applicant"), "partner_onboarding",
                                   factories.application(company_name="深圳南山新锐数据科技有限公司"))
        db.session.commit()
        return {"id": instance.id, "business_key": instance.business_key,
                "org_id": org(db.session, "applicant").id}


def test_only_the_authority_and_administrators_read_the_log(login_as, client):
    for username in ("authority", "admin"):
        c = login_as(username)
        page = c.get("/audit")
        assert page.status_code == 200, username
        text = page.get_data(as_text=True)
        assert "审计日志" in text and 'href="/audit"' in text  # the page and its nav link
        assert c.get("/audit.csv").status_code == 200
    for username in ("operator", "partner_a", "doc_officer", "taskforce"):
        c = login_as(username)
        r = c.get("/audit")
        assert r.status_code == 403 and "只有公共数据主管部门和平台管理员可以查看审计日志" in r.get_data(as_text=True)
        assert c.get("/audit.csv").status_code == 403
        assert 'href="/audit"' not in c.get("/inbox").get_data(as_text=True), username
    r = client.get("/audit.csv")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_filters_narrow_the_entries(login_as, started, app):
    c = login_as("authority")
    everything = _rows(c.get("/audit").get_data(as_text=True))
    by_case = _rows(c.get(f"/audit?instance={started['id']}").get_data(as_text=True))
    assert 2 <= len(by_case) < len(everything)
    assert all(started["business_key"] in row for row in by_case)
    by_actor = _rows(c.get("/audit?actor=applicant").get_data(as_text=True))
    assert by_actor and all(" applicant " in f" {row} " for row in by_actor)
    by_action = _rows(c.get("/audit?action=user.login").get_data(as_text=True))
    assert by_action and all("user.login" in row and "user.login_failed" not in row for row in by_action)
    by_org = _rows(c.get(f"/audit?org={started['org_id']}").get_data(as_text=True))
    assert by_org and all("深圳南山新锐数据科技有限公司" in row for row in by_org)
    combined = _rows(c.get(f"/audit?instance={started['id']}&actor=nobody").get_data(as_text=True))
    assert combined == ["没有符合筛选条件的记录。"]
    today = clock.now().astimezone(LOCAL_TZ).date()
    assert len(_rows(c.get(f"/audit?from={today}&to={today}&instance={started['id']}").get_data(as_text=True))) == len(by_case)
    past = today - timedelta(days=400)
    assert _rows(c.get(f"/audit?to={past}").get_data(as_text=True)) == ["没有符合筛选条件的记录。"]
    for bad in ("from=yesterday", "instance=abc", "instance=-1", "org=99999999999999999999", "page=0"):
        assert c.get(f"/audit?{bad}").status_code == 422, bad


def test_pages_of_fifty_newest_first(login_as, app):
    with app.app_context():
        admin = user(db.session, "admin")
        for i in range(60):
            audit.record(db.session, "test.marker", actor=admin, payload={"n": i})
        db.session.commit()
        total = db.session.execute(select(func.count(AuditEvent.id))).scalar_one()
    c = login_as("authority")
    first = c.get("/audit").get_data(as_text=True)
    assert len(_rows(first)) == 50 and '{"n": 59}' in " ".join(_rows(first))
    assert f"第 1 页，共 {(total + 1 + 49) // 50} 页" in first  # + the sign-in
    second = c.get("/audit?page=2&action=test.marker").get_data(as_text=True)
    assert len(_rows(second)) == 10 and '{"n": 9}' in " ".join(_rows(second)) and '{"n": 10}' not in " ".join(_rows(second))
    assert 'href="/audit?page=1&amp;action=test.marker"' in second  # the pager keeps the filters


def test_csv_export_is_utf8_with_bom_filtered_and_audited(login_as, started, app):
    c = login_as("authority")
    rows = _csv(c.get(f"/audit.csv?instance={started['id']}"))
    assert rows and {r["business_key"] for r in rows} == {started["business_key"]}
    assert list(rows[0]) == ["seq", "at", "actor", "action", "organisation_code", "organisation", "instance_id",
                             "business_key", "task_id", "payload", "hash"]
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)  # oldest first
    assert {r["organisation"] for r in rows} == {"深圳南山新锐数据科技有限公司"}  # Chinese survives
    assert rows[0]["at"].endswith("+08:00")
    with app.app_context():
        exported = db.session.execute(select(AuditEvent).where(AuditEvent.action == "audit.exported")).scalars().all()
        assert [(e.actor, e.payload) for e in exported] == [("authority", {"filters": {"instance_id": started["id"]}})]
        assert audit.verify(db.session).ok


def test_csv_neutralises_formulas_and_pages_escape_markup(login_as, app):
    with app.app_context():
        audit.record(db.session, "test.hostile", actor=None,
                     payload={"comment": "<script>alert(1)</script>"})
        db.session.commit()
    c = login_as("admin")
    page = c.get("/audit?action=test.hostile").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    formula = "=HYPERLINK(\"http://evil.example\",\"点我\")"
    with app.app_context():
        audit.record(db.session, "test.formula", actor=user(db.session, "admin"), task_id=formula[:36])
        db.session.commit()
    [row] = _csv(c.get("/audit.csv?action=test.formula"))
    assert row["task_id"] == "'" + formula[:36]


def _drop_guards(session) -> None:
    """What an attacker with write access to the database would do first."""
    if session.bind.dialect.name == "postgresql":
        session.execute(text("DROP TRIGGER audit_event_append_only ON audit_event"))
    else:
        session.execute(text("DROP TRIGGER audit_event_no_update"))
        session.execute(text("DROP TRIGGER audit_event_no_delete"))


def _flash(page: str) -> str:
    match = re.search(r'<div class="flash (\w+)" role="status">([^<]*)</div>', page)
    assert match, "no message on the page"
    return f"{match.group(1)}: {html.unescape(match.group(2))}"


def _verifications(app) -> list[tuple[str, dict]]:
    with app.app_context():
        return [(e.actor, e.payload) for e in db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "audit.verified").order_by(AuditEvent.seq)).scalars()]


def test_a_reader_verifies_the_chain_from_the_page_and_the_check_is_recorded(login_as, started, app):
    with app.app_context():
        length = db.session.execute(select(func.max(AuditEvent.seq))).scalar_one()
    c = login_as("authority")
    page = c.get("/audit").get_data(as_text=True)
    assert 'action="/audit/verify"' in page and "验证审计链" in page
    r = c.post("/audit/verify", data={"csrf_token": csrf_token(c, "/audit")})
    assert r.status_code == 302 and r.headers["Location"].endswith("/audit")
    # every entry up to the page's own sign-in holds
    checked = int(re.search(r"共 (\d+) 条", _flash(c.get("/audit").get_data(as_text=True))).group(1))
    assert checked > length
    [(actor, payload)] = _verifications(app)
    assert actor == "authority" and payload == {"ok": True, "checked": checked, "broken_seq": None,
                                                "problem": None, "reason": None}


def test_a_tampered_entry_is_named_on_the_page_in_either_language(login_as, started, app):
    with app.app_context():
        _drop_guards(db.session)
        db.session.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE seq = 3"))
        db.session.commit()
    c = login_as("admin")
    c.post("/audit/verify", data={"csrf_token": csrf_token(c, "/audit")})
    assert _flash(c.get("/audit").get_data(as_text=True)) == (
        "error: 审计链在第 3 条记录处断开：该记录的内容与其哈希值不符。其前 2 条记录完好。请保持数据库现状并告知安全负责人。")
    c.post("/locale", data={"locale": "en", "next": "/audit", "csrf_token": csrf_token(c, "/audit")})
    c.post("/audit/verify", data={"csrf_token": csrf_token(c, "/audit")})
    assert _flash(c.get("/audit").get_data(as_text=True)) == (
        "error: The audit chain is broken at entry 3: its content does not match its hash. The 2 entries before it "
        "hold. Keep the database as it is and tell the security officer.")
    assert [payload["broken_seq"] for _, payload in _verifications(app)] == [3, 3]


def test_only_readers_may_verify_and_a_refusal_records_no_check(login_as, client, api, app):
    for username in ("operator", "partner_a", "doc_officer"):
        c = login_as(username)
        r = c.post("/audit/verify", data={"csrf_token": csrf_token(c, "/inbox")})
        assert r.status_code == 403, username
        r = client.post("/api/v1/audit/verify", headers=api(username))
        assert r.status_code == 403 and r.json["error"] == "forbidden", username
    assert client.post("/api/v1/audit/verify").status_code == 401
    assert _verifications(app) == []


def test_the_api_reports_what_the_check_found(client, api, started, app):
    headers = api("admin")
    r = client.post("/api/v1/audit/verify", headers=headers)
    assert r.status_code == 200 and r.json["ok"] is True and r.json["broken_seq"] is None
    assert r.json["checked"] >= 3
    with app.app_context():
        _drop_guards(db.session)
        db.session.execute(text("DELETE FROM audit_event WHERE seq = 2"))
        db.session.commit()
    r = client.post("/api/v1/audit/verify", headers=headers)
    assert r.status_code == 200 and r.json == {"ok": False, "checked": 1, "broken_seq": 2, "problem": "missing",
                                               "reason": "row 2 is missing"}


def test_the_api_check_takes_no_parameters_and_refuses_a_body_that_has_some(client, api):
    headers = api("authority")
    assert client.post("/api/v1/audit/verify", json={}, headers=headers).status_code == 200
    r = client.post("/api/v1/audit/verify", json={"from_seq": 5}, headers=headers)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "from_seq"
    r = client.post("/api/v1/audit/verify", data="{not json", content_type="application/json", headers=headers)
    assert r.status_code == 422 and r.json["errors"][0]["message"] == "malformed or missing JSON object"
