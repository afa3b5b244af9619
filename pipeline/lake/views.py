"""The lake's tables as DuckDB views: every table of ``pipeline.tables`` and ``quarantine``.

Record views carry the partition columns ``aws_account``, ``aws_region`` and ``dt``
(all VARCHAR: account ids keep their leading zeros, and ``dt`` may be ``unknown``).
A local lake is read with ``read_parquet`` over its live files (``compaction.live_files``); a lake on S3 through pyarrow
datasets on the lake's own S3 filesystem (credentials included), registered with the
connection, so DuckDB needs no httpfs extension. A table with no files yet is still a
view, empty, with the full schema. A table whose source delivers events more than once
(``api_calls``: CloudTrail) shows each event once; its stored rows are ``_api_calls_rows``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds

from pipeline.lake import compaction
from pipeline.lake import store as lake
from pipeline.lake.storage import Store
from pipeline.tables import TABLES

PARTITIONS = pa.schema([(name, pa.string()) for name in lake.PARTITION_KEYS])


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal (paths may hold quotes)."""
    return "'" + text.replace("'", "''") + "'"


def lock_down(con, store: Store, scratch: str | None = None) -> None:
    """After the views are registered: DuckDB may open no file but the lake's (and its ``scratch``
    spill folder), and the configuration is locked so that SQL cannot undo it. Views over a lake on S3
    are pyarrow datasets, read by pyarrow, so they are not affected."""
    folders = ([store.root] if store.is_local else []) + ([scratch] if scratch else [])
    con.execute("SET allowed_directories = [" + ", ".join(sql_literal(f.rstrip("/") + "/") for f in folders) + "]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def register_record_views(con, store: Store) -> None:
    """Create (or replace) the lake's views on the DuckDB connection ``con``, over the files live now
    (a compaction committed later is seen by the next connection)."""
    recs = compaction.records(store)
    for kind in TABLES.values():
        schema = pa.schema(list(kind.schema) + list(PARTITIONS))
        _register(con, store, kind.name, compaction.live_files(store, kind.name, recs), schema,
                  partitioned=True, unique=kind.unique)
    _register(con, store, "quarantine", store.list_files("quarantine", ".parquet"), lake.QUARANTINE_SCHEMA,
              partitioned=False)


def _register(con, store: Store, table: str, files: list[str], schema: pa.Schema, *, partitioned: bool,
              unique=()) -> None:
    """``table`` as a view of ``files``; with ``unique`` columns, one row per event (the stored
    rows stay readable as ``_<table>_rows``): the first by source and position."""
    rows = f"_{table}_rows" if unique else table
    for name in {table, rows}:
        con.execute(f'DROP VIEW IF EXISTS "{name}"')
    if not files:
        con.register(rows, schema.empty_table())
    elif store.is_local:
        paths = "[" + ", ".join(sql_literal(store.path(f)) for f in files) + "]"
        hive = ", hive_partitioning = true, hive_types = {" + ", ".join(
            f"'{k}': 'VARCHAR'" for k in lake.PARTITION_KEYS) + "}" if partitioned else ""
        columns = ", ".join(f'"{name}"' for name in schema.names)
        con.execute(f'CREATE VIEW "{rows}" AS SELECT {columns} FROM read_parquet({paths}, '
                    f"union_by_name = true{hive})")
    else:
        dataset = ds.dataset(
            [store.path(f) for f in files], filesystem=store.fs, format="parquet", schema=schema,
            partitioning=ds.partitioning(PARTITIONS, flavor="hive") if partitioned else None,
            partition_base_dir=store.path(table),
        )
        con.register(rows, dataset)
    if unique:
        con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM "{rows}" {one_per_event(unique)}')


def one_per_event(unique: tuple[str, ...]) -> str:
    """The clause that keeps one row per event (the first by source and position); rows whose
    first ``unique`` column is NULL are all kept."""
    key = ", ".join(f'"{c}"' for c in unique)
    return (f'QUALIFY "{unique[0]}" IS NULL '
            f"OR row_number() OVER (PARTITION BY {key} ORDER BY _source, _line) = 1" if unique else "")
