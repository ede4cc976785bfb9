"""Bulk data for W2, W3 and W5: copies of real instances, inserted with SQL.

A :class:`Template` is an instance the application really ran (its stored engine state,
data and task rows). Each copy gets a new id, business key and organisation, and fresh UUIDs
for every engine task (the same new UUID in the state and in the task row), so a copy is an
instance the engine can load and continue like the original. Rows go in with COPY on
PostgreSQL and ``executemany`` on SQLite: tens of thousands of rows in seconds.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Integer, Table, select

from app.models import HumanTask, Organisation, ProcessInstance

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INSTANCE_TABLE: Table = ProcessInstance.__table__  # type: ignore[assignment]
TASK_TABLE: Table = HumanTask.__table__  # type: ignore[assignment]
ORG_TABLE: Table = Organisation.__table__  # type: ignore[assignment]


class Template:
    """A real instance (row and task rows) to copy; read with :func:`read_template`."""

    def __init__(self, instance: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
        self.instance, self.tasks = instance, tasks
        text = json.dumps(instance["state"])
        self._parts = UUID_RE.split(text)
        found = UUID_RE.findall(text)
        self._distinct = list(dict.fromkeys(found))
        self._slots = [self._distinct.index(u) for u in found]

    def copy(self, instance_id: int, org_id: int, *, created_at: datetime,
             task_org: Callable[[dict[str, Any]], int | None] | None = None,
             overrides: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One copy: (instance row, task rows). ``task_org(row)`` gives a task's candidate
        organisation (default: the copy's organisation where the original had the instance's)."""
        fresh = {old: str(uuid.uuid4()) for old in self._distinct}
        pieces = [self._parts[0]]
        for slot, part in zip(self._slots, self._parts[1:], strict=True):
            pieces.append(fresh[self._distinct[slot]])
            pieces.append(part)
        row = dict(self.instance, id=instance_id, org_id=org_id, business_key=f"BENCH-{instance_id:08d}",
                   state=RawJSON("".join(pieces)), created_at=created_at, updated_at=created_at,
                   **(overrides or {}))
        tasks = []
        for original in self.tasks:
            task = dict(original, id=fresh.get(original["id"], str(uuid.uuid4())), instance_id=instance_id,
                        created_at=created_at)
            if task_org is not None:
                task["candidate_org_id"] = task_org(original)
            elif original["candidate_org_id"] is not None and original["candidate_org_id"] == self.instance["org_id"]:
                task["candidate_org_id"] = org_id
            tasks.append(task)
        return row, tasks


class RawJSON(str):
    """JSON text that goes into a JSON column as it is."""


def read_template(engine: Engine, instance_id: int) -> Template:
    with engine.connect() as conn:
        instance = dict(conn.execute(select(INSTANCE_TABLE).where(INSTANCE_TABLE.c.id == instance_id)).mappings().one())
        tasks = [dict(r) for r in conn.execute(
            select(TASK_TABLE).where(TASK_TABLE.c.instance_id == instance_id)).mappings()]
    return Template(instance, tasks)


def next_id(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}").scalar_one())


def insert(engine: Engine, table: Table, rows: Sequence[dict[str, Any]], batch: int = 5000) -> None:
    """Insert ``rows`` (dicts with every column) fast; JSON columns take Python values or RawJSON."""
    if not rows:
        return
    columns = [c.name for c in table.columns]
    json_columns = {c.name for c in table.columns if "JSON" in type(c.type).__name__.upper()
                    or "JSON" in repr(c.type).upper()}
    postgres = engine.dialect.name == "postgresql"
    encode = _pg_value if postgres else _sqlite_value
    raw = engine.raw_connection()
    try:
        if postgres:
            cursor = raw.cursor()
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row([encode(row[c], c in json_columns) for c in columns])
            if "id" in columns and isinstance(table.c.id.type, Integer):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                               f"(SELECT MAX(id) FROM {table.name}))")
        else:
            cursor = raw.cursor()
            cursor.execute("BEGIN")
            sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            for start in range(0, len(rows), batch):
                cursor.executemany(sql, [[encode(row[c], c in json_columns) for c in columns]
                                         for row in rows[start:start + batch]])
        raw.commit()
    finally:
        raw.close()


def _sqlite_value(value: Any, is_json: bool) -> Any:
    if isinstance(value, RawJSON):
        return str(value)
    if is_json:
        return None if value is None else json.dumps(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def _pg_value(value: Any, is_json: bool) -> Any:
    if isinstance(value, RawJSON):
        return str(value)
    if is_json:
        return None if value is None else json.dumps(value)
    return value


def vacuum_analyze(engine: Engine) -> None:
    """PostgreSQL: what autovacuum does after a bulk load (statistics, visibility map)."""
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


def add_partner_orgs(engine: Engine, count: int, start: int = 1) -> list[int]:
    """Create ``count`` active partner organisations (codes bench_partner_NNNN); their ids."""
    first = next_id(engine, ORG_TABLE)
    now = datetime.now(UTC)
    rows = [{"id": first + i, "code": f"bench_partner_{start + i:05d}", "name": f"基准测试合作方 {start + i:05d} 有限公司",
             "name_en": f"Bench partner {start + i}", "kind": "partner", "status": "active", "credit_code": None,
             "created_at": now, "activated_at": now} for i in range(count)]
    insert(engine, ORG_TABLE, [_complete_row(ORG_TABLE, r) for r in rows])
    return [r["id"] for r in rows]


def _complete_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Fill columns the row does not name with None (their defaults are not needed here)."""
    return {c.name: row.get(c.name) for c in table.columns}


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
