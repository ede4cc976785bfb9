"""ISO 8601 durations as used in BPMN `due` properties (P5D, PT4H, P1M2DT3H)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration; a year counts 365 days and a month 30.

    Raises ValueError on anything else.
    """
    match = _DURATION.match(text.strip())
    if not match or text.strip() in {"P", "PT"}:
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    days = parts.get("years", 0) * 365 + parts.get("months", 0) * 30 + parts.get("weeks", 0) * 7
    return timedelta(
        days=days + parts.get("days", 0),
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )
