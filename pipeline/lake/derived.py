"""Derived tables: the flow records' reduction, kept in the lake once per data file version.

A scheduled run (``flowlogs run``) looks at a window that mostly overlaps the previous run's;
reducing the same records again each time costs in proportion to the window (or the lake), not
to what is new. So each live data file of ``flows`` is reduced once (``queries/flow_reduction.sql``:
one row per hour of the records' start, ENI, addresses, ports, protocol, direction and action) into
``derived/flow_reduction/<the data file's partition>/<digest>.parquet``, and its commit record
``_state/derived/flow_reduction/<digest>.json`` says what it was built from (the data file: path,
size, modification time), its records' first start and last end (the lake's time bounds, ``bounds``,
without reading the records) and, per hour, its records' first and last start and end.

Freshness: a derived file is used only while its data file is live with the same path, size and
modification time (``fresh``); a late delivery is a new data file (its own derived file, built
by the next refresh), a new version of a source rewrites its data file (a new one), and a
compaction's merged file is a new data file too: its rows are reduced again once, and the
derived files of the files it replaced become stale (deleted by the next refresh).

Reading (``window_reduction``): for the window ``[since, until)``, a (data file, hour) whose
records all overlap the window (last start before ``until``, first end at or after ``since``)
is read from its derived rows; the window's other records (data files not derived yet, hours cut
by the window's ends) are reduced from the records. Both are added up per key
(``queries/flow_reduction_window.sql``), which gives the values ``rec`` of ``conversations.sql``
computes from the records: counts and sums add, minimums and maximums and ``bool_or`` combine.
The conversations are then assembled from those rows by the rest of ``conversations.sql``, so a
conversation spanning an hour boundary or two delivery files is one conversation
(``pipeline.analysis.conversations``, in parts when the window's rows would not fit the memory limit).

The commit is the record, written after the derived file is in place; a killed build leaves
an unrecorded file (never read; deleted by the next refresh). Readers never write: ``refresh``
runs under the lake's lock (``flowlogs run``, ``flowlogs lake rebuild``). Local lakes only: on
S3 the analysis reads the records (the derived path needs DuckDB to read the lake's files).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline import queries
from pipeline.lake import compaction, limits
from pipeline.lake import store as lake
from pipeline.lake.storage import Store
from pipeline.tables import TABLES
from pipeline.times import iso

NAME = "flow_reduction"
DATA = f"derived/{NAME}"
STATE = f"_state/derived/{NAME}"
HOUR = 3600


@dataclass
class Built:
    """What a refresh did."""

    built: int = 0  # data files reduced
    records: int = 0  # their records
    rows: int = 0  # derived rows written
    removed: int = 0  # stale derived files deleted
    fresh: int = 0  # data files whose derived file was already fresh
    seconds: float = 0.0
    hours: set = field(default_factory=set)  # hours (epoch seconds) built


def _identity(info: pafs.FileInfo, relpath: str) -> dict:
    return {"path": relpath, "size": info.size, "mtime_ns": info.mtime_ns}


def _digest(source: dict) -> str:
    return hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:24]


def live_sources(store: Store) -> dict[str, dict]:
    """Relative path -> identity (path, size, modification time) of every live ``flows`` data file."""
    live = set(compaction.live_files(store, "flows"))
    selector = pafs.FileSelector(store.path("flows"), recursive=True, allow_not_found=True)
    prefix = store.root.rstrip("/") + "/"
    out = {}
    for info in store.fs.get_file_info(selector):
        rel = info.path[len(prefix):]
        if info.type == pafs.FileType.File and rel in live:
            out[rel] = _identity(info, rel)
    return dict(sorted(out.items()))


def records(store: Store) -> dict[str, dict]:
    """Digest -> commit record of every derived file built (fresh or not)."""
    out = {}
    for path in store.list_files(STATE, ".json"):
        raw = store.read_bytes(path)
        if raw:
            out[posixpath.basename(path)[:-len(".json")]] = json.loads(raw)
    return out


def fresh(store: Store, sources: dict[str, dict] | None = None,
          recs: dict[str, dict] | None = None) -> dict[str, dict]:
    """Data file (relative path) -> the commit record of its derived file, for the live data files
    whose derived file was built from their current version."""
    sources = live_sources(store) if sources is None else sources
    recs = records(store) if recs is None else recs
    return {s["path"]: recs[_digest(s)] for s in sources.values() if _digest(s) in recs}


def refresh(store: Store, *, since: int | None = None, until: int | None = None, force: bool = False) -> Built:
    """Build the derived file of every live data file that has none for its current version (``force``:
    rebuild them too; ``since``/``until``: only data files with records starting in that time), and
    delete the derived files of data files gone or rewritten. Hold the lake's lock."""
    if not store.is_local:
        return Built()
    started = time.perf_counter()
    done = Built()
    sources = live_sources(store)
    recs = records(store)
    current = {_digest(s): s for s in sources.values()}
    done.removed += tidy(store, recs)
    for digest, rec in sorted(recs.items()):  # stale first: a rebuilt file gets a new record below
        if digest not in current:
            _remove(store, digest, rec)
            done.removed += 1
    for digest, source in current.items():
        rec = recs.get(digest)
        if rec is not None and not (force and _overlaps(rec, since, until)):
            done.fresh += 1
            continue
        if rec is None and (since is not None or until is not None) and not _file_overlaps(store, source, since, until):
            continue
        _build(store, digest, source, done)
    done.seconds = time.perf_counter() - started
    return done


def _overlaps(rec: dict, since: int | None, until: int | None) -> bool:
    return any((since is None or h["hour"] + HOUR > since) and (until is None or h["hour"] < until)
               for h in rec["hours"])


def _file_overlaps(store: Store, source: dict, since: int | None, until: int | None) -> bool:
    """Does the data file hold records starting in [since, until)? (Its footer's statistics.)"""
    meta = pq.read_metadata(store.path(source["path"]))
    index = meta.schema.to_arrow_schema().get_field_index("start")
    if index < 0:
        return True
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(index).statistics
        if stats is None or not stats.has_min_max:
            return True
        if (since is None or stats.max >= since) and (until is None or stats.min < until):
            return True
    return False


def _remove(store: Store, digest: str, rec: dict) -> None:
    store.delete(f"{STATE}/{digest}.json")  # first: a derived file without its record is never read
    store.delete(rec["file"])


def _rows_sql(columns: set[str], paths: list[str], where: str = "") -> str:
    """The ``flows`` columns of these files (a column a file does not have: NULL) and the hour of each record's
    start (what ``flow_reduction`` groups by), as ``flow_rows``."""
    from pipeline.lake.views import sql_literal

    schema = TABLES["flows"].schema
    select = ", ".join(f'"{f.name}"' if f.name in columns else f'CAST(NULL AS {_duck(f.type)}) AS "{f.name}"'
                       for f in schema)
    files = "[" + ", ".join(sql_literal(p) for p in paths) + "]"
    return (f'SELECT {select}, "start" - "start" % {HOUR} AS hour, filename '
            f"FROM read_parquet({files}, union_by_name = true, filename = true) {where}")


def _duck(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    return "VARCHAR"


def _build(store: Store, digest: str, source: dict, done: Built) -> None:
    import duckdb

    path = store.path(source["path"])
    columns = set(pq.read_schema(path).names)
    con = duckdb.connect()
    limits.apply(con, store)
    con.execute(f"CREATE TEMP VIEW flow_rows AS {_rows_sql(columns, [path])}")
    con.execute(queries.get(NAME).sql)
    folder = _staging(store)
    try:
        staged = os.path.join(folder, "derived.parquet")
        con.execute(f"COPY (SELECT * FROM {NAME}(flow_rows) ORDER BY hour) TO '{staged}' (FORMAT parquet, COMPRESSION zstd)")
        hours = [dict(zip(("hour", "records", "min_start", "max_start", "min_end", "max_end"), row)) for row in con.execute(
            '''SELECT hour, count(*), min("start"), max("start"), min("end"), max("end")
               FROM flow_rows
               WHERE "start" IS NOT NULL AND "end" IS NOT NULL AND srcaddr IS NOT NULL AND dstaddr IS NOT NULL AND protocol IS NOT NULL
               GROUP BY hour ORDER BY hour''').fetchall()]
        [(first, last)] = con.execute('SELECT min("start"), max("end") FROM flow_rows').fetchall()
        rows = pq.read_metadata(staged).num_rows
        target = f"{DATA}/{posixpath.dirname(source['path']).split('/', 1)[1]}/{digest}.parquet"
        store.publish(staged, target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        con.close()
    rec = {"file": target, "source": source, "rows": rows, "records": sum(h["records"] for h in hours),
           "hours": hours, "first_start": first, "last_end": last, "built": lake.now_iso(), "query": NAME}
    store.write_bytes(f"{STATE}/{digest}.json", json.dumps(rec, indent=1).encode())  # the commit
    done.built += 1
    done.records += rec["records"]
    done.rows += rows
    done.hours.update(h["hour"] for h in hours)


def _staging(store: Store) -> str:
    root = lake.staging_root(store)
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"{socket.gethostname()}--{os.getpid()}--derive-", dir=root)


def tidy(store: Store, recs: dict[str, dict] | None = None) -> int:
    """Delete derived files without a record (a killed build's); returns how many."""
    recorded = {r["file"] for r in (records(store) if recs is None else recs).values()}
    orphans = [f for f in store.list_files(DATA, ".parquet") if f not in recorded]
    for f in orphans:
        store.delete(f)
    return len(orphans)


# --- reading -------------------------------------------------------------------------------------

def window_reduction(con, store: Store, since: int, until: int) -> int | None:
    """Create the temp view ``flow_reduction_rows``: the window's records as rows of ``flow_reduction``, from
    the fresh derived files and the records they do not cover, not yet added up per key
    (``pipeline.analysis.conversations`` does that). Returns about how many rows it holds; None (nothing
    created) when the lake has no fresh derived file (or is on S3): the caller then reads the records."""
    if not store.is_local:
        return None
    sources = live_sources(store)
    derived = fresh(store, sources)
    if not derived:
        return None
    used = []  # (derived file, data file, hour) read from derived rows
    raw = []  # data files (some of) whose records are reduced here
    rows = 0.0  # about: each used hour's records at its derived file's rows per record, and the raw records
    for path in sources:
        rec = derived.get(path)
        if rec is None:
            raw.append(store.path(path))
            continue
        partial = False
        for h in rec["hours"]:
            if h["min_start"] >= until or h["max_end"] < since:
                continue  # no record of this hour overlaps the window
            if h["max_start"] < until and h["min_end"] >= since:
                used.append({"derived": store.path(rec["file"]), "filename": store.path(path), "hour": h["hour"]})
                rows += h["records"] * rec["rows"] / max(rec["records"], 1)
            else:
                partial = True
        if partial:
            raw.append(store.path(path))
    con.execute("CREATE OR REPLACE TEMP TABLE _derived_used AS SELECT unnest($derived::VARCHAR[]) AS derived, "
                "unnest($filename::VARCHAR[]) AS filename, unnest($hour::BIGINT[]) AS hour",
                {k: [u[k] for u in used] for k in ("derived", "filename", "hour")})
    parts = []
    if used:
        from pipeline.lake.views import sql_literal

        files = "[" + ", ".join(sql_literal(p) for p in sorted({u["derived"] for u in used})) + "]"
        parts.append(f"SELECT d.* EXCLUDE (filename) FROM read_parquet({files}, filename = true) AS d "
                     "SEMI JOIN _derived_used AS u ON d.filename = u.derived AND d.hour = u.hour")
    if raw:
        columns = set()
        for p in raw:
            meta = pq.read_metadata(p)
            columns.update(meta.schema.names)
            rows += meta.num_rows
        where = (f'WHERE "start" < {int(until)} AND "end" >= {int(since)}')
        con.execute(f"CREATE OR REPLACE TEMP VIEW flow_rows AS SELECT * FROM ({_rows_sql(columns, raw, where)}) AS r "
                    "ANTI JOIN _derived_used AS u ON r.filename = u.filename AND r.hour = u.hour")
        con.execute(queries.get(NAME).sql)
        parts.append(f"SELECT * FROM {NAME}(flow_rows)")
    if not parts:  # nothing overlaps the window: no rows, in the derived files' shape
        parts.append(f"SELECT * FROM read_parquet({_first_file(store, derived)}) WHERE false")
    con.execute("CREATE OR REPLACE TEMP VIEW flow_reduction_rows AS " + " UNION ALL BY NAME ".join(parts))
    return round(rows)


def bounds(store: Store) -> tuple[int | None, int | None] | None:
    """(first start, last end) of the ``flows`` records, as ``queries/flow_bounds.sql`` computes them, from
    the commit records of the derived files when every live data file has a fresh one (a scheduled run's
    lake): no record is read. None when some data file has none (the caller reads the records)."""
    if not store.is_local:
        return None
    sources = live_sources(store)
    derived = fresh(store, sources)
    if len(derived) < len(sources) or any("first_start" not in r for r in derived.values()):
        return None  # not derived yet, or derived before the commit record kept the bounds
    firsts = [r["first_start"] for r in derived.values() if r["first_start"] is not None]
    lasts = [r["last_end"] for r in derived.values() if r["last_end"] is not None]
    return (min(firsts) if firsts else None), (max(lasts) if lasts else None)


def _first_file(store: Store, derived: dict[str, dict]) -> str:
    from pipeline.lake.views import sql_literal

    return sql_literal(store.path(next(iter(derived.values()))["file"]))


def summary(store: Store) -> dict:
    """What ``flowlogs lake info`` shows of the derived tables."""
    sources = live_sources(store)
    recs = records(store)
    current = fresh(store, sources, recs)
    hours = sorted({h["hour"] for r in current.values() for h in r["hours"]})
    built = sorted(r["built"] for r in current.values())
    return {
        "table": NAME, "files": len(current), "data_files": len(sources),
        "not_derived": [p for p in sources if p not in current][:20],
        "not_derived_count": sum(1 for p in sources if p not in current),
        "stale": len(recs) - len(current),
        "rows": sum(r["rows"] for r in current.values()),
        "records": sum(r["records"] for r in current.values()),
        "hours": len(hours),
        "first_hour": iso(hours[0]) if hours else None, "last_hour": iso(hours[-1]) if hours else None,
        "first_built": built[0] if built else None, "last_built": built[-1] if built else None,
    }
