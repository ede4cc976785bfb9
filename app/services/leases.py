"""A lease in the database so that exactly one of several app processes runs the scheduler's work."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import SchedulerLease
from app.services.clock import clock


def acquire(session: Session, name: str, holder: str, ttl_seconds: int) -> bool:
    """Take or renew lease ``name`` for ``holder`` if it is free, expired or already ours.

    Returns False when another holder has it. Flushes; the caller commits.
    """
    now = clock.now()
    row = session.execute(
        select(SchedulerLease).where(SchedulerLease.name == name).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        try:
            with session.begin_nested():
                session.add(SchedulerLease(name=name, holder=holder, expires_at=now + timedelta(seconds=ttl_seconds)))
        except IntegrityError:
            return False
        return True
    if row.holder != holder and row.expires_at > now:
        return False
    row.holder, row.expires_at = holder, now + timedelta(seconds=ttl_seconds)
    session.flush()
    return True
