"""Notification pages and API: the bell, the list, marking read (own notifications only),
preferences, CSRF, anonymous callers, both languages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Notification
from app.services import notifications, processes
from tests.conftest import csrf_token
from tests.helpers import user

REQUEST = {"business_scenario": "企业信用画像服务。", "catalog_items": ["MKT-001"],
           "development_plan": "平台内加工，原始数据不出域。", "purpose": "public_welfare", "scope": "仅用于南山区涉企信用评估。"}


@dataclass(frozen=True)
class Note:
    id: int
    task_id: str


def new_request(app: Flask) -> Note:
    """partner_a asks for data; returns the operator's "new task" notification."""
    with app.app_context():
        session = db.session
        processes.start(session, user(session, "partner_a"), "data_authorization", dict(REQUEST))
        session.commit()
        note = session.execute(select(Notification).where(
            Notification.user_id == user(session, "operator").id).order_by(Notification.id.desc())).scalars().first()
        assert note is not None and note.task_id
        return Note(note.id, note.task_id)


def read_at(app: Flask, note_id: int):
    with app.app_context():
        return db.session.get(Notification, note_id).read_at


def bell(page: str) -> str:
    match = re.search(r'class="bell"[^>]*aria-label="([^"]+)"', page, re.S)
    assert match, "no bell in the header"
    return match.group(1)


def test_the_bell_counts_unread_and_view_marks_read_and_opens_the_task(app, login_as):
    note = new_request(app)
    c = login_as("operator")
    assert bell(c.get("/inbox").get_data(as_text=True)) == "通知：1 条未读"
    page = c.get("/notifications").get_data(as_text=True)
    assert "新待办：授权申请审核" in page and "等待您或您所在角色办理" in page and "1 条未读" in page

    r = c.post(f"/notifications/{note.id}/read", data={"csrf_token": csrf_token(c, "/notifications"), "open": "1"})
    assert r.status_code == 302 and r.headers["Location"] == f"/tasks/{note.task_id}"
    assert read_at(app, note.id) is not None
    assert bell(c.get("/notifications").get_data(as_text=True)) == "通知：0 条未读"
    assert c.get("/notifications?show=unread").get_data(as_text=True).count("新待办") == 0

    c.post("/locale", data={"locale": "en", "next": "/notifications", "csrf_token": csrf_token(c, "/notifications")})
    page = c.get("/notifications").get_data(as_text=True)
    assert "New task: Review the data request" in page and "is waiting for you or your role" in page and "新待办" not in page


def test_mark_all_read_needs_the_csrf_token(app, login_as):
    first, second = new_request(app), new_request(app)
    c = login_as("operator")
    assert c.post("/notifications/read-all").status_code == 400
    assert read_at(app, first.id) is None
    r = c.post("/notifications/read-all", data={"csrf_token": csrf_token(c, "/notifications")})
    assert r.status_code == 302
    assert read_at(app, first.id) is not None and read_at(app, second.id) is not None
    assert "已将 2 条通知标为已读" in c.get("/notifications").get_data(as_text=True)


def test_a_user_sees_and_marks_only_their_own(app, client, login_as, api):
    note = new_request(app)
    other = login_as("partner_b")
    r = other.post(f"/notifications/{note.id}/read", data={"csrf_token": csrf_token(other, "/notifications")})
    assert r.status_code == 404
    assert "授权申请审核" not in other.get("/notifications").get_data(as_text=True)
    r = client.post(f"/api/v1/notifications/{note.id}/read", headers=api("partner_b"))
    assert (r.status_code, r.json["error"]) == (404, "not_found")
    assert client.post("/api/v1/notifications/2147483647/read", headers=api("partner_b")).status_code == 404
    assert read_at(app, note.id) is None
    assert client.get("/api/v1/notifications", headers=api("partner_b")).json["total"] == 0

    headers = api("operator")
    listing = client.get("/api/v1/notifications?unread=true", headers=headers).json
    assert (listing["total"], listing["unread"]) == (1, 1)
    [item] = listing["items"]
    assert (item["id"], item["kind"], item["title"]) == (note.id, "task_new", "新待办：授权申请审核")
    assert item["link"] == f"/tasks/{note.task_id}" and item["read_at"] is None
    r = client.post(f"/api/v1/notifications/{note.id}/read?lang=en", headers=headers)
    assert r.status_code == 200 and r.json["read_at"] and r.json["title"] == "New task: Review the data request"
    assert client.get("/api/v1/notifications?unread=true", headers=headers).json["total"] == 0
    assert client.get("/api/v1/notifications?unread=false", headers=headers).json["total"] == 1
    for bad in ("unread=yes", "per_page=0", "per_page=101", "page=abc", "page=10001"):
        r = client.get(f"/api/v1/notifications?{bad}", headers=headers)
        assert (r.status_code, r.json["errors"][0]["field"]) == (422, bad.split("=")[0]), bad


def test_anonymous_callers_are_sent_to_sign_in_or_refused(app, client):
    note = new_request(app)
    for path in ("/notifications", "/notifications/preferences"):
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"], path
    assert client.get("/api/v1/notifications").status_code == 401
    assert client.post(f"/api/v1/notifications/{note.id}/read").status_code == 401
    assert read_at(app, note.id) is None


def test_preferences_page_stores_each_choice(app, login_as):
    c = login_as("operator")
    page = c.get("/notifications/preferences").get_data(as_text=True)
    assert "我或我所在角色有新待办" in page and page.count("checked") == 2 * len(notifications.KINDS)
    r = c.post("/notifications/preferences", data={"csrf_token": csrf_token(c, "/notifications/preferences"),
                                                   "task_new.in_app": "1", "task_overdue.email": "1"})
    assert r.status_code == 302
    assert "通知设置已保存" in c.get("/notifications/preferences").get_data(as_text=True)
    with app.app_context():
        prefs = notifications.preferences(db.session, user(db.session, "operator"))
    assert prefs["task_new"] == notifications.Preference(in_app=True, email=False)
    assert prefs["task_overdue"] == notifications.Preference(in_app=False, email=True)
    assert prefs["request_decided"] == notifications.Preference(in_app=False, email=False)
    assert c.post("/notifications/preferences", data={"task_new.in_app": "1"}).status_code == 400  # no CSRF token


def test_the_api_marks_all_of_the_callers_notifications_read(app, client, api):
    note = new_request(app)
    assert client.post("/api/v1/notifications/read-all").status_code == 401
    r = client.post("/api/v1/notifications/read-all", headers=api("partner_b"))
    assert r.status_code == 200 and r.json == {"marked": 0, "unread": 0}
    assert read_at(app, note.id) is None  # someone else's stays unread
    headers = api("operator")
    r = client.post("/api/v1/notifications/read-all", headers=headers, json={"everything": True})
    assert r.status_code == 422 and read_at(app, note.id) is None
    r = client.post("/api/v1/notifications/read-all", headers=headers)
    assert r.status_code == 200 and r.json == {"marked": 1, "unread": 0}
    assert read_at(app, note.id) is not None
    assert client.get("/api/v1/notifications", headers=headers).json["unread"] == 0


def test_the_api_reads_and_changes_the_callers_preferences(app, client, api):
    headers = api("operator")
    r = client.get("/api/v1/notifications/preferences", headers=headers)
    assert r.status_code == 200 and r.json["has_email"] is True
    assert r.json["preferences"] == {kind: {"in_app": True, "email": True} for kind in notifications.KINDS}
    r = client.patch("/api/v1/notifications/preferences", headers=headers,
                     json={"task_new": {"in_app": False}, "task_overdue": {"email": False}})
    assert r.status_code == 200
    assert r.json["preferences"]["task_new"] == {"in_app": False, "email": True}  # e-mail kept
    assert r.json["preferences"]["task_overdue"] == {"in_app": True, "email": False}
    assert r.json["preferences"]["request_decided"] == {"in_app": True, "email": True}
    assert client.get("/api/v1/notifications/preferences", headers=headers).json == r.json
    # the choice is honoured: a new task reaches the operator by e-mail only
    with app.app_context():
        processes.start(db.session, user(db.session, "partner_a"), "data_authorization", dict(REQUEST))
        db.session.commit()
    assert client.get("/api/v1/notifications", headers=headers).json["total"] == 0
    # another user's choices are their own
    other = client.get("/api/v1/notifications/preferences", headers=api("partner_b")).json
    assert other["preferences"]["task_new"] == {"in_app": True, "email": True}


def test_bad_preference_changes_are_refused_and_change_nothing(app, client, api):
    headers = api("operator")
    before = client.get("/api/v1/notifications/preferences", headers=headers).json
    for body, field in (({"no_such_kind": {"email": False}}, "no_such_kind"),
                        ({"task_new": {"email": "no"}}, "task_new.email"),
                        ({"task_new": {"sms": True}}, "task_new.sms"),
                        ({"task_new": {}}, "task_new"),
                        ({}, "")):
        r = client.patch("/api/v1/notifications/preferences", headers=headers, json=body)
        assert r.status_code == 422 and r.json["errors"][0]["field"] == field, (body, r.json)
    r = client.patch("/api/v1/notifications/preferences", headers=headers, data="{not json",
                     content_type="application/json")
    assert r.status_code == 422
    assert client.patch("/api/v1/notifications/preferences", json={"task_new": {"email": False}}).status_code == 401
    assert client.get("/api/v1/notifications/preferences", headers=headers).json == before
