"""W2 throughput and W7 memory: concurrent clients completing tasks over HTTP on PostgreSQL.

gunicorn (``WORKERS`` sync workers, loopback, document stand-in of :mod:`bench.nulldocs`)
serves a fresh PostgreSQL database holding ``INSTANCES`` copies of a data request waiting
for its eight joint-meeting sign-offs (:mod:`bench.bulk`). ``CLIENTS`` client threads
complete sign-offs with ``POST /api/v1/tasks/<id>/complete`` (bearer token of the unit's
user), in an order that spreads concurrent requests over different instances, for
``SECONDS`` after a warm-up. The eighth sign-off of an instance also runs the tally and
opens the evaluation opinion. Reported: completions per second and latency percentiles.

W7 is the peak resident set size (VmHWM) of each gunicorn worker after the run.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from sqlalchemy import select

from bench import bulk, nulldocs, scenario
from bench.common import Check, Result, Workspace, app_context, percentile, summary
from bench.server import Client, Server, peak_rss_mb, token

WORKERS = 4  # sync workers: two per core, so one computes while another waits on PostgreSQL
CLIENTS = 4  # one request in flight per worker: the latency is service time, not queueing
SECONDS = 15.0
WARMUP = 80
INSTANCES = 600
TARGET_W2 = ">= 150 completions/s with p95 <= 100 ms (PostgreSQL, gunicorn, loopback)"
TARGET_W7 = "peak RSS of one server worker <= 300 MB during W2"


def run(ws: Workspace) -> list[Result]:
    w2 = Result("W2", f"throughput ({CLIENTS} clients, {WORKERS} workers, PostgreSQL)", TARGET_W2)
    w7 = Result("W7", "memory: peak RSS of one server worker", TARGET_W7)
    if not ws.pg_available:
        for result in (w2, w7):
            result.figure = "not measured: PostgreSQL at 127.0.0.1:5432 is not available"
            result.checks = [Check("PostgreSQL measured", 0, 1, ">=")]
        return [w2, w7]
    url, folder = ws.pg("w2")
    work = _prepare(url, folder)
    with Server(url, folder, workers=WORKERS) as server:
        tokens = {username: token(server.port, username) for username in scenario.SIGNERS}
        jobs: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        for item in work:
            jobs.put(item)
        _drive(server.port, tokens, jobs, count=WARMUP)
        latencies, errors, elapsed = _drive(server.port, tokens, jobs, seconds=SECONDS)
        rss = {pid: peak_rss_mb(pid) for pid in server.worker_pids()}
    rate = round(len(latencies) / elapsed, 1)
    stats = summary(latencies) if latencies else {"median_ms": None, "p95_ms": None, "n": 0}
    w2.figures = {"completions_per_s": rate, "latency": {**stats, "p99_ms": round(percentile(latencies, 99), 2)
                                                        if latencies else None},
                  "completions": len(latencies), "errors": errors, "seconds": round(elapsed, 1),
                  "clients": CLIENTS, "workers": WORKERS, "database": "postgresql"}
    w2.figure = f"{rate} completions/s, p95 {stats['p95_ms']} ms (median {stats['median_ms']} ms), {errors} errors"
    w2.checks = [Check("completions per second", rate, 150.0, ">="),
                 Check("p95 latency ms", stats["p95_ms"], 100.0), Check("errors", errors, 0)]
    peaks = [value for value in rss.values() if value is not None]
    worst = max(peaks) if peaks else None
    w7.figures = {"peak_rss_mb_by_worker": {str(pid): value for pid, value in rss.items()}, "max_mb": worst}
    w7.figure = f"max {worst} MB over {len(peaks)} workers ({', '.join(str(p) for p in peaks)} MB)"
    w7.checks = [Check("peak RSS MB of the largest worker", worst, 300.0)]
    return [w2, w7]


def _prepare(url: str, folder: Any) -> list[tuple[str, str]]:
    """Copies of a request at the sign-off stage; the (task id, username) work list, spread."""
    from app.extensions import db
    from app.models import HumanTask, Organisation, User
    from app.services import processes, tasks

    with app_context(url, folder), nulldocs.installed():
        session = db.new_session()
        requester = session.execute(select(User).where(User.username == scenario.REQUESTER)).scalar_one()
        template_id = processes.start(session, requester, scenario.PROCESS, scenario.request()).id
        session.commit()
        for step in scenario.route()[:2]:
            actor = session.execute(select(User).where(User.username == step.username)).scalar_one()
            tasks.complete(session, actor, scenario.open_task_id(session, template_id, step), step.data(None))
            session.commit()
        session.close()
        engine = db.engine
        assert engine is not None
        template = bulk.read_template(engine, template_id)
        first = bulk.next_id(engine, bulk.INSTANCE_TABLE)
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        rows, task_rows = [], []
        for offset in range(INSTANCES):
            row, copied = template.copy(first + offset, template.instance["org_id"], created_at=now)
            rows.append(row)
            task_rows += copied
        bulk.insert(engine, bulk.INSTANCE_TABLE, rows)
        bulk.insert(engine, bulk.TASK_TABLE, task_rows)
        bulk.vacuum_analyze(engine)
        session = db.new_session()
        unit_user = {unit: username for username, unit in scenario.SIGNERS.items()}
        codes = dict(session.execute(select(Organisation.id, Organisation.code)).all())
        open_rows = session.execute(select(HumanTask.instance_id, HumanTask.id, HumanTask.candidate_org_id).where(
            HumanTask.status == "open", HumanTask.spec_id == "joint_signoff", HumanTask.instance_id >= first)).all()
        session.close()
    by_instance: dict[int, list[tuple[str, str]]] = {}
    for instance_id, task_id, org_id in sorted(open_rows):
        by_instance.setdefault(instance_id, []).append((task_id, unit_user[codes[org_id]]))
    work = []
    for round_ in range(len(scenario.SIGNERS)):
        work += [items[round_] for items in by_instance.values() if round_ < len(items)]
    return work


def _drive(port: int, tokens: dict[str, str], jobs: queue.SimpleQueue[tuple[str, str]], *,
           count: int | None = None, seconds: float | None = None) -> tuple[list[float], int, float]:
    """Complete jobs with CLIENTS threads until ``count`` are done or ``seconds`` pass."""
    latencies: list[float] = []
    errors = [0]
    budget = [count if count is not None else 10**9]
    lock = threading.Lock()
    deadline = time.perf_counter() + (seconds if seconds is not None else 3600)
    data = scenario.review("approve", "同意。")

    def client() -> None:
        clients = {name: Client(port, value) for name, value in tokens.items()}
        while time.perf_counter() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            try:
                task_id, username = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                ms = clients[username].complete(task_id, data)
            except Exception:
                with lock:
                    errors[0] += 1
                continue
            with lock:
                latencies.append(ms)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0], time.perf_counter() - started
