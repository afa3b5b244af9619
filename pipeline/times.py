"""Times, always in UTC: the one parser and the one formatter.

:func:`parse_time` reads every form flowlogs meets: on the command line ISO-8601
(``2024-06-20``, ``2024-06-20T16:20``, ``2024-06-20T16:20:00Z``, ``2024-06-20T18:20+02:00``;
no offset means UTC), ``now``, or a duration back from now (``30m``, ``2h``, ``7d``,
``1w``, ``90s``; always positive: ``-2h`` is refused, with what to write); from AWS, ``datetime`` objects,
ISO-8601 with any number of fraction digits, epoch numbers (or numeric text) in seconds
or, above 1e11, milliseconds, and ip-ranges.json's ``YYYY-MM-DD-hh-mm-ss``.
:func:`iso` writes ISO-8601 UTC with a ``Z``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from pipeline.errors import FlowlogsError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_IPRANGES_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
_FRACTION = re.compile(r"(\.\d{6})\d+")


class TimeParseError(FlowlogsError, ValueError):
    pass


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``7d``, ``1w`` → timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise TimeParseError(f"not a duration: {text!r}; use e.g. 30m, 2h, 7d")
    value, unit = match.groups()
    return timedelta(**{_UNITS[unit.lower()]: float(value)})


def parse_time(value: object, *, now: datetime | None = None) -> datetime | None:
    """Any of the forms above → an aware UTC datetime; None when ``value`` is None or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, bool):
        raise TimeParseError(f"not a time: {value!r}")
    elif isinstance(value, (int, float)):
        dt = _from_epoch(float(value))
    elif isinstance(value, str):
        dt = _from_text(value.strip(), now or datetime.now(timezone.utc))
    else:
        raise TimeParseError(f"not a time: {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _from_epoch(seconds: float) -> datetime:
    if abs(seconds) > 1e11:
        seconds /= 1000.0
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _from_text(text: str, now: datetime) -> datetime:
    if text.lower() == "now":
        return now
    if text.startswith("-") and _DURATION.match(text[1:]):
        raise TimeParseError(f"not a time: {text!r}; a relative time is a positive duration back from now: "
                             f"{text[1:].strip()}, not {text}")
    if _DURATION.match(text):
        return now - parse_duration(text)
    m = _IPRANGES_DATE.match(text)
    if m:
        return datetime(*(int(g) for g in m.groups()), tzinfo=timezone.utc)
    try:
        return _from_epoch(float(text))
    except ValueError:
        pass
    iso_text = _FRACTION.sub(r"\1", text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    try:
        return datetime.fromisoformat(iso_text)
    except ValueError:
        raise TimeParseError(
            f"not a time: {text!r}; use ISO-8601 (2024-06-20T16:20Z) or a duration back from now (2h, 7d)"
        ) from None


def iso(value: datetime | int | float | None) -> str | None:
    """A datetime (naive = UTC) or epoch seconds (to the second) as ISO-8601 UTC with a ``Z``;
    fractions of a second only when the datetime has them."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(int(value), timezone.utc)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
