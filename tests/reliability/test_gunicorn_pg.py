"""Issue 6: PostgreSQL under concurrent load, and crash safety, against a real deployment:
gunicorn with several workers on loopback, clients over the JSON API. Afterwards every
instance, task row, audit entry, grant and document must agree."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.extensions import db
from app.models import Agreement, AuditEvent, Document, Grant, HumanTask, ProcessInstance
from app.services import audit, documents
from app.services.documents.queries import stored_bytes
from tests.conftest import PG_URL, _pg_exec, make_test_app
from tests.reliability.harness import Stats, gunicorn, run_clients

pytestmark = pytest.mark.skipif(not PG_URL, reason="PostgreSQL is not configured (GRANTFLOW_TEST_PG_URL)")

READY = 16  # SpiffWorkflow TaskState.READY


@pytest.fixture
def pg_database(pg_template: str) -> Iterator[str]:
    name = f"gfr_{uuid.uuid4().hex[:12]}"
    _pg_exec(PG_URL, f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    db.engine.dispose()  # type: ignore[union-attr]
    _pg_exec(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def check_consistency(url: str, instance_path: Path, stats: Stats) -> dict[str, Any]:
    """Everything the clients did is recorded exactly once and agrees across the tables."""
    app = make_test_app(url, instance_path)
    with app.app_context():
        session = db.session
        ids = sorted(set(stats.instances))
        instances = session.execute(select(ProcessInstance).where(ProcessInstance.id.in_(ids))).scalars().all()
        assert len(instances) == len(ids)
        for instance in instances:
            assert (instance.status, instance.outcome) == ("completed", "approved"), instance.business_key
            ready = [t for t in (instance.state or {}).get("tasks", {}).values() if t.get("state") == READY]
            assert ready == [], (instance.business_key, ready)
        rows = session.execute(select(HumanTask.status, func.count()).where(HumanTask.instance_id.in_(ids))
                               .group_by(HumanTask.status)).all()
        assert dict(rows) == {"completed": 2 * len(ids)}  # operator review and agreement, nothing open
        per_task = session.execute(
            select(AuditEvent.task_id, func.count()).where(AuditEvent.action == "task.completed",
                                                           AuditEvent.instance_id.in_(ids))
            .group_by(AuditEvent.task_id)).all()
        assert len(per_task) == 2 * len(ids) and {n for _, n in per_task} == {1}  # each completion recorded once
        started = session.execute(select(func.count()).where(AuditEvent.action == "instance.started",
                                                             AuditEvent.instance_id.in_(ids))).scalar_one()
        assert started == len(ids)
        for model in (Grant, Agreement):
            counts = session.execute(select(model.instance_id, func.count()).where(model.instance_id.in_(ids))
                                     .group_by(model.instance_id)).all()
            assert len(counts) == len(ids) and {n for _, n in counts} == {1}, model.__name__
        docs = session.execute(select(Document).where(Document.instance_id.in_(ids))).scalars().all()
        assert sorted(d.instance_id for d in docs) == ids and {d.kind for d in docs} == {"service_agreement"}
        documents.configure(app.config["GRANTFLOW"])
        for document in docs:
            stored_bytes(document)  # the file is there and matches its SHA-256
        report = audit.verify(session)
        assert report.ok, report
        return {"instances": len(ids), "audit_rows": report.checked}


def test_32_concurrent_clients_on_gunicorn_and_postgresql(pg_database, tmp_path, capsys):
    """≥ 32 clients start and complete data authorization requests at once; one in four races a
    second session on the same task. Nothing fails but the expected 409s, nothing is lost."""
    with gunicorn(pg_database, tmp_path, workers=3) as server:
        stats = run_clients(server.port, clients=32, per_client=1)
    summary = stats.summary()
    assert set(summary["outcomes"]) <= {"ok", "409"}, summary
    assert summary["outcomes"].get("409", 0) >= 1, summary  # the races happened and were refused cleanly
    totals = check_consistency(pg_database, tmp_path, stats)
    with capsys.disabled():
        print(f"\nload: 32 clients, {totals['instances']} requests to grant, {summary}")


def test_a_worker_killed_mid_completion_loses_nothing(pg_database, tmp_path, capsys):
    """SIGKILL a gunicorn worker twice while completions run; gunicorn starts new ones, the
    clients retry what they could not confirm. Afterwards the engine state, task rows, audit
    chain, grants and documents agree, and no completion was recorded twice."""
    kills: list[int] = []
    done = {"n": 0}
    lock = threading.Lock()
    with gunicorn(pg_database, tmp_path, workers=3) as server:

        def progress() -> None:
            with lock:
                done["n"] += 1
                if done["n"] in (2, 6):
                    kills.append(server.kill_worker())

        stats = run_clients(server.port, clients=6, per_client=2, on_progress=progress)
        assert len(server.workers()) == 3  # the master replaced the killed workers
    summary = stats.summary()
    assert len(kills) == 2
    assert set(summary["outcomes"]) <= {"ok", "409", "502", "503"} | {
        k for k in summary["outcomes"] if k.startswith("connection:")}, summary
    totals = check_consistency(pg_database, tmp_path, stats)
    assert totals["instances"] == 12
    with capsys.disabled():
        print(f"\ncrash: killed workers {kills}; {summary}")
