"""Ingest sources into the lake: one source per worker process, streamed, idempotent.

A source is anything with a name, a size, a way to open it and a content identity
(``LocalFile`` here; S3 objects and CloudWatch streams elsewhere). Each worker reads
its source in bounded batches, writes one Parquet file per (table, partition) in a
staging area and publishes them; the run's manifest entry is written after that, so
the manifest never names data that is not there.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import lake
from .conform import SCHEMA
from .keys import parse_key
from .readers import SourceError, read_source
from .storage import Store

ROW_GROUP = 1 << 17
SKIP_SUFFIXES = (".md",)


@dataclass(frozen=True)
class LocalFile:
    path: str
    size: int

    @property
    def name(self) -> str:
        return self.path

    def open(self):
        return open(self.path, "rb")

    def identity(self) -> tuple[str, str | None]:
        """(ingest id, etag): the SHA-256 of the bytes, so a copy under another path is the same source."""
        digest = hashlib.sha256()
        with open(self.path, "rb") as f:
            while chunk := f.read(4 << 20):
                digest.update(chunk)
        return digest.hexdigest(), None


def local_sources(paths: Iterable[str | os.PathLike]) -> list[LocalFile]:
    """Every file under ``paths`` (files or directories), sorted; hidden files and docs skipped."""
    found: list[LocalFile] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"no such file or directory: {raw}")
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for p in candidates:
            rel = p.relative_to(path) if p != path else Path(p.name)
            if any(part.startswith(".") for part in rel.parts) or p.suffix in SKIP_SUFFIXES:
                continue
            found.append(LocalFile(str(p), p.stat().st_size))
    return found


class _Outputs:
    """One Parquet writer per (table, partition), buffered into large row groups."""

    def __init__(self, staging: str, ingest_id: str):
        self.staging = staging
        self.stem = ingest_id[:16]
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.buffers: dict[str, list[pa.Table]] = {}
        self.rows: dict[str, int] = {}

    def add(self, relpath: str, table: pa.Table) -> None:
        self.buffers.setdefault(relpath, []).append(table)
        self.rows[relpath] = self.rows.get(relpath, 0) + table.num_rows
        if sum(t.num_rows for t in self.buffers[relpath]) >= ROW_GROUP:
            self._flush(relpath)

    def _flush(self, relpath: str) -> None:
        tables = self.buffers.pop(relpath, [])
        if not tables:
            return
        if relpath not in self.writers:
            local = os.path.join(self.staging, relpath)
            os.makedirs(os.path.dirname(local), exist_ok=True)
            self.writers[relpath] = pq.ParquetWriter(local, SCHEMA, compression="zstd")
        self.writers[relpath].write_table(pa.concat_tables(tables), row_group_size=ROW_GROUP)

    def close(self) -> list[str]:
        for relpath in list(self.buffers):
            self._flush(relpath)
        for writer in self.writers.values():
            writer.close()
        return sorted(self.writers)


def ingest_one(store: Store, src, log_format: tuple[str, ...] | None, known: frozenset[str]) -> dict:
    """Read one source into the lake; returns its manifest entry (``skipped`` if already in)."""
    ingest_id, etag = src.identity()
    if ingest_id in known:
        return {"ingest_id": ingest_id, "source": src.name, "size": src.size, "skipped": True}
    info = parse_key(src.name)
    key_defaults = {"account": info.account, "region": info.region, "date": info.date}
    defaults = {"account_id": info.account, "region": info.region}
    entry = lake.SourceEntry(ingest_id=ingest_id, source=src.name, size=src.size, etag=etag)
    staging = tempfile.mkdtemp(prefix=f"ingest-{ingest_id[:16]}-", dir=_staging_root(store))
    outputs = _Outputs(staging, ingest_id)
    problems = []
    formats: set[str] = set()
    try:
        for batch, bad in read_source(
            src.open, source=src.name, ingest_id=ingest_id, log_format=log_format, defaults=defaults
        ):
            problems += bad
            if not batch.num_rows:
                continue
            formats.update(pc.unique(batch["_format"]).to_pylist())
            tables, foreign = lake.route(batch)
            problems += foreign
            for name, table in tables.items():
                if not table.num_rows:
                    continue
                parts = lake.partition_values(table, key_defaults)
                for part in pc.unique(parts).to_pylist():
                    outputs.add(f"{name}/{part}/{outputs.stem}-0.parquet", table.filter(pc.equal(parts, part)))
    except SourceError as exc:
        entry.refused = str(exc)
        problems.append(lake.Problem(None, str(exc), ""))
    except OSError as exc:
        entry.refused = f"could not read the file: {exc}"
        problems.append(lake.Problem(None, entry.refused, ""))
    try:
        files = outputs.close()
        for relpath in files:
            store.publish(os.path.join(staging, relpath), relpath)
        if problems:
            store.write_parquet(f"quarantine/{ingest_id[:16]}.parquet",
                                lake.quarantine_table(problems, src.name, ingest_id))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    entry.files = files
    entry.formats = sorted(formats)
    for relpath, rows in outputs.rows.items():
        table = relpath.split("/", 1)[0]
        entry.records[table] = entry.records.get(table, 0) + rows
    entry.quarantined = sum(1 for p in problems if p.line is not None)
    return asdict(entry)


def _staging_root(store: Store) -> str | None:
    if store.is_local:
        root = store.path("_staging")
        os.makedirs(root, exist_ok=True)
        return root
    return None


def _worker(args) -> dict:
    location, s3_options, src, log_format, known = args
    return ingest_one(Store.open(location, s3_options=s3_options) if s3_options is not None
                      else Store.open(location), src, log_format, known)


@dataclass
class Summary:
    run_id: str
    sources: int = 0
    skipped: int = 0
    refused: int = 0
    records: dict | None = None
    quarantined: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.quarantined or self.refused)


def ingest(
    store: Store,
    sources: list,
    *,
    log_format: tuple[str, ...] | None = None,
    workers: int | None = None,
    progress: Callable[[dict], None] | None = None,
    command: str = "ingest",
    s3_options: dict | None = None,
) -> tuple[Summary, lake.Run]:
    """Ingest ``sources`` into the lake; already-ingested content is skipped.

    The run's manifest is checkpointed as sources complete, so a killed run
    loses at most the sources in flight, and the next run redoes exactly those.
    """
    started = time.monotonic()
    run = lake.new_run(store, command)
    known = frozenset(lake.manifest(store))
    summary = Summary(run.run_id, records={})
    workers = max(1, workers or os.cpu_count() or 1)
    last_save = 0.0

    def done(entry: dict) -> None:
        nonlocal last_save
        summary.sources += 1
        summary.bytes += entry["size"]
        if entry.get("skipped"):
            summary.skipped += 1
        else:
            run.sources.append(entry)
            summary.refused += bool(entry["refused"])
            summary.quarantined += entry["quarantined"]
            for table, rows in entry["records"].items():
                summary.records[table] = summary.records.get(table, 0) + rows
        if progress:
            progress(entry)
        if time.monotonic() - last_save > 2:
            run.save(store)
            last_save = time.monotonic()

    if workers == 1 or len(sources) <= 1:
        for src in sources:
            done(ingest_one(store, src, log_format, known))
    else:
        location = store.uri
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_worker, (location, s3_options, src, log_format, known)) for src in sources]
            for future in as_completed(futures):
                done(future.result())
    run.finished = lake.now_iso()
    run.status = "complete"
    run.save(store)
    summary.seconds = time.monotonic() - started
    return summary, run
