"""Read one source (a file or an object) into lake batches, whatever its delivery format.

The format is recognised by content, not by name: Parquet (``PAR1``), gzip (magic
bytes) around text or JSON, JSON (``{``/``[``), else space-separated text.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import jsonlogs, textlogs
from .conform import SCHEMA, Context, Problem, conform
from .fields import normalise

GZIP_MAGIC = b"\x1f\x8b"


class SourceError(Exception):
    """The source as a whole cannot be read (refused, unreadable, corrupt)."""


def _gunzip_head(raw: bytes) -> bytes:
    return zlib.decompressobj(wbits=31).decompress(raw, 4096)


def read_source(
    opener,
    *,
    source: str,
    ingest_id: str,
    log_format: tuple[str, ...] | None,
    defaults: dict,
) -> Iterator[tuple[pa.Table, list[Problem]]]:
    """Yield (lake batch, quarantined lines). ``opener()`` returns a fresh binary file object."""
    with opener() as f:
        magic = f.read(4)
    if magic == b"PAR1":
        yield from _read_parquet(opener, source, ingest_id, defaults)
        return
    gz = magic[:2] == GZIP_MAGIC
    with opener() as f:
        first = f.read(1 << 16)
    try:
        head = _gunzip_head(first) if gz else first
    except zlib.error as exc:
        raise SourceError(f"not a valid gzip file ({exc}); re-download it or remove it from the input") from None
    if head.lstrip()[:1] in (b"{", b"["):
        yield from _read_json(opener, gz, source, ingest_id, log_format, defaults)
        return
    with opener() as f:
        stream = pa.input_stream(f, compression="gzip" if gz else None, buffer_size=1 << 20)
        try:
            yield from textlogs.read_text(
                stream, source=source, ingest_id=ingest_id, log_format=log_format, defaults=defaults
            )
        except (OSError, pa.ArrowInvalid) as exc:
            raise SourceError(_damage(exc)) from None


def _damage(exc: Exception) -> str:
    text = str(exc)
    if "gzip" in text.lower() or "zlib" in text.lower() or "truncated" in text.lower():
        return f"the gzip data is corrupt or truncated ({text}); records before the damage were kept"
    return f"the file could not be read to the end ({text}); records before the damage were kept"


def _read_json(opener, gz, source, ingest_id, log_format, defaults):
    with opener() as f:
        data = f.read()
    if gz:
        try:
            data = zlib.decompressobj(wbits=31).decompress(data)
        except zlib.error as exc:
            raise SourceError(f"the gzip data is corrupt ({exc})") from None
    try:
        streams, rows = jsonlogs.split(data)
    except (jsonlogs.NotFlowLogs, UnicodeDecodeError) as exc:
        raise SourceError(f"refused: {exc}") from None
    ctx = Context(source, ingest_id, "", defaults)
    if rows:
        yield jsonlogs.read_rows(rows, ctx)
    for messages in streams:
        eni = jsonlogs.stream_eni(messages.stream)
        stream_defaults = {**defaults, **({"interface_id": eni} if eni else {})}
        text = ("\n".join(messages.texts) + "\n").encode()
        numbers = np.array(messages.numbers, np.int64)
        for table, problems in textlogs.read_text(
            io.BytesIO(text), source=source, ingest_id=ingest_id, log_format=log_format, defaults=stream_defaults
        ):
            # read_text numbers the joined lines 1..n: map them back to event numbers.
            table = table.set_column(
                SCHEMA.get_field_index("_line"), "_line", pa.array(numbers[table.column("_line").to_numpy() - 1])
            )
            problems = [Problem(int(numbers[p.line - 1]), p.reason, p.text) for p in problems]
            yield table, problems


def _read_parquet(opener, source, ingest_id, defaults):
    with opener() as f:
        parquet = pq.ParquetFile(f)
        names = [normalise(n) for n in parquet.schema_arrow.names]
        ctx = Context(source, ingest_id, " ".join(names), defaults)
        offset = 0
        for batch in parquet.iter_batches(batch_size=1 << 17):
            columns = {name: batch.column(i) for i, name in enumerate(names)}
            numbers = np.arange(offset + 1, offset + batch.num_rows + 1, dtype=np.int64)
            offset += batch.num_rows
            yield conform(columns, numbers, ctx)
