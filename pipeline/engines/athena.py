"""Athena: the lake's tables in the Glue catalog (DDL with partition projection), and a connection that
runs the analysis SQL of ``queries/`` there, transpiled from DuckDB to Trino by sqlglot at run time.

Tables (``ddl``). Every table the lake writes gets one ``CREATE EXTERNAL TABLE``, its columns and
Athena types read from the code that writes it (``pipeline.tables`` for the record tables,
``lake.store.QUARANTINE_SCHEMA``, ``metadata.schema.SCHEMAS``), so there is no second schema here.
The record tables are partitioned as the lake writes their paths (``lake.store.partitions``):

- ``aws_account``: ``enum`` of the accounts in the lake when the DDL is made, plus ``unknown``. The
  value is a 12-digit account id (leading zeros kept, so not ``integer``: that would need every id
  padded and could not say ``unknown``), and not ``injected``: injected keys must be fixed by an
  equality in every query's WHERE, and the analysis queries read every account.
- ``aws_region``: ``enum`` of the regions in the lake, plus ``unknown``, for the same reasons.
- ``dt``: ``date`` (``yyyy-MM-dd``, one day apart) from the first day in the lake to ``NOW``: new
  days need no new DDL. A partition ``dt=unknown`` (records with no time, from a key with no date)
  cannot be projected as a date: Athena does not see those records (``ddl`` counts them).

A new account or region, or a backfill before the first day, needs the DDL made again (drop the
table: the data stays, the tables are external). The metadata tables and ``quarantine`` have no
partitions. Athena reads every Parquet file under a table's location: files the lake's readers skip
(a killed compaction's, an uncommitted metadata snapshot's) are read too, until ``flowlogs lake
compact`` tidies them. A table with ``unique`` columns (``api_calls``) is stored as ``_<name>_rows``
and ``<name>`` is a view keeping one row per event, as in DuckDB (``lake.views``).

Queries (``connect``). ``execute(sql, params)`` parses DuckDB SQL (several statements run in turn),
expands the DuckDB macros of ``queries/`` in place (``dialect.Macros``, as Spark does; ``address_static`` and
the other macros of the metadata views are known from the start), binds ``$name`` and ``?`` parameters as
literals in the syntax tree (never by pasting text), rewrites what Trino lacks (``rewrite``: ``UBIGINT``
halves of an address key as ``FROM_BIG_ENDIAN_64``, ``mode``, ``any_value``, ``ASOF JOIN``; ``GROUP BY ALL``;
``CREATE TEMP TABLE … AS``: a CTAS under ``--athena-output``'s ``flowlogs-scratch/<session>/`` with a
session-unique name, dropped at ``close()``; ``CREATE TEMP VIEW``: a session-unique view, dropped too),
transpiles to Athena's Trino SQL, and runs it: StartQueryExecution, GetQueryExecution polled with backoff,
GetQueryResults paged. Cells come back as text and are typed from the result's column types.

The Python functions DuckDB gets from ``metadata.views.register_udfs`` are Trino SQL expanded like macros
(``IP_FUNCTIONS``). ``ip_key``: Trino's ``IPADDRESS`` holds IPv4 as ``::ffff:a.b.c.d`` and its cast to
``VARBINARY`` gives those 16 bytes, the layout of ``addresses.ip_key``, so keys compare and join alike (the text
is parsed by Guava, not Python: both refuse IPv4 octets with leading zeros; an IPv6 zone ``%eth0`` or whitespace
other than Trino's ``trim`` may differ). ``cidr_start``/``cidr_end``: the key's two 64-bit halves masked with
bitwise functions (an IPv4 netmask such as ``/255.0.0.0``, which Python takes, is NULL here). ``ip_is_global``:
``contains`` over ``addresses.NOT_GLOBAL`` and ``GLOBAL_WITHIN`` (IANA's registries, the list DuckDB's UDF uses
too, whatever the Python). Arrow tables registered from
Python (``finding_keys``…) are read as a VALUES list, each value cast to its column's type, at most
``MAX_INLINE_ROWS`` rows (more: a FlowlogsError).

Columns. ``UNION BY NAME``, ``* EXCLUDE`` and ``* REPLACE`` are written with the columns listed
(``dialect.expand_columns``, shared with Spark), the columns derived by sqlglot's ``qualify`` without running the
query (``dialect.static_columns``) from the schemas of what ``ddl`` makes (``ddl_columns``) and the session's temp
tables and views, whose columns are asked of Athena once each (``SELECT * FROM tmp LIMIT 0``, ColumnInfo). ``ddl``
makes the metadata views of ``queries/`` the same way (``address_owners``, ``eni_assignments``…), but for
``NOT_MADE``. Verified: what ``report findings`` sends parses as Trino/Athena SQL with no DuckDB-only function or
construct left and reads only relations ``ddl`` or the session makes, through moto's Athena API, the session
tables' columns answered with DuckDB's; the columns listed there and in the views ``ddl`` makes are DuckDB's on the
same lake (names, order, position on each UNION side), and the types on the sides of every UNION sent are ones
Trino unites (DuckDB's types standing in for Trino's); never run on Athena itself.

May import the core modules, ``lake`` and ``metadata`` (rank 3, with analysis: analysis may use it).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from decimal import Decimal

import pyarrow as pa

from pipeline.engines.dialect import (Cursor, Macros, asof_join, bind, expand_columns, expand_group_by_all, literal,
                                      parse, require_sqlglot, static_columns, visible_ctes, with_ctes)
from pipeline import addresses, queries
from pipeline.errors import FlowlogsError
from pipeline.lake import store as lake
from pipeline.lake.storage import Store
from pipeline.lake.views import one_per_event
from pipeline.metadata.schema import SCHEMAS as METADATA_SCHEMAS
from pipeline.metadata.views import current_view
from pipeline.metadata.store import ROOT as METADATA_ROOT
from pipeline.settings import Settings
from pipeline.tables import TABLES, athena_type

PRICE_PER_TB = 5.00
"""US dollars per TB scanned by Athena SQL queries, most regions: the price on https://aws.amazon.com/athena/pricing/
as secondary sources quote it (athena.guide "Athena Basics: Pricing Model"; Stanford rcpedia's Athena page), not
re-read from the AWS page here; a TB taken as 2**40 bytes. Check your region's price."""
MIN_BILLED_BYTES = 10 << 20
"""Athena bills at least 10 MB per query, rounded up to the next MB; DDL statements are not billed (same sources)."""
DEFAULT_DATABASE = "flowlogs"
DEFAULT_WORKGROUP = "primary"
SCRATCH = "flowlogs-scratch"  # under --athena-output: where CTAS tables of CREATE TEMP TABLE go
UNKNOWN = "unknown"  # the partition value the lake writes when a record and its key say nothing
MAX_INLINE_ROWS = 1000  # rows of a table registered from Python that are sent inline, as a VALUES list


# --- the Python functions DuckDB calls, in Trino SQL -------------------------------------------------------

def _cidr_bound(last: bool) -> str:
    """``cidr_start(a)`` / ``cidr_end(a)`` (``addresses.cidr_bounds``: the first / last 16-byte key of a CIDR,
    host bits ignored, a bare address its own /32 or /128): the key split into two BIGINT halves, each masked
    to the prefix (counted in key bits: IPv4 /n is 96 + n), glued back. NULL where Python's ``ip_network``
    raises, except that Python also takes an IPv4 netmask (``10.0.0.0/255.0.0.0``), NULL here."""
    address, bits = "SPLIT_PART(TRIM(a), '/', 1)", "ELEMENT_AT(SPLIT(TRIM(a), '/'), 2)"
    v4 = f"STRPOS({address}, ':') = 0"
    n = (f"CASE WHEN CARDINALITY(SPLIT(TRIM(a), '/')) > 2 THEN NULL WHEN {bits} IS NULL THEN 128 "
         f"WHEN REGEXP_LIKE({bits}, '^[0-9]+$') AND TRY_CAST({bits} AS INTEGER) <= IF({v4}, 32, 128) "
         f"THEN TRY_CAST({bits} AS INTEGER) + IF({v4}, 96, 0) END")
    masks = (f"CASE WHEN {n} >= 64 THEN -1 WHEN {n} = 0 THEN 0 ELSE BITWISE_LEFT_SHIFT(-1, 64 - {n}) END",
             f"CASE WHEN {n} <= 64 THEN 0 WHEN {n} = 128 THEN -1 ELSE BITWISE_LEFT_SHIFT(-1, 128 - {n}) END")
    halves = []
    for start, mask in zip((1, 9), masks):
        half = f"FROM_BIG_ENDIAN_64(SUBSTR(ip_key({address}), {start}, 8))"
        halves.append(f"TO_BIG_ENDIAN_64(BITWISE_OR({half}, BITWISE_NOT({mask})))" if last
                      else f"TO_BIG_ENDIAN_64(BITWISE_AND({half}, {mask}))")
    return " || ".join(halves)


def _is_global() -> str:
    """``ip_is_global(a)`` (``addresses.is_global``): NULL for no address, else whether it is outside every
    ``addresses.NOT_GLOBAL`` network or inside a ``GLOBAL_WITHIN`` one, an IPv4 address (its key ``::ffff:a.b.c.d``)
    tested against the IPv4 networks only, an IPv6 one against the IPv6 ones (Trino documents ``contains(network,
    address)`` within a family)."""
    def inside(networks, family: int) -> str:
        return " OR ".join(f"CONTAINS('{n}', TRY_CAST(TRIM(a) AS IPADDRESS))" for n in networks
                           if (":" in n) == (family == 6))

    def family_global(family: int) -> str:
        return f"NOT ({inside(addresses.NOT_GLOBAL, family)}) OR ({inside(addresses.GLOBAL_WITHIN, family)})"

    return (f"CASE WHEN ip_key(a) IS NULL THEN NULL WHEN SUBSTR(ip_key(a), 1, 12) = X'00000000000000000000FFFF' "
            f"THEN {family_global(4)} ELSE {family_global(6)} END")


def _mode_smallest() -> str:
    """``mode(a ORDER BY a)`` (DuckDB: the most frequent value, ties to the smallest): Trino has no ``mode``; the
    smallest of the values ``histogram`` counts most often."""
    return "ARRAY_MIN(MAP_KEYS(MAP_FILTER(HISTOGRAM(a), (k, v) -> v = ARRAY_MAX(MAP_VALUES(HISTOGRAM(a))))))"


IP_FUNCTIONS = {
    # addresses.ip_key: Trino casts text to IPADDRESS with Guava's InetAddresses.forString and stores IPv4 as
    # ::ffff:a.b.c.d; CAST(… AS VARBINARY) gives those 16 bytes, the layout of ip_key (IpAddressOperators)
    "ip_key": "CAST(TRY_CAST(TRIM(a) AS IPADDRESS) AS VARBINARY)",
    "cidr_start": _cidr_bound(last=False),
    "cidr_end": _cidr_bound(last=True),
    "ip_is_global": _is_global(),
}
"""The Python functions of ``metadata.views.register_udfs`` as Trino SQL of their one argument ``a``: expanded in
place like the macros of ``queries/`` (``dialect.Macros``)."""
TRINO_MACROS = {**IP_FUNCTIONS, "mode_smallest": _mode_smallest()}  # what rewrite() turns mode(a ORDER BY a) into


def _ubigint(cast):
    """``CAST('0x' || hex(k)[a:b] AS UBIGINT)`` (16 hex digits of an address key) → ``FROM_BIG_ENDIAN_64(SUBSTR(k,
    (a + 1) / 2, 8))``: the same 64 bits as a signed BIGINT (Trino has no unsigned type; equality, and masks made
    with logical shifts, give the same answers); another cast to UBIGINT → BIGINT."""
    from sqlglot import exp

    text = cast.this
    if not (isinstance(text, exp.DPipe) and text.this.name == "0x"):
        return exp.cast(text, "BIGINT")
    digits = text.expression
    [index] = digits.expressions if isinstance(digits, exp.Bracket) and len(digits.expressions) == 1 else [None]
    if not (isinstance(digits.this, exp.Hex) and isinstance(index, exp.Slice)
            and int(index.expression.name) - int(index.this.name) == 15 and int(index.this.name) % 2 == 1):
        raise FlowlogsError(f"SQL: {cast.sql('duckdb')} is not mapped for Athena",
                            "cast 16 hex digits of a key, from an odd position")
    return exp.Anonymous(this="from_big_endian_64", expressions=[exp.Substring(
        this=digits.this.this.copy(), start=exp.Literal.number((int(index.this.name) + 1) // 2),
        length=exp.Literal.number(8))])


def rewrite(statement):
    """The DuckDB-only constructs of ``queries/`` that need no schema, in forms Trino has (the macros of
    TRINO_MACROS are expanded after)."""
    from sqlglot import exp

    for cast in list(statement.find_all(exp.Cast)):
        if cast.to.this == exp.DataType.Type.UBIGINT:
            cast.replace(_ubigint(cast))
    for any_value in list(statement.find_all(exp.AnyValue)):  # Trino's arbitrary skips NULLs, as DuckDB's any_value
        if isinstance(any_value.parent, exp.IgnoreNulls):
            any_value.parent.replace(any_value)
    for mode in list(statement.find_all(exp.Mode)):  # mode(x): ties to any value in DuckDB, to the smallest here
        value = mode.this
        if isinstance(value, exp.Order):
            [key] = value.expressions if len(value.expressions) == 1 else [None]
            if key is None or key.this != value.this or key.args.get("desc"):
                raise FlowlogsError(f"SQL: {mode.sql('duckdb')} is not mapped for Athena", "write mode(x ORDER BY x)")
            value = value.this
        mode.replace(exp.Anonymous(this="mode_smallest", expressions=[value.copy()]))
    for select in list(statement.find_all(exp.Select)):  # a join and QUALIFY, which sqlglot writes as a subquery
        for join in select.args.get("joins") or []:
            if (join.args.get("method") or "").upper() == "ASOF":
                asof_join(select, join)
    return statement


# --- DDL -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TableDDL:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, Athena type)
    location: str
    partitions: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> projection properties
    view: str | None = None  # name of a view over the table (one row per event), if any

    def create(self, database: str) -> str:
        cols = ",\n  ".join(f"`{n}` {t}" for n, t in self.columns)
        parts = ""
        props = {"parquet.compression": "ZSTD"}
        if self.partitions:
            parts = "\nPARTITIONED BY (" + ", ".join(f"`{k}` string" for k in self.partitions) + ")"
            props["projection.enabled"] = "true"
            for key, projection in self.partitions.items():
                props.update({f"projection.{key}.{p}": v for p, v in projection.items()})
        properties = ",\n  ".join(f"'{k}'='{v}'" for k, v in props.items())
        return (f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{self.name}` (\n  {cols}\n){parts}\n"
                f"STORED AS PARQUET\nLOCATION '{self.location}'\nTBLPROPERTIES (\n  {properties}\n)")


@dataclass(frozen=True)
class DDL:
    database: str
    tables: tuple[TableDDL, ...]
    views: tuple[tuple[str, str], ...]  # (name, CREATE OR REPLACE VIEW in Athena's SQL)
    unknown_days: dict[str, int]  # table -> dt=unknown partitions Athena cannot see

    def statements(self) -> list[str]:
        return ([f"CREATE DATABASE IF NOT EXISTS `{self.database}`"]
                + [t.create(self.database) for t in self.tables] + [sql for _, sql in self.views])


def _partition_values(store: Store) -> tuple[dict[str, set[str]], dict[str, int]]:
    """Every value of every partition key in the lake's record tables; dt=unknown partitions per table."""
    values: dict[str, set[str]] = {k: set() for k in lake.PARTITION_KEYS}
    unknown: dict[str, int] = {}
    for table in TABLES:
        seen = set()
        for path in store.list_files(table, ".parquet"):
            parts = dict(p.split("=", 1) for p in path.split("/")[1:-1] if "=" in p)
            seen.add(tuple(parts.get(k) for k in lake.PARTITION_KEYS))
            for key, value in parts.items():
                if key in values:
                    values[key].add(value)
        days = sum(1 for *_, day in seen if day == UNKNOWN)
        if days:
            unknown[table] = days
    return values, unknown


def _projection(values: dict[str, set[str]]) -> dict[str, dict[str, str]]:
    """Projection properties of each partition key (the reasons are in the module's docstring)."""
    days = sorted(v for v in values["dt"] if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v))
    first = days[0] if days else datetime.now(timezone.utc).strftime("%Y-%m-%d")
    enum = {k: ",".join(sorted(values[k] | {UNKNOWN})) for k in ("aws_account", "aws_region")}
    projections = {
        "aws_account": {"type": "enum", "values": enum["aws_account"]},
        "aws_region": {"type": "enum", "values": enum["aws_region"]},
        "dt": {"type": "date", "format": "yyyy-MM-dd", "range": f"{first},NOW", "interval": "1",
               "interval.unit": "DAYS"},
    }
    assert set(projections) == set(lake.PARTITION_KEYS)
    return projections


def _columns(schema: pa.Schema) -> tuple[tuple[str, str], ...]:
    return tuple((f.name, athena_type(f.type)) for f in schema)


def ddl(store: Store, database: str, location: str | None = None) -> DDL:
    """The lake's tables for Athena: one CREATE EXTERNAL TABLE per lake table, views where the lake's
    readers keep one row per event. ``location``: the lake's s3:// URI (default: the store's own)."""
    base = (location or store.uri).rstrip("/")
    if not base.startswith("s3://"):
        raise FlowlogsError(f"--lake {store.uri}: Athena reads tables from S3, and this lake is local",
                            "give the lake's S3 location: flowlogs athena ddl --lake s3://bucket/prefix")
    if not re.fullmatch(r"[a-z0-9_]{1,255}", database):
        raise FlowlogsError(f"--database {database!r}: Athena database names are lowercase letters, digits and _",
                            "e.g. --database flowlogs")
    require_sqlglot()
    values, unknown = _partition_values(store)
    projection = _projection(values)
    tables, views = [], []
    for kind in TABLES.values():
        stored = f"_{kind.name}_rows" if kind.unique else kind.name
        tables.append(TableDDL(stored, _columns(kind.schema), f"{base}/{kind.name}/", projection,
                               view=kind.name if kind.unique else None))
        if kind.unique:
            columns = ", ".join(f'"{c}"' for c in [*kind.schema.names, *lake.PARTITION_KEYS])
            views.append((kind.name, _create_view(database, kind.name,
                                                  f'SELECT {columns} FROM "{stored}" {one_per_event(kind.unique)}')))
    tables.append(TableDDL("quarantine", _columns(lake.QUARANTINE_SCHEMA), f"{base}/quarantine/"))
    for name, schema in METADATA_SCHEMAS.items():
        stored = "eni_assignment_evidence_stored" if name == "eni_assignments" else name  # as metadata.views names it
        tables.append(TableDDL(stored, _columns(schema), f"{base}/{METADATA_ROOT}/{name}/"))
        if name != "eni_assignments":  # no current view: eni_assignments.sql merges its evidence (not made here)
            view, select = current_view(name, columns=True)
            views.append((view, _create_view(database, view, select)))
    for name, select, _ in _metadata_views():  # the metadata views of queries/, as the connection writes them
        views.append((name, _create_view(database, name, select)))
    return DDL(database, tuple(tables), tuple(views), unknown)


def _table_columns() -> dict[str, list[str]]:
    """The columns of the tables ``ddl`` makes and of the views over them (one row per event, current rows)."""
    columns = {"quarantine": list(lake.QUARANTINE_SCHEMA.names)}
    for kind in TABLES.values():
        names = [*kind.schema.names, *lake.PARTITION_KEYS]
        columns.update({f"_{kind.name}_rows": names, kind.name: names} if kind.unique else {kind.name: names})
    for table, schema in METADATA_SCHEMAS.items():
        columns["eni_assignment_evidence_stored" if table == "eni_assignments" else table] = list(schema.names)
        if table != "eni_assignments":
            columns[current_view(table)[0]] = list(schema.names)
    return columns


NOT_MADE = ("flows_with_owners", "resolve")
"""The metadata SQL of ``queries/`` whose views ``ddl`` does not make: ``resolve`` reads ``resolve_input``, a temp
table of the session; in ``flow_address_owners`` a ``*`` over ``address_static()``, whose expansion reads one
relation twice under one alias, so that sqlglot cannot list its columns (those views are for people's SQL; no
report reads them)."""


@functools.cache
def _metadata_views() -> tuple[tuple[str, object, tuple[str, ...]], ...]:
    """Each view the metadata SQL of ``queries/`` makes, in order: (name, its SELECT as a sqlglot tree the
    connection has made ready for Athena, its columns)."""
    from sqlglot import exp

    writer = AthenaConnection(None, database="", workgroup="", output=None)
    writer.known = _table_columns()
    views = []
    for query in queries.metadata_views():
        if query.name in NOT_MADE:
            continue
        for statement in parse(query.sql, "Athena"):
            if not (isinstance(statement, exp.Create) and statement.kind == "VIEW"):
                continue  # the macros: the connection knows them from the start (_macros)
            create = writer.prepare(statement, {})
            name = create.this.name
            columns = writer._columns(create.expression, create.expression)
            writer.known[name] = columns
            views.append((name, create.expression, tuple(columns)))
    return tuple(views)


@functools.cache
def ddl_columns() -> dict[str, list[str]]:
    """The columns of every table and view ``ddl`` makes, whatever the lake holds."""
    return {**_table_columns(), **{name: list(columns) for name, _, columns in _metadata_views()}}


def ddl_relations() -> frozenset[str]:
    """The names of the tables and views ``ddl`` makes, whatever the lake holds."""
    return frozenset(ddl_columns())


def _create_view(database: str, name: str, select) -> str:
    """CREATE OR REPLACE VIEW in Athena's SQL of ``select`` (a sqlglot tree, or DuckDB SQL), every table it reads
    qualified with ``database`` (a view resolves names where it was made, and ``--apply`` runs in the ``default``
    database)."""
    from sqlglot import exp

    select = parse(select, "Athena")[0] if isinstance(select, str) else select.copy()
    ctes = {cte.alias for cte in select.find_all(exp.CTE)}
    for table in select.find_all(exp.Table):
        if not table.args.get("db") and table.name not in ctes:
            table.set("db", exp.to_identifier(database, quoted=True))
    return f'CREATE OR REPLACE VIEW "{database}"."{name}" AS {select.sql("athena", comments=False)}'


# --- results ---------------------------------------------------------------------------------------------

def _timestamp(text: str) -> datetime:
    """``2026-11-27 09:30:00.123`` (a UTC instant in the lake) or ``… UTC`` / ``… +01:00`` → aware datetime."""
    text = text.strip()
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(.*)", text)
    if not m:
        raise ValueError(f"not an Athena timestamp: {text!r}")
    stamp, zone = m.groups()
    if "." in stamp:
        head, frac = stamp.split(".")
        stamp = f"{head}.{frac[:6]:0<6}"
    value = datetime.fromisoformat(stamp.replace(" ", "T"))
    if zone in ("", "UTC", "Z", "Etc/UTC"):
        return value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(f"{value.isoformat()}{zone}").astimezone(timezone.utc)


def _array(text: str) -> list[str]:
    """``[a, b]`` → ``['a', 'b']``: Athena's text of an array (elements holding ``, `` cannot be told apart)."""
    inner = text.strip()[1:-1]
    return [] if not inner.strip() else inner.split(", ")


_CONVERT = {
    "varchar": str, "char": str, "string": str, "json": str,
    "tinyint": int, "smallint": int, "integer": int, "int": int, "bigint": int,
    "double": float, "real": float, "float": float, "decimal": Decimal,
    "boolean": lambda s: s.lower() == "true",
    "date": date.fromisoformat,
    "timestamp": _timestamp, "timestamp with time zone": _timestamp,
    "varbinary": lambda s: bytes.fromhex(s.replace(" ", "")),
    "array": _array,
}


def convert(text: str | None, athena_type_name: str):
    """One result cell (text, or None for NULL) as the Python value of its Athena type."""
    if text is None:
        return None
    base = re.sub(r"\(.*\)$", "", athena_type_name.strip().lower())
    return _CONVERT.get(base, str)(text)


# --- the connection --------------------------------------------------------------------------------------

@dataclass
class QueryRun:
    id: str
    sql: str
    state: str
    scanned: int  # bytes
    millis: int

    @property
    def billed(self) -> int:
        """Bytes Athena bills for this query: 0 for DDL (and, in this estimate, a failed query), else at least
        10 MB, rounded up to the MB."""
        if self.state == "FAILED" or self.scanned == 0 and not self.sql.lstrip().upper().startswith(("SELECT", "WITH", "CREATE TABLE")):
            return 0
        return max(MIN_BILLED_BYTES, math.ceil(self.scanned / (1 << 20)) << 20)


def cost(scanned_bytes: int) -> float:
    """US dollars for ``scanned_bytes`` at PRICE_PER_TB."""
    return scanned_bytes / (1 << 40) * PRICE_PER_TB


class AthenaConnection:
    """Runs DuckDB SQL on Athena (see the module's docstring); ``runs`` keeps every query's scanned bytes."""

    poll_first = 0.2  # seconds before the first GetQueryExecution; doubled up to poll_max
    poll_max = 5.0
    page_size = 1000  # GetQueryResults' largest page

    def __init__(self, client, *, database: str, workgroup: str, output: str | None):
        self.client, self.database, self.workgroup = client, database, workgroup
        self.output = output.rstrip("/") + "/" if output else None
        self.session = uuid.uuid4().hex[:12]
        self.runs: list[QueryRun] = []
        self._scratch: dict[str, tuple[str, str]] = {}  # temp name -> (session name, TABLE | VIEW)
        self._inline: dict[str, object] = {}  # name -> the sqlglot query of the rows registered under it
        self._session_columns: dict[str, list[str]] = {}  # temp name -> its columns, as Athena says
        self.known: dict[str, list[str]] | None = None  # relation -> columns, of Athena's database: ddl_columns()
        self.macros = _macros()

    # DuckDB connection interface
    def execute(self, sql: str, params=None) -> Cursor:
        statements = parse(sql, "Athena")
        if not statements:
            raise FlowlogsError("the SQL is empty", 'give a statement, e.g. flowlogs sql "SELECT count(*) FROM flows"')
        positional = iter(params) if isinstance(params, (list, tuple)) else None
        cursor = Cursor([], [])
        for statement in statements:
            if self.macros.define(statement):
                continue
            for text in self.translate(statement, params if isinstance(params, dict) else {}, positional):
                cursor = self._run(text)
        return cursor

    def register(self, name: str, data) -> None:
        """A small Arrow table as the relation ``name``: later statements read its rows as a VALUES list, each
        value cast to its column's type (no rows: one typed row of NULLs, filtered out)."""
        from sqlglot import exp

        if not isinstance(data, pa.Table):
            raise FlowlogsError(f"registering {type(data).__name__} ({name}) as a table is not possible on Athena",
                                "run this report with --engine duckdb")
        if data.num_rows > MAX_INLINE_ROWS:
            raise FlowlogsError(f"{name}: {data.num_rows:,} rows are too many to send to Athena inline (at most "
                                f"{MAX_INLINE_ROWS:,})", "narrow the report (--since, --service) or use --engine duckdb")
        types = [None if pa.types.is_null(f.type) else exp.DataType.build(athena_type(f.type), dialect="hive")
                 for f in data.schema]

        def row(values) -> exp.Tuple:
            return exp.Tuple(expressions=[literal(v) if t is None else exp.cast(literal(v), t)
                                          for v, t in zip(values, types)])

        rows = [row(r.values()) for r in data.to_pylist()] or [row([None] * data.num_columns)]
        values = exp.Values(expressions=rows, alias=exp.TableAlias(
            this=exp.to_identifier("t"), columns=[exp.to_identifier(n, quoted=True) for n in data.column_names]))
        query = exp.select("*").from_(values)
        self._inline[name] = query if data.num_rows else query.where(exp.false())

    def close(self) -> None:
        """Drop this session's scratch tables and views (the CTAS files stay under flowlogs-scratch/)."""
        for name, (scratch, kind) in reversed(list(self._scratch.items())):
            quoted = f"`{scratch}`" if kind == "TABLE" else f'"{scratch}"'
            self._run(f"DROP {kind} IF EXISTS {quoted}")
        self._scratch.clear()

    def summary(self) -> str:
        """``scanned X MB, ~$Y at $5/TB`` over the queries run so far."""
        scanned = sum(r.scanned for r in self.runs)
        billed = sum(r.billed for r in self.runs)
        return (f"Athena: {len(self.runs)} queries, scanned {scanned / 1e6:,.1f} MB, "
                f"~${cost(billed):,.4f} at ${PRICE_PER_TB:g}/TB (billed {billed / 1e6:,.1f} MB: 10 MB a query at least)")

    # DuckDB → Athena
    def translate(self, statement, named: dict, positional=None) -> list[str]:
        """The Athena statements that do what the DuckDB ``statement`` does (a sqlglot tree), parameters bound."""
        from sqlglot import exp

        if self.macros.define(statement):
            return []
        statement = self.prepare(statement, named, positional)
        before: list[str] = []
        if isinstance(statement, exp.Create) and statement.kind in ("TABLE", "VIEW") and _is_temp(statement):
            name = statement.this.this.name if isinstance(statement.this, exp.Schema) else statement.this.name
            scratch = f"tmp_{self.session}_{name}".lower()
            if statement.args.get("exists") and name in self._scratch:  # CREATE … IF NOT EXISTS, made before
                return []
            self._session_columns.pop(name, None)
            if statement.kind == "TABLE":
                if self.output is None:
                    raise FlowlogsError(f"CREATE TEMP TABLE {name}: Athena writes it as a table under --athena-output, "
                                        "and none is given", "pass --athena-output s3://bucket/prefix/")
                before.append(f"DROP TABLE IF EXISTS `{scratch}`")
                self._rename(statement)
                self._scratch[name] = (scratch, "TABLE")
                select = statement.expression.sql("athena", comments=False)
                location = f"{self.output}{SCRATCH}/{self.session}/{name}/"
                return before + [f"CREATE TABLE \"{scratch}\" WITH (format = 'PARQUET', "
                                 f"external_location = '{location}') AS {select}"]
            self._scratch[name] = (scratch, "VIEW")
            self._rename(statement)
            return [f'CREATE OR REPLACE VIEW "{scratch}" AS {statement.expression.sql("athena", comments=False)}']
        self._rename(statement)
        return [statement.sql("athena", comments=False)]

    def prepare(self, statement, named: dict, positional=None):
        """A copy of ``statement`` with nothing DuckDB-only left: macros and the Python functions expanded, what
        ``rewrite`` maps, parameters bound, registered rows inline, ``GROUP BY ALL`` and the columns of ``UNION BY
        NAME``, ``* EXCLUDE``, ``* REPLACE`` listed (``_columns``). Names of temp tables are still the session's."""
        from sqlglot import exp

        # the macros of queries/ first (their bodies hold DuckDB-only constructs), then those rewrite() calls
        statement = self.macros.expand(rewrite(self.macros.expand(statement.copy())))
        bind(statement, named, positional)
        self._read_inline(statement)
        for group in statement.find_all(exp.Group):
            if group.args.get("all"):
                expand_group_by_all(group)
        return expand_columns(statement, self._columns)

    def _columns(self, query, anchor) -> list[str]:
        """The column names of ``query`` where ``anchor`` stands, from what Athena has (``known``: the tables and
        views ``ddl`` makes) and this session's tables and views (their columns asked once, ``SELECT * … LIMIT 0``),
        derived without running ``query`` (``dialect.static_columns``)."""
        from sqlglot import exp

        query = with_ctes(query, anchor)
        schema = dict(ddl_columns() if self.known is None else self.known)
        for table in query.find_all(exp.Table):
            name = table.name
            if not table.args.get("db") and name in self._scratch and name not in schema:
                if name not in self._session_columns:
                    scratch = self._scratch[name][0]
                    self._session_columns[name] = [c[0] for c in self._run(f'SELECT * FROM "{scratch}" LIMIT 0').description]
                schema[name] = self._session_columns[name]
        columns = static_columns(query, schema)
        if columns is None:
            raise FlowlogsError(f"SQL: the columns of {' '.join(query.sql('duckdb').split())[:200]} are not known",
                                "read only tables and views `flowlogs athena ddl` or this session makes")
        return columns

    def _read_inline(self, statement) -> None:
        """References to tables registered from Python → their rows (a CTE of the same name stays itself)."""
        from sqlglot import exp

        for table in list(statement.find_all(exp.Table)):
            name = table.name
            if table.args.get("db") or name not in self._inline or any(c.alias == name for c in visible_ctes(table)):
                continue
            alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
            table.replace(exp.Subquery(this=self._inline[name].copy(), alias=alias))

    def has_relation(self, name: str) -> bool:
        """Whether ``name`` is a table or view of this session, or one ``flowlogs athena ddl`` makes."""
        return name in self._scratch or name in self._inline or name in ddl_relations()

    def _rename(self, statement) -> None:
        """References to this session's temp tables and views → their session names."""
        from sqlglot import exp

        for table in statement.find_all(exp.Table):
            if not table.args.get("db") and table.name in self._scratch:
                table.set("this", exp.to_identifier(self._scratch[table.name][0], quoted=True))

    def _run(self, sql: str) -> Cursor:
        from botocore.exceptions import BotoCoreError, ClientError

        from pipeline import aws

        start: dict = {"QueryString": sql, "WorkGroup": self.workgroup,
                       "QueryExecutionContext": {"Database": self.database}}
        if self.output:
            start["ResultConfiguration"] = {"OutputLocation": self.output}
        try:
            query_id = self.client.start_query_execution(**start)["QueryExecutionId"]
            execution = self._wait(query_id)
        except (ClientError, BotoCoreError) as exc:
            raise aws.explain(exc, "athena:StartQueryExecution", f"workgroup {self.workgroup}") from None
        status, stats = execution["Status"], execution.get("Statistics", {})
        run = QueryRun(query_id, sql, status["State"], int(stats.get("DataScannedInBytes") or 0),
                       int(stats.get("TotalExecutionTimeInMillis") or 0))
        self.runs.append(run)
        if run.state != "SUCCEEDED":
            reason = status.get("StateChangeReason") or "no reason given"
            raise FlowlogsError(f"Athena query {query_id} {run.state.lower()}: {reason}",
                                f"the query sent was: {' '.join(sql.split())[:300]}")
        if execution.get("StatementType") == "DDL":  # CREATE, DROP, CTAS: no rows to read
            return Cursor([], [])
        try:
            return self._results(query_id)
        except (ClientError, BotoCoreError) as exc:
            raise aws.explain(exc, "athena:GetQueryResults", f"query {query_id}") from None

    def _wait(self, query_id: str) -> dict:
        """The query's execution once it has ended (polled with backoff); Ctrl-C stops it on Athena too."""
        delay = self.poll_first
        try:
            while True:
                execution = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
                if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                    return execution
                time.sleep(delay)
                delay = min(delay * 2, self.poll_max)
        except KeyboardInterrupt:
            self.client.stop_query_execution(QueryExecutionId=query_id)  # not left running (and billed)
            raise

    def _results(self, query_id: str) -> Cursor:
        columns: list[tuple[str, str]] | None = None
        rows: list[tuple] = []
        token = None
        for page in itertools.count():
            args = {"QueryExecutionId": query_id, "MaxResults": self.page_size}
            if token:
                args["NextToken"] = token
            answer = self.client.get_query_results(**args)
            result = answer["ResultSet"]
            if columns is None:
                columns = [(c.get("Label") or c["Name"], c["Type"]) for c in result["ResultSetMetadata"]["ColumnInfo"]]
            texts = [[cell.get("VarCharValue") for cell in row["Data"]] for row in result["Rows"]]
            if page == 0 and texts and columns and texts[0] == [name for name, _ in columns]:
                texts = texts[1:]  # a SELECT's first row holds the column names
            rows += [tuple(convert(t, type_) for t, (_, type_) in zip(row, columns)) for row in texts]
            token = answer.get("NextToken")
            if not token:
                return Cursor(columns or [], rows)
        raise AssertionError("unreachable")  # pragma: no cover


def _macros() -> Macros:
    """A connection's macros to begin with: TRINO_MACROS (the Python functions DuckDB calls…) and the macros the
    metadata views of ``queries/`` define (``address_static``: DuckDB gets them when it registers the views; the
    views are not sent: those ``flowlogs athena ddl`` makes, _metadata_views(), are read from the database)."""
    from sqlglot import exp

    macros = Macros()
    for name, body in TRINO_MACROS.items():
        macros.scalar[name] = (["a"], require_sqlglot().parse_one(body, read="trino"))
    for query in queries.metadata_views():
        for statement in parse(query.sql, "Athena"):
            if isinstance(statement, exp.Create) and statement.kind in ("MACRO", "FUNCTION"):
                macros.define(statement)
    return macros


def _is_temp(create) -> bool:
    from sqlglot import exp

    props = create.args.get("properties")
    return bool(props and any(isinstance(p, exp.TemporaryProperty) for p in props.expressions))


def connect(store: Store | None, settings: Settings, *, client=None) -> AthenaConnection:
    """A connection running SQL on Athena, in ``settings``' workgroup and database (the lake's tables made
    there by ``flowlogs athena ddl --apply``), results under ``settings.athena_output``. ``store`` is not
    read: Athena reads the lake through those tables."""
    from pipeline import aws

    require_sqlglot()
    output = settings.athena_output
    if output is not None and not output.startswith("s3://"):
        raise FlowlogsError(f"--athena-output {output}: Athena writes results to S3",
                            "give an s3://bucket/prefix/ location")
    return AthenaConnection(client or aws.client(settings, "athena"),
                            database=settings.database or DEFAULT_DATABASE,
                            workgroup=settings.workgroup or DEFAULT_WORKGROUP, output=output)


def apply(statements: list[str], settings: Settings, *, client=None) -> list[QueryRun]:
    """Run DDL statements as they are (already Athena's SQL, names qualified with the database), one
    StartQueryExecution each, in order, in the ``default`` database (the lake's may not exist yet)."""
    con = connect(None, replace(settings, database="default"), client=client)
    for sql in statements:
        con._run(sql)
    return con.runs
