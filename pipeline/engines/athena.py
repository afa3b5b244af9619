"""Athena: the lake's tables in the Glue catalog (DDL with partition projection), and a connection that
runs the analysis SQL of ``queries/`` there, transpiled from DuckDB to Trino by sqlglot at run time.

Tables (``ddl``). Every table the lake writes gets one ``CREATE EXTERNAL TABLE``, its columns and
Athena types read from the code that writes it (``pipeline.tables`` for the record tables,
``lake.store.QUARANTINE_SCHEMA``, ``metadata.schema.SCHEMAS``), so there is no second schema here.
The record tables are partitioned as the lake writes their paths (``lake.store.partition_values``):

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
binds ``$name`` and ``?`` parameters as literals in the syntax tree (never by pasting text),
rewrites what Trino lacks (``GROUP BY ALL``; ``CREATE TEMP TABLE … AS``: a CTAS under
``--athena-output``'s ``flowlogs-scratch/<session>/`` with a session-unique name, dropped at
``close()``; ``CREATE TEMP VIEW``: a session-unique view, dropped too), transpiles to Athena's Trino
SQL, and runs it: StartQueryExecution, GetQueryExecution polled with backoff, GetQueryResults paged.
Cells come back as text and are typed from the result's column types. A DuckDB macro the connection
is given (``CREATE MACRO``: nothing is sent) is expanded in place in later statements, as on Spark
(``engines.dialect.Macros``). The Python functions DuckDB gets from ``metadata.views.register_udfs``
(``ip_key``, ``cidr_start``…), the macros of ``queries/`` not defined on the connection (those of
``address_owners.sql``, a view file that needs them) and Arrow tables registered from Python have no
Athena equivalent: they raise a FlowlogsError.

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

from pipeline.engines.dialect import Cursor, Macros, bind, expand_group_by_all, parse, require_sqlglot
from pipeline.errors import FlowlogsError
from pipeline.lake import store as lake
from pipeline.lake.storage import Store
from pipeline.lake.views import one_per_event
from pipeline import queries
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
UNSUPPORTED_FUNCTIONS = ("ip_key", "cidr_start", "cidr_end", "ip_is_global")  # DuckDB Python UDFs (metadata.views)
UNKNOWN = "unknown"  # the partition value the lake writes when a record and its key say nothing


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
        if name != "eni_assignments":  # its view needs ip_key(), a Python function: DuckDB only
            view, select = current_view(name, columns=True)
            views.append((view, _create_view(database, view, select)))
    for query in queries.metadata_views():  # the metadata SQL views Athena can run (no macro, no Python function)
        if query.name in ATHENA_VIEWS:
            [create] = [s for s in sqlglot_parse(query.sql) if s is not None]
            views.append((create.this.name, _create_view(database, create.this.name, create.expression.sql("duckdb"))))
    return DDL(database, tuple(tables), tuple(views), unknown)


ATHENA_VIEWS = ("current_prefix_lists",)
"""The metadata views of ``queries/`` made in Athena too; the others use DuckDB macros or Python functions
(``address_owners``, ``eni_assignments``, ``resolve``) or read those (``flows_with_owners``)."""


def sqlglot_parse(sql: str) -> list:
    return require_sqlglot().parse(sql, read="duckdb")


def _create_view(database: str, name: str, duckdb_select: str) -> str:
    """CREATE OR REPLACE VIEW in Athena's SQL, every table it reads qualified with ``database`` (a view
    resolves names where it was made, and ``--apply`` runs in the ``default`` database)."""
    from sqlglot import exp

    [select] = sqlglot_parse(duckdb_select)
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
        self.macros = Macros()  # the DuckDB macros defined on this connection, expanded in later statements

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
            statement = self.macros.expand(statement.copy())
            for text in self.translate(statement, params if isinstance(params, dict) else {}, positional):
                cursor = self._run(text)
        return cursor

    def register(self, name: str, data) -> None:
        raise FlowlogsError(f"registering local data ({name}) as a table is not possible on Athena",
                            "run this report with --engine duckdb")

    def has_relation(self, name: str) -> bool:
        """A temp table or view of this session (nothing sent), or a table or view of the database (its catalog)."""
        if name in self._scratch:
            return True
        return self.execute("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_schema = $db AND table_name = $n", {"db": self.database, "n": name}).fetchone()[0] > 0

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

        statement = statement.copy()
        bind(statement, named, positional)
        for fn in statement.find_all(exp.Anonymous):
            if str(fn.name).lower() in UNSUPPORTED_FUNCTIONS:
                raise FlowlogsError(f"{fn.name}() is a Python function DuckDB runs for flowlogs; Athena has no such "
                                    "function", "run this report with --engine duckdb")
            if str(fn.name).lower() in duckdb_macros():
                raise FlowlogsError(f"{fn.name}() is a DuckDB macro of queries/ not defined on this Athena connection",
                                    "run this report with --engine duckdb")
        for group in statement.find_all(exp.Group):
            if group.args.get("all"):
                expand_group_by_all(group)
        before: list[str] = []
        if isinstance(statement, exp.Create) and statement.kind in ("TABLE", "VIEW") and _is_temp(statement):
            name = statement.this.this.name if isinstance(statement.this, exp.Schema) else statement.this.name
            scratch = f"tmp_{self.session}_{name}".lower()
            if statement.args.get("exists") and name in self._scratch:  # CREATE … IF NOT EXISTS, made before
                return []
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


@functools.cache
def duckdb_macros() -> frozenset[str]:
    """The macros the files of ``queries/`` define (DuckDB only)."""
    return frozenset(m.lower() for q in queries.registry().values()
                     for m in re.findall(r"CREATE\s+OR\s+REPLACE\s+(?:TEMP\s+)?MACRO\s+(\w+)", q.sql, re.I))


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
