"""Accounts: password login with throttling, API bearer tokens, user look-ups."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.errors import AuthenticationError
from app.models import ApiToken, User
from app.services import audit
from app.services.clock import clock

LOCK_MINUTES = 15
# A hash of a random password, checked when the user does not exist, so that a failed
# login for a missing user costs the same time as one for a real user.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(8))


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def authenticate(session: Session, username: str, password: str, *, max_failures: int = 5) -> User:
    """Return the active user with these credentials.

    Raises AuthenticationError (one message for every failure, so nothing is revealed) and
    locks the account for 15 minutes after ``max_failures`` failures in a row.
    """
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    now = clock.now()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        raise AuthenticationError("invalid username or password")
    if user.locked_until is not None and user.locked_until > now:
        raise AuthenticationError("too many failed logins; try again later")
    if not user.is_active or not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
            audit.record(session, "user.locked", actor=user)
        session.flush()
        raise AuthenticationError("invalid username or password")
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    return user


def issue_token(session: Session, user: User, ttl_hours: int) -> str:
    """Create a bearer token for the API; only its SHA-256 is stored."""
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=_digest(token),
            created_at=clock.now(),
            expires_at=clock.now() + timedelta(hours=ttl_hours),
        )
    )
    audit.record(session, "token.issued", actor=user)
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The active user owning an unexpired, unrevoked token, or None."""
    row = session.execute(
        select(ApiToken).where(ApiToken.token_hash == _digest(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= clock.now():
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.is_active else None


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
