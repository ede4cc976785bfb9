"""Reading grants: partners see their own; the authority, operator and admins see all."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import ForbiddenError, NotFoundError
from app.models import Grant, User

OVERSEERS = frozenset({"admin", "authority", "operator"})


def visible(session: Session, user: User) -> list[Grant]:
    """The grants the user may see, newest first. Raises ForbiddenError for roles that see none."""
    query = select(Grant).order_by(Grant.issued_at.desc(), Grant.id.desc())
    if not user.roles & OVERSEERS:
        if "partner" not in user.roles:
            raise ForbiddenError("grants are visible to partners, the operator and the authority")
        query = query.where(Grant.org_id == user.org_id)
    return list(session.execute(query).scalars())


def get(session: Session, user: User, grant_id: int) -> Grant:
    """One grant, if the user may see it; NotFoundError otherwise (existence not revealed)."""
    grant = session.get(Grant, grant_id)
    if grant is None or not (user.roles & OVERSEERS or grant.org_id == user.org_id):
        raise NotFoundError(f"no grant {grant_id}")
    return grant
