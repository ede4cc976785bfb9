# GrantFlow. `make run` and `make test` are all a newcomer needs (see README.md).
SHELL := /bin/bash
VENV := .venv/bin
FLASK := $(VENV)/flask --app app
export GRANTFLOW_HOST ?= 127.0.0.1
export GRANTFLOW_PORT ?= 5000

.PHONY: run run-pg install install-test test lint bench clean

install:
	@scripts/setup.sh

install-test:
	@scripts/setup.sh --test

## run: install, migrate the SQLite database, deploy workflows, create the demo signing certificate when
##      none is configured, seed demo data and demo cases (once), serve with the scheduler
run: install
	@GRANTFLOW_DEMO=1 $(FLASK) db upgrade
	@GRANTFLOW_DEMO=1 $(FLASK) deploy-workflows
	@GRANTFLOW_DEMO=1 $(FLASK) documents init-signing
	@GRANTFLOW_DEMO=1 $(FLASK) seed-demo --cases
	@GRANTFLOW_DEMO=1 GRANTFLOW_SCHEDULER=1 $(FLASK) serve

## run-pg: the same on PostgreSQL (GRANTFLOW_DATABASE_URL, default postgres@127.0.0.1:5432/grantflow),
##         served by gunicorn with GRANTFLOW_WORKERS workers (default 4) and one scheduler process
run-pg: install
	@scripts/run_pg.sh

## lint: ruff, the import-layer contracts, mypy, and models vs migrations
lint: install-test
	$(VENV)/ruff check app config tests migrations scripts bench
	$(VENV)/lint-imports
	$(VENV)/mypy
	@tmp=$$(mktemp -d); GRANTFLOW_INSTANCE_PATH=$$tmp GRANTFLOW_DATABASE_URL=sqlite:///$$tmp/check.db $(FLASK) db upgrade >/dev/null \
	  && GRANTFLOW_INSTANCE_PATH=$$tmp GRANTFLOW_DATABASE_URL=sqlite:///$$tmp/check.db $(FLASK) db check; rc=$$?; rm -rf $$tmp; exit $$rc

## test: lint, then the whole suite on SQLite and (when it answers) PostgreSQL at 127.0.0.1:5432
test: lint
	@pg_url=$$($(VENV)/python scripts/pg_test_url.py); \
	  if [ -n "$$pg_url" ]; then echo "PostgreSQL run enabled: $$pg_url"; fi; \
	  GRANTFLOW_TEST_PG_URL=$$pg_url $(VENV)/pytest -q -p no:cacheprovider -n 2 --dist loadfile $(PYTEST_ARGS)

## bench: the performance workloads W1-W7 (README.md, Performance): prints one table, writes
##        bench/results.json; `make bench W=W3` runs one. PostgreSQL at 127.0.0.1:5432 (user postgres)
##        for W2, W3, W5 and W7: the bench creates its own databases and drops them.
bench: install-test
	$(VENV)/python -m bench $(W)

clean:
	rm -rf .venv node_modules instance .pytest_cache .ruff_cache
