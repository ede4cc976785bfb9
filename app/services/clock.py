"""Time, read through one object so that tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


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
