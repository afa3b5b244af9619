"""Summaries of the lake's contents for ``flowlogs lake info``."""

from __future__ import annotations

from collections import Counter

import pyarrow.compute as pc
import pyarrow.dataset as ds

from pipeline.fields import BY_NAME, RECORD_IDENTITY

from pipeline.lake import derived, limits
from pipeline.lake import store as lake
from pipeline.lake.compaction import live_files
from pipeline.lake.storage import Store
from pipeline.times import iso
from pipeline.tables import TABLES


def _dataset(store: Store, table: str):
    files = [store.path(p) for p in (store.list_files(table, ".parquet") if table == "quarantine"
                                     else live_files(store, table))]
    if not files:
        return None
    return ds.dataset(files, filesystem=store.fs, format="parquet", partitioning="hive",
                      partition_base_dir=store.path(table))


def lake_info(store: Store) -> dict:
    all_runs = lake.runs(store)
    manifest = lake.manifest(store, all_runs)
    tables = {}
    duplicates = duplicate_records(store)
    for kind in TABLES.values():
        data = _dataset(store, kind.name)
        if data is None:
            tables[kind.name] = {"records": 0, "partitions": 0, "files": 0, "first": None, "last": None,
                                 "duplicates": duplicates.get(kind.name, 0)}
            continue
        t = data.to_table(columns=list(dict.fromkeys(kind.time + kind.unique)))
        parts = {f.rsplit("/", 1)[0] for f in data.files}
        tables[kind.name] = {"records": _events(t, kind.unique), "partitions": len(parts), "files": len(data.files),
                             "first": iso(pc.min(t[kind.time[0]]).as_py()), "last": iso(pc.max(t[kind.time[-1]]).as_py()),
                             "duplicates": duplicates.get(kind.name, 0)}
        if kind.unique:
            tables[kind.name]["stored"] = t.num_rows  # rows, duplicates included (the view shows one of each)
    q = _dataset(store, "quarantine")
    formats = Counter(f for e in manifest.values() for f in e.get("formats", []))
    return {
        "lake": store.uri,
        "runs": len(all_runs),
        "sources": len(manifest),
        "tables": tables,
        "quarantined": q.count_rows(filter=ds.field("_line").is_valid()) if q else 0,  # lines; refused files below
        "formats": dict(formats.most_common()),
        "refused": {e["source"]: e["refused"] for e in manifest.values() if e.get("refused")},
        "ignored": sum(1 for e in manifest.values() if e.get("ignored")),
        "last_run": _last_run(all_runs),
        "derived": derived.summary(store),
    }


def duplicate_records(store: Store) -> dict[str, int]:
    """Per record table, the records that are in it more than once from different sources (the same
    record delivered twice, or one delivery ingested under two identities): the extra copies."""
    import duckdb

    from pipeline.lake.views import register_record_views

    con = duckdb.connect()
    limits.apply(con, store)
    register_record_views(con, store)
    columns = ", ".join(f'"{BY_NAME[name].column}"' for name in RECORD_IDENTITY)
    # flow record tables; CloudTrail events are one per event id already (the api_calls view)
    return {table: con.execute(
        f'SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n, count(DISTINCT "_ingest_id") AS sources '
        f'FROM "{table}" GROUP BY {columns}) WHERE sources > 1').fetchall()[0][0] for table in lake.RECORD_TABLES
        if all(BY_NAME[name].column in TABLES[table].schema.names for name in RECORD_IDENTITY)}


def _last_run(all_runs: list[dict]) -> dict | None:
    """The latest run: its status (running also means killed) and what it left for the next run."""
    if not all_runs:
        return None
    run = all_runs[-1]
    return {"run_id": run["run_id"], "command": run["command"], "status": run["status"], "left": run.get("left", [])}


def quarantine_rows(store: Store, limit: int) -> list[dict]:
    q = _dataset(store, "quarantine")
    return q.head(limit).to_pylist() if q else []


def _events(t, unique: tuple[str, ...]) -> int:
    """Rows, counting rows with the same ``unique`` values once (a NULL first value: each row)."""
    import pyarrow.compute as pc

    if not unique:
        return t.num_rows
    valid = pc.is_valid(t[unique[0]])
    return t.num_rows - (pc.sum(valid).as_py() or 0) + t.filter(valid).group_by(list(unique)).aggregate([]).num_rows
