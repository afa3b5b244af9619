"""Compaction: the small data files of a partition merged into few large ones, atomically.

Every ingested source writes its own file per partition, and a flow log delivers thousands
a day; readers pay per file. ``compact`` merges a partition's small files (rows, provenance
``_source``/``_line``/``_ingest_id`` and all) into files of about ``TARGET`` bytes named
``compact-<digest>.parquet``, where the digest is that of the names it replaces.

The commit is one atomic write: the compacted file's record ``_state/compactions/<digest>.json``
(the file, the files it replaces, the sources whose rows it holds), written once the file is
in place. Readers see a table's ``live_files``: a compacted file only once its record exists,
the files it replaces never after, so a reader sees all the old files or the new one. A killed
compaction leaves an uncommitted file (invisible) or replaced files not yet deleted (invisible);
the next compaction of that partition removes them.

The manifest is untouched: a compacted source is still known as ingested, so its re-ingest
is skipped. A new version of a compacted source is written by ingest as usual, under its
replaced (so invisible) name, and ``release`` then commits, in one write, the compacted file
without that source's rows and with the new file visible.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import socket
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.lake import store as lake
from pipeline.lake.storage import Store
from pipeline.tables import TABLES

TARGET = 128 << 20  # bytes: the size compacted files aim for
AUTO_FILES = 32  # at the end of an ingest, a partition with more data files than this is compacted
DICTIONARY_READ = 256 << 10  # bytes: files this big on average are merged with their categorical columns as dictionaries
RECORDS = "_state/compactions"
PREFIX = "compact-"


@dataclass
class Compacted:
    """What a compaction did."""

    partitions: int = 0
    files_before: int = 0  # data files of the partitions compacted
    files_after: int = 0
    bytes: int = 0  # written
    rows: int = 0
    tables: dict = field(default_factory=dict)  # table -> partitions compacted

    def add(self, other: Compacted) -> None:
        """Count ``other`` (another partition's compaction) in."""
        self.partitions += other.partitions
        self.files_before += other.files_before
        self.files_after += other.files_after
        self.bytes += other.bytes
        self.rows += other.rows
        for table, n in other.tables.items():
            self.tables[table] = self.tables.get(table, 0) + n


def records(store: Store) -> dict[str, dict]:
    """Compacted file -> its record, for every record written (committed or not yet tidied)."""
    out = {}
    for path in store.list_files(RECORDS, ".json"):
        raw = store.read_bytes(path)
        if raw:
            record = json.loads(raw)
            out[record["file"]] = record
    return out


def _hidden(files, recs: dict[str, dict]) -> set[str]:
    """Of ``files`` (one table's, or one partition's), those readers must not see: compacted files
    without a record or replaced by a later one, and the files a committed compacted file replaces."""
    present = set(files)
    committed = {f: r for f, r in recs.items() if f in present}
    superseded = {f for r in committed.values() for f in r["replaces"] if f in committed}
    hidden = superseded | {f for f in present if _is_compacted(f) and f not in committed}
    for name, record in committed.items():
        if name not in superseded:
            hidden.update(record["replaces"])
    return hidden & present


def _is_compacted(relpath: str) -> bool:
    return posixpath.basename(relpath).startswith(PREFIX)


def live_files(store: Store, table: str, recs: dict[str, dict] | None = None) -> list[str]:
    """The data files of ``table`` that readers see (relative paths, sorted)."""
    files = store.list_files(table, ".parquet")
    hidden = _hidden(files, records(store) if recs is None else recs) if files else set()
    return [f for f in files if f not in hidden]


def compacted_sources(store: Store) -> set[str]:
    """The ingest ids whose rows are in a committed compacted file."""
    recs = records(store)
    present = {f for f in recs if store.exists(f)}
    return {i for f, r in recs.items() if f in present for i in r["sources"]}


def compact(store: Store, *, partitions: set[str] | None = None, min_files: int = 2, target: int = TARGET) -> Compacted:
    """Compact each partition (``table/aws_account=…/aws_region=…/dt=…``; default: all) holding at least
    ``min_files`` data files; small files (under half the target) are merged into files of about ``target``
    bytes. Hold the lake's lock (``locking.lake_lock``): ingest must not write meanwhile.

    Partitions of large files are compacted side by side, one thread per core (Parquet reads and writes
    release the GIL); each works on its own partition's files and compaction records only. Partitions of
    small files (under ``DICTIONARY_READ`` on average) go one at a time: buffering thousands of small
    tables takes memory per table, and two at once doubled the peak (0.6 to 1.1 GB for 10,000 files)."""
    recs = records(store)
    todo = _partitions(store, partitions)
    mine = {p: {} for p in todo}
    for name, record in recs.items():
        mine.get(posixpath.dirname(name), {})[name] = record
    large = _large([size for files in todo.values() for size in files.values()])
    with ThreadPoolExecutor(max_workers=max(1, min(len(todo), os.cpu_count() or 1) if large else 1)) as pool:
        parts = list(pool.map(lambda p: _compact_one(store, p, todo[p], mine[p], min_files, target), todo))
    done = Compacted()
    for part in parts:
        done.add(part)
    return done


def _large(sizes: list[int]) -> bool:
    """Whether files of these sizes (bytes) average ``DICTIONARY_READ`` or more."""
    return bool(sizes) and sum(sizes) >= DICTIONARY_READ * len(sizes)


def _compact_one(store: Store, partition: str, files: dict[str, int], recs: dict[str, dict], min_files: int,
                 target: int) -> Compacted:
    """One partition's compaction (``recs``: the records of its compacted files)."""
    done = Compacted()
    table = partition.split("/", 1)[0]
    files = _tidy(store, files, recs)
    if len(files) >= min_files:
        after = _compact_partition(store, table, files, recs, target, done)
        if after is not None:
            done.partitions, done.files_before, done.files_after = 1, len(files), after
            done.tables[table] = 1
    return done


def _partitions(store: Store, only: set[str] | None) -> dict[str, dict[str, int]]:
    """Partition -> its data files with their sizes: ``only`` those, or every partition of every record table."""
    if only is not None:
        return {p: store.sizes(p, ".parquet") for p in sorted(only)}
    out: dict[str, dict[str, int]] = {}
    for table in lake.RECORD_TABLES:
        for path, size in store.sizes(table, ".parquet").items():
            out.setdefault(posixpath.dirname(path), {})[path] = size
    return out


def compact_after_ingest(store: Store, written: list[str]) -> Compacted:
    """At the end of an ingest: compact the partitions it wrote to that hold more than ``AUTO_FILES`` files."""
    return compact(store, partitions={posixpath.dirname(f) for f in written}, min_files=AUTO_FILES + 1)


def _tidy(store: Store, files: dict[str, int], recs: dict[str, dict]) -> dict[str, int]:
    """Finish what a killed compaction (or ``release``) left in a partition: delete the files readers do
    not see, and the records of compacted files gone; returns the live files with their sizes."""
    hidden = _hidden(files, recs)
    for path in sorted(hidden):
        store.delete(path)
        if path in recs:
            store.delete(_record_path(path))
            del recs[path]
    return {f: s for f, s in files.items() if f not in hidden}


def _record_path(compacted: str) -> str:
    return f"{RECORDS}/{posixpath.basename(compacted)[len(PREFIX):-len('.parquet')]}.json"


def _compact_partition(store, table, files: dict[str, int], recs, target: int, done: Compacted) -> int | None:
    """Merge the partition's small files in groups of about ``target`` bytes; returns the partition's
    file count after, or None if there was nothing to merge."""
    small = [f for f, size in files.items() if size < target // 2]
    groups, group, size = [], [], 0
    for path in small:
        if group and size + files[path] > target:
            groups.append(group)
            group, size = [], 0
        group.append(path)
        size += files[path]
    groups.append(group)
    groups = [g for g in groups if len(g) > 1]
    if not groups:
        return None
    for group in groups:
        _merge(store, table, group, recs, done, dictionaries=_large([files[f] for f in group]))
    return len(files) - sum(len(g) - 1 for g in groups)


def _merge(store, table: str, group: list[str], recs: dict[str, dict], done: Compacted,
           drop: frozenset[str] = frozenset(), dictionaries: bool = True) -> None:
    """Write the rows of ``group`` (but those of the ingest ids ``drop``) as one compacted file and commit it."""
    replaces = sorted({f for path in group for f in recs.get(path, {}).get("replaces", [])} | set(group))
    digest = hashlib.sha256("\n".join(replaces).encode()).hexdigest()[:24]
    target = f"{posixpath.dirname(group[0])}/{PREFIX}{digest}.parquet"
    folder = _staging(store)
    try:
        staged = os.path.join(folder, "compact.parquet")
        rows, sources = _write(store, table, group, staged, drop, dictionaries)
        done.bytes += os.path.getsize(staged)
        done.rows += rows
        store.publish(staged, target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    record = {"file": target, "replaces": replaces, "sources": sorted(sources), "rows": rows,
              "created": lake.now_iso()}
    store.write_bytes(_record_path(target), json.dumps(record, indent=1).encode())  # the commit
    recs[target] = record
    _tidy(store, {f: 0 for f in [target, *group]}, recs)


def _staging(store: Store) -> str:
    root = lake.staging_root(store)
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"{socket.gethostname()}--{os.getpid()}--compact-", dir=root)


def _write(store: Store, table: str, group: list[str], staged: str, drop: frozenset[str],
           dictionaries: bool = True) -> tuple[int, set[str]]:
    """Stream the rows of ``group`` into ``staged``, one row group at a time; returns (rows, ingest ids).

    With ``dictionaries``, the table's categorical columns are read as Arrow dictionaries and written so,
    never decoded to strings and hashed again (half the work for files of thousands of records; for files of
    a few records, a dictionary each costs more than it saves). The file stores the table's plain schema, so
    it reads back exactly as the files it replaces."""
    kind = TABLES[table]
    read = kind.categorical if dictionaries else None
    schema = pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if f.name in (read or ()) else f
                        for f in kind.schema])
    writer = pq.ParquetWriter(staged, schema, compression="zstd", use_dictionary=list(kind.dictionary),
                              write_statistics=list(kind.statistics), store_schema=False)
    writer.add_key_value_metadata(kind.schema.metadata)
    rows, sources, buffer = 0, set(), []

    def flush():
        rows = pa.concat_tables(buffer)
        writer.write_table(rows.unify_dictionaries() if read else rows, row_group_size=kind.row_group)
        buffer.clear()

    try:
        for path in group:
            with store.fs.open_input_file(store.path(path)) as f:
                for batch in pq.ParquetFile(f, read_dictionary=read).iter_batches(batch_size=kind.row_group):
                    batch = _conform(pa.Table.from_batches([batch]), schema)
                    if drop:
                        batch = batch.filter(pc.invert(pc.is_in(batch["_ingest_id"], pa.array(sorted(drop)))))
                    sources.update(i for i in pc.unique(batch["_ingest_id"]).to_pylist() if i is not None)
                    buffer.append(batch)
                    rows += batch.num_rows
                    if sum(t.num_rows for t in buffer) >= kind.row_group:
                        flush()
        if buffer:
            flush()
    finally:
        writer.close()
    return rows, sources


def _conform(t: pa.Table, schema: pa.Schema) -> pa.Table:
    """``t`` with ``schema``'s columns in order: missing ones NULL (a file from before a column existed)."""
    if t.schema.equals(schema, check_metadata=False):
        return t
    columns = [t[f.name].cast(f.type) if f.name in t.column_names else pa.nulls(t.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def release(store: Store, ingest_ids: set[str]) -> None:
    """New versions of these sources are in the lake: rewrite the compacted files holding their old rows
    without them, and make visible the files ingest wrote under the names those files had replaced."""
    recs = records(store)
    for name, record in list(recs.items()):
        mine = ingest_ids & set(record["sources"])
        if not mine or not store.exists(name) or any(name in r["replaces"] for r in recs.values()):
            continue
        stems = tuple(i[:16] + "-" for i in mine)
        keep = [f for f in record["replaces"] if not posixpath.basename(f).startswith(stems)]
        _merge_without(store, name, record, keep, frozenset(mine), recs)


def _merge_without(store, name: str, record: dict, keep: list[str], drop: frozenset[str], recs) -> None:
    """Commit a copy of the compacted file ``name`` without the rows of ``drop``, replacing ``keep`` and it."""
    table = name.split("/", 1)[0]
    record = {**record, "replaces": keep}  # the names of the dropped sources' files become visible
    recs[name] = record
    _merge(store, table, [name], recs, Compacted(), drop)
