"""--engine spark: the same queries/ on Spark (local[2], the system Java) give the same findings as DuckDB,
field by field; the DuckDB-only constructs are mapped in one place (pipeline/engines/spark.py, dialect.py).

One Spark session for the module (a JVM starts in ~10 s); small lakes only. PySpark is the ``spark`` extra,
which CI installs: without it (a plain ``pip install '.[test]'``) these tests skip, except under CI=true."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from builders import T0, make_lake, rec
from pipeline.analysis import reports
from pipeline.engines.dialect import Macros, parse
from pipeline.settings import Settings

if os.environ.get("CI") != "true":
    pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install '.[spark]'")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("no Java runtime for Spark", allow_module_level=True)

SPARK = Settings(engine="spark", spark_master="local[2]")


def same_json(doc: dict) -> str:
    """The document as the JSON output writes it, without the time it was made."""
    return json.dumps({k: v for k, v in doc.items() if k != "generated_at"}, sort_keys=True, default=str, indent=1)


def test_sample_account_findings_on_spark_equal_duckdb(sample_lake):
    duck = reports.findings_document(sample_lake)
    spark = reports.findings_document(sample_lake, settings=SPARK)
    assert len(spark["findings"]) == len(duck["findings"]) > 10
    assert same_json(spark) == same_json(duck)


def test_a_filter_on_spark_equals_duckdb(sample_lake):
    flt = reports.Filters(service=reports.findings_document(sample_lake)["findings"][0]["service"], port=443)
    assert same_json(reports.findings_document(sample_lake, flt, settings=SPARK)) == same_json(
        reports.findings_document(sample_lake, flt))


TASK_IP, VPCE_IP = "10.0.1.10", "10.0.2.20"


def test_generated_scenario_on_spark_equals_duckdb(tmp_path):
    """A security group without egress (REJECTs) and unanswered calls, in a lake of their own."""
    from test_findings_scenarios import network

    lines = [rec("eni-task1", TASK_IP, VPCE_IP, 40000 + i, 443, T0 + 60 * i, action="REJECT", flags=2,
                 direction="egress", subnet="subnet-a") for i in range(3)]
    lines += [rec("eni-task1", TASK_IP, "52.119.160.10", 41000 + i, 443, T0 + 30 * i, flags=2, direction="egress",
                  subnet="subnet-a") for i in range(4)]
    store = make_lake(tmp_path, lines, network(sg_task_egress=False))
    duck = reports.findings_document(store)
    assert {f["kind"] for f in duck["findings"]} >= {"reject"}
    assert same_json(reports.findings_document(store, settings=SPARK)) == same_json(duck)


def test_cli_sql_and_reports_run_on_spark(sample_lake):
    from typer.testing import CliRunner

    from pipeline.cli import app

    def run(*args):
        result = CliRunner().invoke(app, ["--lake", sample_lake.uri, *args, "--format", "json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    query = "SELECT action, count(*) AS n FROM flows GROUP BY ALL ORDER BY action"
    assert run("sql", query, "--engine", "spark", "--spark-master", "local[2]") == run("sql", query)
    assert run("--engine", "spark", "report", "rejects") == run("report", "rejects")


def test_unknown_engine_is_refused_with_the_valid_ones(sample_lake):
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, ["--lake", sample_lake.uri, "--engine", "presto", "report", "rejects"])
    assert result.exit_code == 2
    assert "--engine presto: unknown engine" in result.output and "duckdb, spark, athena" in result.output


def test_macros_expand_in_place_nested_and_as_tables():
    macros = Macros()
    for statement in parse("CREATE MACRO twice(x) AS x * 2; CREATE MACRO quad(x) AS twice(twice(x));"
                           "CREATE MACRO pick(n) AS TABLE SELECT a FROM query_table(n) WHERE a > 1", "Spark"):
        assert macros.define(statement)
    [select] = parse("SELECT quad(a + 1) AS q FROM pick('t') AS p", "Spark")
    text = macros.expand(select).sql("duckdb")
    assert "quad" not in text and "twice" not in text and "query_table" not in text
    assert text.startswith("SELECT (((((a + 1) * 2)) * 2)) AS q") and "FROM (SELECT a FROM t WHERE a > 1) AS p" in text


def test_qualify_moves_order_by_and_limit_to_the_outer_query(monkeypatch):
    """A filter over an ordered subquery need not keep its order: the query QUALIFY becomes sorts outside, by the
    output columns the keys name, or by a key kept inside as a column of its own (not returned)."""
    from pipeline.engines.spark import SparkConnection, rewrite

    con = SparkConnection(spark=None)
    monkeypatch.setattr(con, "_columns", lambda query, anchor: ["finding", "start", "n"])
    [select] = parse("SELECT k.finding, f.\"start\", f.n + 1 AS n FROM f JOIN k ON f.id = k.id "
                     "QUALIFY row_number() OVER (PARTITION BY k.finding ORDER BY f.\"start\") <= 2 "
                     "ORDER BY k.finding, (f.action = 'REJECT') DESC, n, 2 LIMIT 5", "Spark")
    text = con._expand(rewrite(select)).sql("spark")
    inner, outer = text.split(" AS _qualified ")
    assert outer == ("WHERE _qualify_0 <= 2 ORDER BY `finding` NULLS LAST, `_order_1` DESC, `n` NULLS LAST, "
                     "`start` NULLS LAST LIMIT 5")  # DuckDB sorts NULLs last, Spark first: said
    assert "ORDER BY" not in inner.replace("OVER (PARTITION BY k.finding ORDER BY f.`start` NULLS LAST)", "")
    assert "LIMIT" not in inner  # after the filter, not before it
    assert inner.startswith("SELECT `finding`, `start`, `n` FROM (SELECT k.finding, f.`start`, f.n + 1 AS n, "
                            "(f.action = 'REJECT') AS _order_1, ROW_NUMBER() OVER")
