"""Ingest sources into the lake: one source per worker process, streamed, idempotent.

A source has a ``name``, a ``size``, ``open()`` (a binary file object, possibly
seekable) and ``identity()`` → (ingest id, etag). ``LocalFile`` (here) is identified by
its content; S3 objects and CloudWatch stream-hours by their name, with the ETag (or a
content digest) as the version. Sources whose identity comes from a listing set
``LISTED = True`` and are skipped without a fetch when that version is known; they may
also give ``key_info()`` and a ``log_format``.

Each worker reads its source in bounded batches, writes one Parquet file per (table,
partition) in a staging area and publishes them under names derived from the ingest
id; the run's manifest entry is written after that, so the manifest never names data
that is not there, and a new version of a source overwrites (and prunes) the files of
the previous one. A source that cannot be fetched now is reported as left, not recorded.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import aws
from pipeline.lake import store as lake
from pipeline.ingest.keys import KeyInfo, parse_key
from pipeline.ingest.readers import SourceError, SourceIgnored, read_source
from pipeline.ingest.sources import SourceUnavailable
from pipeline.lake.storage import Store
from pipeline.tables import TABLES

STALE_STAGING = 6 * 3600  # seconds: a staging folder this old was left by a killed run


class _Outputs:
    """One Parquet writer per (table, partition), buffered into large row groups."""

    def __init__(self, staging: str, ingest_id: str):
        self.staging = staging
        self.stem = ingest_id[:16]
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.local: dict[str, str] = {}  # lake path -> staged file (flat: no directory per partition)
        self.buffers: dict[str, list[pa.Table]] = {}
        self.rows: dict[str, int] = {}

    def add(self, relpath: str, table: pa.Table) -> None:
        self.buffers.setdefault(relpath, []).append(table)
        self.rows[relpath] = self.rows.get(relpath, 0) + table.num_rows
        if sum(t.num_rows for t in self.buffers[relpath]) >= TABLES[relpath.split("/", 1)[0]].row_group:
            self._flush(relpath)

    def _flush(self, relpath: str) -> None:
        tables = self.buffers.pop(relpath, [])
        if not tables:
            return
        kind = TABLES[relpath.split("/", 1)[0]]
        if relpath not in self.writers:
            self.local[relpath] = os.path.join(self.staging, f"{len(self.writers)}.parquet")
            self.writers[relpath] = pq.ParquetWriter(
                self.local[relpath], kind.schema, compression="zstd", use_dictionary=list(kind.dictionary),
                write_statistics=list(kind.statistics))
        self.writers[relpath].write_table(pa.concat_tables(tables), row_group_size=kind.row_group)

    def close(self) -> list[str]:
        """Finish every file; returns their lake paths. Safe to call twice."""
        for relpath in list(self.buffers):
            self._flush(relpath)
        for writer in self.writers.values():
            writer.close()
        self.buffers.clear()
        return sorted(self.writers)


def _key_info(src) -> KeyInfo:
    """What the source says about its records: a source's own ``key_info()``, else its name's layout."""
    return src.key_info() if hasattr(src, "key_info") else parse_key(src.name)


def _unchanged(ingest_id: str, etag: str | None, known: dict[str, dict]) -> bool:
    return ingest_id in known and known[ingest_id].get("etag") == etag


def ingest_one(store: Store, src, log_format: tuple[str, ...] | None, known: dict[str, dict]) -> dict:
    """Read one source into the lake; returns its manifest entry.

    The entry says ``skipped`` if this version is already in, or ``left`` (with the
    reason) if the source could not be fetched; a new version of a source replaces
    the rows of the previous one.
    """
    retries_before = aws.retries()
    try:
        ingest_id, etag = src.identity()
    except OSError as exc:  # a listed file that vanished, became a directory or cannot be opened
        entry = _refused(store, src, f"could not read the file: {exc}")
        return {**asdict(entry), "retries": 0}
    base = {"ingest_id": ingest_id, "source": src.name, "size": src.size}
    if _unchanged(ingest_id, etag, known):
        return {**base, "skipped": True}
    previous = known.get(ingest_id)
    try:
        entry = asdict(_read_into_lake(store, src, ingest_id, etag, log_format, previous))
    except SourceUnavailable as exc:
        entry = {**base, "left": str(exc)}
    return {**entry, "retries": aws.retries() - retries_before}


def _refused(store: Store, src, reason: str) -> lake.SourceEntry:
    """The entry (and quarantine row) of a source that cannot even be identified; keyed by its name."""
    ingest_id = hashlib.sha256(f"unreadable {src.name}".encode()).hexdigest()
    store.write_parquet(f"quarantine/{ingest_id[:16]}.parquet",
                        lake.quarantine_table([lake.Problem(None, reason, "")], src.name, ingest_id))
    return lake.SourceEntry(ingest_id=ingest_id, source=src.name, size=src.size, refused=reason)


def _read_into_lake(store, src, ingest_id, etag, log_format, previous) -> lake.SourceEntry:
    info = _key_info(src)
    key_defaults = {"account": info.account, "region": info.region, "date": info.date}
    defaults = {"account_id": info.account, "region": info.region, "vpc_id": info.vpc_id}
    entry = lake.SourceEntry(ingest_id=ingest_id, source=src.name, size=src.size, etag=etag)
    staging = tempfile.mkdtemp(prefix=f"ingest-{ingest_id[:16]}-", dir=_staging_root(store))
    outputs = _Outputs(staging, ingest_id)
    problems = []
    formats: set[str] = set()
    try:
        try:
            for batch, bad in read_source(src.open, source=src.name, ingest_id=ingest_id,
                                          log_format=getattr(src, "log_format", None) or log_format,
                                          defaults=defaults):
                problems += bad
                if not batch.num_rows:
                    continue
                formats.update(pc.unique(batch["_format"]).to_pylist())
                tables, foreign = lake.route(batch)
                problems += foreign
                for name, table in tables.items():
                    if not table.num_rows:
                        continue
                    parts = lake.partition_values(table, key_defaults, TABLES[name])
                    values = pc.unique(parts).to_pylist()
                    for part in values:
                        rows = table if len(values) == 1 else table.filter(pc.equal(parts, part))
                        outputs.add(f"{name}/{part}/{outputs.stem}-0.parquet", rows)
        except SourceIgnored as exc:
            entry.ignored = str(exc)
        except SourceError as exc:
            entry.refused = str(exc)
            problems.append(lake.Problem(None, str(exc), ""))
        except OSError as exc:
            entry.refused = f"could not read the file: {exc}"
            problems.append(lake.Problem(None, entry.refused, ""))
        files = outputs.close()
        _publish(store, outputs.local, files, ingest_id, lake.quarantine_table(problems, src.name, ingest_id), previous)
    finally:
        outputs.close()
        shutil.rmtree(staging, ignore_errors=True)
    entry.files = files
    entry.formats = sorted(formats)
    for relpath, rows in outputs.rows.items():
        table = relpath.split("/", 1)[0]
        entry.records[table] = entry.records.get(table, 0) + rows
    entry.quarantined = sum(1 for p in problems if p.line is not None)
    return entry


def _publish(store: Store, staged: dict[str, str], files: list[str], ingest_id: str, quarantined: pa.Table,
             previous: dict | None) -> None:
    """Move the staged files into the lake, write the quarantine, prune what a previous version left."""
    quarantine = f"quarantine/{ingest_id[:16]}.parquet"
    try:
        for relpath in files:
            store.publish(staged[relpath], relpath)
        if quarantined.num_rows:
            store.write_parquet(quarantine, quarantined)
        elif previous:
            store.delete(quarantine)
        for stale in set(previous["files"]) - set(files) if previous else ():
            store.delete(stale)  # the previous version wrote a partition this one does not
    except OSError as exc:
        raise SourceUnavailable(f"could not write to the lake: {exc}") from None


def _staging_root(store: Store) -> str | None:
    if store.is_local:
        root = store.path("_staging")
        os.makedirs(root, exist_ok=True)
        return root
    return None


def _sweep_staging(store: Store) -> None:
    """Remove the staging folders killed runs left behind (local lakes; on S3 staging is in /tmp)."""
    root = _staging_root(store)
    cutoff = time.time() - STALE_STAGING
    for entry in os.scandir(root) if root else ():
        if entry.stat().st_mtime < cutoff:
            shutil.rmtree(entry.path, ignore_errors=True)


_worker_state: tuple | None = None


def _init_worker(location: str, s3_options: dict | None, log_format, known: dict) -> None:
    global _worker_state
    pa.set_cpu_count(1)  # the parallelism is the processes: one Arrow thread each avoids oversubscription
    _worker_state = (Store.open(location, s3_options=s3_options), log_format, known)


def _worker(src) -> dict:
    store, log_format, known = _worker_state
    return ingest_one(store, src, log_format, known)


@dataclass
class Summary:
    run_id: str
    sources: int = 0
    skipped: int = 0
    refused: int = 0
    ignored: int = 0  # sources without records by design (CloudTrail digest files)
    records: dict = field(default_factory=dict)
    quarantined: int = 0
    bytes: int = 0
    seconds: float = 0.0
    retries: int = 0  # requests retried (throttling, 5xx, dropped connections)
    left: list = field(default_factory=list)  # [source, reason]: not fetched, the next run retries

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
    known: dict[str, dict] | None = None,
    left: list | None = None,
) -> tuple[Summary, lake.Run]:
    """Ingest ``sources`` into the lake; versions already in (``known``, default: the
    lake's manifest) are skipped, without fetching sources whose identity is listed.
    ``left`` lists what planning could not reach ([what, reason]); it is reported with the run.

    The run's manifest is checkpointed as sources complete, so a killed run loses at
    most the sources in flight, and the next run redoes exactly those. Concurrent runs
    on one lake should hold ``locking.lake_lock``.
    """
    started = time.monotonic()
    _sweep_staging(store)
    run = lake.new_run(store, command)
    known = lake.manifest(store) if known is None else known
    known = {k: {"etag": v.get("etag"), "files": v.get("files", [])} for k, v in known.items()}
    summary = Summary(run.run_id, left=list(left or []))
    workers = max(1, workers or os.cpu_count() or 1)
    last_save = 0.0

    def done(entry: dict) -> None:
        nonlocal last_save
        summary.sources += 1
        summary.bytes += entry["size"]
        summary.retries += entry.pop("retries", 0)
        if entry.get("skipped"):
            summary.skipped += 1
        elif entry.get("left"):
            summary.left.append([entry["source"], entry["left"]])
        else:
            run.sources.append(entry)
            summary.refused += bool(entry["refused"])
            summary.ignored += bool(entry.get("ignored"))
            summary.quarantined += entry["quarantined"]
            for table, rows in entry["records"].items():
                summary.records[table] = summary.records.get(table, 0) + rows
        if progress:
            progress(entry)
        if time.monotonic() - last_save > 2:
            run.save(store)
            last_save = time.monotonic()

    todo = []
    for src in sources:  # listed sources know their identity without a fetch: skip known ones here
        if getattr(src, "LISTED", False) and _unchanged(*src.identity(), known):
            done({"ingest_id": src.identity()[0], "source": src.name, "size": src.size, "skipped": True})
        else:
            todo.append(src)
    if workers == 1 or len(todo) <= 1:
        for src in todo:
            done(ingest_one(store, src, log_format, known))
    elif todo:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx, initializer=_init_worker,
                                 initargs=(store.uri, store.s3_options, log_format, known)) as pool:
            for future in as_completed([pool.submit(_worker, src) for src in todo]):
                done(future.result())
    run.left = summary.left
    run.finished = lake.now_iso()
    run.status = "incomplete" if summary.left else "complete"
    run.save(store)
    summary.seconds = time.monotonic() - started
    return summary, run
