"""Notifications and their e-mail, through the service layer and the send job, against a real
SMTP server (aiosmtpd on 127.0.0.1): who is told about a new task, a decision, a due or overdue
task and an agreement entering its renewal window; preferences; retries when the server is away."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import func, select

from app import jobs
from app.errors import ValidationError
from app.models import Agreement, EmailOutbox, HumanTask, Notification, TaskNotice, User
from app.services import calendar, leases, notifications, processes
from app.services.access import can_see_task
from app.services.clock import clock
from app.services.guards import renewal_window
from config.settings import SmtpSettings
from tests import factories
from tests.helpers import complete, user

REQUEST = {"business_scenario": "企业信用画像服务。", "catalog_items": ["MKT-001"],
           "development_plan": "平台内加工，原始数据不出域。", "purpose": "public_welfare", "scope": "仅用于南山区涉企信用评估。"}


class Mailbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.messages if address in rcpt]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_smtp(port: int) -> tuple[Controller, Mailbox]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, mailbox


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def mail_app(app: Flask, smtp_port: int) -> Flask:
    """The app with e-mail on, to 127.0.0.1:<smtp_port>: 3 tries, a minute before the first retry."""
    app.config["GRANTFLOW"] = dataclasses.replace(app.config["GRANTFLOW"], smtp=SmtpSettings(
        host="127.0.0.1", port=smtp_port, sender="GrantFlow <noreply@grantflow.test>", timeout=5,
        max_attempts=3, retry_seconds=60))
    return app


@pytest.fixture
def mailbox(smtp_port: int) -> Iterator[Mailbox]:
    controller, box = start_smtp(smtp_port)
    yield box
    controller.stop()


def notes(session, username: str, kind: str | None = None) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user(session, username).id)
    if kind:
        query = query.where(Notification.kind == kind)
    return list(session.execute(query.order_by(Notification.id).execution_options(populate_existing=True)).scalars())


def outbox(session, **where: Any) -> list[EmailOutbox]:
    query = select(EmailOutbox).filter_by(**where).order_by(EmailOutbox.id).execution_options(populate_existing=True)
    return list(session.execute(query).scalars())


def send(app: Flask, session) -> jobs.SendReport:
    """Run the send job as the scheduler would, after ending the test's own transaction
    (a SQLite transaction holds the write lock the job needs)."""
    session.commit()
    return jobs.send_emails(app)


def start_request(session, username: str = "partner_a"):
    instance = processes.start(session, user(session, username), "data_authorization", dict(REQUEST))
    session.commit()
    return instance


def test_a_request_tells_the_operator_by_app_and_mail_and_the_partner_of_the_decision(session, mail_app, mailbox):
    partner = user(session, "partner_a")
    partner.locale = "en"
    session.commit()
    instance = start_request(session)

    [note] = notes(session, "operator", "task_new")
    assert (note.link, note.instance_id) == (f"/tasks/{note.task_id}", instance.id)
    assert {n.user_id for n in session.execute(select(Notification)).scalars()} == {user(session, "operator").id}
    assert [e.status for e in outbox(session)] == ["pending"]  # queued in the starting transaction, not sent

    report = send(mail_app, session)
    assert (report.sent, report.failed) == (1, 0)
    [message] = mailbox.to("operator@demo.grantflow.invalid")
    assert message["Subject"] == "[GrantFlow] 新待办：授权申请审核"
    assert message["From"] == "GrantFlow <noreply@grantflow.test>"
    body = message.get_content()
    assert "张经理（运营单位），您好：" in body and instance.business_key in body
    assert f"http://127.0.0.1:5000/tasks/{note.task_id}" in body
    [row] = outbox(session)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None) and row.sent_at is not None

    complete(session, "operator", "operator_review", instance, {"decision": "reject", "comment": "场景不符。"})
    [decided] = notes(session, "partner_a", "request_decided")
    assert decided.params["outcome"] == "rejected"
    assert notes(session, "operator", "request_decided") == []
    assert notifications.render(decided.kind, decided.params, "zh_CN").title == f"您的申请 {instance.business_key} 已有结果：未通过"
    assert send(mail_app, session).sent == 1
    [message] = mailbox.to("partner_a@demo.grantflow.invalid")  # in the partner's language
    assert message["Subject"] == f"[GrantFlow] Your request {instance.business_key} was decided: Rejected"
    assert "has ended with the result: Rejected." in message.get_content()
    assert send(mail_app, session).sent == 0  # nothing is sent twice


def test_each_new_task_goes_to_exactly_the_users_whose_inbox_shows_it(session):
    mine = start_request(session, "partner_a")
    start_request(session, "partner_b")
    complete(session, "operator", "operator_review", mine, {"decision": "return", "comment": "请补充。"})
    revise = session.execute(select(HumanTask).where(HumanTask.instance_id == mine.id,
                                                     HumanTask.spec_id == "revise_request")).scalar_one()
    everyone = session.execute(select(User)).scalars().all()
    for task in session.execute(select(HumanTask)).scalars():
        told = {n.user_id for n in session.execute(select(Notification).where(
            Notification.task_id == task.id, Notification.kind == "task_new")).scalars()}
        assert told == {u.id for u in everyone if can_see_task(u, task)}, task.spec_id
    assert [n.task_id for n in notes(session, "partner_a", "task_new")] == [revise.id]
    assert notes(session, "partner_b", "task_new") == []  # a partner task is for its own organisation only
    assert notifications.tasks_created(session, mine, []) == 0


def test_preferences_turn_mail_or_the_app_notice_off(session):
    operator = user(session, "operator")
    assert notifications.preferences(session, operator)["task_new"] == notifications.Preference(True, True)
    notifications.set_preferences(session, operator, {"task_new": notifications.Preference(in_app=True, email=False)})
    session.commit()
    start_request(session)
    assert len(notes(session, "operator", "task_new")) == 1 and outbox(session) == []

    notifications.set_preferences(session, operator, {"task_new": notifications.Preference(in_app=False, email=True)})
    session.commit()
    start_request(session, "partner_b")
    assert len(notes(session, "operator", "task_new")) == 1  # no new in-app notice
    assert [e.recipient for e in outbox(session)] == ["operator@demo.grantflow.invalid"]
    assert notifications.preferences(session, operator)["task_overdue"] == notifications.Preference(True, True)

    with pytest.raises(ValidationError) as caught:
        notifications.set_preferences(session, operator, {"birthdays": notifications.Preference()})
    assert [e.field for e in caught.value.errors] == ["birthdays"]


def test_a_server_that_is_away_delays_mail_with_backoff_and_never_undoes_the_step(session, mail_app, smtp_port):
    clock.set(datetime(2026, 6, 1, 2, 0, tzinfo=UTC))
    instance = start_request(session)
    complete(session, "operator", "operator_review", instance, {"decision": "reject", "comment": "场景不符。"})
    session.refresh(instance)
    assert instance.status == "completed"  # committed, though no mail server answers
    assert len(outbox(session)) == 2

    report = send(mail_app, session)
    assert (report.sent, report.failed, report.deferred) == (0, 1, 1)  # the rest waits for the next run
    first, second = outbox(session)
    assert (first.status, first.attempts) == ("pending", 1) and "Connection" in (first.last_error or "")
    assert first.next_attempt_at == clock.now() + timedelta(seconds=60)
    assert second.attempts == 0

    assert send(mail_app, session).failed == 1  # the second row's turn; the first is not due yet
    assert [r.attempts for r in outbox(session)] == [1, 1]
    clock.advance(timedelta(seconds=61))
    send(mail_app, session)
    first, second = outbox(session)
    assert (first.attempts, first.next_attempt_at) == (2, clock.now() + timedelta(seconds=120))

    controller, mailbox = start_smtp(smtp_port)
    try:
        clock.advance(timedelta(seconds=121))
        report = send(mail_app, session)
        assert (report.sent, report.failed) == (2, 0)
        assert [(r.status, r.attempts) for r in outbox(session)] == [("sent", 3), ("sent", 2)]
        assert len(mailbox.messages) == 2
    finally:
        controller.stop()


def test_mail_is_given_up_after_the_last_attempt_and_skipped_when_mail_is_off(app, session, mail_app, runner):
    clock.set(datetime(2026, 6, 1, 2, 0, tzinfo=UTC))
    start_request(session)
    for _ in range(3):
        send(mail_app, session)
        clock.advance(timedelta(hours=1))
    [row] = outbox(session)
    assert (row.status, row.attempts) == ("failed", 3) and row.last_error
    assert send(mail_app, session).failed == 0

    start_request(session, "partner_b")
    app.config["GRANTFLOW"] = dataclasses.replace(app.config["GRANTFLOW"], smtp=None)
    assert send(app, session).skipped == 1
    assert [r.status for r in outbox(session)] == ["failed", "skipped"]
    start_request(session, "partner_a")
    result = runner.invoke(args=["notifications", "send"])  # what an operator runs by hand
    assert result.exit_code == 0 and "skipped (e-mail is off): 1" in result.output
    assert [r.status for r in outbox(session)] == ["failed", "skipped", "skipped"]
    assert notifications.retry_delay(30, 60) == timedelta(hours=6)  # the delay stops growing


def test_due_soon_and_overdue_are_each_told_once(session):
    clock.set(datetime(2026, 6, 1, 1, 0, tzinfo=UTC))
    processes.start(session, user(session, "applicant"), "partner_onboarding", factories.application())
    session.commit()
    due = sorted(t.due_at for t in session.execute(select(HumanTask)).scalars())
    assert calendar.run(session).reminders == 0
    assert notes(session, "operator", "task_due_soon") == []

    clock.set(due[0] - timedelta(hours=2))
    report = calendar.run(session)
    session.commit()
    soon = notes(session, "operator", "task_due_soon")
    assert report.reminders == len(soon) == 2 and report.overdue_notices == 0
    text = notifications.render("task_due_soon", soon[0].params, "zh_CN")
    local = due[0].astimezone(notifications.SHANGHAI).strftime("%Y-%m-%d %H:%M")
    assert f"将于 {local}（北京时间） 到期" in text.body
    assert calendar.run(session).reminders == 0

    clock.set(due[-1] + timedelta(minutes=1))
    report = calendar.run(session)
    session.commit()
    assert report.overdue_notices == 2 and len(notes(session, "operator", "task_overdue")) == 2
    assert calendar.run(session).overdue_notices == 0
    assert len(notes(session, "operator", "task_overdue")) == 2
    assert session.execute(select(func.count()).select_from(TaskNotice)).scalar_one() == 2


def test_a_task_first_seen_after_its_due_time_is_told_overdue_once(session):
    clock.set(datetime(2026, 6, 1, 1, 0, tzinfo=UTC))
    processes.start(session, user(session, "applicant"), "partner_onboarding", factories.application())
    session.commit()
    clock.advance(timedelta(days=30))
    report = calendar.run(session)
    session.commit()
    assert (report.reminders, report.overdue_notices) == (2, 0)  # the reminder itself says overdue
    assert notes(session, "operator", "task_due_soon") == []
    assert len(notes(session, "operator", "task_overdue")) == 2
    assert notifications.notify_overdue(session) == 0


def test_the_operator_is_told_once_when_its_agreement_enters_the_renewal_window(session):
    agreement = session.execute(select(Agreement).where(Agreement.number == "NS-YY-2025-001")).scalar_one()
    opens, closes = renewal_window(agreement.valid_until)
    clock.set(datetime.combine(opens, time(4, 0), UTC))
    assert calendar.note_renewal_windows(session) == 1
    session.commit()
    [note] = notes(session, "operator", "agreement_expiring")
    assert note.params == {"number": "NS-YY-2025-001", "valid_until": closes.isoformat()}
    assert notifications.render(note.kind, note.params, "en").title == f"Agreement NS-YY-2025-001 expires on {closes.isoformat()}"
    assert notes(session, "partner_a", "agreement_expiring") == []
    assert calendar.note_renewal_windows(session) == 0
    assert len(notes(session, "operator", "agreement_expiring")) == 1


def test_the_scheduler_sends_mail_only_where_it_holds_the_lease(session, mail_app, mailbox):
    clock.set(datetime(2026, 6, 1, 2, 0, tzinfo=UTC))
    start_request(session)
    assert leases.acquire(session, jobs.LEASE, "host-b", 90)
    session.commit()
    assert jobs.run_due(mail_app, holder="host-a").skipped
    assert [r.status for r in outbox(session)] == ["pending"] and mailbox.messages == []
    session.commit()
    report = jobs.run_due(mail_app, holder="host-b")
    assert report.emails is not None and report.emails.sent == 1
    assert [r.status for r in outbox(session)] == ["sent"] and len(mailbox.messages) == 1
