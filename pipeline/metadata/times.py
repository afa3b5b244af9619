"""Turn the many ways AWS prints a time into one UTC ``datetime`` (microseconds)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

_IPRANGES_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: object) -> datetime | None:
    """A timezone-aware UTC datetime, or None when ``value`` is empty.

    Accepts what the AWS CLI and APIs print:
    - ``datetime`` objects (naive ones are taken as UTC);
    - ISO 8601 text with ``Z``, an offset or no zone (UTC), and any number of fraction digits;
    - epoch numbers, or numeric text, in seconds (CLI v1 prints ECS times that way) or, above
      1e11, milliseconds (EventBridge and some SDKs);
    - the ``YYYY-MM-DD-hh-mm-ss`` form of ip-ranges.json ``createDate``.
    Raises ``ValueError`` for anything else.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    elif isinstance(value, (int, float)):
        dt = _from_epoch(float(value))
    elif isinstance(value, str):
        dt = _from_text(value.strip())
    else:
        raise ValueError(f"not a time: {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _from_epoch(seconds: float) -> datetime:
    if abs(seconds) > 1e11:
        seconds /= 1000.0
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _from_text(text: str) -> datetime:
    m = _IPRANGES_DATE.match(text)
    if m:
        return datetime(*(int(g) for g in m.groups()), tzinfo=timezone.utc)
    try:
        return _from_epoch(float(text))
    except ValueError:
        pass
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    iso = _FRACTION.sub(r"\1", iso)
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(f"not a time: {text!r}") from None


def isoformat(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, for JSON output."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
