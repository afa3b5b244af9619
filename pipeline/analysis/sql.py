"""Ad-hoc SQL over the lake: the views every analyst expects, built only when used."""

from __future__ import annotations

import os
import re

from pipeline.analysis import connection as analysis
from pipeline.analysis import findings
from pipeline.errors import FlowlogsError
from pipeline.lake.storage import Store

DERIVED = ("conversations", "destinations", "conversation_names", "findings")


# Statements that write (or load) files. Read-only (the default) they are refused; with
# --allow-writes they may write anywhere but into the lake, whose files only ingest writes.
WRITING = ("COPY", "EXPORT", "ATTACH", "DETACH", "COPY_DATABASE", "LOAD")
_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def check(store: Store, sql: str, *, allow_writes: bool = False) -> None:
    """Refuse empty SQL, writing statements unless ``allow_writes``, and any write into the lake."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise FlowlogsError(f"SQL: {exc}", "views: flows, conversations, findings, metadata tables") from None
    if not statements:
        raise FlowlogsError("the SQL is empty", 'give a statement, e.g. flowlogs sql "SELECT count(*) FROM flows"')
    for statement in statements:
        kind = statement.type.name
        if kind not in WRITING:
            continue
        if not allow_writes:
            raise FlowlogsError(f"SQL: {kind} statements are refused: the lake is opened read-only",
                                "pass --allow-writes to write files (never into the lake)")
        for literal in _LITERAL.findall(statement.query):
            if _inside(store, literal.replace("''", "'")):
                raise FlowlogsError(f"SQL: {kind} into the lake ({literal}) is refused: only ingest writes there",
                                    "write the file outside the lake")


def _inside(store: Store, path: str) -> bool:
    if not store.is_local:
        return path.rstrip("/").startswith(store.uri.rstrip("/"))
    resolved = os.path.realpath(os.path.expanduser(path))
    return resolved == store.root or resolved.startswith(store.root.rstrip("/") + "/")


def connect_for(store: Store, sql: str, window: findings.Window = findings.Window(),
                settle: int = findings.DEFAULT_SETTLE, *, allow_writes: bool = False, settings=None):
    """A connection with the lake views; ``conversations``, ``destinations`` and a flat ``findings``
    table are built too when ``sql`` names them (they cost a pass over the flows). Locked down
    (no file outside the lake) unless ``allow_writes``."""
    con = analysis.connect(store, locked=not allow_writes, settings=settings)
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


def run(store: Store, sql: str, params: dict | None = None, window: findings.Window = findings.Window(), *,
        allow_writes: bool = False, settings=None):
    """The rows of ``sql`` over the lake, run where ``settings.engine`` says (DuckDB by default)."""
    check(store, sql, allow_writes=allow_writes)
    con = connect_for(store, sql, window, allow_writes=allow_writes, settings=settings)
    return findings.rows(con, sql, params or None)
