"""Read one source (a file or an object) into lake batches, whatever its delivery format.

The format is recognised by content, not by name: Parquet (``PAR1``), gzip (magic
bytes) around text or JSON, JSON (``{``/``[``), else space-separated text.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import FlowlogsError
from pipeline.ingest import arrowjson, events, jsonlogs
from pipeline.ingest import textlogs
from pipeline.ingest.conform import SCHEMA, Context, Problem, conform
from pipeline.fields import normalise

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # compressed bytes read at a time


class SourceError(FlowlogsError):
    """The source as a whole cannot be read (refused, unreadable, corrupt)."""


class SourceIgnored(Exception):
    """The source holds no records by design (a CloudTrail digest file): counted, not an error."""


class ContentDigest:
    """SHA-256 of the decompressed bytes of a gzip source, taken while it is read (``read_source``), so
    that its content is not inflated a second time only to be identified. ``hexdigest()`` is None unless
    the whole stream was inflated undamaged (``Gunzip`` says so): then the caller digests the file as before."""

    def __init__(self):
        self._sha = hashlib.sha256()
        self.complete = False

    def update(self, data: bytes) -> None:
        self._sha.update(data)

    def hexdigest(self) -> str | None:
        return self._sha.hexdigest() if self.complete else None


class Gunzip(io.RawIOBase):
    """Inflate a gzip stream (several members allowed, as concatenated deliveries are),
    never failing: on damage or truncation the stream ends at the last complete line
    before it, and ``problem()`` says what happened and where.

    Each ``read`` returns whole lines (the last one may lack its newline at the clean
    end of the data), straight from zlib with one copy: pyarrow reads through it.
    ``lines`` counts the newlines delivered, so ``lines + 1`` is the first line lost.
    """

    def __init__(self, raw, digest: ContentDigest | None = None):
        self._raw = raw
        self._digest = digest
        self._inflate = zlib.decompressobj(wbits=31)
        self._input = b""  # compressed bytes not yet inflated
        self._salvaged = b""  # inflated before the damage, not yet delivered
        self._tail = b""  # inflated bytes after the last newline delivered
        self._offset = 0  # compressed bytes inflated
        self._broken: str | None = None  # the damage, once the salvaged bytes are delivered
        self._done = False
        self.lines = 0
        self.damage: str | None = None
        self.lost = b""  # the start of the line the damage cut

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:  # everything inflated, the line cut by damage included (JSON)
            pieces = [self._tail]
            self._tail = b""
            while not self._done:
                if data := self._inflated(1 << 24):
                    self.lines += data.count(b"\n")
                    pieces.append(data)
            return b"".join(pieces)
        while not self._done and len(self._tail) < size:  # never more than asked: pyarrow relies on it
            data = self._inflated(size - len(self._tail))
            if data is None:
                continue
            cut = data.rfind(b"\n")
            if cut < 0:
                self._tail += data
                continue
            out = b"".join((self._tail, memoryview(data)[: cut + 1]))
            self._tail = data[cut + 1 :]
            self.lines += out.count(b"\n")
            return out
        out, self._tail = self._tail[:size], self._tail[size:]  # the last line, or a piece of a huge one
        return out

    def _inflated(self, limit: int) -> bytes | None:
        """Up to ``limit`` inflated bytes; None when the data ended (or broke) and ``_done`` is set."""
        out = self._inflate_some(limit)
        if self._digest is not None:
            if out:
                self._digest.update(out)
            self._digest.complete = self._done and self.damage is None  # every byte inflated, undamaged
        return out

    def _inflate_some(self, limit: int) -> bytes | None:
        if self._salvaged:
            out, self._salvaged = self._salvaged[:limit], self._salvaged[limit:]
            return out
        if self._broken:
            self._fail(self._broken)
            return None
        if not self._input:
            self._input = self._raw.read(_CHUNK)
            if not self._input:
                if self._inflate.eof:
                    self._done = True
                else:
                    self._fail(f"the gzip data ends early (truncated after {self._offset:,} compressed bytes)")
                return None
        saved = self._inflate.copy()
        try:
            out = self._inflate.decompress(self._input, limit)
        except zlib.error as exc:
            self._salvage(saved, exc)
            return None
        self._offset += len(self._input) - len(self._inflate.unconsumed_tail) - len(self._inflate.unused_data)
        self._input = self._inflate.unconsumed_tail
        if self._inflate.eof and self._inflate.unused_data:
            rest = self._inflate.unused_data
            if rest.startswith(GZIP_MAGIC):  # the next gzip member
                self._inflate = zlib.decompressobj(wbits=31)
                self._input = rest
            elif rest.strip(b"\0"):
                self._broken = f"data after the end of the gzip stream, at compressed byte {self._offset:,}"
            else:
                self._input = b""  # zero padding after the last member
        return out

    def _salvage(self, inflate, exc: zlib.error) -> None:
        """Inflate what comes before the damage, byte by byte (damage is rare), then stop there."""
        out = []
        for i in range(len(self._input)):
            try:
                out.append(inflate.decompress(self._input[i : i + 1]))
            except zlib.error:
                break
            self._offset += 1
        self._salvaged = b"".join(out)
        self._input = b""
        if "check" in str(exc):  # "incorrect data/length check": the trailer, after all the data
            self._broken = f"the gzip checksum does not match ({exc})"
        else:
            self._broken = f"the gzip data is corrupt near compressed byte {self._offset:,} ({exc})"

    def _fail(self, reason: str) -> None:
        self._done = True
        self.damage = reason
        if "checksum" not in reason:  # a checksum fails after all the data: nothing is cut
            self.lost, self._tail = self._tail, b""

    def problem(self) -> Problem | None:
        """The damage as a quarantined line of text: where it is, and what was kept."""
        if self.damage is None:
            return None
        if "checksum" in self.damage:
            reason = f"{self.damage}: the file is damaged, its {self.lines:,} lines may be wrong; re-download it"
        else:
            reason = (f"{self.damage}: line {self.lines + 1:,} and everything after it are lost; "
                      f"the {self.lines:,} lines before it were read")
        return Problem(self.lines + 1, reason, self.lost[:200].decode("utf-8", "replace"))


def read_source(
    opener,
    *,
    source: str,
    ingest_id: str,
    log_format: tuple[str, ...] | None,
    defaults: dict,
    digest: ContentDigest | None = None,
) -> Iterator[tuple[pa.Table, list[Problem]]]:
    """Yield (lake batch, quarantined lines). ``opener()`` returns a fresh binary file object; a gzip
    source's decompressed bytes are fed to ``digest``."""
    with opener() as f:
        first = f.read(1 << 16)
    if first[:4] == b"PAR1":
        yield from _read_parquet(opener, source, ingest_id, defaults)
        return
    gz = first[:2] == GZIP_MAGIC
    try:
        head = zlib.decompressobj(wbits=31).decompress(first, 4096) if gz else first
    except zlib.error as exc:
        raise SourceError(f"not a valid gzip file ({exc}); re-download it or remove it from the input") from None
    with opener() as f:
        stream = Gunzip(f, digest) if gz else f
        if head.lstrip()[:1] in (b"{", b"["):
            yield from _read_json(stream, source, ingest_id, log_format, defaults)
            return
        try:
            yield from textlogs.read_text(
                stream, source=source, ingest_id=ingest_id, log_format=log_format, defaults=defaults
            )
        except pa.ArrowInvalid as exc:  # pyarrow gave up on the text: keep what came before
            raise SourceError(f"the text could not be parsed ({exc}); the records before were kept") from None
        damage = stream.problem() if gz else None
    if damage:
        yield SCHEMA.empty_table(), [damage]


def _read_json(stream, source, ingest_id, log_format, defaults):
    data = stream.read()
    damage = stream.damage if isinstance(stream, Gunzip) else None
    typed = None if damage else arrowjson.bulk(data, source, ingest_id, defaults)
    if typed is not None:
        yield typed, []
        return
    try:
        streams, rows, found = jsonlogs.split(data, partial=damage is not None,
                                              found=events.Events(source, ingest_id, defaults))
    except (jsonlogs.NotFlowLogs, UnicodeDecodeError) as exc:
        raise SourceError(f"refused: {exc}") from None
    if found.digests and not (streams or rows or found.records or found.problems):
        raise SourceIgnored("a CloudTrail digest file (signatures of the trail's log files, no events)")
    yield from found.batches()
    ctx = Context(source, ingest_id, "", defaults)
    yield from jsonlogs.read_rows(rows, ctx)
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
    if damage:
        last = max([n for m in streams for n in m.numbers] + [n for n, _ in rows] + [found.last], default=0)
        yield SCHEMA.empty_table(), [Problem(last + 1, f"{damage}: the records after number {last:,} are lost", "")]


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
