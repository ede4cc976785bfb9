"""Inbox ergonomics over HTML and the JSON API: hand-over, comments, bulk claim and approve,
saved filters, instance search; CSRF on every form POST, and the refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import HumanTask, RoleMembership, User
from app.services import processes
from app.services.accounts import hash_password
from tests.conftest import csrf_token
from tests.helpers import complete, open_task, org, user

REQUEST = {"business_scenario": "企业信用画像服务。", "catalog_items": ["MKT-001"],
           "development_plan": "平台内加工，原始数据不出域。", "purpose": "public_welfare",
           "scope": "仅用于南山区涉企信用评估。"}


def returned(session, username: str = "partner_a") -> tuple[int, str, str]:
    """A data request returned to its owner: (instance id, business key, the owner's task id)."""
    instance = processes.start(session, user(session, username), "data_authorization", dict(REQUEST))
    session.commit()
    complete(session, "operator", "operator_review", instance, {"decision": "return", "comment": "请补充说明。"})
    return instance.id, instance.business_key, open_task(session, username, "revise_request", instance).id


def signoffs(session, count: int = 2) -> list[str]:
    """``count`` conditional requests at the joint meeting: the authority's sign-off task of each."""
    ids = []
    for _ in range(count):
        instance = processes.start(session, user(session, "partner_a"), "data_authorization",
                                   {**REQUEST, "catalog_items": ["MKT-003"]})
        session.commit()
        complete(session, "operator", "assign_compliance_reviewer", instance, {"reviewer": "operator"})
        complete(session, "operator", "compliance_review", instance, {
            "findings": "业务场景合法。", "risk_level": "low", "conclusion": "compliant", "recommendations": "无。"})
        ids.append(open_task(session, "authority", "joint_signoff", instance).id)
    return ids


def add_colleague(session, username: str = "partner_a2", org_code: str = "partner_a", role: str = "partner") -> None:
    account = User(username=username, display_name="孙工（前海智数）", org_id=org(session, org_code).id,
                   password_hash=hash_password("demo"))
    account.role_rows = [RoleMembership(role=role)]
    session.add(account)
    session.commit()


@contextmanager
def data(app: Flask) -> Iterator[Session]:
    """The database, outside any request: a context of its own, closed before the clients run
    (a shared application context would share ``g``, and with it one CSRF token, across clients)."""
    with app.app_context():
        yield db.session


def task_row(app: Flask, task_id: str) -> tuple[str, str | None, str | None]:
    with data(app) as session:
        row = session.get(HumanTask, task_id)
        return row.status, row.assignee.username if row.assignee else None, row.decision


def post(client, path: str, data: dict[str, Any], page: str = "/inbox") -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


def text(response: Any) -> str:
    return response.get_data(as_text=True)


# --------------------------------------------------------------------------- hand-over


def test_a_task_is_handed_on_from_its_page(app, login_as):
    with data(app) as session:
        _iid, _key, task_id = returned(session)
        add_colleague(session)
    a = login_as("partner_a")
    page = text(a.get(f"/tasks/{task_id}"))
    assert "转交同事办理" in page and '<option value="partner_a2">' in page and 'value="partner_b"' not in page
    assert a.post(f"/tasks/{task_id}/assign", data={"username": "partner_a2"}).status_code == 400  # no CSRF token
    refused = post(a, f"/tasks/{task_id}/assign", {"username": "partner_b"}, f"/tasks/{task_id}")
    assert refused.status_code == 422 and "partner_b 不是可办理此任务的同事。" in text(refused)
    r = post(a, f"/tasks/{task_id}/assign", {"username": "partner_a2"}, f"/tasks/{task_id}")
    assert r.status_code == 302 and r.headers["Location"].endswith("/inbox")
    assert "已转交 孙工（前海智数）" in text(a.get("/inbox"))
    assert task_row(app, task_id)[1] == "partner_a2"
    assert task_id in text(login_as("partner_a2").get("/inbox?status=mine"))
    # partner_a no longer holds it: the hand-over is refused, and the form is not offered
    assert post(a, f"/tasks/{task_id}/assign", {"username": "partner_a2"}, "/inbox").status_code == 403
    assert "转交同事办理" not in text(a.get(f"/tasks/{task_id}"))


def test_hand_over_over_the_api(app, client, api):
    with data(app) as session:
        iid, _key, task_id = returned(session)
        add_colleague(session)
    a, b = api("partner_a"), api("partner_b")
    r = client.post(f"/api/v1/tasks/{task_id}/assign", json={"username": "partner_b"}, headers=a)
    assert r.status_code == 422 and [e["field"] for e in r.json["errors"]] == ["username"]
    assert client.post(f"/api/v1/tasks/{task_id}/assign", json={"username": "partner_a"}, headers=b).status_code == 404
    assert client.post(f"/api/v1/tasks/{task_id}/assign", json={"username": "partner_a2"},
                       headers=api("operator")).status_code == 403
    assert client.post(f"/api/v1/tasks/{task_id}/assign", json={"user": "partner_a2"}, headers=a).status_code == 422
    r = client.post(f"/api/v1/tasks/{task_id}/assign", json={"username": "partner_a2"}, headers=a)
    assert r.status_code == 200 and r.json["assignee"] == "partner_a2"
    a2 = api("partner_a2")
    withdraw = {"action": "withdraw", "comment": "暂不申请。"}
    assert client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": withdraw}, headers=a2).status_code == 200
    assert client.post(f"/api/v1/tasks/{task_id}/assign", json={"username": "partner_a"}, headers=a2).status_code == 409
    history = client.get(f"/api/v1/instances/{iid}", headers=a).json["history"]
    assert "task.reassigned" in [h["action"] for h in history]


# --------------------------------------------------------------------------- comments


def test_comments_on_the_case_and_on_a_step_are_shown_escaped_with_their_line_breaks(app, login_as):
    with data(app) as session:
        iid, _key, task_id = returned(session)
    a = login_as("partner_a")
    assert a.post(f"/instances/{iid}/comments", data={"body": "x"}).status_code == 400  # no CSRF token
    r = post(a, f"/instances/{iid}/comments", {"body": "<script>alert(1)</script>\n第二行"}, f"/instances/{iid}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/instances/{iid}#comments")
    r = post(a, f"/tasks/{task_id}/comments", {"body": "已补充材料。"}, f"/tasks/{task_id}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/tasks/{task_id}#comments")
    for page in (text(a.get(f"/instances/{iid}")), text(login_as("operator").get(f"/instances/{iid}"))):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;\n第二行" in page and "<script>alert(1)" not in page
        assert "已补充材料。" in page and "针对某一环节" in page
    assert "针对本环节" in text(a.get(f"/tasks/{task_id}"))
    empty = post(a, f"/instances/{iid}/comments", {"body": "   "}, f"/instances/{iid}")
    assert empty.status_code == 422 and "请先填写评论内容。" in text(empty)
    long = post(a, f"/tasks/{task_id}/comments", {"body": "长" * 2001}, f"/tasks/{task_id}")
    assert long.status_code == 422 and "最多 2000 个字符。" in text(long) and "长" * 2001 in text(long)
    b = login_as("partner_b")
    assert post(b, f"/instances/{iid}/comments", {"body": "窥探"}, "/inbox").status_code == 404
    assert post(b, f"/tasks/{task_id}/comments", {"body": "窥探"}, "/inbox").status_code == 404
    assert "窥探" not in text(a.get(f"/instances/{iid}"))


def test_comments_over_the_api(app, client, api):
    with data(app) as session:
        iid, _key, task_id = returned(session)
        other_iid, _other_key, other_task = returned(session, "partner_b")
    a, b = api("partner_a"), api("partner_b")
    r = client.post(f"/api/v1/instances/{iid}/comments", json={"body": "第一行\n第二行", "task_id": task_id}, headers=a)
    assert r.status_code == 201 and (r.json["author"], r.json["task_id"], r.json["body"]) == (
        "partner_a", task_id, "第一行\n第二行")
    r = client.get(f"/api/v1/instances/{iid}/comments", headers=api("operator"))
    assert r.status_code == 200 and [c["body"] for c in r.json["items"]] == ["第一行\n第二行"]
    for method, body in (("GET", None), ("POST", {"body": "x"})):
        r = client.open(f"/api/v1/instances/{iid}/comments", method=method, json=body, headers=b)
        assert r.status_code == 404 and r.json["error"] == "not_found", method
    for bad, field in (({"body": "  "}, "body"), ({"body": "x" * 2001}, "body"),
                       ({"body": "x", "task_id": other_task}, "task_id"), ({}, "body")):
        r = client.post(f"/api/v1/instances/{iid}/comments", json=bad, headers=a)
        assert r.status_code == 422 and [e["field"] for e in r.json["errors"]] == [field], bad
    assert client.get(f"/api/v1/instances/{other_iid}/comments", headers=b).json["items"] == []


# --------------------------------------------------------------------------- bulk


def test_bulk_approve_from_the_inbox_reports_each_task(app, login_as):
    with data(app) as session:
        mine = signoffs(session)
    authority = login_as("authority")
    inbox = text(authority.get("/inbox"))
    assert 'form="bulk-form"' in inbox and "批量通过所选任务" in inbox and "可批量" in inbox
    body = {"action": "approve", "task_ids": mine, "comment": "同意。"}
    assert authority.post("/inbox/bulk", data=body).status_code == 400  # no CSRF token
    r = post(authority, "/inbox/bulk", {**body, "task_ids": [*mine, "no-such-task"]})
    page = text(r)
    assert r.status_code == 200 and "已完成 2 项，共 3 项" in page and "未办理" in page
    assert [task_row(app, t)[::2] for t in mine] == [("completed", "approve"), ("completed", "approve")]
    # nothing selected: refused as a whole
    r = post(authority, "/inbox/bulk", {"action": "approve", "comment": "同意。"})
    assert r.status_code == 302 and "请至少选择一项任务。" in text(authority.get("/inbox"))


def test_bulk_claim_from_the_inbox(app, login_as):
    with data(app) as session:
        mine = signoffs(session, 1)
        _iid, _key, partners = returned(session)
    authority = login_as("authority")
    r = post(authority, "/inbox/bulk", {"action": "claim", "task_ids": [mine[0], partners]})
    assert r.status_code == 200 and "已完成 1 项，共 2 项" in text(r) and "已认领" in text(r)
    assert task_row(app, mine[0])[1] == "authority" and task_row(app, partners)[1] is None


def test_bulk_over_the_api(app, client, api):
    with data(app) as session:
        mine = signoffs(session)
        _iid, _key, partners = returned(session)
        instance = processes.start(session, user(session, "partner_b"), "data_authorization", dict(REQUEST))
        session.commit()
        review = open_task(session, "operator", "operator_review", instance).id
    authority = api("authority")
    r = client.post("/api/v1/tasks/bulk", json={"action": "approve", "task_ids": [*mine, partners]},
                    headers=authority)
    assert r.status_code == 422 and [e["field"] for e in r.json["errors"]] == ["comment"]
    r = client.post("/api/v1/tasks/bulk", json={"action": "approve", "task_ids": [mine[0], partners, mine[1]],
                                                 "comment": "同意。"}, headers=authority)
    assert r.status_code == 200 and r.json["done"] == 2
    assert [(i["task_id"], i["status"], i["error"]) for i in r.json["items"]] == [
        (mine[0], "done", None), (partners, "refused", "forbidden"), (mine[1], "done", None)]
    r = client.post("/api/v1/tasks/bulk", json={"action": "approve", "task_ids": [review], "comment": "同意。"},
                    headers=api("operator"))
    assert (r.json["items"][0]["status"], r.json["items"][0]["error"]) == ("refused", "validation_failed")
    assert task_row(app, review)[0] == "open"
    for bad in ({"action": "delete", "task_ids": ["x"]}, {"action": "claim", "task_ids": []},
                {"action": "claim", "task_ids": ["x"] * 101}, {"action": "claim"}):
        assert client.post("/api/v1/tasks/bulk", json=bad, headers=authority).status_code == 422, bad


# --------------------------------------------------------------------------- saved filters


def test_saved_filters_are_saved_listed_opened_and_deleted_by_their_owner_only(login_as):
    operator = login_as("operator")
    assert operator.post("/inbox/filters", data={"name": "x", "status": "mine"}).status_code == 400  # no CSRF token
    r = post(operator, "/inbox/filters", {"name": "我认领的", "status": "mine", "process": "data_authorization"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/inbox?status=mine&process=data_authorization")
    link = re.search(r'href="(/inbox/filters/\d+)"[^>]*>我认领的<', text(operator.get("/inbox")))
    assert link
    opened = operator.get(link.group(1))
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/inbox?status=mine&process=data_authorization")
    assert 'aria-current="true">我认领的' in text(operator.get("/inbox?status=mine&process=data_authorization"))
    refused = post(operator, "/inbox/filters", {"name": " ", "status": "open"})
    assert refused.status_code == 302 and "请为筛选条件命名。" in text(operator.get("/inbox"))
    finance = login_as("finance")
    assert finance.get(link.group(1)).status_code == 404
    assert post(finance, f"{link.group(1)}/delete", {}).status_code == 404
    assert "我认领的" not in text(finance.get("/inbox"))
    assert post(operator, f"{link.group(1)}/delete", {}).status_code == 302
    assert operator.get(link.group(1)).status_code == 404


# --------------------------------------------------------------------------- instance search


def test_instances_are_searched_by_key_organisation_process_and_status(app, login_as, client, api):
    with data(app) as session:
        iid, key, _task = returned(session)
        _b_iid, b_key, _b_task = returned(session, "partner_b")
        org_a, org_b = org(session, "partner_a").id, org(session, "partner_b").id
    authority = login_as("authority")
    page = text(authority.get(f"/instances?q={key[-5:].lower()}"))
    assert key in page and b_key not in page
    page = text(authority.get(f"/instances?org={org_b}&process=data_authorization&status=running"))
    assert b_key in page and key not in page
    assert "未找到符合条件的事项。" in text(authority.get("/instances?q=nothing-like-this"))
    assert "未找到符合条件的事项。" in text(authority.get("/instances?status=completed&process=data_authorization"))
    # a partner never finds another's case, nor is offered its organisation
    b = login_as("partner_b")
    assert f'href="/instances/{iid}"' not in text(b.get(f"/instances?q={key}"))
    assert "未找到符合条件的事项。" in text(b.get(f"/instances?q={key}")) and b_key in text(b.get(f"/instances?q={b_key}"))
    assert "前海智数" not in text(b.get("/instances"))
    # the API takes the same parameters
    r = client.get(f"/api/v1/instances?q={key}&org={org_a}&status=running", headers=api("operator"))
    assert r.status_code == 200 and [i["id"] for i in r.json["items"]] == [iid]
    assert client.get(f"/api/v1/instances?q={key}", headers=api("partner_b")).json["total"] == 0
    for query, field in (("status=finished", "status"), ("org=0", "org"), ("org=x", "org"), (f"q={'k' * 65}", "q")):
        r = client.get(f"/api/v1/instances?{query}", headers=api("operator"))
        assert r.status_code == 422 and r.json["errors"][0]["field"] == field, query
    assert client.get("/api/v1/instances?status=&org=&q=", headers=api("operator")).status_code == 200


def test_instance_search_pages_keep_the_search(app, login_as, monkeypatch):
    from app.web import instances as instances_page

    monkeypatch.setattr(instances_page, "PER_PAGE", 1)
    with data(app) as session:
        keys = [returned(session)[1] for _ in range(2)]
    page = text(login_as("partner_a").get("/instances?q=DA&process=data_authorization"))
    assert "第 1 页，共 2 页" in page
    nxt = re.search(r'href="(/instances\?[^"]*page=2[^"]*)"', page)
    assert nxt and "q=DA" in nxt.group(1) and "process=data_authorization" in nxt.group(1)
    second = text(login_as("partner_a").get(nxt.group(1).replace("&amp;", "&")))
    assert (keys[0] in second) != (keys[1] in second)
