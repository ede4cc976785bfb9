"""The audit chain: append-only in the database, verified by `flask audit verify`."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from app.extensions import db
from app.services import audit, processes
from tests import factories
from tests.helpers import user


def _some_events(session):
    processes.start(session, user(session, "applicant"), "partner_onboarding", factories.application())
    session.commit()


def test_verify_reports_an_intact_chain(runner, session):
    _some_events(session)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "audit chain intact" in result.output


def test_the_database_refuses_updates_and_deletes(session):
    _some_events(session)
    with pytest.raises(DatabaseError):
        session.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE seq = 1"))
    session.rollback()
    with pytest.raises(DatabaseError):
        session.execute(text("DELETE FROM audit_event WHERE seq = 1"))
    session.rollback()


def _drop_guards(session):
    if session.bind.dialect.name == "postgresql":
        session.execute(text("DROP TRIGGER audit_event_append_only ON audit_event"))
    else:
        session.execute(text("DROP TRIGGER audit_event_no_update"))
        session.execute(text("DROP TRIGGER audit_event_no_delete"))


def test_verify_names_the_first_tampered_row(runner, session):
    _some_events(session)
    _drop_guards(session)  # someone with database access bypasses the guard
    session.execute(text("UPDATE audit_event SET payload = '{\"business_key\": \"forged\"}' WHERE seq = 2"))
    session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "broken at row 2" in result.output


def test_verify_notices_removed_rows(runner, session):
    _some_events(session)
    _drop_guards(session)
    last = session.execute(text("SELECT max(seq) FROM audit_event")).scalar_one()
    session.execute(text(f"DELETE FROM audit_event WHERE seq = {last}"))
    session.commit()
    report = audit.verify(db.session)
    assert not report.ok and report.broken_seq == last


def test_a_long_transaction_does_not_hold_up_other_appenders_and_the_chain_follows_commits(app, session):
    """Events join the chain when their transaction commits: a transaction that has recorded
    an event and is still at work does not lock the head, so another one records and commits
    meanwhile; the chain's order is the order of the commits, and it verifies. (On SQLite a
    writer holds the database's write lock from its first statement anyway.)"""
    if session.bind.dialect.name != "postgresql":
        pytest.skip("SQLite queues writers by design")
    long = db.new_session()
    long_admin = user(long, "admin")
    first = audit.record(long, "test.long", actor=long_admin, payload={"n": 1})
    long.flush()  # its work is flushed; the event waits for the commit
    assert audit.pending(long) == [first]

    other = db.new_session()
    other.execute(text("SET LOCAL lock_timeout = '3s'"))  # would fail if the head were locked
    audit.record(other, "test.short", actor=user(other, "admin"), payload={"n": 2})
    other.commit()
    other.close()

    long.commit()
    long.close()
    rows = session.execute(text("SELECT action, seq FROM audit_event WHERE action LIKE 'test.%' ORDER BY seq")).all()
    assert [r.action for r in rows] == ["test.short", "test.long"]
    assert rows[1].seq == rows[0].seq + 1
    assert audit.verify(session).ok


def test_a_query_of_the_log_sees_its_own_transactions_events(session):
    """Recorded events are written before a query of the log runs in the same transaction,
    and dropped when it rolls back."""
    from sqlalchemy import func, select

    from app.models import AuditEvent

    admin = user(session, "admin")
    before = session.execute(select(func.count(AuditEvent.id))).scalar_one()
    audit.record(session, "test.seen", actor=admin)
    assert session.execute(select(func.count(AuditEvent.id))).scalar_one() == before + 1
    audit.record(session, "test.dropped", actor=admin)
    session.rollback()
    assert audit.pending(session) == []
    assert session.execute(select(func.count(AuditEvent.id))).scalar_one() == before
    assert audit.verify(session).ok
