"""Read space-separated flow-log text (gzip or plain) into lake batches.

The field order comes from the header line when there is one, else from the log
format the caller gives (``--log-format``, the flow log's LogFormat), else the v2
default. Parsing is done by pyarrow's CSV reader (C++), one file per worker, so a
file's line numbers are exact; lines that do not fit go to Python only to be
recovered (runs of spaces) or quarantined with the reason.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from . import logformat
from .conform import SCHEMA, Context, Problem, conform
from .fields import TGW_DEFAULT_FORMAT

BLOCK_SIZE = 4 << 20
_TGW_RESOURCE_TYPES = {b"TransitGateway", b"TransitGatewayAttachment"}


class _Prefixed(io.RawIOBase):
    """A stream that first replays ``head`` (already read, to sniff the format), then the rest."""

    def __init__(self, head: bytes, rest):
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _LineNumbers:
    """Physical line numbers of the rows pyarrow keeps, given the ones it rejected."""

    def __init__(self, first: int):
        self.cursor = first
        self.rejected: list[int] = []
        self._next = 0

    def take(self, n: int) -> np.ndarray:
        parts = []
        while n:
            bad = self.rejected[self._next] if self._next < len(self.rejected) else None
            run = n if bad is None else min(n, bad - self.cursor)
            parts.append(np.arange(self.cursor, self.cursor + run, dtype=np.int64))
            self.cursor += run
            n -= run
            if n and bad is not None and self.cursor == bad:
                self.cursor += 1
                self._next += 1
        while self._next < len(self.rejected) and self.rejected[self._next] < self.cursor:
            self._next += 1
        return np.concatenate(parts) if parts else np.empty(0, np.int64)


def read_text(
    raw,
    *,
    source: str,
    ingest_id: str,
    log_format: tuple[str, ...] | None,
    defaults: dict,
) -> Iterator[tuple[pa.Table, list[Problem]]]:
    """Yield (lake batch, quarantined lines) from a decompressed byte stream ``raw``."""
    head = raw.read(1 << 16)
    first_line = head.split(b"\n", 1)[0]
    header = logformat.header_names(first_line)
    names = header or log_format or logformat.DEFAULT
    columns = list(names)
    if header is None and logformat.starts_with_export_time(first_line):
        columns = [logformat.EXPORT_TIME, *columns]
    fmt = logformat.describe(names)
    ctx = Context(source, ingest_id, fmt, defaults)

    lines = _LineNumbers(2 if header else 1)
    odd: list[tuple[int, str]] = []

    def on_invalid(row) -> str:
        lines.rejected.append(row.number)
        odd.append((row.number, row.text))
        return "skip"

    reader = pacsv.open_csv(
        pa.PythonFile(_Prefixed(head, raw), mode="r"),
        read_options=pacsv.ReadOptions(
            column_names=columns, skip_rows=1 if header else 0, use_threads=False, block_size=BLOCK_SIZE
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=" ", quote_char=False, ignore_empty_lines=False, invalid_row_handler=on_invalid
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in columns}, null_values=["-"], strings_can_be_null=True
        ),
    )
    header_row = [pa.scalar(n) for n in columns[:2]]
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        numbers = lines.take(batch.num_rows)
        # Blank lines arrive as a row of empty strings; repeated header lines as the header.
        first = batch.column(0)
        keep = pc.invert(pc.fill_null(pc.equal(first, ""), False))
        if len(columns) > 1:
            is_header = pc.and_(pc.equal(first, header_row[0]), pc.equal(batch.column(1), header_row[1]))
            keep = pc.and_(keep, pc.invert(pc.fill_null(is_header, False)))
        if not pc.all(keep).as_py():
            batch = batch.filter(keep)
            numbers = numbers[keep.to_numpy(zero_copy_only=False)]
        problems: list[Problem] = []
        if batch.num_rows:
            data = {n: batch.column(n) for n in columns if n != logformat.EXPORT_TIME}
            table, problems = conform(data, numbers, ctx)
            yield table, problems
        if odd:
            yield from _recover(odd, columns, names, ctx)
            odd.clear()
    if odd:
        yield from _recover(odd, columns, names, ctx)


def _recover(odd, columns, names, ctx) -> Iterator[tuple[pa.Table, list[Problem]]]:
    """Lines pyarrow could not split into the format's fields: recover or quarantine each."""
    problems: list[Problem] = []
    by_format: dict[tuple[str, ...], list[tuple[int, list[bytes]]]] = {}
    for number, text in odd:
        tokens = text.split()
        if len(tokens) == len(columns):  # runs of spaces between fields
            by_format.setdefault(tuple(columns), []).append((number, tokens))
        elif len(tokens) == len(TGW_DEFAULT_FORMAT) and tokens[1].encode() in _TGW_RESOURCE_TYPES:
            by_format.setdefault(tuple(TGW_DEFAULT_FORMAT), []).append((number, tokens))
        elif len(tokens) == 1 and tokens[0] in columns[:1]:
            continue  # a lone repeated header of a one-field format
        else:
            hint = "" if len(tokens) < 2 else "; check the log format (--log-format) matches the flow log's"
            problems.append(
                Problem(number, f"{len(tokens)} values for the {len(names)} fields of the format{hint}", text)
            )
    for fmt_columns, rows in by_format.items():
        data = {
            name: pa.array([None if r[1][i] == "-" else r[1][i] for r in rows], pa.string())
            for i, name in enumerate(fmt_columns)
            if name != logformat.EXPORT_TIME
        }
        numbers = np.array([r[0] for r in rows], np.int64)
        names_only = tuple(c for c in fmt_columns if c != logformat.EXPORT_TIME)
        table, more = conform(data, numbers, Context(ctx.source, ctx.ingest_id, logformat.describe(names_only), ctx.defaults))
        yield table, more
    if problems:
        yield SCHEMA.empty_table(), problems

