"""Inbox filters a user saves under a name and opens again later. Each user sees, opens and
deletes only their own; another user's filter is reported as not found."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import FieldError, NotFoundError, ValidationError
from app.models import SavedFilter, User
from app.models.collaboration import FILTER_NAME_MAX_LENGTH, FILTER_QUERY_MAX_LENGTH

# The inbox parameters a filter keeps (the page number is not a filter).
FILTER_KEYS = ("status", "process")
MAX_PER_USER = 50


def list_for(session: Session, user: User) -> list[SavedFilter]:
    """The user's saved filters, by name."""
    return list(session.execute(
        select(SavedFilter).where(SavedFilter.user_id == user.id).order_by(SavedFilter.name, SavedFilter.id)
    ).scalars())


def get(session: Session, user: User, filter_id: int) -> SavedFilter:
    """One of the user's filters. Raises NotFoundError (also for another user's)."""
    row = session.get(SavedFilter, filter_id)
    if row is None or row.user_id != user.id:
        raise NotFoundError(f"no saved filter {filter_id}")
    return row


def normalise_query(query: str | dict[str, str]) -> str:
    """The inbox query string reduced to the filter parameters, empty values dropped, in a
    fixed order: ``"page=2&process=x&status=mine"`` -> ``"status=mine&process=x"``."""
    pairs = parse_qsl(query, keep_blank_values=False) if isinstance(query, str) else list(query.items())
    values = {key: value.strip() for key, value in pairs if key in FILTER_KEYS and value.strip()}
    return urlencode([(key, values[key]) for key in FILTER_KEYS if key in values])


def save(session: Session, user: User, name: str, query: str | dict[str, str]) -> SavedFilter:
    """Save the inbox filters ``query`` under ``name`` for ``user``; an existing filter of that
    name is replaced. Raises ValidationError (no name, too long, too many filters)."""
    name = (name or "").strip()
    errors = []
    if not name:
        errors.append(FieldError("name", _("Give the filter a name.")))
    elif len(name) > FILTER_NAME_MAX_LENGTH:
        errors.append(FieldError("name", _("At most %(n)s characters.", n=FILTER_NAME_MAX_LENGTH)))
    normalised = normalise_query(query)
    if len(normalised) > FILTER_QUERY_MAX_LENGTH:
        errors.append(FieldError("query", _("At most %(n)s characters.", n=FILTER_QUERY_MAX_LENGTH)))
    if errors:
        raise ValidationError(_("The filter could not be saved."), errors)
    row = session.execute(
        select(SavedFilter).where(SavedFilter.user_id == user.id, SavedFilter.name == name)
    ).scalar_one_or_none()
    if row is None:
        count = session.execute(select(func.count(SavedFilter.id)).where(SavedFilter.user_id == user.id)).scalar_one()
        if count >= MAX_PER_USER:
            raise ValidationError(_("The filter could not be saved."), [
                FieldError("name", _("You have %(n)s saved filters; delete one first.", n=count))])
        row = SavedFilter(user_id=user.id, name=name)
        session.add(row)
    row.query = normalised
    session.flush()
    return row


def delete(session: Session, user: User, filter_id: int) -> None:
    """Delete one of the user's filters. Raises NotFoundError (also for another user's)."""
    session.delete(get(session, user, filter_id))
    session.flush()
