"""DuckDB views over the metadata tables, plus the metadata SQL views of ``queries/`` (``kind: view``,
``category: metadata``; run in the order their ``reads`` and ``views`` headers give).

For each table ``T`` (the names ``pipeline/analysis.py`` uses too):
- ``T``: every row of every committed snapshot;
- ``current_T``: the current state, the rows of the latest snapshot that holds each
  resource (``schema.CURRENT_KEYS``; ties broken by snapshot id, then source). A resource
  missing from a newer snapshot keeps its last known rows: old flows may still involve it.
``eni_assignments`` is different: ``eni_assignment_evidence_stored`` holds the stored
evidence, and ``eni_assignments`` (a SQL view) merges it with the evidence found in the
``flows`` view, when that view exists at registration time.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pyarrow as pa

from pipeline import addresses, queries
from pipeline.metadata.schema import CURRENT_KEYS, SCHEMAS
from pipeline.metadata.store import committed_files, committed_snapshot_ids
from pipeline.lake.storage import Store

if TYPE_CHECKING:  # pragma: no cover
    import duckdb



_DUCK_TYPES = {
    pa.string(): "VARCHAR",
    pa.list_(pa.string()): "VARCHAR[]",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.bool_(): "BOOLEAN",
    pa.binary(): "BLOB",
}


def duck_type(t: pa.DataType) -> str:
    return _DUCK_TYPES[t]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- SQL files ----------------------------------------------------------------------

def flow_evidence_sql() -> str:
    """The SELECT behind ``flow_eni_assignment_evidence`` (reads the view ``flows``)."""
    text = queries.get("flow_eni_assignment_evidence").sql
    m = re.search(r"CREATE\s+OR\s+REPLACE\s+VIEW\s+\w+\s+AS\s+(.*?);?\s*$", text, re.S | re.I)
    if not m:  # pragma: no cover - guarded by tests
        raise RuntimeError("flow_eni_assignment_evidence.sql: no CREATE OR REPLACE VIEW ... AS")
    return m.group(1)


# --- UDFs ---------------------------------------------------------------------------

def register_udfs(con: "duckdb.DuckDBPyConnection") -> None:
    """ip_key(VARCHAR)->BLOB, cidr_start/cidr_end(VARCHAR)->BLOB, ip_is_global(VARCHAR)->BOOLEAN.

    Arrow-vectorised; each computes once per distinct value of its input vector.
    """
    import duckdb

    try:
        from duckdb.sqltypes import BLOB, BOOLEAN, VARCHAR
    except ImportError:  # duckdb < 1.4 spelled it duckdb.typing
        from duckdb.typing import BLOB, BOOLEAN, VARCHAR

    def _ip_key(a):
        return addresses.ip_keys(a)

    def _cidr_start(a):
        return addresses.cidr_bounds_arrays(a)[0]

    def _cidr_end(a):
        return addresses.cidr_bounds_arrays(a)[1]

    def _is_global(a):
        return addresses._map_distinct(a, addresses.is_global, pa.bool_())

    wanted = (("ip_key", _ip_key, BLOB), ("cidr_start", _cidr_start, BLOB),
              ("cidr_end", _cidr_end, BLOB), ("ip_is_global", _is_global, BOOLEAN))
    existing = {r[0] for r in con.execute(
        "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_name IN (?, ?, ?, ?)",
        [w[0] for w in wanted]).fetchall()}
    for name, fn, ret in wanted:
        if name in existing:  # registered before on this connection
            continue
        try:
            con.create_function(name, fn, [VARCHAR], ret, type="arrow", null_handling="special",
                                side_effects=False)
        except duckdb.Error as e:
            if "already" not in str(e).lower():
                raise


# --- table views --------------------------------------------------------------------

def _relation_columns(con: "duckdb.DuckDBPyConnection", name: str) -> list[str] | None:
    import duckdb

    try:
        return [d[0] for d in con.execute(f"SELECT * FROM {_q(name)} LIMIT 0").description]
    except duckdb.Error:
        return None


def _select_list(schema: pa.Schema, present: set[str] | None) -> str:
    cols = []
    for f in schema:
        if present is None or f.name in present:
            cols.append(f"CAST({_q(f.name)} AS {duck_type(f.type)}) AS {_q(f.name)}")
        else:
            cols.append(f"CAST(NULL AS {duck_type(f.type)}) AS {_q(f.name)}")
    return ", ".join(cols)


def _history_view(con, store: Store, table: str, ids: set[str]) -> None:
    schema = SCHEMAS[table]
    files = committed_files(store, table, ids)
    view = "eni_assignment_evidence_stored" if table == "eni_assignments" else table
    if not files:
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {_select_list(schema, set())} WHERE false")
        return
    if store.is_local:
        paths = ", ".join(_lit(store.path(f)) for f in files)
        source = f"read_parquet([{paths}], union_by_name = true)"
        present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    else:
        import pyarrow.dataset as ds

        dataset = ds.dataset([store.path(f) for f in files], filesystem=store.fs, format="parquet", schema=schema)
        source = f"_metadata_{table}_dataset"
        con.register(source, dataset)
        present = set(schema.names)
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {_select_list(schema, present)} FROM {source}")


def current_view(table: str, *, columns: bool = False) -> tuple[str, str]:
    """The name and DuckDB SELECT of ``table``'s current view; ``columns``: name the table's columns
    instead of ``* EXCLUDE`` (for engines without it: Athena)."""
    keys = CURRENT_KEYS[table]
    partition = f"PARTITION BY {', '.join(k if k.startswith('(') else _q(k) for k in keys)}" if keys else ""
    kept = ", ".join(_q(f.name) for f in SCHEMAS[table]) if columns else "* EXCLUDE (_rank)"
    ranked = (
        f"SELECT {kept} FROM (SELECT *, dense_rank() OVER ({partition} ORDER BY snapshot_time DESC, "
        f"snapshot_id DESC, source DESC) AS _rank FROM {table}) WHERE _rank = 1"
    )
    # current_prefix_lists joins these rows' names and entries (queries/current_prefix_lists.sql)
    return ("current_prefix_list_rows" if table == "prefix_lists" else f"current_{table}"), ranked


def _current_view(con, table: str) -> str:
    name, ranked = current_view(table)
    con.execute(f"CREATE OR REPLACE VIEW {name} AS {ranked}")
    return name


def _run_sql_file(con, query: queries.Query) -> list[str]:
    con.execute(query.sql)
    return re.findall(r"CREATE\s+OR\s+REPLACE\s+(?:TEMP\s+)?(?:VIEW|MACRO)\s+(\w+)", query.sql, re.I)


def register_views(con: "duckdb.DuckDBPyConnection", store: Store, *, materialize: bool = False,
                   analysis: bool = False) -> list[str]:
    """Create the metadata views on ``con``; returns the names created.

    Register the ``flows`` view first if flow-derived task evidence and
    ``flows_with_owners`` are wanted; without it those views are empty/absent.
    ``materialize``: compute the merged ``eni_assignments`` (whose flow-derived evidence
    scans every flow record) and the distinct flow addresses' owners once, now, into the
    temp tables ``eni_assignments_data`` and ``flow_address_owners_data`` (the views of those
    names then read them). Later queries reuse them, and DuckDB, knowing their true sizes,
    plans the per-record joins of ``flows_with_owners`` with the right build side. Use it
    when millions of flow records will be read; the tables reflect the lake and ``flows``
    as they are at registration. ``analysis``: only the views the analysis reads
    (``queries.metadata_views``): creating a view binds it, and those over every flow record bind
    ``flows``, whose cost grows with the lake's data files.
    """
    register_udfs(con)
    ids = committed_snapshot_ids(store)
    created = []
    for table in SCHEMAS:
        _history_view(con, store, table, ids)
        if table == "eni_assignments":
            created.append("eni_assignment_evidence_stored")
            continue
        created.append(table)
        created.append(_current_view(con, table))
    flow_cols = set(_relation_columns(con, "flows") or ())
    for query in queries.metadata_views(analysis):
        needed = query.requires
        if needed is not None and not needed <= flow_cols:
            if query.name == "flow_eni_assignment_evidence":
                con.execute("CREATE OR REPLACE VIEW flow_eni_assignment_evidence AS SELECT "
                            f"{_select_list(SCHEMAS['eni_assignments'], set())} WHERE false")
                created.append("flow_eni_assignment_evidence")
            continue
        created += _run_sql_file(con, query)
    if materialize:
        for view in ("eni_assignments", "flow_address_owners"):
            if view in created:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {view}_data AS SELECT * FROM {view}")
                con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {view}_data")
                created.append(f"{view}_data")
    return created
