"""The analysis SQL stays portable: it transpiles (sqlglot) to Trino/Athena and Spark, and the
DuckDB-only functions it uses map to their equivalents there."""

from __future__ import annotations

import re

import pytest
import sqlglot

from pipeline import queries

ANALYSIS = ["conversations", "findings", "destinations", "rejects", "no_return", "talkers", "endpoints", "task",
            "access_denied", "task_start_failed", "flow_reduction", "flow_reduction_window"]


@pytest.mark.parametrize("name", ANALYSIS)
@pytest.mark.parametrize("dialect", ["trino", "spark"])
def test_transpiles(name, dialect):
    [out] = sqlglot.transpile(queries.get(name).sql, read="duckdb", write=dialect)
    body = re.sub(r"/\*.*?\*/", "", out, flags=re.S)
    assert not re.search(r"\b(arg_max|arg_min|list|struct_pack)\s*\(", body, re.I), body[:300]


def test_duckdb_only_constructs_are_translated():
    [trino] = sqlglot.transpile(queries.get("conversations").sql, read="duckdb", write="trino")
    assert "MAX_BY(" in trino and "ARRAY_AGG(DISTINCT" in trino
    [trino] = sqlglot.transpile(queries.get("flow_reduction").sql, read="duckdb", write="trino")
    assert "BITWISE_AND(" in trino


@pytest.mark.parametrize("query", queries.of_kind("question"), ids=lambda q: q.name)
def test_every_question_runs_as_athena_would_get_it(query):
    """What ``--engine athena`` sends for each saved question (its defaults bound, DuckDB-only syntax
    rewritten) is Trino SQL that sqlglot's Trino parser reads back whole, with no parameter left."""
    from sqlglot import exp

    from pipeline.engines import athena

    con = athena.AthenaConnection(None, database="flowlogs", workgroup="primary", output="s3://results/")
    statements = [s for s in sqlglot.parse(query.sql, read="duckdb") if s is not None]
    sent = [text for s in statements for text in con.translate(s, query.param_values({}))]
    assert len(sent) == len(statements) == 1
    tree = sqlglot.parse_one(sent[0], read="trino")
    assert isinstance(tree, (exp.Select, exp.Union)) and not list(tree.find_all(exp.Placeholder))
    assert not any(g.args.get("all") for g in tree.find_all(exp.Group)), "GROUP BY ALL is not Trino"
    assert not re.search(r"\b(arg_max|arg_min|list|struct_pack|list_contains|epoch)\s*\(", sent[0], re.I), sent[0][:300]
