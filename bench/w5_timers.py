"""W5 timers: the scheduler's timer poll with 10,000 waiting instances and 0 / 10 / 1,000 due.

Rectification orders wait for the party's correction report with a deadline timer on it
(a boundary timeDate). Copies of one order due in a year are the waiting instances; copies
of one whose deadline passed are the due ones (:mod:`bench.bulk`). A due timer fires the
escalation: the order closes as missed and a partner-exit process starts.

Timed: ``jobs.poll_timers`` (what the scheduler runs every ``GRANTFLOW_TIMER_POLL_SECONDS``),
with nothing due at 1,000 and at 10,000 waiting instances, then with 10 due (three times)
and with 1,000 due (a poll takes at most 500; the time is until none is left). Each fire
runs two instances' engines (the order closes, a partner exit starts), tens of milliseconds:
the 1,000-due poll runs on SQLite only, to keep the whole bench within its ten minutes.

"Grows with the number due, not waiting": the empty poll at 10,000 waiting is within 1 ms
of the one at 1,000 (scanning the waiting ones would cost several ms), and a fire costs
about the same whether 10 or 1,000 are due.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bench import bulk, nulldocs
from bench.common import Check, Result, Workspace, app_context, ratio, summary, timed

WAITING = (1_000, 10_000)
EMPTY_POLLS = 40
TEN_DUE_ROUNDS = 3
TARGET = "poll with 0 due <= 10 ms at 10,000 waiting; cost grows with the number due, not waiting"


def run(ws: Workspace) -> Result:
    result = Result("W5", "timer poll (10,000 waiting; 0 / 10 / 1,000 due)", TARGET)
    backends = ["sqlite"] + (["postgresql"] if ws.pg_available else [])
    for backend in backends:
        url, folder = ws.sqlite("w5") if backend == "sqlite" else ws.pg("w5")
        result.figures[backend] = _measure(url, folder, thousand_due=backend == "sqlite")
    parts = []
    for backend, f in result.figures.items():
        empty_small, empty = f["0_due_at_1000_waiting"]["median_ms"], f["0_due_at_10000_waiting"]
        growth_waiting = round(empty["median_ms"] - empty_small, 2)
        result.checks += [
            Check(f"{backend} poll p95 ms, 0 due, 10,000 waiting", empty["p95_ms"], 10.0),
            Check(f"{backend} 0-due poll ms at 10,000 minus at 1,000 waiting", growth_waiting, 1.0),
        ]
        text = (f"{'SQLite' if backend == 'sqlite' else 'PG'}: 0 due {empty['median_ms']}/{empty['p95_ms']} ms "
                f"({growth_waiting:+} ms vs 1k waiting), 10 due {f['10_due']['poll']['median_ms']} ms")
        if "1000_due" in f:
            per_due_10, per_due_1000 = f["10_due"]["per_due_ms"], f["1000_due"]["per_due_ms"]
            result.checks.append(Check(f"{backend} per-due cost at 1,000 / at 10 due", ratio(per_due_1000, per_due_10), 1.5))
            text += f", 1,000 due {round(f['1000_due']['total_ms'] / 1000, 1)} s ({per_due_1000} ms each)"
        parts.append(text)
    result.figure = "; ".join(parts)
    return result


def _measure(url: str, folder: Any, *, thousand_due: bool) -> dict[str, Any]:
    from app import jobs
    from app.extensions import db

    out: dict[str, Any] = {}
    with app_context(url, folder) as app, nulldocs.installed():
        engine = db.engine
        assert engine is not None
        waiting, due = _templates()
        if jobs.poll_timers(app) != 1:  # the due template itself; its copies are made from the read rows
            raise RuntimeError("the due rectification order did not fire")
        made = 0
        for count in WAITING:
            _copies(engine, waiting, count - made)
            made = count
            if engine.dialect.name == "postgresql":
                bulk.vacuum_analyze(engine)
            samples = []
            for _ in range(EMPTY_POLLS):
                ms, fired = timed(lambda: jobs.poll_timers(app))
                assert fired == 0, fired
                samples.append(ms)
            out[f"0_due_at_{count}_waiting"] = summary(samples)
        polls = []
        for _ in range(TEN_DUE_ROUNDS):
            _copies(engine, due, 10)
            ms, fired = timed(lambda: jobs.poll_timers(app))
            assert fired == 10, fired
            polls.append(ms)
        empty = out[f"0_due_at_{WAITING[-1]}_waiting"]["median_ms"]
        median = summary(polls)["median_ms"]
        out["10_due"] = {"poll": summary(polls), "per_due_ms": round((median - empty) / 10, 2)}
        if thousand_due:
            out["1000_due"] = _thousand_due(app, engine, due, empty)
        out["running_instances"] = _running()
    return out


def _thousand_due(app: Any, engine: Any, due: bulk.Template, empty: float) -> dict[str, Any]:
    from app import jobs

    _copies(engine, due, 1000)
    total, fired_total, rounds = 0.0, 0, 0
    while True:
        ms, fired = timed(lambda: jobs.poll_timers(app))
        total += ms
        rounds += 1
        fired_total += fired
        if fired == 0:
            break
    if fired_total != 1000:
        raise RuntimeError(f"1,000 due timers: {fired_total} fired")
    return {"total_ms": round(total, 1), "polls": rounds, "per_due_ms": round((total - empty) / 1000, 2)}


def _templates() -> tuple[bulk.Template, bulk.Template]:
    """A rectification order due in a year, and one whose deadline passed ten days ago."""
    from app.extensions import db
    from app.models import User
    from app.services import processes
    from app.services.clock import clock

    session = db.new_session()
    authority = session.execute(select(User).where(User.username == "authority")).scalar_one()
    today = datetime.now(UTC).date()
    waiting = processes.start(session, authority, "rectification", _order(today + timedelta(days=365))).id
    session.commit()
    clock.set(datetime.now(UTC) - timedelta(days=30))
    due = processes.start(session, authority, "rectification", _order(today - timedelta(days=10))).id
    session.commit()
    clock.set(None)
    session.close()
    engine = db.engine
    assert engine is not None
    return bulk.read_template(engine, waiting), bulk.read_template(engine, due)


def _order(deadline: Any) -> dict[str, Any]:
    return {
        "title": "前海智数超范围使用企业登记数据整改", "target_kind": "partner", "target_org": "partner_a",
        "findings": "专项检查发现：授权合作方将企业登记注册信息用于授权场景以外的营销名单生成。",
        "required_corrections": "立即停止超范围使用；删除衍生数据；完善数据使用审批制度并提交整改报告。",
        "deadline": deadline.isoformat(), "articles_violated": ["Art. 27"],
    }


def _copies(engine: Any, template: bulk.Template, count: int) -> None:
    first = bulk.next_id(engine, bulk.INSTANCE_TABLE)
    now = datetime.now(UTC)
    rows, tasks = [], []
    for offset in range(count):
        row, copied = template.copy(first + offset, template.instance["org_id"], created_at=now,
                                    task_org=lambda task: task["candidate_org_id"])
        rows.append(row)
        tasks += copied
    bulk.insert(engine, bulk.INSTANCE_TABLE, rows)
    bulk.insert(engine, bulk.TASK_TABLE, tasks)


def _running() -> int:
    from app.extensions import db
    from app.models import ProcessInstance

    with db.new_session() as session:
        return int(session.execute(select(func.count(ProcessInstance.id)).where(
            ProcessInstance.status == "running")).scalar_one())
