"""Flask commands: db, deploy-workflows, seed-demo, serve, audit verify, documents init-signing,
notifications send."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from werkzeug.serving import run_simple

from app.cli_users import users_cli
from app.errors import DefinitionError
from app.extensions import db
from app.services import audit, definitions, demo, demo_cases

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    return cfg


db_cli = AppGroup("db", help="Database schema (Alembic).")
audit_cli = AppGroup("audit", help="The audit chain.")
timers_cli = AppGroup("timers", help="BPMN timers and the compliance calendar.")


@timers_cli.command("run-due")
def timers_run_due() -> None:
    """Fire due timers and apply the calendar now, as the scheduler does."""
    from app import jobs

    report = jobs.run_due(current_app._get_current_object(), use_lease=False)  # type: ignore[attr-defined]
    cal = report.calendar
    click.echo(f"timers fired: {report.timers_fired}; renewal windows opened: {cal.renewal_windows_opened if cal else 0}; "
               f"agreements expired: {cal.agreements_expired if cal else 0}; reminders: {cal.reminders if cal else 0}")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration up to head."""
    url = current_app.config["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    alembic_command.upgrade(alembic_config(url), "head")
    click.echo("database is at the newest schema")


@db_cli.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    alembic_command.check(alembic_config(current_app.config["DATABASE_URL"]))


@click.command("deploy-workflows")
@with_appcontext
def deploy_workflows() -> None:
    """Deploy workflows/*.bpmn (with the .dmn beside them); unchanged files make no new version."""
    folder = current_app.config["GRANTFLOW"].workflows_dir
    try:
        results = definitions.deploy_directory(db.session, folder)
        db.session.commit()
    except DefinitionError as exc:
        db.session.rollback()
        click.echo(f"refused: {exc.message}", err=True)
        for err in exc.errors:
            click.echo(f"  {err.element or '(file)'}: {err.message}", err=True)
        sys.exit(1)
    for definition, created in results:
        state = "deployed" if created else "unchanged"
        click.echo(f"{definition.process_key} v{definition.version}: {state}")


@click.command("seed-demo")
@click.option("--cases", is_flag=True,
              help="Also start and advance the demo cases (once, into a database without cases; "
                   "the workflows must be deployed).")
@with_appcontext
def seed_demo(cases: bool) -> None:
    """Create the demo organisations, users, catalogue and agreements (idempotent)."""
    if not current_app.config["GRANTFLOW"].demo:
        click.echo("demo mode is off (GRANTFLOW_DEMO=1 turns it on); nothing seeded")
        return
    created = demo.seed(db.session)
    db.session.commit()
    click.echo("demo data: " + ", ".join(f"{k} +{v}" for k, v in created.items()))
    if cases:
        if demo_cases.case_count(db.session):
            click.echo("demo cases: the database has cases already; none added")
            return
        steps = 0
        for _done in demo_cases.seed_steps(db.session):
            db.session.commit()
            steps += 1
        click.echo(f"demo cases: +{demo_cases.case_count(db.session)} ({steps} steps, each its own transaction)")


@click.command("serve")
@with_appcontext
def serve() -> None:
    """Start the server (with the scheduler when GRANTFLOW_SCHEDULER=1) and print the logins."""
    settings = current_app.config["GRANTFLOW"]
    url = f"http://{settings.host}:{settings.port}/"
    click.echo(f"\nGrantFlow is running at {url}")
    if settings.demo:
        names = ", ".join(u[0] for u in demo.USERS)
        click.echo(f"Demo logins (password '{demo.DEMO_PASSWORD}'): {names}\n")
    run_simple(settings.host, settings.port, current_app._get_current_object(), threaded=True)  # type: ignore[attr-defined]


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check every row of the audit chain; report the first broken one."""
    report = audit.verify(db.session)
    if report.ok:
        click.echo(f"audit chain intact: {report.checked} rows")
        return
    click.echo(f"audit chain broken at row {report.broken_seq}: {report.reason} "
               f"({report.checked} rows verified before it)", err=True)
    sys.exit(1)


documents_cli = AppGroup("documents", help="The signing certificate of the documents.")


@documents_cli.command("init-signing")
def documents_init_signing() -> None:
    """Make sure documents can be signed: use the configured key and certificate
    (GRANTFLOW_SIGNING_KEY / GRANTFLOW_SIGNING_CERT), or create a self-signed demo pair under
    instance/signing/ once. Prints which certificate signs and until when it is valid."""
    from app.services import documents

    runtime = documents.current()
    configured = runtime.signing_key is not None and runtime.signing_cert is not None
    signer = runtime.signer
    cert = signer.cert_path
    kind = "configured" if configured else "self-signed demo"
    click.echo(f"documents are signed with the {kind} certificate {cert}")


notifications_cli = AppGroup("notifications", help="Notification e-mail.")


@notifications_cli.command("send")
def notifications_send() -> None:
    """Send the due e-mails of the outbox once, as the scheduler does (GRANTFLOW_SMTP_*)."""
    from app import jobs

    report = jobs.send_emails(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo(f"e-mails sent: {report.sent}; failed attempts: {report.failed}; "
               f"left for later: {report.deferred}; skipped (e-mail is off): {report.skipped}")


scheduler_cli = AppGroup("scheduler", help="The background jobs, run in a process of their own.")


@scheduler_cli.command("run")
@click.option("--once", is_flag=True, help="Run what is due once and exit.")
def scheduler_run(once: bool) -> None:
    """Run the due timers, the compliance calendar and the e-mail outbox every
    GRANTFLOW_TIMER_POLL_SECONDS, in the foreground: the one scheduler of a gunicorn
    deployment (`make run-pg`). The database lease keeps a second one idle."""
    import time

    from app import jobs

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    poll = app.config["GRANTFLOW"].timer_poll_seconds
    click.echo(f"scheduler {jobs.HOLDER}: every {poll} s")
    while True:
        report = jobs.run_due(app)
        if not report.skipped and report.timers_fired:
            click.echo(f"timers fired: {report.timers_fired}")
        if once:
            return
        time.sleep(poll)


def register(app: Flask) -> None:
    for cmd in (db_cli, audit_cli, timers_cli, documents_cli, notifications_cli, scheduler_cli, deploy_workflows, seed_demo, serve):
        app.cli.add_command(cmd)
    app.cli.add_command(users_cli)
