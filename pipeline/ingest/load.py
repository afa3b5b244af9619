"""Ingest sources into the lake: one source per worker process, streamed, idempotent.

A source has a ``name``, a ``size``, ``open()`` (a binary file object, possibly
seekable) and ``identity()`` → (ingest id, etag). An AWS delivery is identified by its
file name (``keys.delivery_id``) whichever way it comes, a local copy's version being its
decompressed content and an S3 object's its ETag; other local files by their decompressed
content, other S3 objects by their URL, CloudWatch stream-hours by their name. Sources whose identity comes from a listing set
``LISTED = True`` and are skipped without a fetch when that version is known; they may
also give ``key_info()`` and a ``log_format``.

Each worker reads its source in bounded batches, writes one Parquet file per (table,
partition) in a staging area and publishes them under names derived from the ingest
id; the run's manifest entry is written after that, so the manifest never names data
that is not there, and a new version of a source overwrites (and prunes) the files of
the previous one. A source that cannot be fetched now is reported as left, not recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import aws
from pipeline.errors import FlowlogsError
from pipeline.lake import compaction, limits
from pipeline.lake import store as lake
from pipeline.ingest.keys import KeyInfo, delivery_name, parse_key
from pipeline.ingest.readers import ContentDigest, SourceError, SourceIgnored, read_source
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
        rows = pa.concat_tables(tables)
        if relpath not in self.writers:
            self.local[relpath] = os.path.join(self.staging, f"{len(self.writers)}.parquet")
            self.writers[relpath] = pq.ParquetWriter(
                self.local[relpath], kind.schema, compression=_compression(rows), use_dictionary=list(kind.dictionary),
                write_statistics=list(kind.statistics))
        self.writers[relpath].write_table(rows, row_group_size=kind.row_group)

    def close(self) -> list[str]:
        """Finish every file; returns their lake paths. Safe to call twice."""
        for relpath in list(self.buffers):
            self._flush(relpath)
        for writer in self.writers.values():
            writer.close()
        self.buffers.clear()
        return sorted(self.writers)


def _compression(first: pa.Table) -> dict[str, str]:
    """zstd for the columns with a value in a file's first rows; none for the others, NULL there: the
    fields the source's format lacks (43 of the 74 columns for a v5 format), whose pages of NULLs zstd
    cannot shrink, while a zstd context per column costs about as much as writing a small delivery."""
    return {c: "zstd" if first[c].null_count < first.num_rows else "none" for c in first.column_names}


def _key_info(src) -> KeyInfo:
    """What the source says about its records: a source's own ``key_info()``, else its name's layout."""
    return src.key_info() if hasattr(src, "key_info") else parse_key(src.name)


def _unchanged(ingest_id: str, etag: str | None, known: dict[str, dict]) -> bool:
    """Whether this version of the source was read before (kept, or found shorter than the one kept),
    or its content was, from a file without the delivery's name (a local file's version is its content)."""
    entry = known.get(ingest_id)
    if entry is not None and etag in (entry.get("versions") or [entry.get("etag")]):
        return True
    return etag is not None and etag in known


def _with_contents(known: dict[str, dict]) -> dict[str, dict]:
    """``known``, and each delivery's content digests as ids: a renamed copy of a delivery is that delivery."""
    contents = {v: {"versions": [None]} for e in known.values() for v in e.get("versions") or () if v}
    return {**contents, **known}


class LakeWriteError(FlowlogsError):
    """The lake (or its staging folder) cannot be written: a full disk, a read-only file system.
    The run stops; what it published is consistent, and the next run redoes the rest."""


def ingest_one(store: Store, src, log_format: tuple[str, ...] | None, known: dict[str, dict], staging: str) -> dict:
    """Read one source into the lake; returns its manifest entry.

    The entry says ``skipped`` if this version is already in, or ``left`` (with the
    reason) if the source could not be fetched. A new version of a source replaces the
    rows of the previous one; for an AWS delivery met elsewhere (copies of one immutable
    file: truncated, gunzipped, fetched another way) only if it is not shorter.
    """
    retries_before = aws.retries()
    try:
        deferred = _deferred(src, known)
        ingest_id, etag = (deferred, None) if deferred else src.identity()
    except OSError as exc:  # a listed file that vanished, became a directory or cannot be opened
        entry = _refused(store, src, f"could not read the file: {exc}")
        return {**asdict(entry), "retries": 0}
    base = {"ingest_id": ingest_id, "source": src.name, "size": src.size}
    if not deferred and _unchanged(ingest_id, etag, known):
        return {**base, "skipped": True}
    previous = known.get(ingest_id)
    longest_wins = delivery_name(src.name) is not None
    seen = (lambda version: _unchanged(ingest_id, version, known)) if deferred else None
    try:
        entry = _read_into_lake(store, src, ingest_id, etag, log_format, previous, staging, longest_wins, seen)
    except SourceUnavailable as exc:
        entry = {**base, "left": str(exc)}
    return {**entry, "retries": aws.retries() - retries_before}


def _deferred(src, known: dict[str, dict]) -> str | None:
    """The ingest id of a local gzip delivery the lake does not know yet. Its version, the digest of its
    content, is taken while it is read (and checked after) instead of by inflating it once more first."""
    delivery = src.delivery_read() if hasattr(src, "delivery_read") else None
    return delivery if delivery and delivery not in known else None


def _refused(store: Store, src, reason: str) -> lake.SourceEntry:
    """The entry (and quarantine row) of a source that cannot even be identified; keyed by its name."""
    ingest_id = hashlib.sha256(f"unreadable {src.name}".encode()).hexdigest()
    _writing(store.write_parquet, f"quarantine/{ingest_id[:16]}.parquet",
             lake.quarantine_table([lake.Problem(None, reason, "")], src.name, ingest_id))
    return lake.SourceEntry(ingest_id=ingest_id, source=src.name, size=src.size, refused=reason)


def _writing(write, *args):
    """``write(*args)``, a failure to write being the lake's (the run stops), not the source's."""
    try:
        return write(*args)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise LakeWriteError(f"could not write to the lake: {exc.strerror or exc}{where}",
                             "free some space or fix the lake's folder, then run again: "
                             "the sources not finished are read again") from None


def _longer(entry: lake.SourceEntry, previous: dict) -> bool:
    """Whether ``entry`` reaches at least as far as ``previous`` (more lines; as many, fewer bad)."""
    return (entry.lines, -entry.quarantined) >= (previous.get("lines", 0), -previous.get("quarantined", 0))


def _read_into_lake(store, src, ingest_id, etag, log_format, previous, staging_root, longest_wins, seen=None) -> dict:
    """Read ``src`` into staged files and publish them; returns its manifest entry. With ``seen``, the
    version (``etag``) is the content's digest, taken while reading; ``seen(version)`` says the lake has it
    (a copy of a known delivery under a new name), and then nothing is published."""
    info = _key_info(src)
    key_defaults = {"account": info.account, "region": info.region, "date": info.date}
    defaults = {"account_id": info.account, "region": info.region, "vpc_id": info.vpc_id}
    entry = lake.SourceEntry(ingest_id=ingest_id, source=src.name, size=src.size, etag=etag)
    staging = _writing(tempfile.mkdtemp, "", f"{ingest_id[:16]}-", staging_root)
    outputs = _Outputs(staging, ingest_id)
    digest = ContentDigest() if seen else None
    problems = []
    formats: set[str] = set()
    try:
        try:
            for batch, bad in read_source(src.open, source=src.name, ingest_id=ingest_id,
                                          log_format=getattr(src, "log_format", None) or log_format,
                                          defaults=defaults, digest=digest):
                problems += bad
                if not batch.num_rows:
                    continue
                entry.lines = max(entry.lines, pc.max(batch["_line"]).as_py() or 0)
                formats.update(pc.unique(batch["_format"]).to_pylist())
                tables, foreign = lake.route(batch)
                problems += foreign
                for name, table in tables.items():
                    if not table.num_rows:
                        continue
                    for part, rows in lake.partitions(table, key_defaults, TABLES[name]):
                        _writing(outputs.add, f"{name}/{part}/{outputs.stem}-0.parquet", rows)
        except SourceIgnored as exc:
            entry.ignored = str(exc)
        except SourceError as exc:
            entry.refused = str(exc)
            problems.append(lake.Problem(None, str(exc), ""))
        except LakeWriteError:
            raise
        except OSError as exc:
            entry.refused = f"could not read the file: {exc}"
            problems.append(lake.Problem(None, entry.refused, ""))
        if seen:
            try:
                etag = entry.etag = digest.hexdigest() or src.identity()[1]  # damaged: digested as before
            except OSError as exc:  # gone since it was read
                return asdict(_refused(store, src, f"could not read the file: {exc}"))
            if seen(etag):
                return {"ingest_id": ingest_id, "source": src.name, "size": src.size, "skipped": True}
        entry.files = _writing(outputs.close)
        entry.formats = sorted(formats)
        for relpath, rows in outputs.rows.items():
            table = relpath.split("/", 1)[0]
            entry.records[table] = entry.records.get(table, 0) + rows
        entry.quarantined = sum(1 for p in problems if p.line is not None)
        entry.lines = max([entry.lines] + [p.line for p in problems if p.line is not None])
        versions = (previous.get("versions") or [previous.get("etag")]) if previous else []
        if previous and longest_wins and previous.get("source") != src.name and not _longer(entry, previous):
            return {**previous, "versions": versions + [etag], "kept": src.name}
        entry.versions = versions + [etag]
        _publish(store, outputs.local, entry.files, ingest_id, lake.quarantine_table(problems, src.name, ingest_id),
                 previous)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(Exception):
            outputs.close()
    return asdict(entry)


def _publish(store: Store, staged: dict[str, str], files: list[str], ingest_id: str, quarantined: pa.Table,
             previous: dict | None) -> None:
    """Move the staged files into the lake, write the quarantine, prune what a previous version left."""
    quarantine = f"quarantine/{ingest_id[:16]}.parquet"
    for relpath in files:
        _writing(store.publish, staged[relpath], relpath)
    if quarantined.num_rows:
        _writing(store.write_parquet, quarantine, quarantined)
    elif previous:
        _writing(store.delete, quarantine)
    for stale in set(previous["files"]) - set(files) if previous else ():
        _writing(store.delete, stale)  # the previous version wrote a partition this one does not


def _run_staging(store: Store, run_id: str) -> str:
    """This run's staging folder, after removing those of runs that are not running any more."""
    root = lake.staging_root(store)
    _writing(os.makedirs, root, 0o777, True)
    cutoff = time.time() - STALE_STAGING
    for entry in os.scandir(root):
        host, _, rest = entry.name.partition("--")
        pid = rest.partition("--")[0]
        if (host == socket.gethostname() and pid.isdigit() and not limits.alive(int(pid))) or entry.stat().st_mtime < cutoff:
            shutil.rmtree(entry.path, ignore_errors=True)
    folder = os.path.join(root, f"{socket.gethostname()}--{os.getpid()}--{run_id}")
    _writing(os.makedirs, folder, 0o777, True)
    return folder


_worker_state: tuple | None = None


def _init_worker(location: str, s3_options: dict | None, log_format, known: dict, staging: str, parent: int) -> None:
    global _worker_state
    pa.set_cpu_count(1)  # the parallelism is the processes: one Arrow thread each avoids oversubscription
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop (and says so)
    threading.Thread(target=_die_with, args=(parent,), name="parent-watch", daemon=True).start()
    _worker_state = (Store.open(location, s3_options=s3_options), log_format, known, staging)


def _die_with(parent: int) -> None:
    """End this worker as soon as its parent is gone (killed with SIGKILL, say): it must not go on
    publishing files for a run nobody records."""
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(1)


def _worker(group: list) -> list[dict]:
    store, log_format, known, staging = _worker_state
    return _ingest_group(store, group, log_format, known, staging)


def _ingest_group(store: Store, group: list, log_format, known: dict, staging: str) -> list[dict]:
    """Copies of one delivery, one after the other (each compared with what the previous left)."""
    known = dict(known)
    entries = []
    for src in group:
        entry = ingest_one(store, src, log_format, known, staging)
        if not entry.get("skipped") and not entry.get("left"):
            known[entry["ingest_id"]] = entry
        entries.append(entry)
    return entries


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
    kept: list = field(default_factory=list)  # copies of a delivery shorter than the version in the lake
    compacted: list = field(default_factory=list)  # [partitions, files before, files after]: the end's compaction

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
    most the sources in flight, and the next run redoes exactly those. SIGTERM stops the
    run cleanly (``Stopped``); its workers end with it, whatever kills it. Concurrent
    runs on one lake should hold ``locking.lake_lock``.
    """
    started = time.monotonic()
    run = lake.new_run(store, command)
    staging = _run_staging(store, run.run_id)
    known = _with_contents(lake.manifest(store) if known is None else known)
    summary = Summary(run.run_id, left=list(left or []))
    workers = max(1, workers or os.cpu_count() or 1)
    last_save = 0.0
    compacted = compaction.compacted_sources(store)  # their new versions must leave the compacted files

    def done(entry: dict) -> None:
        nonlocal last_save
        summary.sources += 1
        summary.bytes += entry["size"]
        summary.retries += entry.pop("retries", 0)
        if entry.get("skipped"):
            summary.skipped += 1
        elif entry.get("left"):
            summary.left.append([entry["source"], entry["left"]])
        elif entry.get("kept"):  # a shorter copy of a delivery already in: remembered, not read again
            summary.skipped += 1
            summary.kept.append(entry.pop("kept"))
            run.sources.append(entry)
        else:
            if entry["ingest_id"] in compacted:
                _writing(compaction.release, store, {entry["ingest_id"]})
                compacted.discard(entry["ingest_id"])
            run.sources.append(entry)
            summary.refused += bool(entry["refused"])
            summary.ignored += bool(entry.get("ignored"))
            summary.quarantined += entry["quarantined"]
            for table, rows in entry["records"].items():
                summary.records[table] = summary.records.get(table, 0) + rows
        if progress:
            progress(entry)
        if time.monotonic() - last_save > 2:
            _writing(run.save, store)
            last_save = time.monotonic()

    groups: dict[str, list] = {}
    for src in sources:  # listed sources know their identity without a fetch: skip known ones here
        if getattr(src, "LISTED", False) and _unchanged(*src.identity(), known):
            done({"ingest_id": src.identity()[0], "source": src.name, "size": src.size, "skipped": True})
        else:  # copies of one delivery go to one worker, one after the other
            groups.setdefault(delivery_name(src.name) or src.name, []).append(src)
    try:
        with _stop_on_sigterm():
            if workers == 1 or len(groups) <= 1:
                for group in groups.values():
                    for entry in _ingest_group(store, group, log_format, known, staging):
                        done(entry)
            elif groups:
                _in_workers(store, list(groups.values()), log_format, known, staging, workers, done)
    except Stopped as exc:
        run.status = "stopped"
        _writing(run.save, store)
        raise Stopped(f"{exc.message}: {len(run.sources)} sources were ingested, {summary.skipped} skipped",
                      "run the same command again: it goes on where this one stopped") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    run.left = summary.left
    run.finished = lake.now_iso()
    run.status = "incomplete" if summary.left else "complete"
    _writing(run.save, store)
    merged = _writing(compaction.compact_after_ingest, store, [f for e in run.sources for f in e.get("files", [])])
    if merged.partitions:
        summary.compacted = [merged.partitions, merged.files_before, merged.files_after]
    summary.seconds = time.monotonic() - started
    return summary, run


def _in_workers(store, groups, log_format, known, staging, workers, done) -> None:
    """The groups in worker processes; on any way out (SIGTERM, an error) the workers are ended."""
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(groups)), mp_context=ctx, initializer=_init_worker,
                               initargs=(store.uri, store.s3_options, log_format, known, staging, os.getpid()))
    try:
        for future in as_completed([pool.submit(_worker, group) for group in groups]):
            for entry in future.result():
                done(entry)
    except BaseException:
        for child in multiprocessing.active_children():
            child.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


class Stopped(FlowlogsError):
    """The run was asked to stop (SIGTERM, as ``timeout``, cron and ECS send)."""


@contextlib.contextmanager
def _stop_on_sigterm():
    """SIGTERM raises ``Stopped`` in the main thread (elsewhere signals cannot be caught)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Stopped(f"ingest stopped by {signal.Signals(signum).name}")

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
