"""Shared fixtures: a real database per test (SQLite file, and PostgreSQL when
GRANTFLOW_TEST_PG_URL is set), built once from `alembic upgrade head` + demo seed +
deployed workflows, then copied (SQLite) or cloned from a template database (PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from app.services.clock import clock
from config import load_settings

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("GRANTFLOW_TEST_PG_URL", "")
BACKENDS = ["sqlite"] + (["pg"] if PG_URL else [])


def make_test_app(url: str, instance: Path) -> Flask:
    settings = load_settings(env={}, database_url=url, instance_path=instance, demo=True, testing=True,
                             secret_key="test-secret")
    return create_app(settings)


def build_database(url: str, instance: Path) -> None:
    """Migrate, seed the demo set and deploy workflows/ into an empty database."""
    app = make_test_app(url, instance)
    runner = app.test_cli_runner()
    for args in (["db", "upgrade"], ["seed-demo"], ["deploy-workflows"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    db.engine.dispose()  # type: ignore[union-attr]


def _admin_url(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


def _pg_exec(url: str, *statements: str) -> None:
    engine = create_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.db"
    build_database(f"sqlite:///{path}", folder)
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"{make_url(PG_URL).database}_tpl_{os.getpid()}"
    _pg_exec(PG_URL, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    build_database(url, Path(os.environ.get("TMPDIR", "/tmp")))
    yield name
    _pg_exec(PG_URL, f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        target = tmp_path / "grantflow.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"gft_{uuid.uuid4().hex[:12]}"
    _pg_exec(PG_URL, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    _pg_exec(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = make_test_app(db_url, tmp_path)
    yield application
    clock.set(None)
    db.engine.dispose()  # type: ignore[union-attr]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """The app-context session, for driving services directly; commit like the edge does."""
    with app.app_context():
        yield db.session


@pytest.fixture
def login_as(app: Flask) -> Callable[[str], FlaskClient]:
    """A browser-like client signed in as a demo user (CSRF token handled)."""

    def login(username: str) -> FlaskClient:
        c = app.test_client()
        token = csrf_token(c, "/login")
        r = c.post("/login", data={"username": username, "password": "demo", "csrf_token": token})
        assert r.status_code == 302, r.data[:500]
        return c

    return login


def csrf_token(c: FlaskClient, path: str) -> str:
    import re

    page = c.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def api(client: FlaskClient) -> Callable[[str], dict[str, str]]:
    """Bearer headers for a demo user, via POST /api/v1/auth/token."""

    def headers(username: str) -> dict[str, str]:
        r = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
        assert r.status_code == 200, r.json
        return {"Authorization": f"Bearer {r.json['token']}"}

    return headers
