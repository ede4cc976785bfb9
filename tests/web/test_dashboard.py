"""The dashboard (issue 7): figures that match the database, drawn on the server, readable
without JavaScript, in Chinese and English; only the authority, the operator and admins."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from app.models import HumanTask, ProcessInstance
from app.services import dashboard
from app.services.clock import clock
from tests.conftest import csrf_token
from tests.helpers import complete, user
from tests.workflows import test_data_authorization as da


def _scenario(session) -> dict[str, int]:
    """Three data requests: one approved with a service agreement ending in ~100 days, one
    rejected, one waiting for the operator's review (due in 10 days)."""
    approved = da.start(session)
    complete(session, "operator", "operator_review", approved, da.review())
    until = (clock.now() + timedelta(days=100)).date().isoformat()
    complete(session, "operator", "sign_service_agreement", approved, da.agreement("NS-FW-DASH-1", valid_until=until))
    rejected = da.start(session)
    complete(session, "operator", "operator_review", rejected, da.review("reject", "不符合要求。"))
    waiting = da.start(session, "partner_b")
    return {"approved": approved.id, "rejected": rejected.id, "waiting": waiting.id}


def test_figures_match_the_database(session):
    _scenario(session)
    board = dashboard.build(session, user(session, "authority"))
    truth = dict(session.execute(select(ProcessInstance.status, func.count())
                                 .where(ProcessInstance.process_key == "data_authorization")
                                 .group_by(ProcessInstance.status)).all())
    assert board.by_process["data_authorization"] == truth == {"completed": 2, "running": 1}
    assert board.open_tasks == session.execute(select(func.count()).where(HumanTask.status == "open")).scalar_one()
    assert board.overdue_tasks == 0
    expiring = {e.number: e for e in board.expiring}
    assert expiring["NS-FW-DASH-1"].kind == "service_agreement" and expiring["NS-FW-DASH-1"].days_left == 100
    assert any(e.kind == "grant" and e.days_left <= 100 for e in board.expiring)
    review = [s for s in board.step_times if s.element == "operator_review"]
    assert review and review[0].completed == 2
    assert board.articles_total == 32 and 0 < board.articles_covered <= 32

    clock.set(clock.now() + timedelta(days=20))  # the waiting review (due in 10 days) is now overdue
    try:
        later = dashboard.build(session, user(session, "operator"))
    finally:
        clock.set(None)
    assert later.overdue_tasks == 1
    [unit] = later.overdue_by_unit
    assert (unit.key, unit.value) == ("operator", 1)


def test_page_draws_the_charts_without_javascript_in_both_languages(session, login_as):
    _scenario(session)
    client = login_as("authority")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "仪表板" in page and "各流程案件状态" in page and "未来6个月内到期" in page
    assert "NS-FW-DASH-1" in page and "服务协议" in page
    assert re.search(r'class="seg seg-completed" style="width: [\d.]+%"', page)
    assert "<script" not in page.split("<main", 1)[1].split("</main>", 1)[0]  # the charts are plain HTML


def test_page_in_english(login_as):  # no `session` fixture here: it would share the request globals
    client = login_as("operator")
    client.post("/locale", data={"locale": "en", "next": "/dashboard", "csrf_token": csrf_token(client, "/dashboard")})
    english = client.get("/dashboard").get_data(as_text=True)
    assert "Dashboard" in english and "Overdue tasks by unit" in english and "仪表板" not in english


def test_only_the_authority_the_operator_and_admins(client, login_as, api):
    for name in ("authority", "operator", "admin"):
        assert login_as(name).get("/dashboard").status_code == 200, name
        response = client.get("/api/v1/dashboard", headers=api(name))
        assert response.status_code == 200 and "instances" in response.get_json(), name
    for name in ("partner_a", "finance", "doc_officer"):
        assert login_as(name).get("/dashboard").status_code == 403, name
        assert client.get("/api/v1/dashboard", headers=api(name)).status_code == 403, name
    assert client.get("/dashboard").status_code == 302
    assert client.get("/api/v1/dashboard").status_code == 401
