"""Keep the task evidence found in flow records' ECS fields as a metadata snapshot."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.metadata.assignments import assignments_from_flows
from pipeline.metadata.importer import ImportResult, snapshot_id_of
from pipeline.metadata.store import known_digests, write_snapshot
from pipeline.times import iso, utcnow
from pipeline.lake.storage import Store

if TYPE_CHECKING:  # pragma: no cover
    import duckdb


def import_flow_assignments(store: Store, con: "duckdb.DuckDBPyConnection") -> ImportResult:
    """Store ``assignments_from_flows(con)`` as a snapshot (nothing if the same rows are stored already).

    The flow-derived evidence is also read live by ``register_views`` whenever a ``flows``
    view exists; storing it keeps the task history after old flow files are deleted.
    """
    table = assignments_from_flows(con)
    if table.num_rows == 0:
        return ImportResult(None, {}, [], [], ["no flow records with ECS fields"])
    order = pc.sort_indices(table, [(c, "ascending") for c in ("eni_id", "ip", "task_arn", "valid_from")])
    table = table.take(order)
    digest = hashlib.sha256(table.drop_columns(["snapshot_id"]).to_pandas().to_json(date_format="iso").encode()).hexdigest()
    if digest in known_digests(store):
        return ImportResult(None, {}, [], ["flows"], [])
    snapshot_id = snapshot_id_of([digest])
    table = table.set_column(table.schema.get_field_index("snapshot_id"), "snapshot_id",
                             pa.array([snapshot_id] * table.num_rows, pa.string()))
    counts = {"eni_assignments": table.num_rows}
    manifest = {"snapshot_id": snapshot_id, "created_at": iso(utcnow()), "counts": counts,
                "documents": [{"source": "flows", "kind": "flow_ecs_fields", "digest": digest, "counts": counts}]}
    write_snapshot(store, snapshot_id, {"eni_assignments": table}, manifest)
    times = pc.max(table["snapshot_time"]).as_py()
    return ImportResult(snapshot_id, counts, ["flows"], [], [], times)
