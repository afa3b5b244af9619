"""Where the metadata tables live in the lake, and how a snapshot is committed.

Layout (relative to the lake root)::

    metadata/<table>/<snapshot_id>.parquet     one file per table per snapshot
    metadata/_snapshots/<snapshot_id>.json     the manifest, written last

A snapshot counts only once its manifest exists: the manifest is the commit record, so
a crash between the table files and the manifest leaves files that every reader ignores
and that the next import of the same documents overwrites (same content, same id).
The manifest lists the sha256 of every document, which is how an import of the same
files is recognised and skipped.
"""

from __future__ import annotations

import json
import posixpath

import pyarrow as pa

from pipeline.lake.storage import Store

ROOT = "metadata"
MANIFESTS = posixpath.join(ROOT, "_snapshots")


def table_path(table: str, snapshot_id: str) -> str:
    return posixpath.join(ROOT, table, f"{snapshot_id}.parquet")


def manifest_path(snapshot_id: str) -> str:
    return posixpath.join(MANIFESTS, f"{snapshot_id}.json")


def read_manifests(store: Store) -> list[dict]:
    """All committed snapshot manifests, oldest id first."""
    out = []
    for rel in store.list_files(MANIFESTS, ".json"):
        data = store.read_bytes(rel)
        if data:
            out.append(json.loads(data))
    return out


def known_digests(store: Store) -> set[str]:
    return {d["digest"] for m in read_manifests(store) for d in m.get("documents", [])}


def committed_snapshot_ids(store: Store) -> set[str]:
    return {posixpath.basename(p)[: -len(".json")] for p in store.list_files(MANIFESTS, ".json")}


def committed_files(store: Store, table: str, snapshot_ids: set[str] | None = None) -> list[str]:
    """Relative paths of the table's Parquet files that belong to committed snapshots."""
    ids = committed_snapshot_ids(store) if snapshot_ids is None else snapshot_ids
    return [
        p for p in store.list_files(posixpath.join(ROOT, table), ".parquet")
        if posixpath.basename(p)[: -len(".parquet")] in ids
    ]


def write_snapshot(store: Store, snapshot_id: str, tables: dict[str, pa.Table], manifest: dict) -> None:
    """Write every non-empty table, then the manifest (the commit)."""
    for table, data in sorted(tables.items()):
        if data.num_rows:
            store.write_parquet(table_path(table, snapshot_id), data)
    body = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
    store.write_bytes(manifest_path(snapshot_id), body)
