"""Single values as text or JSON, shared by every renderer: times in ISO-8601 UTC, nulls
as empty cells, nested values as compact JSON."""

from __future__ import annotations

import datetime as _dt
import json
import math
from decimal import Decimal
from typing import Any, Mapping

from pipeline.times import iso


def sortable(value: Any) -> tuple:
    """A key that orders any mix of values: numbers, then text, then times, then the rest; None last."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (9, "")
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float, Decimal)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return (2, value.isoformat())
    return (3, json.dumps(value, sort_keys=True, default=str))



def iso_value(value: _dt.datetime) -> str:
    if value.tzinfo is not None and value.utcoffset() == _dt.timedelta(0):
        return iso(value)
    return value.isoformat()


def jsonable(value: Any) -> Any:
    """``json.dumps`` default: times as ISO-8601, Decimal as number text, bytes as hex."""
    if isinstance(value, _dt.datetime):
        return iso_value(value)
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=sortable)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    return str(value)


def _clean(value: Any) -> Any:
    """NaN/inf become null so the JSON stays valid."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    separators = (",", ": ") if indent is not None else (",", ":")
    return json.dumps(_clean(value), indent=indent, ensure_ascii=False, separators=separators,
                      default=jsonable, allow_nan=False)


def cell(value: Any) -> str:
    """One value as text for csv/plain/markdown/table: '' for null, JSON for nested values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime):
        return iso_value(value)
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return dumps(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def one_line(text: str) -> str:
    return " ".join(text.split()) if any(ch in text for ch in "\r\n\t") else text


def is_number_column(rows: list[dict], column: str) -> bool:
    values = [r.get(column) for r in rows if r.get(column) is not None]
    return bool(values) and all(
        isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in values
    )


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 finding``, ``3 findings``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"
