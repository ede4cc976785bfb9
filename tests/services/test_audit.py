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
