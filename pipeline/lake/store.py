"""The flow-log lake: Hive-partitioned Parquet, one stable schema, an inspectable manifest.

Layout (``LAKE`` is ``--lake``, ``$FLOWLOGS_LAKE`` or ``./flowlogs-lake``)::

    LAKE/_flowlogs_version
    LAKE/flows/aws_account=…/aws_region=…/dt=YYYY-MM-DD/<ingest-id>-<n>.parquet
    LAKE/interface_status/…   NODATA / SKIPDATA records (same schema, same partitions)
    LAKE/tgw_flows/…          transit gateway records met in the input
    LAKE/api_calls/…          CloudTrail events (same partitions; pipeline.tables has every table's columns)
    LAKE/dns_queries/…        Route 53 Resolver query log records
    LAKE/quarantine/<ingest-id>.parquet   bad lines: source, line, reason, text
    LAKE/metadata/<table>/<snapshot>.parquet
    LAKE/_state/runs/<run-id>.json        what each run ingested (the manifest), left, CloudWatch cursors
    LAKE/_state/ingest.lock               held by the running ingest (locking.py)
    LAKE/<table>/…/compact-<digest>.parquet  small files merged (compaction.py), live once
    LAKE/_state/compactions/<digest>.json    its record (what it replaces) is written

A data file's name comes from its source's ingest id (the content digest of a local
file; the URL of an S3 object; the stream and hour of CloudWatch events), so
re-ingesting a source rewrites the same files: killing a run part-way and running
again gives exactly the rows of one clean run, and a new version of a source (a new
ETag) replaces the rows of the old one. Each run writes only its own state file, and
the state is their union: the manifest takes each source's latest version, a
CloudWatch stream's cursor the furthest event time reached. The partition columns are
not in the files (Athena/Trino/Spark read them from the paths); their names do not
collide with record columns (``region``, ``account_id`` are record fields).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import FlowlogsError
from pipeline.fields import lake_schema
from pipeline.tables import TABLES, Table, table_of
from pipeline.lake.storage import Store
from pipeline.times import iso

SCHEMA = lake_schema()  # the flow record tables' columns

LAKE_VERSION = 1
RECORD_TABLES = tuple(TABLES)  # flows, interface_status, tgw_flows, api_calls, dns_queries (pipeline.tables)
PARTITION_KEYS = ("aws_account", "aws_region", "dt")
QUARANTINE_SCHEMA = pa.schema(
    [("_source", pa.string()), ("_line", pa.int64()), ("reason", pa.string()), ("text", pa.string()),
     ("_ingest_id", pa.string())]
)
DEFAULT_LAKE = "flowlogs-lake"
VERSION_FILE = "_flowlogs_version"  # marks a directory (or prefix) as a lake


@dataclass(frozen=True)
class Problem:
    """One quarantined input line."""

    line: int | None
    reason: str
    text: str


class LakeError(FlowlogsError):
    pass


def default_location() -> str:
    return os.environ.get("FLOWLOGS_LAKE") or DEFAULT_LAKE


def open_lake(location: str | os.PathLike | None = None, *, s3_options: dict | None = None,
              create: bool = True) -> Store:
    """Open the lake at ``location``, initialising it if ``create`` (readers pass False: a mistyped
    path is an error, not a new empty lake); refuse a lake from another version of this tool."""
    location = location or default_location()
    try:
        store = Store.open(location, s3_options=s3_options, create=create)
    except NotADirectoryError:
        raise LakeError(f"--lake {location} is a file, not a lake directory",
                        "give the lake's directory (or a new one), e.g. --lake ./flowlogs-lake") from None
    raw = store.read_bytes(VERSION_FILE) if create or not store.is_local or os.path.isdir(store.root) else None
    if raw is None:
        if not create:
            raise LakeError(f"no lake at {store.uri} (no {VERSION_FILE} there)",
                            "check --lake / $FLOWLOGS_LAKE, or create the lake with `flowlogs ingest`")
        store.write_bytes(VERSION_FILE, f"{LAKE_VERSION}\n".encode())
        return store
    text = raw.decode("utf-8", "replace").strip()
    if not text.isdigit():
        raise LakeError(f"the lake's version file {store.path(VERSION_FILE)} is damaged (it holds {text[:40]!r})",
                        f"if this is a fargate-flowlogs lake, write {LAKE_VERSION} into that file")
    if int(text) != LAKE_VERSION:
        newer = int(text) > LAKE_VERSION
        raise LakeError(f"the lake at {store.uri} has layout version {text}, this tool reads version {LAKE_VERSION}",
                        "upgrade fargate-flowlogs" if newer else "re-ingest into a new lake (--lake NEW_DIR)")
    return store


def route(table: pa.Table) -> tuple[dict[str, pa.Table], list[Problem]]:
    """Split a batch into its record tables; rows that belong to none are quarantined.

    A batch of an event table (``api_calls``, ``dns_queries``) goes whole to its table;
    flow records go by their log status and resource type.
    """
    own = table_of(table.schema)
    if own is not None:
        return {own.name: table}, []
    status = pc.fill_null(pc.is_in(table["log_status"], pa.array(["NODATA", "SKIPDATA"])), False)
    tgw = pc.or_(pc.is_valid(table["resource_type"]), pc.is_valid(table["tgw_id"]))  # resource-type may be `-`
    foreign = pc.fill_null(pc.equal(table["account_id"], "TransitGateway"), False)
    problems = []
    if pc.any(foreign).as_py():
        bad = table.filter(foreign)
        problems = [
            Problem(line, "a transit gateway record (resource type in the account-id field) in a VPC flow-log format",
                    " ".join("-" if v is None else str(v) for v in row.values() if v is not None))
            for line, row in zip(bad["_line"].to_pylist(), bad.select(
                ["version", "account_id", "interface_id", "srcaddr", "dstaddr"]).to_pylist())
        ]
    rest = pc.invert(pc.or_(pc.or_(status, tgw), foreign))
    return {
        "flows": _take(table, rest),
        "interface_status": _take(table, pc.and_(status, pc.invert(tgw))),
        "tgw_flows": _take(table, tgw),
    }, problems


def _take(table: pa.Table, mask) -> pa.Table:
    """``table.filter(mask)``, without copying when the mask keeps all rows or none (the usual cases)."""
    kept = pc.sum(mask).as_py() or 0
    if kept == table.num_rows:
        return table
    return table.slice(0, 0) if kept == 0 else table.filter(mask)


def partitions(table: pa.Table, key_defaults: dict, kind: Table = TABLES["flows"]) -> list[tuple[str, pa.Table]]:
    """``table``'s rows by partition, as (``aws_account=…/aws_region=…/dt=…``, rows): each row's own
    account, region and day first, then what the object key says, then ``unknown``. A batch within one
    account, region and day, the usual case (a delivery covers minutes), is returned whole, its partition
    worked out from its first row instead of for every row."""
    keys = _partition_keys(table, key_defaults, kind)
    if max(len(pc.unique(k)) for k in keys) == 1:
        return [(_partition_names(*(k.slice(0, 1) for k in keys), key_defaults)[0].as_py(), table)]
    parts = _partition_names(*keys, key_defaults)
    return [(part, table.filter(pc.equal(parts, part))) for part in pc.unique(parts).to_pylist()]


def _partition_keys(table: pa.Table, key_defaults: dict, kind: Table) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Each row's account and region (the key's, else ``unknown``, where the record has none) and UTC day
    (of its first time column with a value; NULL if none has)."""
    account = pc.fill_null(table[kind.account], key_defaults.get("account") or "unknown")
    region = pc.fill_null(table[kind.region], key_defaults.get("region") or "unknown")
    time = pc.coalesce(*(table[c] for c in kind.time))
    if pa.types.is_integer(time.type):  # Unix seconds
        time = pc.cast(time, pa.timestamp("s"))
    return account, region, pc.cast(time, pa.date32())


def _partition_names(account: pa.Array, region: pa.Array, day: pa.Array, key_defaults: dict) -> pa.Array:
    day = pc.fill_null(pc.cast(day, pa.string()), key_defaults.get("date") or "unknown")  # YYYY-MM-DD
    safe = lambda a: pc.replace_substring_regex(a, r"[^A-Za-z0-9._-]", "_")  # noqa: E731
    return pc.binary_join_element_wise(
        "aws_account=", safe(account), "/aws_region=", safe(region), "/dt=", day, ""
    )


@dataclass
class SourceEntry:
    """What the manifest remembers of one ingested source."""

    ingest_id: str
    source: str
    size: int
    records: dict = field(default_factory=dict)  # table -> rows
    quarantined: int = 0
    refused: str | None = None  # why the whole source (or its tail) could not be read
    ignored: str | None = None  # why a source holds no records by design (a CloudTrail digest file)
    formats: list = field(default_factory=list)
    files: list = field(default_factory=list)
    etag: str | None = None  # the version whose rows are in the lake
    lines: int = 0  # the last line (or event) number read: how far this version reaches
    versions: list = field(default_factory=list)  # every version read (copies of a delivery), not to be read again


@dataclass
class Run:
    run_id: str
    started: str
    command: str
    sources: list = field(default_factory=list)
    finished: str | None = None
    status: str = "running"  # running (or killed), complete, incomplete (some sources left)
    left: list = field(default_factory=list)  # [source, reason]: to be fetched by a later run
    cursors: dict = field(default_factory=dict)  # CloudWatch stream ARN -> last event time ingested (ms)

    def save(self, store: Store) -> None:
        store.write_bytes(f"_state/runs/{self.run_id}.json", json.dumps(asdict(self), indent=1).encode())


def now_iso() -> str:
    return iso(int(datetime.now(timezone.utc).timestamp()))


def new_run(store: Store, command: str) -> Run:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return Run(run_id=stamp, started=now_iso(), command=command)


def runs(store: Store) -> list[dict]:
    out = []
    for path in store.list_files("_state/runs", ".json"):
        raw = store.read_bytes(path)
        if raw:
            out.append(json.loads(raw))
    return out


def manifest(store: Store, all_runs: list[dict] | None = None) -> dict[str, dict]:
    """ingest_id -> source entry of its latest version, over every run (oldest first)."""
    entries: dict[str, dict] = {}
    for run in runs(store) if all_runs is None else all_runs:
        for entry in run["sources"]:
            entries[entry["ingest_id"]] = entry
    return entries


def cursors(all_runs: list[dict]) -> dict[str, int]:
    """CloudWatch stream ARN -> the furthest event time (ms) any run ingested up to."""
    out: dict[str, int] = {}
    for run in all_runs:
        for stream, ms in run.get("cursors", {}).items():
            out[stream] = max(ms, out.get(stream, ms))
    return out


def quarantine_table(problems: list[Problem], source: str, ingest_id: str) -> pa.Table:
    return pa.table(
        {
            "_source": [source] * len(problems),
            "_line": [p.line for p in problems],
            "reason": [p.reason for p in problems],
            "text": [p.text for p in problems],
            "_ingest_id": [ingest_id] * len(problems),
        },
        schema=QUARANTINE_SCHEMA,
    )


def staging_root(store: Store) -> str:
    """Where runs stage their files: in the lake (same file system: publishing is a rename), or for
    a lake on S3 in the temporary directory."""
    return store.path("_staging") if store.is_local else os.path.join(tempfile.gettempdir(), "flowlogs-staging")


def record_glob(store: Store, table: str) -> str:
    return store.path(f"{table}/*/*/*/*.parquet")


def has_files(store: Store, table: str) -> bool:
    return bool(store.list_files(table, ".parquet"))


__all__ = ["SCHEMA", "open_lake", "route", "partitions", "SourceEntry", "Run", "manifest"]
