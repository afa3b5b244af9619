"""Spark: the lake's tables as Spark temp views, and a connection that runs the analysis SQL of ``queries/``
there, transpiled from DuckDB to Spark SQL by sqlglot at run time (``pip install 'fargate-flowlogs[spark]'``).

The connection looks like DuckDB's to the analysis (``execute(sql, params)``, ``register``, a cursor with
``description``, ``fetchall`` and ``fetchone``), so findings, reports and ``flowlogs sql`` run unchanged:

- the record tables (``pipeline.tables``) and ``quarantine`` are read with ``spark.read.parquet`` from the
  lake's live files, typed by the same schemas as Athena's DDL (partition keys as strings); the metadata
  tables likewise, with their ``current_`` views and the metadata SQL views of ``queries/``;
- statements are parsed as DuckDB SQL, parameters bound as literals, macros expanded
  (``engines.dialect``), the DuckDB-only constructs rewritten (``REWRITES``), then generated as Spark SQL;
- ``CREATE TEMP TABLE x AS`` is computed once and kept (``localCheckpoint``), ``CREATE VIEW`` is a temp view;
- the Python functions of ``metadata.views.register_udfs`` (``ip_key``, ``cidr_start``…) are Arrow UDFs
  running the same code (on a cluster the executors need this package installed);
- results come back through Arrow, so timestamps are UTC instants, lists and structs as DuckDB gives them.

The lake is read from a local path, or from ``s3a://`` when Spark has hadoop-aws on its classpath (see the
README's Engines section); the session runs in UTC.

May import the core modules, ``lake`` and ``metadata`` (rank 3, with analysis: analysis may use it).
"""

from __future__ import annotations

import logging
import os
import re
import sys

import pyarrow as pa

from pipeline.engines.dialect import Cursor, Macros, asof_join, bind, expand_columns, parse, with_ctes
from pipeline.errors import FlowlogsError
from pipeline.lake import compaction
from pipeline.lake import store as lake
from pipeline.lake.storage import Store
from pipeline.lake.views import one_per_event
from pipeline import addresses, queries
from pipeline.metadata.schema import SCHEMAS as METADATA_SCHEMAS
from pipeline.metadata.store import committed_files, committed_snapshot_ids
from pipeline.metadata.views import current_view
from pipeline.settings import Settings
from pipeline.tables import TABLES, athena_type

DEFAULT_MASTER = "local[*]"


def require_pyspark():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise FlowlogsError("--engine spark needs PySpark, which is not installed",
                            "pip install 'fargate-flowlogs[spark]' (and a Java 17 or 21 runtime)") from None


def session(master: str | None = None):
    """The Spark session: UTC, partition values kept as text, no web UI, the driver on loopback when local."""
    require_pyspark()
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers run this Python (and this package)
    master = master or DEFAULT_MASTER
    builder = (SparkSession.builder.master(master).appName("flowlogs")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", os.environ.get("FLOWLOGS_SPARK_PARTITIONS", "8")))
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    try:
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("OFF")  # its errors reach the user as FlowlogsErrors, once
        logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)  # PySpark's own copy of each error
        return spark
    except Exception as exc:  # no Java, a master that does not answer…
        raise FlowlogsError(f"--engine spark: Spark did not start ({str(exc).splitlines()[0][:200]})",
                            "check JAVA_HOME (Java 17 or 21) and --spark-master") from None


def spark_schema(schema: pa.Schema) -> str:
    """A Spark DDL schema string for an Arrow schema (the Hive type names Athena's DDL uses, which Spark reads)."""
    return ", ".join(f"`{f.name}` {athena_type(f.type)}" for f in schema)


# --- DuckDB → Spark SQL ---------------------------------------------------------------------------------------

def _ubigint_hex(node):
    """``CAST('0x' || h AS UBIGINT)`` (DuckDB: the 16 hex digits as an unsigned 64-bit number) → the same 64 bits
    as a signed BIGINT. Spark has no unsigned type; shifts and equality on the signed value give the same masks."""
    from sqlglot import exp

    text = node.this
    digits = text.expression if isinstance(text, exp.DPipe) and text.this.name == "0x" else text
    unsigned = exp.cast(exp.Anonymous(this="conv", expressions=[digits, exp.Literal.number(16), exp.Literal.number(10)]),
                        "DECIMAL(20,0)")
    wrapped = exp.Case(ifs=[exp.If(this=exp.GTE(this=unsigned, expression=exp.Literal.number(2**63)),
                                   true=exp.Sub(this=unsigned, expression=exp.Literal.number(2**64)))],
                       default=unsigned.copy())
    return exp.cast(wrapped, "BIGINT")


def rewrite(statement):
    """The DuckDB-only constructs of ``queries/`` that need no schema, in forms Spark SQL has (with
    ``SparkConnection._expand``, the one place they are mapped; ``ASOF JOIN`` by ``dialect.asof_join`` and the
    columns of ``UNION BY NAME``/``* EXCLUDE``/``* REPLACE`` by ``dialect.expand_columns``, which Athena shares)."""
    from sqlglot import exp

    for cte in statement.find_all(exp.CTE):
        cte.set("materialized", None)  # AS MATERIALIZED: Spark decides itself
    for cast in list(statement.find_all(exp.Cast)):
        if cast.to.this == exp.DataType.Type.UBIGINT:
            cast.replace(_ubigint_hex(cast) if isinstance(cast.this, exp.DPipe) else exp.cast(cast.this, "BIGINT"))
    for unnest in list(statement.find_all(exp.Unnest, exp.Explode)):  # unnest($list) bound to NULL: a typed NULL
        for arg in unnest.expressions if isinstance(unnest, exp.Unnest) else [unnest.this]:
            if isinstance(arg, exp.Null):
                arg.replace(exp.cast(exp.Null(), exp.DataType.build("ARRAY<STRING>", dialect="spark")))
    for any_value in list(statement.find_all(exp.AnyValue)):  # DuckDB's any_value skips NULLs: Spark's, told to
        if isinstance(any_value.parent, exp.IgnoreNulls):
            any_value.parent.replace(any_value)
        any_value.replace(exp.Anonymous(this="any_value", expressions=[any_value.this.copy(), exp.true()]))
    for agg in list(statement.find_all(exp.ArrayAgg)):  # list(x ORDER BY x): the list sorted
        order = agg.this
        if isinstance(order, exp.Order):
            value = order.this.expressions[0] if isinstance(order.this, exp.Distinct) else order.this
            [key] = order.expressions if len(order.expressions) == 1 else [None]
            if key is None or key.this != value or key.args.get("desc"):
                raise FlowlogsError(f"SQL: {agg.sql('duckdb')} is not mapped for Spark",
                                    "order a list by its own values, ascending")
            agg.replace(exp.ArraySort(this=exp.ArrayAgg(this=order.this.copy())))
    for extract in list(statement.find_all(exp.JSONExtractScalar)):  # json_extract_string(list of structs, path):
        extract.set("this", exp.Anonymous(this="to_json", expressions=[extract.this.copy()]))  # its JSON text first
    for mode in list(statement.find_all(exp.Mode)):  # mode(x ORDER BY x): ties to the smallest, as mode(x, true)
        if isinstance(mode.this, exp.Order):
            mode.replace(exp.Anonymous(this="mode", expressions=[mode.this.this.copy(), exp.true()]))
    for bracket in list(statement.find_all(exp.Bracket)):  # hex(k)[1:16]: a slice of text
        [index] = bracket.expressions if len(bracket.expressions) == 1 else [None]
        if isinstance(bracket.this, exp.Hex) and isinstance(index, exp.Slice):
            start, end = int(index.this.name), int(index.expression.name)
            bracket.replace(exp.Substring(this=bracket.this, start=exp.Literal.number(start),
                                          length=exp.Literal.number(end - start + 1)))
    for select in list(statement.find_all(exp.Select)):
        for join in select.args.get("joins") or []:
            if (join.args.get("method") or "").upper() == "ASOF":
                asof_join(select, join)
    return statement


# --- the connection -------------------------------------------------------------------------------------------

class SparkConnection:
    """Runs DuckDB SQL on Spark (see the module's docstring)."""

    def __init__(self, spark):
        self.spark = spark
        self.macros = Macros()
        self._kept: dict[str, object] = {}  # temp tables computed once (their DataFrames)

    def execute(self, sql: str, params=None) -> Cursor:
        cursor = Cursor([], [])
        positional = iter(params) if isinstance(params, (list, tuple)) else None
        for statement in parse(sql, "Spark"):
            cursor = self._statement(statement, params if isinstance(params, dict) else {}, positional)
        return cursor

    def _statement(self, statement, named: dict, positional) -> Cursor:
        from sqlglot import exp

        if self.macros.define(statement):
            return Cursor([], [])
        if isinstance(statement, (exp.Set, exp.Pragma)):
            return Cursor([], [])  # DuckDB settings (memory, threads): Spark has its own
        statement = self.macros.expand(statement.copy())
        bind(statement, named, positional)
        statement = self._expand(rewrite(statement))
        if isinstance(statement, exp.Drop) and statement.kind in ("VIEW", "TABLE"):
            self._forget(statement.this.name)
            return Cursor([], [])
        if isinstance(statement, exp.Create) and statement.kind in ("TABLE", "VIEW"):
            name = statement.this.this.name if isinstance(statement.this, exp.Schema) else statement.this.name
            if statement.args.get("exists") and self.spark.catalog.tableExists(name):
                return Cursor([], [])
            if statement.expression is None:  # CREATE TABLE t (columns): empty
                ddl = ", ".join(c.sql("spark") for c in statement.this.expressions)
                frame = self.spark.createDataFrame([], schema=ddl)
            else:
                frame = self._sql(statement.expression)
            if statement.kind == "TABLE":
                frame = frame.localCheckpoint(eager=True)
                self._kept[name] = frame
            frame.createOrReplaceTempView(name)
            return Cursor([], [])
        return self._cursor(self._sql(statement))

    # * EXCLUDE, * REPLACE, UNION BY NAME and QUALIFY need the columns of what they read: Spark's analysis says
    def _expand(self, statement):
        if statement.key != "create":
            return expand_columns(statement, self._columns, self._qualify)
        if statement.expression is not None:
            statement.set("expression", expand_columns(statement.expression, self._columns, self._qualify))
        return statement

    def _qualify(self, select):
        """``SELECT cols … QUALIFY cond ORDER BY keys LIMIT n`` → ``SELECT cols FROM (SELECT cols, windows, keys …)
        WHERE cond ORDER BY keys LIMIT n``: the columns listed, so the window values and sort keys stay inside (a
        ``*`` over the result does not see them). ORDER BY, LIMIT and OFFSET go outside: they apply after QUALIFY,
        and a filter over an ordered subquery is not bound to keep its order."""
        from sqlglot import exp

        condition = select.args["qualify"].this.copy()
        select.set("qualify", None)
        names = self._columns(select, select)
        inner = select.copy()
        order = inner.args.get("order")
        inner.set("order", None)
        selected = [e.unalias() for e in inner.expressions] if len(inner.expressions) == len(names) else []  # no *
        keys = [self._order_key(o, i, inner, names, selected) for i, o in enumerate(order.expressions)] if order else []
        for i, window in enumerate(list(condition.find_all(exp.Window))):
            alias = f"_qualify_{i}"
            inner.select(exp.alias_(window.copy(), alias), copy=False)
            window.replace(exp.column(alias))
        outer = exp.select(*[exp.column(n, quoted=True) for n in names]).from_(
            exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("_qualified"))), copy=False
        ).where(condition, copy=False)
        if keys:
            outer.set("order", exp.Order(expressions=keys))
        for part in ("limit", "offset"):
            if inner.args.get(part) is not None:
                outer.set(part, inner.args[part])
                inner.set(part, None)
        select.replace(outer)
        return outer

    @staticmethod
    def _order_key(ordered, i: int, inner, names: list[str], selected: list):
        """The ORDER BY item ``ordered`` of ``inner`` (its output columns ``names``, the expressions ``selected`` for
        them) as the outer query's: by the output column it names (an ordinal, an output name, a selected
        expression), else by a column ``_order_i`` added to ``inner``."""
        from sqlglot import exp

        key = ordered.this
        lower = [n.lower() for n in names]
        if isinstance(key, exp.Literal) and key.is_int:
            name = names[int(key.name) - 1]
        elif isinstance(key, exp.Column) and not key.table and key.name.lower() in lower:
            name = names[lower.index(key.name.lower())]
        elif key in selected:
            name = names[selected.index(key)]
        else:
            name = f"_order_{i}"
            inner.select(exp.alias_(key.copy(), name), copy=False)
        out = ordered.copy()
        out.set("this", exp.column(name, quoted=True))
        return out

    def _columns(self, query, anchor) -> list[str]:
        """The column names of ``query`` (a sqlglot query) where ``anchor`` stands in the statement: with the CTEs
        in scope there (analysed by Spark, not run)."""
        return self._sql(with_ctes(query, anchor)).columns

    def _sql(self, tree):
        from pyspark.errors import PySparkException

        text = tree.sql("spark", comments=False)
        try:
            return self.spark.sql(text)
        except PySparkException as exc:
            message = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)[:400]
            raise FlowlogsError(f"Spark: {message}", f"the query sent was: {' '.join(text.split())[:300]}") from None

    def _forget(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        kept = self._kept.pop(name, None)
        if kept is not None:
            kept.unpersist()

    @staticmethod
    def _cursor(frame) -> Cursor:
        table = frame.toArrow()
        columns = [(f.name, str(f.type)) for f in table.schema]
        return Cursor(columns, [tuple(row.values()) for row in table.to_pylist()])

    def has_relation(self, name: str) -> bool:
        return self.spark.catalog.tableExists(name)

    def register(self, name: str, data) -> None:
        """An Arrow table (or a pyarrow dataset: read into one) as the temp view ``name``."""
        import pyarrow.dataset as ds

        if isinstance(data, ds.Dataset):
            data = data.to_table()
        frame = self.spark.createDataFrame(data.to_pandas(), schema=spark_schema(data.schema)) if data.num_rows \
            else self.spark.createDataFrame([], schema=spark_schema(data.schema))
        frame.createOrReplaceTempView(name)

    def close(self) -> None:
        for name in list(self._kept):
            self._forget(name)


def _udfs(spark) -> None:
    """``ip_key``, ``cidr_start``, ``cidr_end``, ``ip_is_global``: the code DuckDB runs, as vectorised UDFs."""
    from pyspark.sql.functions import pandas_udf

    def arrow_udf(fn, returns: str):
        def run(values):
            import pandas as pd

            out = fn(pa.array(values, pa.string()))
            return pd.Series(out.to_pylist(), dtype=object)

        return pandas_udf(run, returns)

    spark.udf.register("ip_key", arrow_udf(addresses.ip_keys, "binary"))
    spark.udf.register("cidr_start", arrow_udf(lambda a: addresses.cidr_bounds_arrays(a)[0], "binary"))
    spark.udf.register("cidr_end", arrow_udf(lambda a: addresses.cidr_bounds_arrays(a)[1], "binary"))
    spark.udf.register("ip_is_global", arrow_udf(
        lambda a: addresses._map_distinct(a, addresses.is_global, pa.bool_()), "boolean"))


def _location(store: Store, relative: str) -> str:
    """A lake path as Spark reads it: local, or s3a:// for a lake on S3."""
    path = store.path(relative)
    return path if store.is_local else "s3a://" + path.split("://", 1)[-1]


def _view(con: SparkConnection, name: str, files: list[str], store: Store, schema: pa.Schema, base: str | None) -> None:
    spark = con.spark
    if not files:
        frame = spark.createDataFrame([], schema=spark_schema(schema))
    else:
        reader = spark.read.schema(spark_schema(schema))
        if base is not None:
            reader = reader.option("basePath", _location(store, base))
        frame = reader.parquet(*[_location(store, f) for f in files])
    frame.createOrReplaceTempView(name)


def register_lake(con: SparkConnection, store: Store) -> None:
    """The lake's record, quarantine and metadata tables and views on ``con`` (the names DuckDB uses)."""
    partitions = [pa.field(k, pa.string()) for k in lake.PARTITION_KEYS]
    recs = compaction.records(store)
    for kind in TABLES.values():
        stored = f"_{kind.name}_rows" if kind.unique else kind.name
        _view(con, stored, compaction.live_files(store, kind.name, recs), store,
              pa.schema(list(kind.schema) + partitions), base=kind.name)
        if kind.unique:
            con.execute(f'CREATE VIEW "{kind.name}" AS SELECT * FROM "{stored}" {one_per_event(kind.unique)}')
    _view(con, "quarantine", store.list_files("quarantine", ".parquet"), store, lake.QUARANTINE_SCHEMA, base=None)
    _udfs(con.spark)
    ids = committed_snapshot_ids(store)
    for table, schema in METADATA_SCHEMAS.items():
        stored = "eni_assignment_evidence_stored" if table == "eni_assignments" else table
        _view(con, stored, committed_files(store, table, ids), store, schema, base=None)
        if table != "eni_assignments":
            name, select = current_view(table, columns=True)
            con.execute(f"CREATE VIEW {name} AS {select}")
    flow_columns = set(con.spark.table("flows").columns)
    for query in queries.metadata_views():
        if query.requires is not None and not query.requires <= flow_columns:
            continue
        con.execute(query.sql)


def connect(store: Store, settings: Settings) -> SparkConnection:
    """A connection running the analysis on Spark (``settings.spark_master``) over ``store``'s files."""
    con = SparkConnection(session(settings.spark_master).newSession())  # its own temp views: one per connection
    register_lake(con, store)
    return con
