"""Create the PostgreSQL database named by a SQLAlchemy URL if it does not exist.
Usage: scripts/pg_create_db.py postgresql+psycopg://user@host:5432/name  (used by `make run-pg`)."""

from __future__ import annotations

import sys

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError


def main(url: str) -> int:
    target = make_url(url)
    if not target.drivername.startswith("postgresql") or not target.database:
        print(f"not a PostgreSQL URL with a database name: {url}", file=sys.stderr)
        return 2
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first():
                return 0
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
            print(f"created database {target.database}")
    except OperationalError as exc:
        print(f"PostgreSQL at {target.host}:{target.port or 5432} is not available: {exc.orig}", file=sys.stderr)
        return 1
    finally:
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]) if len(sys.argv) == 2 else 2)
