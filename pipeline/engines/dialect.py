"""DuckDB SQL made ready for another engine (Athena, Spark): parsed by sqlglot, parameters bound as literals in
the syntax tree, the macros of ``queries/`` expanded in place, ``ASOF JOIN`` written as a join both engines have,
results handed back through a DuckDB-like cursor.

Macros. DuckDB's ``CREATE MACRO f(a) AS expr`` and ``CREATE MACRO t(a) AS TABLE select`` have no equivalent on
the other engines, so ``Macros`` keeps each one a connection defines and replaces every later call by the body,
arguments substituted: ``f(x)`` by ``expr`` with ``a`` := ``x``; ``FROM t('name')`` by the subquery ``select`` with
``query_table(a)`` := the relation ``name``. The SQL files stay the one copy of the logic.

Columns. ``UNION BY NAME``, ``* EXCLUDE`` and ``* REPLACE`` need the columns of what they read: ``expand_columns``
lists them, asking the engine's connection (Spark's analyser; Athena: ``static_columns`` over the lake's known
schemas and the session's tables).

May import the core modules only.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timezone

from pipeline.errors import FlowlogsError


def require_sqlglot():
    """sqlglot, or an error saying how to install it (the ``athena`` extra)."""
    try:
        import sqlglot
    except ImportError:
        raise FlowlogsError("Athena needs sqlglot, which is not installed",
                            "pip install 'fargate-flowlogs[athena]'") from None
    return sqlglot


class Cursor:
    """What ``execute`` returns: ``description`` (name first in each item), ``fetchall``, ``fetchone``."""

    def __init__(self, columns: list[tuple[str, str]], rows: list[tuple]):
        self.description = [(name, type_, None, None, None, None, None) for name, type_ in columns]
        self._rows = rows
        self._at = 0

    def fetchall(self) -> list[tuple]:
        rows, self._at = self._rows[self._at:], len(self._rows)
        return rows

    def fetchone(self) -> tuple | None:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]



class Macros:
    """The DuckDB macros a connection has defined, and their expansion in later statements."""

    def __init__(self):
        self.scalar: dict[str, tuple[list[str], object]] = {}  # name -> (parameters, body expression)
        self.table: dict[str, tuple[list[str], object]] = {}  # name -> (parameters, body SELECT)

    def define(self, statement) -> bool:
        """Keep ``statement`` if it is a CREATE MACRO (True), else False."""
        from sqlglot import exp

        if not (isinstance(statement, exp.Create) and statement.kind in ("MACRO", "FUNCTION")):
            return False
        signature = statement.this
        name = signature.this.name.lower()
        params = [p.name.lower() for p in signature.expressions]
        props = statement.args.get("properties")
        returns_table = bool(props) and any(isinstance(p, exp.ReturnsProperty) and p.args.get("is_table")
                                            for p in props.expressions)
        (self.table if returns_table else self.scalar)[name] = (params, statement.expression)
        return True

    def expand(self, statement):
        """``statement`` with every macro call replaced by its body (nested calls too)."""
        from sqlglot import exp

        for _ in range(32):  # a macro may call another: expand until none is left
            calls = [n for n in statement.find_all(exp.Anonymous)
                     if str(n.name).lower() in self.scalar or str(n.name).lower() in self.table]
            if not calls:
                return statement
            for call in calls:
                name = str(call.name).lower()
                if name in self.table:
                    self._expand_table(call)
                else:
                    params, body = self.scalar[name]
                    call.replace(exp.Paren(this=_substitute(body, params, call.expressions)))
        raise FlowlogsError("SQL: macros call each other without end")

    def _expand_table(self, call) -> None:
        from sqlglot import exp

        params, body = self.table[str(call.name).lower()]
        names = {p: a.name for p, a in zip(params, call.expressions)}  # query_table('x'): the relation x
        select = body.copy()
        for inner in list(select.find_all(exp.Anonymous)):
            if str(inner.name).lower() == "query_table" and inner.expressions and inner.expressions[0].name.lower() in names:
                inner.replace(exp.to_table(names[inner.expressions[0].name.lower()]))
        for node in list(select.find_all(exp.Table)):  # FROM query_table(x) parses as a table function
            fn = node.this
            if isinstance(fn, exp.Anonymous) and str(fn.name).lower() == "query_table":
                node.replace(exp.to_table(names[fn.expressions[0].name.lower()]))
        table = call.parent if isinstance(call.parent, exp.Table) else call
        alias = table.args.get("alias") if isinstance(table, exp.Table) else None
        table.replace(exp.Subquery(this=select, alias=alias or exp.TableAlias(this=exp.to_identifier(str(call.name)))))


def _substitute(body, params: list[str], args: list):
    """``body`` with each column named like a parameter replaced by that argument."""
    from sqlglot import exp

    given = dict(zip(params, args))
    out = body.copy()
    for column in list(out.find_all(exp.Column)):
        if not column.table and column.name.lower() in given:
            arg = given[column.name.lower()].copy()
            simple = isinstance(arg, (exp.Column, exp.Literal, exp.Null, exp.Boolean, exp.Paren))
            column.replace(arg if simple else exp.Paren(this=arg))  # x * 2 with x := a + 1 is (a + 1) * 2
    return out


def asof_join(select, join) -> None:
    """``l ASOF JOIN r ON keys AND r.t <= expr`` → ``l JOIN r ON keys AND r.t <= expr``, keeping per row of ``l``
    the match with the latest ``r.t`` (the earliest for ``>=``), as DuckDB's ASOF join does. The rows of ``l`` are
    told apart by the columns of ``l`` the query uses (in the queries, its key)."""
    from sqlglot import exp

    right = join.this.alias_or_name
    left = select.args["from_"].this.alias_or_name if "from_" in select.args else select.args["from"].this.alias_or_name
    order = None
    for cmp in join.args["on"].find_all(exp.LTE, exp.LT, exp.GTE, exp.GT):
        for side, other in ((cmp.this, cmp.expression), (cmp.expression, cmp.this)):
            if isinstance(side, exp.Column) and side.table == right:
                latest = isinstance(cmp, (exp.LTE, exp.LT)) == (side is cmp.this)
                order = exp.Ordered(this=side.copy(), desc=latest)
    if order is None:
        raise FlowlogsError("SQL: an ASOF JOIN without an inequality on the joined table", "write it as a join")
    used = {c.name: c for c in select.find_all(exp.Column) if c.table == left}
    ties = sorted({c.name: c for c in select.find_all(exp.Column) if c.table == right}.items())
    window = exp.Window(this=exp.RowNumber(), partition_by=[used[n].copy() for n in sorted(used)],
                        order=exp.Order(expressions=[order, *[exp.Ordered(this=c.copy()) for _, c in ties]]))
    join.set("method", None)
    select.set("qualify", exp.Qualify(this=exp.EQ(this=window, expression=exp.Literal.number(1))))


def visible_ctes(node) -> list:
    """The CTEs ``node`` may read, outermost first: every CTE of each enclosing WITH, but within the WITH that
    holds ``node``, only the CTEs before its own."""
    from sqlglot import exp

    levels = []
    child, parent = node, node.parent
    while parent is not None:
        if isinstance(parent, exp.With):
            levels.append(parent.expressions[:parent.expressions.index(child)])
        elif isinstance(parent, exp.Query) and parent.args.get("with_") is not None and child is not parent.args["with_"]:
            levels.append(list(parent.args["with_"].expressions))
        child, parent = parent, parent.parent
    return [cte for level in reversed(levels) for cte in level]


def with_ctes(query, anchor):
    """A copy of ``query`` holding the CTEs visible where ``anchor`` stands, so that it can be read on its own."""
    from sqlglot import exp

    query = query.copy()
    ctes = visible_ctes(anchor)
    if ctes:
        query.set("with_", exp.With(expressions=[c.copy() for c in ctes]))
    return query


def expand_columns(node, columns, qualify=None):
    """``a UNION [ALL] BY NAME b``, ``t.* EXCLUDE (…)`` and ``t.* REPLACE (…)`` in ``node`` written with the columns
    listed, inner queries (and earlier CTEs) first, so that a query's columns are asked once what it reads is
    rewritten. ``columns(query, anchor)``: the column names of ``query`` (a sqlglot query) with the CTEs in scope
    at ``anchor`` (each engine knows them its own way); ``qualify(select)``: what replaces a SELECT with QUALIFY
    (Spark), if given. Returns ``node``, or what replaced it."""
    from sqlglot import exp

    for child in list(node.iter_expressions()):
        expand_columns(child, columns, qualify)
    if isinstance(node, exp.Union) and node.args.get("by_name"):
        _by_name(node, columns)
    elif isinstance(node, exp.Select):
        for item in list(node.expressions):
            star = item.this if isinstance(item, exp.Column) and isinstance(item.this, exp.Star) else item
            if isinstance(star, exp.Star) and (star.args.get("except_") or star.args.get("replace")):
                _star(node, item, star, columns)
        if qualify is not None and node.args.get("qualify"):
            return qualify(node)
    return node


def _by_name(union, columns) -> None:
    """``a UNION [ALL] BY NAME b`` → each side's columns in one order, NULL for the ones a side lacks."""
    from sqlglot import exp

    sides = (union.this, union.expression)
    named = [columns(side, side) for side in sides]  # a side sees the CTEs of the UNION's own WITH too
    every = named[0] + [c for c in named[1] if c.lower() not in {n.lower() for n in named[0]}]
    for side, have in zip(sides, named):
        lower = {c.lower() for c in have}
        items = [exp.column(c, quoted=True) if c.lower() in lower else exp.alias_(exp.Null(), c, quoted=True)
                 for c in every]
        side.replace(exp.select(*items).from_(exp.Subquery(this=side.copy(), alias=exp.TableAlias(
            this=exp.to_identifier("_by_name")))))
    union.set("by_name", None)


def _star(select, item, star, columns) -> None:
    """``t.* EXCLUDE (a)`` / ``t.* REPLACE (e AS a)`` → ``t``'s columns, listed, without ``a`` / with ``e``."""
    from sqlglot import exp

    alias = item.table if isinstance(item, exp.Column) else None
    sources = [select.args.get("from_") or select.args.get("from")] + list(select.args.get("joins") or [])
    sources = [s.this for s in sources if s is not None]
    source = next((s for s in sources if alias is None or s.alias_or_name == alias), None)
    if source is None or (alias is None and len(sources) > 1):
        raise FlowlogsError(f"SQL: cannot list the columns of {item.sql('duckdb')}", "name the columns")
    inner = source.this.copy() if isinstance(source, exp.Subquery) else exp.select("*").from_(
        exp.Table(this=source.this.copy(), db=source.args.get("db")))
    excluded = {c.name.lower() for c in star.args.get("except_") or []}
    replaced = {r.alias.lower(): r for r in star.args.get("replace") or []}
    items = []
    for name in columns(inner, source):  # the source sees the CTEs of the SELECT's own WITH too
        if name.lower() in excluded:
            continue
        if name.lower() in replaced:
            items.append(replaced[name.lower()].copy())
        else:
            items.append(exp.column(name, table=alias, quoted=True))
    index = select.expressions.index(item)
    select.set("expressions", select.expressions[:index] + items + select.expressions[index + 1:])


def static_columns(query, schema: dict[str, list[str]]) -> list[str] | None:
    """The column names of ``query`` (its CTEs included) from ``schema`` (relation → column names), by sqlglot's
    ``qualify``, without running anything; None if it reads a relation ``schema`` does not have."""
    from sqlglot import exp
    from sqlglot.errors import OptimizeError
    from sqlglot.optimizer.qualify import qualify

    known = {name.lower() for name in schema}
    ctes = {cte.alias.lower() for cte in query.find_all(exp.CTE)}
    if any(t.name.lower() not in known | ctes for t in query.find_all(exp.Table) if t.name):
        return None
    typed = {name: {c: "UNKNOWN" for c in cols} for name, cols in schema.items()}
    try:
        names = qualify(query.copy(), schema=typed, dialect="duckdb", validate_qualify_columns=False,
                        quote_identifiers=False, identify=False).named_selects
    except OptimizeError:  # e.g. one alias twice in a FROM: sqlglot cannot tell the sources apart
        return None
    return None if "*" in names else names


def parse(sql: str, engine: str) -> list:
    """DuckDB SQL as sqlglot trees (empty statements dropped); a parse error as a FlowlogsError saying that the
    SQL goes on to ``engine``."""
    sqlglot = require_sqlglot()
    try:
        return [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise FlowlogsError(f"SQL: {exc}".splitlines()[0], f"the SQL is read as DuckDB SQL, then sent to {engine}") from None


def expand_group_by_all(group) -> None:
    """``GROUP BY ALL`` (DuckDB: every selected expression that is not an aggregate) → those ordinals."""
    from sqlglot import exp

    select = group.parent
    ordinals = [exp.Literal.number(i) for i, e in enumerate(select.expressions, 1)
                if not e.find(exp.AggFunc) and not e.find(exp.Window)]
    group.set("all", None)
    group.set("expressions", ordinals)


def literal(value):
    """A Python value as a sqlglot literal: how parameters are bound (strings escaped by the generator)."""
    from sqlglot import exp

    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FlowlogsError(f"parameter value {value} has no SQL literal")
        return exp.Literal.number(repr(value))
    if isinstance(value, datetime):
        text = value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if value.tzinfo else \
            value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return exp.cast(exp.Literal.string(text), "TIMESTAMP")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, (list, tuple)):
        if not value:
            return exp.cast(exp.Array(expressions=[]), exp.DataType.build("ARRAY<VARCHAR>"))
        return exp.Array(expressions=[literal(v) for v in value])
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise FlowlogsError(f"parameter value of type {type(value).__name__} cannot be sent to Athena")


def bind(statement, named: dict, positional) -> None:
    """Replace ``$name`` and ``?`` placeholders in the tree by literals; a NULL list parameter typed as one."""
    from sqlglot import exp

    for node in list(statement.find_all(exp.Placeholder)):
        name = node.args.get("this")  # None for ?
        if name:
            if name not in named:
                raise FlowlogsError(f"SQL: no value for parameter ${name}", f"give it: -p {name}=VALUE")
            value = named[name]
        else:
            try:
                value = next(positional) if positional is not None else None
            except StopIteration:
                raise FlowlogsError("SQL: fewer parameter values than ? placeholders") from None
            if positional is None:
                raise FlowlogsError("SQL: a ? placeholder and no parameter list")
        new = literal(value)
        if value is None and isinstance(node.parent, exp.ArrayContains) and node.arg_key == "this":
            new = exp.cast(exp.Null(), exp.DataType.build("ARRAY<VARCHAR>"))  # contains(NULL, x) needs a type
        node.replace(new)
