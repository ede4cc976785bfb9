"""Time, read through one object so that tests can move it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, true

LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # shown times and calendar-day filters; storage is UTC


class Clock:
    """The system clock in UTC. ``set``/``advance`` pin it (tests, demos)."""

    def __init__(self) -> None:
        self._fixed: datetime | None = None

    def now(self) -> datetime:
        return self._fixed if self._fixed is not None else datetime.now(UTC)

    def set(self, when: datetime | None) -> None:
        if when is not None and when.tzinfo is None:
            raise ValueError("the clock takes timezone-aware datetimes")
        self._fixed = when

    def advance(self, delta: timedelta) -> None:
        self._fixed = self.now() + delta


clock = Clock()


def local_day_start(day: date) -> datetime:
    """Midnight of a calendar day in Shenzhen, in UTC."""
    return datetime.combine(day, time.min, tzinfo=LOCAL_TZ).astimezone(UTC)


def within_local_days(column: Any, first: date | None, last: date | None) -> ColumnElement[bool]:
    """SQL condition: ``column`` (a UTC timestamp) falls on a Shenzhen calendar day from
    ``first`` to ``last`` inclusive (either may be None: open-ended)."""
    conditions = []
    if first:
        conditions.append(column >= local_day_start(first))
    if last:
        conditions.append(column < local_day_start(last + timedelta(days=1)))
    return and_(*conditions) if conditions else true()
