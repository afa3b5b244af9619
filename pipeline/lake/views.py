"""The lake's tables as DuckDB views: ``flows``, ``interface_status``, ``tgw_flows``, ``quarantine``.

Record views carry the partition columns ``aws_account``, ``aws_region`` and ``dt``
(all VARCHAR: account ids keep their leading zeros, and ``dt`` may be ``unknown``).
A local lake is read with ``read_parquet`` over a glob; a lake on S3 through pyarrow
datasets on the lake's own S3 filesystem (credentials included), registered with the
connection, so DuckDB needs no httpfs extension. A table with no files yet is still a
view, empty, with the full schema.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds

from pipeline.lake import store as lake
from pipeline.lake.store import SCHEMA
from pipeline.lake.storage import Store

PARTITIONS = pa.schema([(name, pa.string()) for name in lake.PARTITION_KEYS])
RECORD_SCHEMA = pa.schema(list(SCHEMA) + list(PARTITIONS))


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
    """Create (or replace) the lake's views on the DuckDB connection ``con``."""
    for table in lake.RECORD_TABLES:
        _register(con, store, table, RECORD_SCHEMA, partitioned=True)
    _register(con, store, "quarantine", lake.QUARANTINE_SCHEMA, partitioned=False)


def _register(con, store: Store, table: str, schema: pa.Schema, *, partitioned: bool) -> None:
    con.execute(f'DROP VIEW IF EXISTS "{table}"')
    if not lake.has_files(store, table):
        con.register(table, schema.empty_table())
        return
    if store.is_local:
        pattern = lake.record_glob(store, table) if partitioned else store.path(f"{table}/*.parquet")
        hive = ", hive_partitioning = true, hive_types = {" + ", ".join(
            f"'{k}': 'VARCHAR'" for k in lake.PARTITION_KEYS) + "}" if partitioned else ""
        columns = ", ".join(f'"{name}"' for name in schema.names)
        con.execute(f'CREATE VIEW "{table}" AS SELECT {columns} FROM read_parquet({sql_literal(pattern)}, '
                    f"union_by_name = true{hive})")
        return
    dataset = ds.dataset(
        store.path(table), filesystem=store.fs, format="parquet", schema=schema,
        partitioning=ds.partitioning(PARTITIONS, flavor="hive") if partitioned else None,
    )
    con.register(table, dataset)
