"""Times and durations on the command line, always in UTC.

A time is ISO-8601 (``2024-06-20``, ``2024-06-20T16:20``, ``2024-06-20T16:20:00Z``,
``2024-06-20T18:20+02:00``; no offset means UTC), ``now``, or a duration back from now
(``30m``, ``2h``, ``7d``, ``1w``, ``90s``; a leading ``-`` is allowed: ``-2h``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from pipeline.errors import FlowlogsError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class TimeParseError(FlowlogsError, ValueError):
    pass


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``7d``, ``1w`` → timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise TimeParseError(f"not a duration: {text!r}; use e.g. 30m, 2h, 7d")
    value, unit = match.groups()
    return timedelta(**{_UNITS[unit.lower()]: float(value)})


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An absolute or relative time → an aware UTC datetime."""
    now = now or datetime.now(timezone.utc)
    raw = text.strip()
    if raw.lower() == "now":
        return now
    if _DURATION.match(raw.lstrip("-")):
        return now - parse_duration(raw.lstrip("-"))
    try:
        value = datetime.fromisoformat(raw.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise TimeParseError(
            f"not a time: {text!r}; use ISO-8601 (2024-06-20T16:20Z) or a duration back from now (2h, 7d)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
