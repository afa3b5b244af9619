"""Turn parsed columns (text or typed) into rows of the lake schema, or quarantine them.

Shared by every reader: text, JSON-wrapped text, JSON rows and Parquet. All work is
vectorised over a batch; only rows that fail go through Python, to say why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.addresses import ip_keys
from pipeline.fields import BY_COLUMN, BY_NAME, ORDERED
from pipeline.lake.store import SCHEMA, Problem

_INT32_MAX = 2**31 - 1
_INT64_MAX_TEXT = str(2**63 - 1)
_MS_EPOCH = 10**11  # a start/end above this is in milliseconds (seen in the wild); 1000x that is no time


@dataclass(frozen=True)
class Context:
    """What every row of a batch shares: where it came from and what the key says."""

    source: str
    ingest_id: str
    format: str
    defaults: dict  # column -> value used where the record has none (account_id, region, interface_id)


def _row_text(columns: dict[str, pa.Array], i: int) -> str:
    return " ".join("-" if (v := columns[c][i].as_py()) is None else str(v) for c in columns)


class _Rejects:
    """Rows quarantined so far, with the first reason found for each."""

    def __init__(self, n: int):
        self.bad = np.zeros(n, dtype=bool)
        self.reasons: dict[int, str] = {}

    def add(self, failed: pa.Array, reason) -> None:
        """Reject the rows where ``failed`` is true; ``reason(i)`` says why for row i."""
        mask = pc.fill_null(failed, False).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(mask & ~self.bad):
            self.reasons[int(i)] = reason(int(i))
        self.bad |= mask


def _integers(name: str, array: pa.Array, rejects: _Rejects) -> pa.Array:
    """Text, float or integer values → int64; what is not a whole number is rejected."""
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        ok = pc.ascii_is_decimal(array)  # digits only: no sign, no spaces, no hex
        if pc.all(ok).as_py() is False:
            rejects.add(pc.invert(ok), lambda i: f"{name} is not a whole number: {array[i].as_py()!r}")
            array = pc.if_else(ok, array, None)
        try:
            return pc.cast(array, pa.int64())
        except pa.ArrowInvalid:  # more than int64 holds
            length = pc.utf8_length(array)
            big = pc.or_(pc.greater(length, 19), pc.and_(pc.equal(length, 19), pc.greater(array, _INT64_MAX_TEXT)))
            rejects.add(big, lambda i: f"{name} is out of range: {array[i].as_py()}")
            return pc.cast(pc.if_else(big, None, array), pa.int64())
    if pa.types.is_floating(array.type):  # JSON rows and some Parquet writers give 6.0
        whole = pc.and_(pc.equal(pc.floor(array), array), pc.less(pc.abs(array), 2.0**63))  # not NaN, inf, huge
        if pc.all(whole).as_py() is False:
            rejects.add(pc.invert(whole), lambda i: f"{name} is not a whole number: {array[i].as_py()!r}")
            array = pc.if_else(whole, array, None)
    return pc.cast(array, pa.int64())


def _check_values(typed: dict[str, pa.Array], rejects: _Rejects) -> None:
    """Reject the values the field catalog says AWS never writes (ranges, words, addresses, order)."""
    for column, values in typed.items():
        field = BY_COLUMN[column]
        if field.range and values.null_count < len(values):
            low, high = field.range
            outside = pc.or_(pc.less(values, low), pc.greater(values, high))
            rejects.add(outside, lambda i, f=field, v=values: f"{f.name} {v[i].as_py()} is outside {low}..{high}")
        if field.values:
            other = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, pa.array(field.values))))
            rejects.add(other, lambda i, f=field, v=values:
                        f"{f.name} is not one of {', '.join(f.values)}: {v[i].as_py()!r}")
        if field.address:
            bad = _not_addresses(values)
            rejects.add(bad, lambda i, f=field, v=values: f"{f.name} is not an IP address: {v[i].as_py()!r}")
    for first, second in ORDERED:
        a, b = typed.get(BY_NAME[first].column), typed.get(BY_NAME[second].column)
        if a is not None and b is not None:
            rejects.add(pc.less(b, a), lambda i: f"{second} {b[i].as_py()} is before {first} {a[i].as_py()}")


_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = f"^{_OCTET}(\\.{_OCTET}){{3}}$"  # dotted decimal, no leading zeros: what inet_pton accepts


def _not_addresses(values: pa.Array) -> pa.Array:
    """Where ``values`` holds text that is not an IP address. Plain IPv4 text (nearly every value) is
    recognised by one regular expression in C; the rest (IPv6, anything odd) goes to ``ip_keys``."""
    plain = pc.fill_null(pc.match_substring_regex(values, _IPV4), False)
    rest = pc.if_else(plain, pa.scalar(None, values.type), values)
    if rest.null_count == len(rest):
        return pa.repeat(False, len(values))
    return pc.and_(pc.is_valid(rest), pc.is_null(ip_keys(rest)))


def conform(columns: dict[str, pa.Array], lines: np.ndarray, ctx: Context) -> tuple[pa.Table, list[Problem]]:
    """Type ``columns`` (keyed by field name, unknown names allowed) into the lake schema.

    Rows with a non-numeric value in a numeric field are quarantined with the field
    named; everything else is kept, ``-`` already being NULL.
    """
    n = len(lines)
    rejects = _Rejects(n)
    typed: dict[str, pa.Array] = {}
    extra_names = [name for name in columns if name not in BY_NAME]

    for name, array in columns.items():
        field = BY_NAME.get(name)
        if field is None:
            continue
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if field.type == "string":
            typed[field.column] = array if pa.types.is_string(array.type) else pc.cast(array, pa.string())
            continue
        values = _integers(name, array, rejects)
        low, high = pc.min_max(values).values()
        if name in ("start", "end") and high.is_valid and high.as_py() > _MS_EPOCH:
            absurd = pc.greater_equal(values, _MS_EPOCH * 1000)
            rejects.add(absurd, lambda i, v=values: f"{name} is not a Unix time: {v[i].as_py()}")
            values = pc.if_else(pc.greater(values, _MS_EPOCH), pc.divide(values, 1000), values)
        if low.is_valid and low.as_py() < 0:
            rejects.add(pc.less(values, 0), lambda i, v=values: f"{name} is negative: {v[i].as_py()}")
        if field.type == "int32" and high.is_valid and high.as_py() > _INT32_MAX:
            too_big = pc.greater(values, _INT32_MAX)
            rejects.add(too_big, lambda i, v=values: f"{name} is out of range: {v[i].as_py()}")
            values = pc.if_else(too_big, None, values)
        typed[field.column] = pc.cast(values, field.arrow_type)

    _check_values(typed, rejects)

    for column, value in ctx.defaults.items():
        if value is not None:
            current = typed.get(column)
            typed[column] = pa.repeat(value, n) if current is None else pc.fill_null(current, value)

    extra = None
    if extra_names:
        rows = [{k: v for k in extra_names if (v := columns[k][i].as_py()) is not None} for i in range(n)]
        extra = pa.array([json.dumps(row) if row else None for row in rows], pa.string())

    arrays = []
    for field in SCHEMA:
        if field.name in typed:
            arrays.append(typed[field.name])
        elif field.name == "_extra" and extra is not None:
            arrays.append(extra)
        elif field.name == "_source":
            arrays.append(pa.repeat(ctx.source, n))
        elif field.name == "_line":
            arrays.append(pa.array(lines, pa.int64()))
        elif field.name == "_format":
            arrays.append(pa.repeat(ctx.format, n))
        elif field.name == "_ingest_id":
            arrays.append(pa.repeat(ctx.ingest_id, n))
        else:
            arrays.append(pa.nulls(n, field.type))
    table = pa.Table.from_arrays(arrays, schema=SCHEMA)

    problems: list[Problem] = []
    if rejects.bad.any():
        problems = [
            Problem(int(lines[i]), rejects.reasons[int(i)], _row_text(columns, int(i)))
            for i in np.flatnonzero(rejects.bad)
        ]
        table = table.filter(pa.array(~rejects.bad))
    return table, problems
