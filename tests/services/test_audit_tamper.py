"""Someone with write access to the database edits, deletes, reorders or inserts audit rows
(first dropping the append-only triggers, as such an attacker could): `flask audit verify`
fails and names the first row that no longer holds, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from app.services import audit, processes
from tests import factories
from tests.helpers import user


@pytest.fixture
def chain(session) -> int:
    """A chain of at least 8 rows, appended by real use; returns its length."""
    for applicant in ("applicant", "candidate"):
        processes.start(session, user(session, applicant), "partner_onboarding", factories.application())
        session.commit()
    length = session.execute(text("SELECT max(seq) FROM audit_event")).scalar_one()
    assert length >= 8
    assert audit.verify(session).ok
    return length


def _drop_guards(session: Any) -> None:
    if session.bind.dialect.name == "postgresql":
        session.execute(text("DROP TRIGGER audit_event_append_only ON audit_event"))
    else:
        session.execute(text("DROP TRIGGER audit_event_no_update"))
        session.execute(text("DROP TRIGGER audit_event_no_delete"))


def _tamper(session: Any, *statements: str, **params: Any) -> None:
    _drop_guards(session)
    for statement in statements:
        session.execute(text(statement), params)
    session.commit()


def _broken_at(runner: Any) -> str:
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    return result.output


def _row(session: Any, seq: int) -> dict[str, Any]:
    return dict(session.execute(text("SELECT * FROM audit_event WHERE seq = :s"), {"s": seq}).mappings().one())


def test_an_intact_chain_verifies(runner, chain):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and f"audit chain intact: {chain} rows" in result.output


EDITS = [("actor", "mallory"), ("action", "task.forged"), ("payload", json.dumps({"business_key": "forged"})),
         ("at", "2020-01-01 00:00:00"), ("task_id", "forged"), ("prev_hash", "0" * 64), ("hash", "f" * 64)]


def test_an_edited_row_is_named_and_restoring_it_mends_the_chain(runner, session, chain):
    _drop_guards(session)
    session.commit()
    for column, value in EDITS:
        original = session.execute(text(f"SELECT {column} FROM audit_event WHERE seq = 5")).scalar_one()
        if column == "payload" and not isinstance(original, str):
            original = json.dumps(original, ensure_ascii=False)
        session.execute(text(f"UPDATE audit_event SET {column} = :v WHERE seq = 5"), {"v": value})
        session.commit()
        output = _broken_at(runner)
        assert "broken at row 5:" in output and "(4 rows verified before it)" in output, column
        session.execute(text(f"UPDATE audit_event SET {column} = :v WHERE seq = 5"), {"v": original})
        session.commit()
        assert audit.verify(session).ok, column


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(runner, session, chain):
    """Rehashing the edited row hides it from its own check, not from the next row's link."""
    _tamper(session, "UPDATE audit_event SET actor = 'mallory' WHERE seq = 3")
    edited = audit.verify(session)
    assert edited.broken_seq == 3
    row = session.execute(text("SELECT id FROM audit_event WHERE seq = 3")).scalar_one()
    from app.models import AuditEvent

    event = session.get(AuditEvent, row)
    new_hash = audit.chain_hash(event.prev_hash, event)
    session.execute(text("UPDATE audit_event SET hash = :h WHERE seq = 3"), {"h": new_hash})
    session.commit()
    output = _broken_at(runner)
    assert "broken at row 4: link to the previous row does not match" in output


def test_a_deleted_row_in_the_middle_is_named(runner, session, chain):
    _tamper(session, "DELETE FROM audit_event WHERE seq = 4")
    assert "broken at row 4: row 4 is missing" in _broken_at(runner)


def test_deleted_rows_at_the_end_are_noticed(runner, session, chain):
    _tamper(session, "DELETE FROM audit_event WHERE seq >= :s", s=chain - 1)
    assert f"broken at row {chain - 1}: rows after this one were removed" in _broken_at(runner)


def test_every_row_deleted_is_noticed(runner, session, chain):
    _tamper(session, "DELETE FROM audit_event")
    assert "broken at row 1: rows after this one were removed" in _broken_at(runner)


def test_two_rows_swapped_are_named_at_the_first(runner, session, chain):
    _tamper(session,
            "UPDATE audit_event SET seq = -1 WHERE seq = 6",
            "UPDATE audit_event SET seq = 6 WHERE seq = 7",
            "UPDATE audit_event SET seq = 7 WHERE seq = -1")
    assert "broken at row 6: link to the previous row does not match" in _broken_at(runner)


def test_rows_moved_to_other_ids_with_their_contents_swapped_are_named(runner, session, chain):
    """Swapping everything but the sequence number: each row's content moves to another place."""
    a, b = _row(session, 2), _row(session, 3)
    columns = ("at", "actor_id", "actor", "action", "instance_id", "task_id", "org_id", "payload", "prev_hash", "hash")
    assignments = ", ".join(f"{c} = :{c}" for c in columns)
    _drop_guards(session)
    for source, target in ((b, 2), (a, 3)):
        values = {c: source[c] for c in columns}
        if not isinstance(values["payload"], str):
            values["payload"] = json.dumps(values["payload"], ensure_ascii=False)
        session.execute(text(f"UPDATE audit_event SET {assignments} WHERE seq = :target"), {**values, "target": target})
    session.commit()
    assert "broken at row 2:" in _broken_at(runner)


def test_a_forged_row_inserted_in_the_middle_is_named(runner, session, chain):
    """Shift the later rows up by one and slip a forged row in at 5, copying its neighbour's link."""
    _drop_guards(session)
    for seq in range(chain, 4, -1):
        session.execute(text("UPDATE audit_event SET seq = :n WHERE seq = :s"), {"n": seq + 1, "s": seq})
    forged = _row(session, 4)
    session.execute(text(
        "INSERT INTO audit_event (seq, at, actor_id, actor, action, instance_id, task_id, org_id, payload, "
        "prev_hash, hash) VALUES (5, :at, NULL, 'system', 'user.role_granted', NULL, NULL, NULL, :payload, "
        ":prev, :hash)"), {"at": forged["at"], "payload": json.dumps({"role": "admin"}), "prev": forged["hash"],
                            "hash": "0" * 64})
    session.commit()
    assert "broken at row 5: content does not match its hash" in _broken_at(runner)


def test_only_the_first_of_several_tampered_rows_is_named(runner, session, chain):
    _tamper(session,
            "UPDATE audit_event SET actor = 'mallory' WHERE seq = 7",
            "DELETE FROM audit_event WHERE seq = 3")
    assert "broken at row 3:" in _broken_at(runner)
