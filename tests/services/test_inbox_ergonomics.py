"""Inbox ergonomics through the service layer: handing a task to a colleague, comments,
bulk claim and bulk approval, saved filters, and the instance search."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app import engine
from app.errors import (
    ConflictError,
    DefinitionError,
    ForbiddenError,
    GrantFlowError,
    NotFoundError,
    TaskNotReadyError,
    ValidationError,
)
from app.models import AuditEvent, Comment, HumanTask, ProcessInstance, RoleMembership, User
from app.services import comments, processes, saved_filters, tasks
from app.services.accounts import hash_password
from tests.helpers import complete, open_task, org, user

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def data_request(**overrides: Any) -> dict[str, Any]:
    data = {"business_scenario": "企业信用画像服务。", "catalog_items": ["MKT-001"],
            "development_plan": "平台内加工，原始数据不出域。", "purpose": "public_welfare",
            "scope": "仅用于南山区涉企信用评估。"}
    data.update(overrides)
    return data


def returned_request(session, username: str = "partner_a") -> tuple[ProcessInstance, HumanTask]:
    """A data request the operator returned: its owner's organisation has revise_request open."""
    instance = processes.start(session, user(session, username), "data_authorization", data_request())
    session.commit()
    complete(session, "operator", "operator_review", instance, {"decision": "return", "comment": "请补充说明。"})
    return instance, open_task(session, username, "revise_request", instance)


def at_joint_meeting(session) -> ProcessInstance:
    """A conditional data request waiting for the joint meeting's sign-offs (one per unit)."""
    instance = processes.start(session, user(session, "partner_a"), "data_authorization",
                               data_request(catalog_items=["MKT-003"]))
    session.commit()
    complete(session, "operator", "assign_compliance_reviewer", instance, {"reviewer": "operator"})
    complete(session, "operator", "compliance_review", instance, {
        "findings": "业务场景合法。", "risk_level": "low", "conclusion": "compliant", "recommendations": "无。"})
    return instance


def colleague(session, username: str, org_code: str, role: str) -> User:
    account = User(username=username, display_name=f"{username} 同事", org_id=org(session, org_code).id,
                   password_hash=hash_password("a long demo password 1"))
    account.role_rows = [RoleMembership(role=role)]
    session.add(account)
    session.commit()
    return account


def audit_of(session, action: str, task_id: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    if task_id:
        query = query.where(AuditEvent.task_id == task_id)
    return list(session.execute(query).scalars())


def refusal(session, call: Any) -> GrantFlowError:
    with pytest.raises(GrantFlowError) as caught:
        call()
    session.rollback()
    return caught.value


# --------------------------------------------------------------------------- hand-over


def test_a_task_is_handed_to_a_colleague_and_back_with_audit_entries(session):
    _instance, task = returned_request(session)
    mate = colleague(session, "partner_a2", "partner_a", "partner")
    me = user(session, "partner_a")
    assert [u.username for u in tasks.colleagues(session, me, task)] == ["partner_a2"]

    tasks.reassign(session, me, task.id, "partner_a2")  # unclaimed: anyone who may do it hands it on
    session.commit()
    assert session.get(HumanTask, task.id).assignee_id == mate.id
    assert [e.payload["from"] for e in audit_of(session, "task.reassigned", task.id)] == [None]
    assert tasks.inbox(session, mate, status="mine").total == 1

    # now partner_a2 holds it: partner_a may no longer hand it on, partner_a2 may
    assert isinstance(refusal(session, lambda: tasks.reassign(session, me, task.id, "partner_a2")), ForbiddenError)
    tasks.reassign(session, user(session, "partner_a2"), task.id, " partner_a ")
    session.commit()
    assert session.get(HumanTask, task.id).assignee_id == me.id
    entries = audit_of(session, "task.reassigned", task.id)
    assert [(e.actor, e.payload["from"], e.payload["to"]) for e in entries] == [
        ("partner_a", None, "partner_a2"), ("partner_a2", "partner_a2", "partner_a")]


def test_a_hand_over_and_its_audit_entry_are_one_transaction(session):
    _instance, task = returned_request(session)
    colleague(session, "partner_a2", "partner_a", "partner")
    before = len(audit_of(session, "task.reassigned"))
    tasks.reassign(session, user(session, "partner_a"), task.id, "partner_a2")
    session.rollback()
    assert session.get(HumanTask, task.id).assignee_id is None
    assert len(audit_of(session, "task.reassigned")) == before


def test_hand_over_refusals_name_what_is_wrong(session):
    _instance, task = returned_request(session)
    me = user(session, "partner_a")
    # a partner of another organisation, and a name that does not exist, get the same answer
    other_org = refusal(session, lambda: tasks.reassign(session, me, task.id, "partner_b"))
    nobody = refusal(session, lambda: tasks.reassign(session, me, task.id, "nobody"))
    assert isinstance(other_org, ValidationError) and [e.field for e in other_org.errors] == ["username"]
    assert other_org.errors[0].message == "partner_b 不是可办理此任务的同事。"
    assert nobody.errors[0].message == "nobody 不是可办理此任务的同事。"  # type: ignore[attr-defined]
    assert "partner_b" not in [u.username for u in tasks.colleagues(session, me, task)]
    # an operator (another role) may not take it either; nor may the actor hand it to themself
    assert isinstance(refusal(session, lambda: tasks.reassign(session, me, task.id, "operator")), ValidationError)
    itself = refusal(session, lambda: tasks.reassign(session, me, task.id, "partner_a"))
    assert isinstance(itself, ValidationError) and "认领" in itself.errors[0].message
    # partner_b cannot even see the task; the operator sees the case but the task is not theirs
    assert isinstance(refusal(session, lambda: tasks.reassign(session, user(session, "partner_b"), task.id,
                                                              "partner_a")), NotFoundError)
    assert isinstance(refusal(session, lambda: tasks.reassign(session, user(session, "operator"), task.id,
                                                              "partner_a")), ForbiddenError)
    assert session.get(HumanTask, task.id).assignee_id is None
    assert audit_of(session, "task.reassigned", task.id) == []


def test_a_task_no_longer_open_cannot_be_handed_on(session):
    instance, task = returned_request(session)
    colleague(session, "partner_a2", "partner_a", "partner")
    complete(session, "partner_a", "revise_request", instance, {"action": "withdraw", "comment": "暂不申请。"})
    error = refusal(session, lambda: tasks.reassign(session, user(session, "partner_a"), task.id, "partner_a2"))
    assert isinstance(error, TaskNotReadyError) and error.status == 409


def test_a_joint_meeting_unit_hands_on_only_within_the_unit(session):
    instance = at_joint_meeting(session)
    signoff = open_task(session, "authority", "joint_signoff", instance)
    # the document officer works at the authority but is not a joint-meeting member
    assert tasks.colleagues(session, user(session, "authority"), signoff) == []
    error = refusal(session, lambda: tasks.reassign(session, user(session, "authority"), signoff.id, "doc_officer"))
    assert isinstance(error, ValidationError)
    deputy = colleague(session, "authority2", "authority", "joint_meeting")
    assert [u.id for u in tasks.colleagues(session, user(session, "authority"), signoff)] == [deputy.id]
    # a member of another unit may not take the authority's sign-off
    assert isinstance(refusal(session, lambda: tasks.reassign(session, user(session, "authority"), signoff.id,
                                                              "finance")), ValidationError)


# --------------------------------------------------------------------------- comments


def test_whoever_sees_the_case_comments_and_reads_comments(session):
    instance, task = returned_request(session)
    first = comments.add(session, user(session, "partner_a"), instance.id, "  第一行\r\n第二行  ")
    second = comments.add(session, user(session, "operator"), instance.id, "已收到。", task_id=task.id)
    session.commit()
    assert first.body == "第一行\n第二行" and second.task_id == task.id
    for reader in ("partner_a", "operator", "authority", "admin"):
        seen = comments.for_instance(session, user(session, reader), instance.id)
        assert [(c.author.username, c.body) for c in seen] == [("partner_a", "第一行\n第二行"),
                                                               ("operator", "已收到。")], reader
    entries = audit_of(session, "comment.added")
    assert [(e.actor, e.instance_id, e.task_id, e.payload["body"]) for e in entries[-2:]] == [
        ("partner_a", instance.id, None, "第一行\n第二行"), ("operator", instance.id, task.id, "已收到。")]


def test_others_can_neither_read_nor_add_comments(session):
    instance, _task = returned_request(session)
    comments.add(session, user(session, "partner_a"), instance.id, "内部说明")
    session.commit()
    for outsider in ("partner_b", "finance", "applicant"):
        who = user(session, outsider)
        assert isinstance(refusal(session, lambda: comments.for_instance(session, who, instance.id)), NotFoundError)
        assert isinstance(refusal(session, lambda: comments.add(session, who, instance.id, "x")), NotFoundError)
    assert len(session.execute(select(Comment).where(Comment.instance_id == instance.id)).all()) == 1


BAD_COMMENTS = [("", "请先填写评论内容。"), ("   \n ", "请先填写评论内容。"), ("x" * 2001, "最多 2000 个字符。"),
                ("a\x00b", "含有控制字符。"), (None, "请先填写评论内容。")]


def test_bad_comments_are_refused_naming_the_body(session):
    instance, _task = returned_request(session)
    for body, problem in BAD_COMMENTS:
        error = refusal(session, lambda: comments.add(session, user(session, "partner_a"), instance.id, body))
        assert isinstance(error, ValidationError)
        assert [(e.field, e.message) for e in error.errors] == [("body", problem)], body
    assert comments.for_instance(session, user(session, "partner_a"), instance.id) == []


def test_the_longest_comment_is_kept_whole_and_a_foreign_step_is_refused(session):
    instance, _task = returned_request(session)
    _other, other_task = returned_request(session, "partner_b")
    comments.add(session, user(session, "partner_a"), instance.id, "长" * 2000)
    session.commit()
    error = refusal(session, lambda: comments.add(session, user(session, "partner_a"), instance.id, "x",
                                                  task_id=other_task.id))
    assert isinstance(error, ValidationError) and [e.field for e in error.errors] == ["task_id"]
    assert [len(c.body) for c in comments.for_instance(session, user(session, "partner_a"), instance.id)] == [2000]


# --------------------------------------------------------------------------- bulk


def run_bulk(session, username: str, action: str, ids: list[str], comment: str = "") -> list[tasks.BulkOutcome]:
    """What the edge does: each task in its own transaction."""
    request = tasks.bulk_request(action, ids, comment)
    outcomes = []
    for task_id in request.task_ids:
        try:
            row = tasks.bulk_one(session, user(session, username), request, task_id)
            session.commit()
            outcomes.append(tasks.BulkOutcome(task_id, True, row.title))
        except GrantFlowError as exc:
            session.rollback()
            outcomes.append(tasks.BulkOutcome(task_id, False, None, exc.code, exc.message))
    return outcomes


def test_bulk_approve_completes_the_bulk_approvable_and_refuses_the_rest(session):
    first, second = at_joint_meeting(session), at_joint_meeting(session)
    mine = [open_task(session, "authority", "joint_signoff", i).id for i in (first, second)]
    _returned, partners_task = returned_request(session)
    done = session.execute(select(HumanTask.id).where(HumanTask.status == "completed")).scalars().first()
    assert tasks.bulk_approvable(session, [*mine, partners_task.id]) == set(mine)

    outcomes = run_bulk(session, "authority", "approve",
                        [mine[0], mine[1], mine[0], partners_task.id, done, "no-such-task"], "同意。")
    assert [(o.task_id, o.done, o.error) for o in outcomes] == [
        (mine[0], True, None), (mine[1], True, None), (partners_task.id, False, "forbidden"),
        (done, False, "forbidden"), ("no-such-task", False, "not_found")]
    for task_id in mine:
        row = session.get(HumanTask, task_id)
        assert (row.status, row.decision, row.completed_by_id) == ("completed", "approve", user(session, "authority").id)
    comments_made = [e.payload["comment"] for e in audit_of(session, "task.completed") if e.task_id in mine]
    assert comments_made == ["同意。", "同意。"]
    assert session.get(HumanTask, partners_task.id).status == "open"


def test_bulk_approve_refuses_a_step_that_is_not_bulk_approvable(session):
    instance = processes.start(session, user(session, "partner_a"), "data_authorization", data_request())
    session.commit()
    review = open_task(session, "operator", "operator_review", instance)
    [outcome] = run_bulk(session, "operator", "approve", [review.id], "同意。")
    assert (outcome.done, outcome.error) == (False, "validation_failed")
    assert outcome.message == "此环节不能批量通过，请打开任务单独办理。"
    assert session.get(HumanTask, review.id).status == "open"


def test_bulk_claim_claims_each_task_on_its_own(session):
    instance = at_joint_meeting(session)
    signoff = open_task(session, "finance", "joint_signoff", instance)
    _returned, partners_task = returned_request(session)
    tasks.claim(session, user(session, "partner_a"), partners_task.id)
    session.commit()
    colleague(session, "partner_a2", "partner_a", "partner")
    outcomes = run_bulk(session, "finance", "claim", [signoff.id, partners_task.id])
    assert [(o.done, o.error) for o in outcomes] == [(True, None), (False, "not_found")]
    assert session.get(HumanTask, signoff.id).assignee_id == user(session, "finance").id
    # someone else's claim is a conflict for a colleague who may do the task
    [taken] = run_bulk(session, "partner_a2", "claim", [partners_task.id])
    assert (taken.done, taken.error) == (False, "conflict")
    assert isinstance(refusal(session, lambda: tasks.complete(session, user(session, "partner_a2"), partners_task.id,
                                                              {})), ConflictError)


@pytest.mark.parametrize(("action", "ids", "comment", "fields"), [
    ("delete", ["x"], "", ["action"]),
    ("claim", [], "", ["task_ids"]),
    ("claim", "abc", "", ["task_ids"]),
    ("claim", [str(i) for i in range(101)], "", ["task_ids"]),
    ("approve", ["x"], "  ", ["comment"]),
    ("approve", ["x"], "x" * 4001, ["comment"]),
])
def test_bad_bulk_requests_are_refused_naming_the_field(action, ids, comment, fields):
    with pytest.raises(ValidationError) as caught:
        tasks.bulk_request(action, ids, comment)
    assert [e.field for e in caught.value.errors] == fields


def test_bulk_approvable_must_say_true_or_false():
    source = (ROOT / "workflows/data_authorization.bpmn").read_text()
    assert source.count('name="bulkApprovable" value="true"') == 1
    files = {p.name: p.read_bytes() for p in (ROOT / "workflows").glob("*.dmn")}
    files["data_authorization.bpmn"] = source.replace('name="bulkApprovable" value="true"',
                                                      'name="bulkApprovable" value="yes"').encode()
    with pytest.raises(DefinitionError) as caught:
        engine.compile_definition(files)
    assert [(e.element, e.message) for e in caught.value.errors] == [
        ("joint_signoff", "'bulkApprovable' must be 'true' or 'false', got 'yes'")]


# --------------------------------------------------------------------------- saved filters


def test_saved_filters_belong_to_their_owner(session):
    mine = saved_filters.save(session, user(session, "operator"), " 我认领的 ", "status=mine&page=3&x=1&process=")
    session.commit()
    assert (mine.name, mine.query) == ("我认领的", "status=mine")
    replaced = saved_filters.save(session, user(session, "operator"), "我认领的",
                                  {"process": "data_authorization", "status": "mine"})
    session.commit()
    assert replaced.id == mine.id and replaced.query == "status=mine&process=data_authorization"
    saved_filters.save(session, user(session, "finance"), "我认领的", "status=open")
    session.commit()
    assert [f.name for f in saved_filters.list_for(session, user(session, "operator"))] == ["我认领的"]
    for other in ("finance", "partner_a"):
        who = user(session, other)
        assert isinstance(refusal(session, lambda: saved_filters.get(session, who, mine.id)), NotFoundError)
        assert isinstance(refusal(session, lambda: saved_filters.delete(session, who, mine.id)), NotFoundError)
    saved_filters.delete(session, user(session, "operator"), mine.id)
    session.commit()
    assert saved_filters.list_for(session, user(session, "operator")) == []
    assert [f.query for f in saved_filters.list_for(session, user(session, "finance"))] == ["status=open"]


def test_bad_saved_filters_are_refused(session, monkeypatch):
    operator = user(session, "operator")
    for name, field in (("", "name"), ("   ", "name"), ("x" * 101, "name")):
        error = refusal(session, lambda: saved_filters.save(session, operator, name, "status=mine"))
        assert isinstance(error, ValidationError) and [e.field for e in error.errors] == [field]
    error = refusal(session, lambda: saved_filters.save(session, operator, "long", {"process": "p" * 600}))
    assert [e.field for e in error.errors] == ["query"]  # type: ignore[attr-defined]
    monkeypatch.setattr(saved_filters, "MAX_PER_USER", 2)
    for name in ("one", "two"):
        saved_filters.save(session, operator, name, "")
    session.commit()
    error = refusal(session, lambda: saved_filters.save(session, operator, "three", ""))
    assert isinstance(error, ValidationError) and "请先删除一个" in error.errors[0].message
    saved_filters.save(session, operator, "two", "status=completed")  # replacing is not adding
    session.commit()


# --------------------------------------------------------------------------- search


def test_instance_search_by_key_organisation_process_and_status(session):
    a, _task = returned_request(session)
    b, _task_b = returned_request(session, "partner_b")
    authority = user(session, "authority")
    key = a.business_key
    for q in (key, key[:6], key[-4:].lower(), key.lower()):
        rows, total = processes.list_instances(session, authority, q=q)
        assert a.id in [r.id for r in rows], q
    rows, total = processes.list_instances(session, authority, q=key)
    assert (total, [r.id for r in rows]) == (1, [a.id])
    assert processes.list_instances(session, authority, q="%")[1] == 0  # LIKE wildcards are literal
    assert processes.list_instances(session, authority, q="_")[1] == 0
    rows, _total = processes.list_instances(session, authority, org_id=org(session, "partner_b").id)
    assert [r.id for r in rows] == [b.id]
    rows, _total = processes.list_instances(session, authority, process_key="data_authorization", status="running")
    assert {a.id, b.id} <= {r.id for r in rows}
    assert processes.list_instances(session, authority, process_key="data_authorization", status="completed")[1] == 0
    page1, total = processes.list_instances(session, authority, q=key[:3], per_page=1)
    page2, _total = processes.list_instances(session, authority, q=key[:3], per_page=1, page=2)
    assert total >= 2 and page1[0].id != page2[0].id
    # a partner finds only its own, whatever it searches for
    partner_b = user(session, "partner_b")
    assert processes.list_instances(session, partner_b, q=key)[1] == 0
    assert processes.list_instances(session, partner_b, org_id=org(session, "partner_a").id)[1] == 0
    assert [o.code for o in processes.instance_organisations(session, partner_b)] == ["partner_b"]
    assert {"partner_a", "partner_b"} <= {o.code for o in processes.instance_organisations(session, authority)}
