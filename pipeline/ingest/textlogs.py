"""Read space-separated flow-log text (gzip or plain) into lake batches.

The field order comes from the header line when there is one, else from the log
format the caller gives (``--log-format``, the flow log's LogFormat), else the v2
default. Parsing is done by pyarrow's CSV reader (C++), one file per worker, so a
file's line numbers are exact; lines that do not fit go to Python only to be
recovered (runs of spaces) or quarantined with the reason.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipeline.ingest import logformat
from pipeline.ingest.conform import SCHEMA, Context, Problem, conform
from pipeline.fields import TGW_DEFAULT_FORMAT

BLOCK_SIZE = 4 << 20
MAX_LINE = 1 << 20  # bytes: a longer line is quarantined (a flow-log record is at most a few KiB)
_HEAD = 1 << 16
_TGW_RESOURCE_TYPES = {"TransitGateway", "TransitGatewayAttachment"}
_QUARANTINED_TEXT = 4096  # characters of a bad line kept in the quarantine
_NOT_TEXT = ("bytes that are not UTF-8 text, or a carriage return inside the line (shown as \ufffd): "
             "the file is damaged or not a flow log")
_LONE_CR = re.compile(rb"\r(?!\n|\Z)")  # pyarrow would end a line there, and every line number after it shift


class _Text(io.RawIOBase):
    """The stream pyarrow reads: ``head`` (already read, to sniff the format), then the rest.

    Lines of more than ``MAX_LINE`` bytes (no flow-log record is) are taken out, leaving an
    empty line so that line numbers stay exact, and listed in ``cut`` to be quarantined:
    pyarrow would otherwise stop the whole file at a line longer than its block. Bytes that
    are not UTF-8 become U+FFFD (pyarrow would stop the whole file at them), and so does a
    carriage return inside a line (pyarrow would end the line there); ``damaged`` says it
    happened, so that those lines are quarantined. All-ASCII data of
    ordinary lines, the normal case, passes through untouched.
    """

    def __init__(self, head: bytes, rest):
        self._rest = rest
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.damaged = False
        self.cut: list[Problem] = []  # the long lines taken out, not yet reported
        self._lines = 0  # newlines passed on
        self._partial = b""  # the start of a line not yet ended (at most MAX_LINE bytes)
        self._long: tuple[int, bytes] | None = None  # (bytes so far, start) of a long line being skipped
        self._eof = False
        self._pending = self._clean(self._lines_of(head))

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            out = self._pending + self._clean(self._lines_of(self._rest.read()) + self._end())
            self._pending = b""
            return out
        while len(self._pending) < size and not self._eof:  # never b"" before the end: pyarrow takes it as EOF
            chunk = self._rest.read(size - len(self._pending))
            self._pending += self._clean(self._lines_of(chunk) if chunk else self._end())
            if self._pending:
                break
        out, self._pending = self._pending[:size], self._pending[size:]  # never more than asked
        return out

    def _lines_of(self, data: bytes) -> bytes:
        """The whole lines ``data`` completes (long ones emptied); the start of the next line is held."""
        cut = data.rfind(b"\n")
        if self._long is None and (len(self._partial) + len(data) <= MAX_LINE or self._short_lines(data, cut)):
            if cut < 0:
                self._partial += data
                return b""
            out = self._partial + data[: cut + 1]
            self._partial = data[cut + 1 :]
            self._lines += out.count(b"\n")
            return out
        out: list[bytes] = []
        pieces = data.split(b"\n")
        for i, piece in enumerate(pieces):
            self._take(piece, out, ended=i < len(pieces) - 1)
        return b"".join(out)

    def _short_lines(self, data: bytes, cut: int) -> bool:
        """Whether no line ``data`` ends or starts is longer than ``MAX_LINE``, tested with a few searches
        rather than line by line: some newline in every stretch of half that length between its first and
        last newline (a longer line would hold one such stretch). It may say no to lines of over half of
        ``MAX_LINE``, which then take the slow way."""
        first = data.find(b"\n")
        if first < 0 or len(self._partial) + first > MAX_LINE or len(data) - cut - 1 > MAX_LINE:
            return False
        half = MAX_LINE // 2
        return all(data.find(b"\n", pos, pos + half) >= 0 for pos in range(first + 1, cut + 2 - half, half))

    def _take(self, piece: bytes, out: list, ended: bool) -> None:
        """One piece of a line (the rest of it if ``ended``), into ``out`` or the long line skipped."""
        if self._long is None and len(self._partial) + len(piece) > MAX_LINE:
            self._long, self._partial = (len(self._partial), self._partial[:_QUARANTINED_TEXT]), b""
        if self._long is not None:
            seen, start = self._long
            self._long = (seen + len(piece), start if len(start) >= _QUARANTINED_TEXT else start + piece[:_QUARANTINED_TEXT])
            if ended:
                self._lines += 1
                size, start = self._long
                self.cut.append(Problem(self._lines, f"a line of {size:,} bytes, longer than any flow-log record "
                                        f"({MAX_LINE:,} bytes at most): not a record",
                                        start[:_QUARANTINED_TEXT].decode("utf-8", "replace")))
                self._long = None
                out.append(b"\n")
            return
        if ended:
            self._lines += 1
            out.append(self._partial + piece + b"\n")
            self._partial = b""
        else:
            self._partial += piece

    def _end(self) -> bytes:
        """At the end of the data: the last line, which has no newline."""
        self._eof = True
        if self._long is not None:
            out: list = []
            self._take(b"", out, True)
            return b"".join(out)
        last, self._partial = self._partial, b""
        return last

    def _clean(self, data: bytes) -> bytes:
        if b"\r" in data:
            data = _LONE_CR.sub("\ufffd".encode(), data)
        if data.isascii() and not self._decoder.getstate()[0]:
            return data
        text = self._decoder.decode(data, final=self._eof)
        self.damaged = self.damaged or "\ufffd" in text
        return text.encode()


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


def _read_head(raw) -> bytes:
    """The first bytes of the stream, up to at least a whole first non-blank line (or EOF)."""
    head = b""
    while True:
        chunk = raw.read(_HEAD)
        head += chunk
        if not chunk or b"\n" in head.lstrip():
            return head


class _Format:
    """The field names in force, and where they came from (for the reasons given)."""

    def __init__(self, names: tuple[str, ...], origin: str):
        self.names = names
        self.origin = origin  # "header", "log-format" or "default"

    def mismatch(self, tokens: list[str]) -> str:
        n, k = len(tokens), len(self.names)
        if n > k and tokens[k].startswith("#"):
            comment = " ".join(tokens[k:])[:80]
            return f"text after the {k} fields starting with '#' (an annotation, not flow-log data): {comment}"
        if self.origin == "header":
            return f"{n} values for the {k} fields of the file's header line"
        if self.origin == "log-format":
            return f"{n} values for the {k} fields of --log-format"
        return (
            f"{n} values for the {k} fields of the v2 default format (the file has no header line: "
            "pass the flow log's format with --log-format)"
        )


def read_text(
    raw,
    *,
    source: str,
    ingest_id: str,
    log_format: tuple[str, ...] | None,
    defaults: dict,
) -> Iterator[tuple[pa.Table, list[Problem]]]:
    """Yield (lake batch, quarantined lines) from a decompressed byte stream ``raw``."""
    head = _read_head(raw)
    if not head.strip():
        return
    lines = head.split(b"\n")
    blank = next(i for i, line in enumerate(lines) if line.strip())  # leading blank lines
    first_line = lines[blank]
    header = logformat.header_names(first_line)
    if header:
        fmt = _Format(header, "header")
        header_tokens = first_line.decode("ascii").split()
    else:
        fmt = _Format(log_format, "log-format") if log_format else _Format(logformat.DEFAULT, "default")
        header_tokens = list(fmt.names)
    columns = list(fmt.names)
    if header is None and logformat.starts_with_export_time(first_line):
        columns = [logformat.EXPORT_TIME, *columns]
        header_tokens = []
    ctx = Context(source, ingest_id, logformat.describe(fmt.names), defaults)

    skip = blank + 1 if header else 0
    numbers_of = _LineNumbers(skip + 1)
    odd: list[tuple[int, str]] = []

    def on_invalid(row) -> str:
        numbers_of.rejected.append(row.number)
        odd.append((row.number, row.text))
        return "skip"

    text = _Text(head, raw)
    reader = pacsv.open_csv(
        pa.PythonFile(text, mode="r"),
        read_options=pacsv.ReadOptions(column_names=columns, skip_rows=skip, use_threads=False, block_size=BLOCK_SIZE),
        parse_options=pacsv.ParseOptions(
            delimiter=" ", quote_char=False, ignore_empty_lines=False, invalid_row_handler=on_invalid
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in columns}, null_values=["-"], strings_can_be_null=True,
            check_utf8=False,  # _Text delivers UTF-8
        ),
    )
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        numbers = numbers_of.take(batch.num_rows)
        if text.damaged:
            batch, numbers, not_text = _drop_replaced(batch, numbers)
            if not_text:
                yield SCHEMA.empty_table(), not_text
        batch, numbers = _drop_blank_and_headers(batch, numbers, header_tokens, odd)
        if batch.num_rows:
            data = {n: batch.column(n) for n in columns if n != logformat.EXPORT_TIME}
            yield conform(data, numbers, ctx)
        if odd:
            yield from _recover(sorted(odd), columns, fmt, ctx)
            odd.clear()
        if text.cut:
            yield SCHEMA.empty_table(), text.cut
            text.cut = []
    if odd:  # lines of a last block that gave no rows
        yield from _recover(sorted(odd), columns, fmt, ctx)
    if text.cut:
        yield SCHEMA.empty_table(), text.cut


def _drop_replaced(batch: pa.RecordBatch, numbers: np.ndarray):
    """Rows holding bytes that were not UTF-8 (now U+FFFD): removed, and quarantined."""
    replaced = None
    for column in batch.columns:
        found = pc.fill_null(pc.match_substring(column, "\ufffd"), False)
        replaced = found if replaced is None else pc.or_(replaced, found)
    mask = replaced.to_numpy(zero_copy_only=False)
    problems = [Problem(int(numbers[i]), _NOT_TEXT, _row_text(batch, int(i))) for i in np.flatnonzero(mask)]
    return batch.filter(pa.array(~mask)), numbers[~mask], problems


def _row_text(batch: pa.RecordBatch, i: int) -> str:
    """The line a row came from (``-`` for NULL), for the quarantine."""
    return " ".join("-" if v is None else v for v in (column[i].as_py() for column in batch.columns))


def _blank(line: str) -> bool:
    """A line of nothing but spaces and tabs: skipped, like an empty one."""
    return not line.strip(" \t\r")


def _has_empty(column: pa.Array) -> bool:
    """Whether a string column holds an empty value (not a NULL), from its offsets where it can."""
    if column.null_count == len(column):
        return False
    if column.null_count:
        return pc.min(pc.binary_length(column)).as_py() == 0
    offsets = np.frombuffer(column.buffers()[1], np.int32, len(column) + 1, column.offset * 4)
    return bool((offsets[1:] == offsets[:-1]).any())


def _drop_blank_and_headers(batch: pa.RecordBatch, numbers: np.ndarray, header_tokens: list[str], odd: list):
    """Remove blank lines and repeated header lines. Rows with an empty value (runs of
    spaces that happened to give the right count) go to ``odd``, to be split again."""
    drop = None
    if any(_has_empty(c) for c in batch.columns):  # rare: a cheap test first
        empty = pc.fill_null(pc.equal(pc.binary_length(batch.column(0)), 0), False)
        for column in batch.columns[1:]:
            empty = pc.or_(empty, pc.fill_null(pc.equal(pc.binary_length(column), 0), False))
        for i in np.flatnonzero(empty.to_numpy(zero_copy_only=False)):
            line = _row_text(batch, int(i))
            if not _blank(line):
                odd.append((int(numbers[i]), line.strip()))
        drop = empty
    if header_tokens:
        header = pc.equal(batch.column(0), header_tokens[0])
        if batch.num_columns > 1:
            header = pc.and_(header, pc.equal(batch.column(1), header_tokens[1]))
        header = pc.fill_null(header, False)
        drop = header if drop is None else pc.or_(drop, header)
    if drop is None or not pc.any(drop).as_py():
        return batch, numbers
    keep = pc.invert(drop)
    return batch.filter(keep), numbers[keep.to_numpy(zero_copy_only=False)]


def _recover(odd, columns, fmt: _Format, ctx) -> Iterator[tuple[pa.Table, list[Problem]]]:
    """Lines pyarrow could not split into the format's fields: recover or quarantine each."""
    problems: list[Problem] = []
    by_format: dict[tuple[str, ...], list[tuple[int, list[str]]]] = {}
    for number, text in odd:
        if _blank(text):
            continue
        tokens = text.split()
        if "\ufffd" in text:
            problems.append(Problem(number, _NOT_TEXT, text[:_QUARANTINED_TEXT]))
        elif len(tokens) == len(columns):  # runs of spaces between fields
            by_format.setdefault(tuple(columns), []).append((number, tokens))
        elif len(tokens) == len(TGW_DEFAULT_FORMAT) and tokens[1] in _TGW_RESOURCE_TYPES:
            by_format.setdefault(tuple(TGW_DEFAULT_FORMAT), []).append((number, tokens))
        else:
            problems.append(Problem(number, fmt.mismatch(tokens), text[:_QUARANTINED_TEXT]))
    for fmt_columns, rows in by_format.items():
        data = {
            name: pa.array([None if r[1][i] == "-" else r[1][i] for r in rows], pa.string())
            for i, name in enumerate(fmt_columns)
            if name != logformat.EXPORT_TIME
        }
        numbers = np.array([r[0] for r in rows], np.int64)
        names_only = tuple(c for c in fmt_columns if c != logformat.EXPORT_TIME)
        yield conform(data, numbers, Context(ctx.source, ctx.ingest_id, logformat.describe(names_only), ctx.defaults))
    if problems:
        yield SCHEMA.empty_table(), problems
