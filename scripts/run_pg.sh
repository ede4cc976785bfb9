#!/usr/bin/env bash
# `make run-pg`: GrantFlow on PostgreSQL, served by gunicorn with several workers, and one
# scheduler process (timers, the compliance calendar, e-mail). Ctrl-C stops both.
#   GRANTFLOW_DATABASE_URL  default postgresql+psycopg://postgres@127.0.0.1:5432/grantflow
#   GRANTFLOW_WORKERS       gunicorn workers, default 4
#   GRANTFLOW_HOST / GRANTFLOW_PORT  default 127.0.0.1:5000
set -euo pipefail
cd "$(dirname "$0")/.."
export GRANTFLOW_DATABASE_URL=${GRANTFLOW_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/grantflow}
export GRANTFLOW_DEMO=${GRANTFLOW_DEMO:-1}
HOST=${GRANTFLOW_HOST:-127.0.0.1}
PORT=${GRANTFLOW_PORT:-5000}
WORKERS=${GRANTFLOW_WORKERS:-4}
FLASK=(.venv/bin/flask --app app)

.venv/bin/python scripts/pg_create_db.py "$GRANTFLOW_DATABASE_URL"
"${FLASK[@]}" db upgrade          # also generates instance/secret_key once, before any worker starts
"${FLASK[@]}" deploy-workflows
"${FLASK[@]}" documents init-signing
if [ "$GRANTFLOW_DEMO" = 1 ]; then "${FLASK[@]}" seed-demo --cases; fi

GRANTFLOW_SCHEDULER=0 .venv/bin/gunicorn --workers "$WORKERS" --bind "$HOST:$PORT" --access-logfile - \
  --timeout 60 "app:create_app()" &
web=$!
"${FLASK[@]}" scheduler run &
scheduler=$!
trap 'kill $web $scheduler 2>/dev/null || true; wait' INT TERM EXIT
echo "GrantFlow on http://$HOST:$PORT/ ($WORKERS workers, PostgreSQL, scheduler pid $scheduler)"
wait -n "$web" "$scheduler"
