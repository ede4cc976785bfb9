"""What every workload shares: statistics, results, databases, the app.

Databases: one SQLite template (migrated, demo data seeded, workflows deployed) is built per
run and copied for each workload; on PostgreSQL (127.0.0.1:5432, user postgres) a template
database is built once and cloned (``CREATE DATABASE ... TEMPLATE``). Every database the run
creates is named ``grantflow_bench_<pid>_*`` and dropped at the end.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
RUN_ID = f"grantflow_bench_{os.getpid()}"

# --------------------------------------------------------------------------- statistics


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(samples: list[float]) -> dict[str, float]:
    """Median, p95 and count of timings in milliseconds, rounded for the report."""
    return {"median_ms": round(statistics.median(samples), 2), "p95_ms": round(percentile(samples, 95), 2),
            "n": len(samples)}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` and return (milliseconds, its result)."""
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


# --------------------------------------------------------------------------- results


@dataclass
class Check:
    """One target: a measured value against its limit. ``met`` is computed, never typed."""

    name: str
    value: float | None
    limit: float
    op: str = "<="  # "<=" or ">="

    @property
    def met(self) -> bool:
        if self.value is None:
            return False
        return self.value <= self.limit if self.op == "<=" else self.value >= self.limit

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "op": self.op, "limit": self.limit, "met": self.met}


@dataclass
class Result:
    """A workload's figures, its floor, ratio, a line for humans, its target and checks."""

    key: str
    title: str
    target: str
    figures: dict[str, Any] = field(default_factory=dict)
    floor: dict[str, Any] | None = None
    ratio: float | None = None
    figure: str = ""
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def met(self) -> bool:
        return bool(self.checks) and all(check.met for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "figures": self.figures, "floor": self.floor, "ratio": self.ratio,
                "figure": self.figure, "target": self.target, "met": self.met,
                "checks": [c.as_dict() for c in self.checks], "notes": self.notes,
                "seconds": round(self.seconds, 1)}


def ratio(ours: float, floor: float) -> float:
    return round(ours / floor, 2) if floor else math.inf


# --------------------------------------------------------------------------- databases


class Workspace:
    """Temporary folders and databases of one run; everything is removed by :meth:`close`."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="grantflow-bench-"))
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None
        self._pg_databases: list[str] = []
        self._pg_checked: bool | None = None
        self._counter = 0
        atexit.register(self.close)

    def new_folder(self, label: str) -> Path:
        self._counter += 1
        path = self.folder / f"{self._counter:02d}-{label}"
        path.mkdir()
        return path

    # SQLite ------------------------------------------------------------------

    def sqlite(self, label: str) -> tuple[str, Path]:
        """A fresh copy of the SQLite template: (URL, instance folder)."""
        if self._sqlite_template is None:
            folder = self.new_folder("sqlite-template")
            path = folder / "template.db"
            build_database(f"sqlite:///{path}", folder)
            self._sqlite_template = path
        folder = self.new_folder(label)
        target = folder / "grantflow.db"
        shutil.copyfile(self._sqlite_template, target)
        return f"sqlite:///{target}", folder

    # PostgreSQL --------------------------------------------------------------

    @property
    def pg_available(self) -> bool:
        if self._pg_checked is None:
            try:
                import psycopg

                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                self._pg_checked = True
            except Exception:
                self._pg_checked = False
        return self._pg_checked

    def pg(self, label: str) -> tuple[str, Path]:
        """A fresh PostgreSQL database cloned from the template: (URL, instance folder)."""
        if not self.pg_available:
            raise RuntimeError("PostgreSQL at 127.0.0.1:5432 is not available")
        if self._pg_template is None:
            name = f"{RUN_ID}_tpl"
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
            self._pg_databases.append(name)
            build_database(PG_URL.format(name=name), self.new_folder("pg-template"))
            self._pg_template = name
        name = f"{RUN_ID}_{label}"
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}" TEMPLATE "{self._pg_template}"')
        self._pg_databases.append(name)
        return PG_URL.format(name=name), self.new_folder(label)

    def close(self) -> None:
        for name in reversed(self._pg_databases):
            try:
                _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # keep cleaning up the rest
                print(f"could not drop {name}: {exc}")
        self._pg_databases = []
        shutil.rmtree(self.folder, ignore_errors=True)


def _pg_admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def make_app(url: str, folder: Path) -> Flask:
    """The application on ``url`` as a server would build it (demo mode, no scheduler)."""
    from app import create_app
    from config import load_settings

    settings = load_settings(env={}, database_url=url, instance_path=folder, demo=True, secret_key="bench")
    return create_app(settings)


def build_database(url: str, folder: Path) -> None:
    """Migrate, seed the demo set and deploy workflows/ into an empty database (the CLI)."""
    from app.extensions import db

    app = make_app(url, folder)
    runner = app.test_cli_runner()
    for args in (["db", "upgrade"], ["seed-demo"], ["deploy-workflows"]):
        result = runner.invoke(args=args)
        if result.exit_code != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed: {result.output} {result.exception!r}")
    db.engine.dispose()  # type: ignore[union-attr]


@contextmanager
def app_context(url: str, folder: Path) -> Iterator[Flask]:
    """An app context on ``url``; the engine's connections are closed afterwards."""
    from app.extensions import db
    from app.services.clock import clock

    app = make_app(url, folder)
    with app.app_context():
        try:
            yield app
        finally:
            clock.set(None)
            db.engine.dispose()  # type: ignore[union-attr]
