"""The analysis SQL stays portable: it transpiles (sqlglot) to Trino/Athena and Spark, and the
DuckDB-only functions it uses map to their equivalents there."""

from __future__ import annotations

import re

import pytest
import sqlglot

from pipeline import queries

ANALYSIS = ["conversations", "findings", "destinations", "rejects", "no_return", "talkers", "endpoints", "task",
            "access_denied", "task_start_failed"]


@pytest.mark.parametrize("name", ANALYSIS)
@pytest.mark.parametrize("dialect", ["trino", "spark"])
def test_transpiles(name, dialect):
    [out] = sqlglot.transpile(queries.get(name).sql, read="duckdb", write=dialect)
    body = re.sub(r"/\*.*?\*/", "", out, flags=re.S)
    assert not re.search(r"\b(arg_max|arg_min|list|struct_pack)\s*\(", body, re.I), body[:300]


def test_duckdb_only_constructs_are_translated():
    [trino] = sqlglot.transpile(queries.get("conversations").sql, read="duckdb", write="trino")
    assert "MAX_BY(" in trino and "BITWISE_AND(" in trino and "ARRAY_AGG(DISTINCT" in trino
