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

from .fields import BY_NAME, lake_schema

SCHEMA = lake_schema()
_INT_TEXT = r"^[0-9]{1,18}$"
_INT32_MAX = 2**31 - 1
_MS_EPOCH = 10**11  # a start/end above this is in milliseconds (seen in the wild)


@dataclass(frozen=True)
class Problem:
    """One quarantined input line."""

    line: int | None
    reason: str
    text: str


@dataclass(frozen=True)
class Context:
    """What every row of a batch shares: where it came from and what the key says."""

    source: str
    ingest_id: str
    format: str
    defaults: dict  # column -> value used where the record has none (account_id, region, interface_id)


def _row_text(columns: dict[str, pa.Array], i: int) -> str:
    return " ".join("-" if (v := columns[c][i].as_py()) is None else str(v) for c in columns)


def conform(columns: dict[str, pa.Array], lines: np.ndarray, ctx: Context) -> tuple[pa.Table, list[Problem]]:
    """Type ``columns`` (keyed by field name, unknown names allowed) into the lake schema.

    Rows with a non-numeric value in a numeric field are quarantined with the field
    named; everything else is kept, ``-`` already being NULL.
    """
    n = len(lines)
    bad = np.zeros(n, dtype=bool)
    reasons: dict[int, str] = {}
    typed: dict[str, pa.Array] = {}
    extra_names = [name for name in columns if name not in BY_NAME]

    for name, array in columns.items():
        field = BY_NAME.get(name)
        if field is None:
            continue
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if field.type == "string":
            typed[field.column] = array if pa.types.is_string(array.type) else pc.cast(array, pa.string())
            continue
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            ok = pc.or_kleene(pc.is_null(array), pc.match_substring_regex(array, _INT_TEXT))
            ok_np = ok.to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(~ok_np & ~bad):
                reasons[int(i)] = f"{name} is not a whole number: {array[int(i)].as_py()!r}"
            bad |= ~ok_np
            values = pc.cast(pc.if_else(ok, array, None), pa.int64())
        elif pa.types.is_floating(array.type):  # JSON rows and some Parquet writers give 6.0
            whole = pc.or_kleene(pc.is_null(array), pc.equal(pc.floor(array), array))
            whole_np = whole.to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(~whole_np & ~bad):
                reasons[int(i)] = f"{name} is not a whole number: {array[int(i)].as_py()!r}"
            bad |= ~whole_np
            values = pc.cast(pc.if_else(whole, array, None), pa.int64())
        else:
            values = pc.cast(array, pa.int64())
        if name in ("start", "end"):
            values = pc.if_else(pc.greater(values, _MS_EPOCH), pc.divide(values, 1000), values)
        if field.type == "int32":
            too_big = pc.fill_null(pc.greater(values, _INT32_MAX), False).to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(too_big & ~bad):
                reasons[int(i)] = f"{name} is out of range: {values[int(i)].as_py()}"
            bad |= too_big
            values = pc.cast(pc.if_else(pa.array(too_big), None, values), pa.int32())
        typed[field.column] = values

    for column, value in ctx.defaults.items():
        if value is not None:
            current = typed.get(column)
            typed[column] = pa.array([value] * n, pa.string()) if current is None else pc.fill_null(current, value)

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
            arrays.append(pa.array([ctx.source] * n, pa.string()))
        elif field.name == "_line":
            arrays.append(pa.array(lines, pa.int64()))
        elif field.name == "_format":
            arrays.append(pa.array([ctx.format] * n, pa.string()))
        elif field.name == "_ingest_id":
            arrays.append(pa.array([ctx.ingest_id] * n, pa.string()))
        else:
            arrays.append(pa.nulls(n, field.type))
    table = pa.Table.from_arrays(arrays, schema=SCHEMA)

    problems: list[Problem] = []
    if bad.any():
        problems = [Problem(int(lines[i]), reasons[int(i)], _row_text(columns, int(i))) for i in np.flatnonzero(bad)]
        table = table.filter(pa.array(~bad))
    return table, problems
