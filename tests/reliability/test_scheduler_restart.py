"""Issue 6: a scheduler killed (SIGKILL) in the middle of firing timers, then restarted, fires
every due timer exactly once: each fire is one transaction under the instance's row lock, and
a fire that had not committed when the process died is simply done again by the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import create_engine, func, select

from app.models import AuditEvent, ProcessInstance
from app.services import audit
from tests.reliability.harness import ROOT
from tests.workflows import test_rectification as rc

INSTANCES = 8

# The scheduler process: the app on the test database, the clock after the deadline, then the
# same poll the scheduler job runs (every due instance in its own transaction).
SCHEDULER = """
import sys, time
from datetime import datetime
from pathlib import Path
from app import jobs
from app.services import timers
from app.services.clock import clock
from tests.conftest import make_test_app
app = make_test_app(sys.argv[1], Path(sys.argv[2]))
clock.set(datetime.fromisoformat(sys.argv[3]))
fire = timers.fire
def slow_fire(session, instance_id):  # each fire holds its transaction open a while, as a slow one would
    fired = fire(session, instance_id)
    time.sleep(float(sys.argv[4]))
    return fired
timers.fire = slow_fire
print("fired", jobs.poll_timers(app), flush=True)
"""


def _fired(db_url: str, ids: list[int]) -> int:
    """Count the fires so far from a plain reader (the app's SQLite transactions take the write
    lock at BEGIN, and would queue behind the scheduler's open transaction)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).where(AuditEvent.action == "timer.fired",
                                                           AuditEvent.instance_id.in_(ids))).scalar_one()
    finally:
        engine.dispose()


def _scheduler(db_url: str, instance_path: str, pause: float) -> subprocess.Popen[str]:
    after = (rc.DEADLINE_AT + timedelta(seconds=5)).isoformat()
    return subprocess.Popen([sys.executable, "-c", SCHEDULER, db_url, instance_path, after, str(pause)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_scheduler_killed_mid_run_and_restarted_fires_each_timer_once(app, session, db_url, tmp_path):
    ids = []
    for n in range(INSTANCES):  # rectification orders to partner_a and partner_b, all due at the deadline
        ids.append(rc.start(session, target_org="partner_a" if n % 2 else "partner_b").id)
    assert _fired(db_url, ids) == 0

    first = _scheduler(db_url, str(tmp_path), pause=0.3)  # killed mid-run, often inside a fire's transaction
    deadline = time.monotonic() + 120
    while _fired(db_url, ids) < 2:  # kill it once it is part-way through
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "the scheduler fired nothing"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    part = _fired(db_url, ids)
    assert 2 <= part < INSTANCES, part  # it died part-way

    second = _scheduler(db_url, str(tmp_path), pause=0)
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out
    assert f"fired {INSTANCES - part}" in out, (part, out)

    per_instance = dict(session.execute(
        select(AuditEvent.instance_id, func.count()).where(AuditEvent.action == "timer.fired",
                                                           AuditEvent.instance_id.in_(ids))
        .group_by(AuditEvent.instance_id)).all())
    assert per_instance == {i: 1 for i in ids}
    outcomes = session.execute(select(ProcessInstance.outcome).where(ProcessInstance.id.in_(ids))).scalars().all()
    assert outcomes == ["missed"] * INSTANCES
    assert audit.verify(session).ok
