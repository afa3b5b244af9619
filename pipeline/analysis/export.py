"""``flowlogs export --duckdb FILE``: a DuckDB database for notebooks and BI tools.

The flow records stay where they are (views over the lake's Parquet files, by absolute
path); the small or derived tables are copied in: every metadata table and its
``current_`` view, ``conversations``, ``destinations`` and a flat ``findings`` table.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.analysis import connection as analysis
from pipeline.analysis import findings
from pipeline.lake import store as lake
from pipeline.errors import FlowlogsError
from pipeline.metadata.schema import SCHEMAS
from pipeline.analysis.document import flatten_finding
from pipeline.lake.storage import Store
from pipeline.lake.views import one_per_event, sql_literal
from pipeline.tables import TABLES


def export_duckdb(store: Store, path: str, window: findings.Window = findings.Window(),
                  settle: int = findings.DEFAULT_SETTLE) -> dict[str, int]:
    """Write the database at ``path`` (replaced if it exists); returns rows per copied table."""
    import pyarrow as pa

    if not store.is_local:
        raise FlowlogsError("export --duckdb needs a local lake: its views point at the Parquet files",
                            "copy the lake first (aws s3 sync s3://… ./lake) and export from it")
    target = Path(path).resolve()
    if target.is_relative_to(store.root):
        raise FlowlogsError(f"--duckdb {path} is inside the lake {store.uri}", "write the database outside the lake")
    if not target.parent.is_dir():
        raise FlowlogsError(f"--duckdb {path}: the folder {target.parent} does not exist", "create it first")
    target.unlink(missing_ok=True)
    con = analysis.connect(store, locked=False)  # it writes the database file, checked above
    doc = findings.find(con, analysis.load_network(con), window, settle, lake=store.uri)
    flat = [flatten_finding(f) for f in doc["findings"]]
    con.register("findings_flat", pa.Table.from_pylist(flat) if flat else pa.table({"kind": pa.array([], pa.string())}))
    con.execute(f"ATTACH {sql_literal(str(target))} AS out")
    for table in lake.RECORD_TABLES:
        if lake.has_files(store, table):
            con.execute(f"CREATE VIEW out.{table} AS SELECT * FROM read_parquet({sql_literal(lake.record_glob(store, table))}, "
                        f"hive_partitioning = true, union_by_name = true) {one_per_event(TABLES[table].unique)}")
    copies = {name: name for name in SCHEMAS}
    copies.update({f"current_{name}": f"current_{name}" for name in SCHEMAS if name != "eni_assignments"})
    copies.update(conversations="conversations", destinations="destinations", findings="findings_flat")
    counts = {}
    for name, source in copies.items():
        con.execute(f"CREATE TABLE out.{name} AS SELECT * FROM {source}")
        counts[name] = con.execute(f"SELECT count(*) FROM out.{name}").fetchone()[0]
    con.execute("DETACH out")
    return counts
