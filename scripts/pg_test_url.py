"""Print the PostgreSQL test URL when the local server answers (creating the database),
or nothing. Used by `make test`."""

from __future__ import annotations

import sys

URL = "postgresql+psycopg://postgres@127.0.0.1:5432/grantflow_test"


def main() -> int:
    try:
        import psycopg
    except ImportError:
        return 0
    try:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3",
                             autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'grantflow_test'").fetchone()
            if not exists:
                conn.execute("CREATE DATABASE grantflow_test")
    except psycopg.Error as exc:
        print(f"PostgreSQL at 127.0.0.1:5432 is not available ({exc.__class__.__name__}); "
              "running the SQLite suite only", file=sys.stderr)
        return 0
    print(URL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
