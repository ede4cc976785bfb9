"""W3 inbox at scale: 10,000 and 100,000 open tasks, on SQLite and PostgreSQL.

The task table is filled with copies of five instances the application really ran, in the
proportions below (five open tasks per instance on average), spread over partner
organisations: 2,000 instances over 100 organisations, then 20,000 over 1,000.

* joint-meeting sign-off of a data request: eight tasks, one per member unit (55 %)
* operator review of a data request (15 %), compliance reviewer assignment (5 %)
* partner onboarding: two operator reviews (15 %)
* a data request returned to the partner for revision: one partner task (10 %)

On PostgreSQL the bulk load is followed by VACUUM ANALYZE, which autovacuum would run on
its own after so many inserts (statistics and the visibility map for index-only scans).
Measured through the service layer, each call in a new session: the first inbox page with
its total (``tasks.inbox``) and the header count (``tasks.open_count``), for the operator
(about 10 % of the open tasks) and for a partner user (its own organisation's few tasks).
Also checked: no workflow is deserialized and no engine state is read while doing so.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select

from bench import bulk, scenario
from bench.common import Check, Result, Workspace, app_context, summary, timed

REPEATS = 40
MIX = [("signoff", 0.55), ("operator_review", 0.15), ("assign_reviewer", 0.05), ("onboarding", 0.15),
       ("revise", 0.10)]
SCALES = [(2_000, 100), (20_000, 1_000)]  # (instances, partner organisations)
TARGET = ("inbox page and count p95 <= 20 ms at 10,000 open tasks and <= 30 ms at 100,000, "
          "SQLite and PostgreSQL")


def run(ws: Workspace) -> Result:
    result = Result("W3", "inbox at scale (10k / 100k open tasks)", TARGET)
    backends = ["sqlite"] + (["postgresql"] if ws.pg_available else [])
    figures: dict[str, Any] = {}
    for backend in backends:
        url, folder = ws.sqlite("w3") if backend == "sqlite" else ws.pg("w3")
        figures[backend] = _measure_backend(url, folder)
    result.figures = figures
    for backend, scales in figures.items():
        for scale, measured in scales.items():
            limit = 20.0 if scale == "10k" else 30.0
            for who, series in measured["users"].items():
                for what in ("page", "count"):
                    p95 = series[what]["p95_ms"]
                    result.checks.append(Check(f"{backend} {scale} {who} {what} p95 ms", p95, limit))
            checks = measured["checks"]
            result.checks.append(Check(f"{backend} {scale} workflow loads during inbox", checks["workflow_loads"], 0))
            result.checks.append(Check(f"{backend} {scale} state reads during inbox", checks["state_reads"], 0))
    if "postgresql" not in figures:
        result.checks.append(Check("PostgreSQL measured", 0, 1, ">="))
        result.notes.append("PostgreSQL at 127.0.0.1:5432 was not available")
    parts = []
    for backend, scales in figures.items():
        for scale, measured in scales.items():
            cells = [f"{who} {u['page']['p95_ms']}/{u['count']['p95_ms']}" for who, u in measured["users"].items()]
            parts.append(f"{'SQLite' if backend == 'sqlite' else 'PG'} {scale}: {', '.join(cells)}")
    result.figure = "p95 ms page/count: " + "; ".join(parts)
    return result


def _measure_backend(url: str, folder: Any) -> dict[str, Any]:
    from app.extensions import db

    out: dict[str, Any] = {}
    with app_context(url, folder):
        engine = db.engine
        assert engine is not None
        templates = _templates()
        rng = random.Random(7)
        orgs: list[int] = [_org_id("partner_a")]
        made_instances = 0
        for instances, org_count in SCALES:
            orgs += bulk.add_partner_orgs(engine, org_count - len(orgs), start=len(orgs))
            _fill(engine, templates, instances - made_instances, orgs, rng)
            made_instances = instances
            if engine.dialect.name == "postgresql":
                bulk.vacuum_analyze(engine)
            open_tasks = _open_count()
            scale = "10k" if instances == SCALES[0][0] else "100k"
            out[scale] = _measure(open_tasks)
    return out


def _org_id(code: str) -> int:
    from app.extensions import db
    from app.models import Organisation

    with db.new_session() as session:
        return int(session.execute(select(Organisation.id).where(Organisation.code == code)).scalar_one())


def _templates() -> dict[str, bulk.Template]:
    """Run the five instances the bulk rows copy, and read them back."""
    from app.extensions import db
    from app.models import User
    from app.services import processes, tasks

    session = db.new_session()

    def user(name: str) -> User:
        return session.execute(select(User).where(User.username == name)).scalar_one()

    def complete(instance_id: int, steps: list[scenario.Step]) -> None:
        for step in steps:
            task_id = scenario.open_task_id(session, instance_id, step)
            tasks.complete(session, user(step.username), task_id, step.data(datetime.now(UTC).date()))
            session.commit()

    started: dict[str, int] = {}
    started["signoff"] = processes.start(session, user("partner_a"), scenario.PROCESS, scenario.request()).id
    session.commit()
    complete(started["signoff"], scenario.route()[:2])
    started["assign_reviewer"] = processes.start(session, user("partner_a"), scenario.PROCESS, scenario.request()).id
    unconditional = scenario.request(catalog_items=["MKT-001", "MKT-002"], purpose="public_governance")
    started["operator_review"] = processes.start(session, user("partner_a"), scenario.PROCESS, unconditional).id
    started["revise"] = processes.start(session, user("partner_a"), scenario.PROCESS, unconditional).id
    session.commit()
    returned = scenario.Step("operator", "operator_review", None, "sequential")
    tasks.complete(session, user("operator"), scenario.open_task_id(session, started["revise"], returned),
                   scenario.review("return", "请细化使用范围。"))
    started["onboarding"] = processes.start(session, user("applicant"), "partner_onboarding", _application()).id
    session.commit()
    session.close()
    return {name: bulk.read_template(db.engine, iid) for name, iid in started.items()}  # type: ignore[arg-type]


def _application() -> dict[str, Any]:
    return {
        "company_name": "深圳南山新锐数据科技有限公司", "unified_social_credit_code": "91440300MA5G8XY12K",
        "legal_representative": "孙立新", "registered_address": "深圳市南山区粤海街道科技园科苑路15号",
        "business_scope": "数据处理和存储支持服务；软件开发；信息技术咨询服务。", "contact_name": "孙立新",
        "contact_phone": "13800138000", "contact_email": "sun@xinrui-data.example.cn",
        "qualifications": ["data_security_policy", "mlps_level3_filing"],
        "personnel": [{"name": "李明", "position": "数据工程师", "responsibility": "数据加工"}],
    }


def _fill(engine: Any, templates: dict[str, bulk.Template], count: int, orgs: list[int], rng: random.Random) -> None:
    first = bulk.next_id(engine, bulk.INSTANCE_TABLE)
    now = datetime.now(UTC)
    names = [name for name, _ in MIX]
    weights = [weight for _, weight in MIX]
    instances, task_rows = [], []
    for offset in range(count):
        template = templates[rng.choices(names, weights)[0]]
        created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
        row, rows = template.copy(first + offset, orgs[offset % len(orgs)], created_at=created)
        for task, original in zip(rows, template.tasks, strict=True):
            if original["due_at"] is not None:
                task["due_at"] = created + (original["due_at"] - original["created_at"])
        instances.append(row)
        task_rows += rows
    for part in bulk.chunks(instances, 2000):
        bulk.insert(engine, bulk.INSTANCE_TABLE, part)
    for part in bulk.chunks(task_rows, 10000):
        bulk.insert(engine, bulk.TASK_TABLE, part)


def _open_count() -> int:
    from app.extensions import db
    from app.models import HumanTask

    session = db.new_session()
    count = session.execute(select(func.count(HumanTask.id)).where(HumanTask.status == "open")).scalar_one()
    session.close()
    return int(count)


def _measure(open_tasks: int) -> dict[str, Any]:
    from app.engine import serializer
    from app.extensions import db
    from app.models import User
    from app.services import tasks

    statements: list[str] = []
    inbox_statements: list[str] = []
    loads = [0]
    original_load = serializer.load_workflow

    def counting_load(*args: Any, **kwargs: Any) -> Any:
        loads[0] += 1
        return original_load(*args, **kwargs)

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = db.engine
    assert engine is not None
    serializer.load_workflow = counting_load  # type: ignore[assignment]
    event.listen(engine, "before_cursor_execute", record)
    out: dict[str, Any] = {"open_tasks": open_tasks, "users": {}}
    try:
        for who in ("operator", "partner_a"):
            page_ms, count_ms, visible = [], [], 0
            for _ in range(REPEATS):
                session = db.new_session()
                user = session.execute(select(User).where(User.username == who)).scalar_one()
                _ = user.roles, user.acting_org_ids
                statements.clear()
                ms, page = timed(lambda s=session, u=user: tasks.inbox(s, u, page=1, per_page=20))
                page_ms.append(ms)
                visible = page.total
                ms, _count = timed(lambda s=session, u=user: tasks.open_count(s, u))
                count_ms.append(ms)
                inbox_statements.extend(statements)
                session.close()
            out["users"][who] = {"page": summary(page_ms), "count": summary(count_ms), "visible_tasks": visible}
        out["checks"] = {"workflow_loads": loads[0],
                         "state_reads": sum(1 for s in inbox_statements if _reads_state(s)),
                         "statements_per_page_and_count": round(len(inbox_statements) / (2 * REPEATS), 1)}
    finally:
        serializer.load_workflow = original_load  # type: ignore[assignment]
        event.remove(engine, "before_cursor_execute", record)
    return out


def _reads_state(statement: str) -> bool:
    lowered = statement.lower()
    return "process_instance.state" in lowered or "spec_json" in lowered
