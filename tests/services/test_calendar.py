"""The compliance calendar (Art. 15-16) and the single scheduler, driven by the clock service."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select

from app import jobs
from app.models import Agreement, AuditEvent, CatalogItem, Grant, LogRetention, ProcessInstance
from app.services import calendar, leases, processes
from app.services.clock import clock
from app.services.guards import renewal_window
from tests import factories
from tests.helpers import org, user


def _agreement(session, number):
    return session.execute(select(Agreement).where(Agreement.number == number)).scalar_one()


def _grant(session, org_code, codes=("MKT-001",)):
    items = session.execute(select(CatalogItem).where(CatalogItem.code.in_(codes))).scalars().all()
    grant = Grant(number=f"T-{org_code}-{len(codes)}", org_id=org(session, org_code).id, purpose="public_governance",
                  fee_regime="free", issued_at=clock.now(), expires_at=clock.now() + timedelta(days=3650))
    grant.items = list(items)
    session.add(grant)
    session.commit()
    return grant


def _at(day):
    return datetime.combine(day, time(4, 0), UTC)


def test_renewal_window_dates():
    from datetime import date

    assert renewal_window(date(2027, 12, 31)) == (date(2027, 6, 30), date(2027, 12, 31))
    assert renewal_window(date(2028, 8, 31)) == (date(2028, 2, 29), date(2028, 8, 31))


def test_renewal_window_is_noted_once(session):
    agreement = _agreement(session, "NS-YY-2025-001")
    opens, _closes = renewal_window(agreement.valid_until)
    clock.set(_at(opens - timedelta(days=1)))
    assert calendar.note_renewal_windows(session) == 0
    clock.set(_at(opens))
    assert calendar.note_renewal_windows(session) == 1
    assert calendar.note_renewal_windows(session) == 0


def test_expired_service_agreement_closes_the_partners_grants_and_keeps_logs(session):
    grant_a = _grant(session, "partner_a")
    grant_b = _grant(session, "partner_b", ("MKT-001", "MKT-002"))
    agreement = _agreement(session, "NS-FW-2025-011")
    clock.set(_at(agreement.valid_until + timedelta(days=1)))
    report = calendar.run(session)
    session.commit()
    assert report.agreements_expired >= 1
    assert agreement.status == "terminated" and agreement.expiry_handled_at is not None
    session.refresh(grant_a)
    session.refresh(grant_b)
    assert grant_a.revoked_at is not None
    retention = session.execute(select(LogRetention).where(LogRetention.agreement_id == agreement.id)).scalar_one()
    assert retention.retain_until >= clock.now() + timedelta(days=182)
    # partner_b's agreement expired too (it is younger): both are handled exactly once
    again = calendar.run(session)
    assert again.agreements_expired == 0


def test_expired_operation_agreement_starts_termination_and_closes_every_grant(session):
    grant_a = _grant(session, "partner_a")
    agreement = _agreement(session, "NS-YY-2025-001")
    clock.set(_at(agreement.valid_until + timedelta(days=1)))
    calendar.handle_expiries(session)
    session.commit()
    session.refresh(grant_a)
    assert grant_a.revoked_at is not None
    termination = session.execute(select(ProcessInstance).where(
        ProcessInstance.process_key == "agreement_termination")).scalar_one()
    assert termination.org_id == org(session, "operator").id
    assert calendar.handle_expiries(session) == 0


def test_reminders_for_tasks_due_within_a_day_are_recorded_once(session):
    clock.set(datetime(2026, 6, 1, 1, 0, tzinfo=UTC))
    processes.start(session, user(session, "applicant"), "partner_onboarding", factories.application())
    session.commit()
    assert calendar.remind_due_tasks(session) == 0  # due in 5 days
    clock.set(datetime(2026, 6, 5, 2, 0, tzinfo=UTC))
    assert calendar.remind_due_tasks(session) == 2
    assert calendar.remind_due_tasks(session) == 0
    reminders = session.execute(select(func.count(AuditEvent.id)).where(AuditEvent.action == "task.reminder")).scalar_one()
    assert reminders == 2


def test_only_one_scheduler_holds_the_lease(session):
    clock.set(datetime(2026, 6, 1, 1, 0, tzinfo=UTC))
    assert leases.acquire(session, "scheduler", "host-a", 90)
    session.commit()
    assert not leases.acquire(session, "scheduler", "host-b", 90)
    assert leases.acquire(session, "scheduler", "host-a", 90)  # renewal by the holder
    session.commit()
    clock.set(datetime(2026, 6, 1, 1, 2, tzinfo=UTC))
    assert leases.acquire(session, "scheduler", "host-b", 90)  # taken over after expiry
    session.commit()


def test_run_due_skips_when_another_process_holds_the_lease(app, session):
    clock.set(datetime(2026, 6, 1, 1, 0, tzinfo=UTC))
    leases.acquire(session, "scheduler", "other-host:1", 90)
    session.commit()
    session.close()
    assert jobs.run_due(app, holder="me:2").skipped
    report = jobs.run_due(app, holder="other-host:1")
    assert not report.skipped and report.calendar is not None


def test_timers_run_due_command(runner):
    result = runner.invoke(args=["timers", "run-due"])
    assert result.exit_code == 0, result.output
    assert "timers fired: 0" in result.output
