"""`flask users ...`: accounts, passwords (policy-checked), roles and API tokens. Each change
is committed together with its audit entry."""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.errors import GrantFlowError, ValidationError
from app.extensions import db
from app.models import User
from app.services import accounts

users_cli = AppGroup("users", help="Accounts, passwords, roles and API tokens.")


def _user(username: str) -> User:
    user = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        click.echo(f"no user {username!r}", err=True)
        sys.exit(1)
    return user


def _commit_or_explain(action: str) -> None:
    db.session.commit()
    click.echo(action)


def _refused(exc: GrantFlowError) -> NoReturn:
    db.session.rollback()
    click.echo(f"refused: {exc.message}", err=True)
    if isinstance(exc, ValidationError):
        for err in exc.errors:
            click.echo(f"  {err.field}: {err.message}", err=True)
    sys.exit(1)


def _password(given: str | None) -> str:
    if given is not None:
        return given
    return str(click.prompt("New password", hide_input=True, confirmation_prompt=True))


@users_cli.command("create")
@click.argument("username")
@click.option("--org", "org_code", required=True, help="organisation code")
@click.option("--role", "roles", multiple=True, required=True, help="a role (repeatable)")
@click.option("--name", "display_name", default="", help="display name")
@click.option("--password", default=None, help="the password (prompted when absent)")
def create(username: str, org_code: str, roles: tuple[str, ...], display_name: str, password: str | None) -> None:
    """Add an account; the password must meet the policy (12+ characters, not well known)."""
    try:
        accounts.create_user(db.session, username=username, display_name=display_name, org_code=org_code,
                             roles=list(roles), password=_password(password), actor=None)
    except GrantFlowError as exc:
        _refused(exc)
    _commit_or_explain(f"created {username}")


@users_cli.command("set-password")
@click.argument("username")
@click.option("--password", default=None, help="the password (prompted when absent)")
def set_password(username: str, password: str | None) -> None:
    """Change a password (policy checked); lifts a lock and revokes the user's API tokens."""
    user = _user(username)
    try:
        accounts.set_password(db.session, user, _password(password), actor=None)
    except GrantFlowError as exc:
        _refused(exc)
    _commit_or_explain(f"password of {username} changed; its API tokens are revoked")


@users_cli.command("grant-role")
@click.argument("username")
@click.argument("role")
@click.option("--acting-for", default=None, help="organisation code the user acts for in this role")
def grant_role(username: str, role: str, acting_for: str | None) -> None:
    """Give a user a role."""
    try:
        changed = accounts.grant_role(db.session, _user(username), role, actor=None, acting_for=acting_for)
    except GrantFlowError as exc:
        _refused(exc)
    _commit_or_explain(f"{username} {'now has' if changed else 'already had'} the role {role}")


@users_cli.command("revoke-role")
@click.argument("username")
@click.argument("role")
@click.option("--acting-for", default=None, help="organisation code the role was held for")
def revoke_role(username: str, role: str, acting_for: str | None) -> None:
    """Take a role from a user (and revoke its API tokens, which carried the old rights)."""
    try:
        changed = accounts.revoke_role(db.session, _user(username), role, actor=None, acting_for=acting_for)
    except GrantFlowError as exc:
        _refused(exc)
    _commit_or_explain(f"{username} {'no longer has' if changed else 'did not have'} the role {role}")


@users_cli.command("revoke-tokens")
@click.argument("username")
def revoke_tokens(username: str) -> None:
    """Revoke every live API token of a user."""
    count = accounts.revoke_tokens(db.session, _user(username), actor=None)
    _commit_or_explain(f"{count} token(s) of {username} revoked")
