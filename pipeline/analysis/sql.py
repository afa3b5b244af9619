"""Ad-hoc SQL over the lake: the views every analyst expects, built only when used."""

from __future__ import annotations

import re

from pipeline.analysis import connection as analysis
from pipeline.analysis import findings
from pipeline.lake.storage import Store

DERIVED = ("conversations", "destinations", "findings")


def connect_for(store: Store, sql: str, window: findings.Window = findings.Window(),
                settle: int = findings.DEFAULT_SETTLE):
    """A connection with the lake views; ``conversations``, ``destinations`` and a flat ``findings``
    table are built too when ``sql`` names them (they cost a pass over the flows)."""
    con = analysis.connect(store)
    words = set(re.findall(r"[a-z_]+", sql.lower()))
    if words & set(DERIVED):
        if "findings" in words:
            doc = findings.find(con, analysis.load_network(con), window, settle, lake=store.uri)
            import pyarrow as pa

            from pipeline.analysis.document import flatten_finding

            flat = [flatten_finding(f) for f in doc["findings"]]
            con.register("findings_data", pa.Table.from_pylist(flat) if flat else pa.table({"kind": pa.array([], pa.string())}))
            con.execute("CREATE OR REPLACE TEMP VIEW findings AS SELECT * FROM findings_data")
        else:
            findings.build_conversations(con, window, settle)
            findings.build_destinations(con)
    return con


def run(store: Store, sql: str, params: dict | None = None, window: findings.Window = findings.Window()):
    con = connect_for(store, sql, window)
    return findings.rows(con, sql, params or None)
