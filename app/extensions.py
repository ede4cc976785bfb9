"""Extensions, created unbound and attached to an app by create_app()."""

from __future__ import annotations

from typing import Any

from flask import Flask, g
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


class Database:
    """One SQLAlchemy engine per app and one session per request (or job, or command).

    The session is committed at the edge (the request handler, the job, the CLI command);
    services only flush.
    """

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.factory: sessionmaker[Session] | None = None

    def init_app(self, app: Flask) -> None:
        self.engine = make_engine(app.config["DATABASE_URL"])
        self.factory = sessionmaker(self.engine, expire_on_commit=False)
        app.extensions["grantflow.db"] = self

        @app.teardown_appcontext
        def _close(exc: BaseException | None) -> None:
            session = g.pop("db_session", None)
            if session is not None:
                if exc is not None or session.in_transaction():
                    session.rollback()
                session.close()

    @property
    def session(self) -> Session:
        """The session bound to the current app context."""
        if "db_session" not in g:
            assert self.factory is not None, "Database.init_app() was not called"
            g.db_session = self.factory()
        return g.db_session

    def new_session(self) -> Session:
        assert self.factory is not None, "Database.init_app() was not called"
        return self.factory()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, a busy timeout and BEGIN IMMEDIATE.

    BEGIN IMMEDIATE makes every SQLite transaction take the write lock up front, so two
    writers queue instead of failing half-way with "database is locked".
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


db = Database()
login_manager = LoginManager()
babel = Babel()
csrf = CSRFProtect()
