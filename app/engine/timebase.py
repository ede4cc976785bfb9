"""The engine's "now", settable per call so that the host's clock drives BPMN timers.

SpiffWorkflow's timer events read ``datetime.now(timezone.utc)`` from their module. We give
that module a ``datetime`` whose ``now()`` returns the time set by :func:`at` for the current
call (a context variable, so threads and requests do not see each other's time), and the
real time otherwise. Pinned to SpiffWorkflow 3.2.x, like the rest of the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer

_now: ContextVar[datetime | None] = ContextVar("grantflow_engine_now", default=None)


class _ClockedDatetime(datetime):
    """``datetime`` with a ``now()`` that honours :func:`at`."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        fixed = _now.get()
        if fixed is None:
            return datetime.now(tz)
        return fixed.astimezone(tz) if tz is not None else fixed.astimezone().replace(tzinfo=None)


_spiff_timer.datetime = _ClockedDatetime


@contextmanager
def at(now: datetime | None) -> Iterator[None]:
    """Run the enclosed engine work as if the time were ``now`` (aware); None means real time.

    Raises ValueError for a naive datetime.
    """
    if now is not None and now.tzinfo is None:
        raise ValueError("the engine clock takes timezone-aware datetimes")
    token = _now.set(now.astimezone(UTC) if now is not None else None)
    try:
        yield
    finally:
        _now.reset(token)
