"""Accounts: password login with throttling, the password policy, API bearer tokens (issued,
revoked), role changes, user look-ups. Every change is an audit entry in the caller's
transaction."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from functools import cache

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from app.errors import AuthenticationError, FieldError, NotFoundError, ValidationError
from app.models import ApiToken, Organisation, RoleMembership, User
from app.services import audit
from app.services.clock import clock
from app.services.roles import ROLES

LOCK_MINUTES = 15
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 256
# Passwords every guessing list starts with (NIST SP 800-63B: refuse known-bad values).
_COMMON = frozenset({"password", "passw0rd", "123456789012", "1234567890123", "qwertyuiop12", "demo", "admin",
                     "grantflow", "changeme", "letmein", "iloveyou", "welcome", "111111111111", "abc123456789",
                     "password1234", "qwerty123456", "administrator"})
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
        audit.record(session, "user.login_failed", actor=user, payload={"failures": user.failed_logins})
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
            audit.record(session, "user.locked", actor=user, payload={"minutes": LOCK_MINUTES})
        session.flush()
        raise AuthenticationError("invalid username or password")
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    return user


def password_problems(password: str, username: str = "") -> list[str]:
    """What makes ``password`` unacceptable (empty when it is fine): at least 12 and at most
    256 characters, not a well-known password, not the username, not one repeated character."""
    problems = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(f"must be at least {PASSWORD_MIN_LENGTH} characters long")
    if len(password) > PASSWORD_MAX_LENGTH:
        problems.append(f"must be at most {PASSWORD_MAX_LENGTH} characters long")
    lowered = password.lower()
    if lowered in _COMMON:
        problems.append("is a well-known password")
    if username and username.lower() in lowered:
        problems.append("must not contain the username")
    if password and len(set(password)) == 1:
        problems.append("must not repeat one character")
    return problems


def check_password(password: str, username: str = "") -> None:
    """Raise ValidationError (field ``password``) when the password breaks the policy."""
    problems = password_problems(password, username)
    if problems:
        raise ValidationError("the password does not meet the policy", [FieldError("password", p) for p in problems])


def set_password(session: Session, user: User, password: str, *, actor: User | None) -> None:
    """Give ``user`` a new password (policy checked), lift any lock and revoke every token
    (a changed password ends the old bearer sessions). Raises ValidationError."""
    check_password(password, user.username)
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    revoked = _revoke_all(session, user)
    audit.record(session, "user.password_changed", actor=actor, org_id=user.org_id,
                 payload={"user": user.username, "tokens_revoked": revoked})
    session.flush()


def create_user(session: Session, *, username: str, display_name: str, org_code: str, roles: list[str],
                password: str, actor: User | None) -> User:
    """Add an account (policy-checked password, known roles). Raises ValidationError."""
    errors = []
    if not username or len(username) > 64 or not username.replace("_", "").replace("-", "").isalnum():
        errors.append(FieldError("username", "1 to 64 letters, digits, '-' or '_'"))
    elif session.execute(select(User.id).where(User.username == username)).first():
        errors.append(FieldError("username", "is taken"))
    errors += [FieldError("roles", f"unknown role {r!r}") for r in roles if r not in ROLES]
    errors += [FieldError("password", p) for p in password_problems(password, username)]
    org = session.execute(select(Organisation).where(Organisation.code == org_code)).scalar_one_or_none()
    if org is None:
        errors.append(FieldError("organisation", f"no organisation {org_code!r}"))
    if errors or org is None:
        raise ValidationError("the account cannot be created", errors)
    user = User(username=username, display_name=display_name or username, org_id=org.id,
                password_hash=hash_password(password))
    user.role_rows = [RoleMembership(role=r) for r in dict.fromkeys(roles)]
    session.add(user)
    session.flush()
    audit.record(session, "user.created", actor=actor, org_id=org.id,
                 payload={"user": username, "organisation": org.code, "roles": sorted(set(roles))})
    return user


def grant_role(session: Session, user: User, role: str, *, actor: User | None, acting_for: str | None = None) -> bool:
    """Give ``user`` a role (optionally acting for another organisation). False when it
    already had it. Raises ValidationError (unknown role) or NotFoundError (organisation)."""
    org_id = _role_org(session, role, acting_for)
    if any(r.role == role and r.org_id == org_id for r in user.role_rows):
        return False
    user.role_rows.append(RoleMembership(role=role, org_id=org_id))
    audit.record(session, "user.role_granted", actor=actor, org_id=user.org_id,
                 payload={"user": user.username, "role": role, "acting_for": acting_for})
    session.flush()
    return True


def revoke_role(session: Session, user: User, role: str, *, actor: User | None, acting_for: str | None = None) -> bool:
    """Take a role from ``user``, and its bearer tokens (they carried the old rights). False
    when it did not have it. Raises ValidationError, NotFoundError as grant_role does."""
    org_id = _role_org(session, role, acting_for)
    rows = [r for r in user.role_rows if r.role == role and r.org_id == org_id]
    if not rows:
        return False
    for row in rows:
        user.role_rows.remove(row)
    revoked = _revoke_all(session, user)
    audit.record(session, "user.role_revoked", actor=actor, org_id=user.org_id,
                 payload={"user": user.username, "role": role, "acting_for": acting_for, "tokens_revoked": revoked})
    session.flush()
    return True


def _role_org(session: Session, role: str, acting_for: str | None) -> int | None:
    if role not in ROLES:
        raise ValidationError("unknown role", [FieldError("role", f"one of {', '.join(ROLES)}")])
    if acting_for is None:
        return None
    org_id = session.execute(select(Organisation.id).where(Organisation.code == acting_for)).scalar_one_or_none()
    if org_id is None:
        raise NotFoundError(f"no organisation {acting_for!r}")
    return org_id


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
    session.flush()
    audit.record(session, "token.issued", actor=user, payload={"expires_in_hours": ttl_hours})
    return token


def revoke_token(session: Session, token: str) -> bool:
    """Revoke one bearer token at once (logout from the API). False when it was not live."""
    row = _live_token(session, token)
    if row is None:
        return False
    row.revoked_at = clock.now()
    user = session.get(User, row.user_id)
    audit.record(session, "token.revoked", actor=user, payload={"token_id": row.id})
    session.flush()
    return True


def revoke_tokens(session: Session, user: User, *, actor: User | None) -> int:
    """Revoke every live token of ``user``; returns how many."""
    count = _revoke_all(session, user)
    if count:
        audit.record(session, "token.revoked_all", actor=actor, org_id=user.org_id,
                     payload={"user": user.username, "tokens_revoked": count})
        session.flush()
    return count


def _revoke_all(session: Session, user: User) -> int:
    now = clock.now()
    rows = session.execute(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
    ).scalars().all()
    for row in rows:
        row.revoked_at = now
    return len(rows)


def _live_token(session: Session, token: str) -> ApiToken | None:
    row = session.execute(select(ApiToken).where(ApiToken.token_hash == _digest(token))).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= clock.now():
        return None
    return row


def user_for_token(session: Session, token: str) -> User | None:
    """The active user owning an unexpired, unrevoked token, or None: one query for the
    token, the user, its organisation and its roles (every API request asks)."""
    return session.execute(_token_user(), {"digest": _digest(token), "now": clock.now()}).unique().scalar_one_or_none()


@cache
def _token_user() -> Select[User]:
    """Built once: constructing a statement costs more than SQLite takes to answer it."""
    return (select(User).join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None),
                   ApiToken.expires_at > bindparam("now", type_=ApiToken.expires_at.type), User.is_active.is_(True))
            .options(joinedload(User.role_rows)))


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
