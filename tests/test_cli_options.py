"""Global options anywhere on the line: before the command, between group and command, after it;
with the same environment variables, and one meaning of --region everywhere."""

from __future__ import annotations

import csv
import io
import json

import pytest
import typer.main
from typer.testing import CliRunner

from conftest import cli_commands, sample_metadata
from pipeline.cli import app
from pipeline.cli.app import globals_first
from pipeline.settings import OPTIONS

runner = CliRunner()
GIVEN = ["--lake", "/tmp/L", "--profile", "P", "--region", "R", "--endpoint-url", "http://127.0.0.1:9", "--debug",
         "--memory-limit", "2GB", "--workgroup", "W", "--athena-output", "s3://results/x/", "--database", "D",
         "--engine", "spark", "--spark-master", "local[2]"]
EXPECTED = {"lake": "/tmp/L", "profile": "P", "region": "R", "endpoint_url": "http://127.0.0.1:9", "debug": True,
            "memory_limit": "2GB", "workgroup": "W", "athena_output": "s3://results/x/", "database": "D",
            "engine": "spark", "spark_master": "local[2]"}


COMMANDS = [path for path, _ in cli_commands()]


def _parsed(args: list[str]) -> tuple[dict, list[str]]:
    root = typer.main.get_command(app)
    ctx = root.make_context("flowlogs", list(args), resilient_parsing=True)
    return ctx.params, [*ctx._protected_args, *ctx.args]


def test_every_global_option_is_checked():
    assert set(EXPECTED) == {o.name for o in OPTIONS}


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_takes_the_global_options_after_it(path):
    params, rest = _parsed([*path, "ARG", *GIVEN, "--format", "json"])
    assert {k: params[k] for k in EXPECTED} == EXPECTED
    assert rest == [*path, "ARG", "--format", "json"]


@pytest.mark.parametrize("path", [p for p in COMMANDS if len(p) > 1], ids=" ".join)
def test_global_options_between_group_and_command(path):
    params, rest = _parsed([path[0], *GIVEN, *path[1:]])
    assert {k: params[k] for k in EXPECTED} == EXPECTED and rest == list(path)


def test_forms_and_the_end_of_options():
    assert globals_first(["report", "findings", "--lake=X", "-f", "json"]) == ["--lake=X", "report", "findings", "-f", "json"]
    assert globals_first(["sql", "--", "--lake", "x"]) == ["sql", "--", "--lake", "x"]
    assert globals_first(["--lake", "A", "demo", "--lake", "B"]) == ["--lake", "A", "--lake", "B", "demo"]  # the last wins
    assert globals_first(["demo", "--no-debug"]) == ["--no-debug", "demo"]


def test_ingest_region_is_the_api_region_and_s3_region_the_folder_filter():
    params, rest = _parsed(["ingest", "s3://bucket", "--region", "us-east-1", "--s3-region", "eu-west-1"])
    assert params["region"] == "us-east-1" and rest == ["ingest", "s3://bucket", "--s3-region", "eu-west-1"]


def test_report_and_import_with_the_lake_after_the_command(sample_lake, tmp_path, monkeypatch):
    result = runner.invoke(app, ["report", "findings", "--lake", sample_lake.uri, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["lake"] == sample_lake.uri
    fresh = tmp_path / "meta"
    readable = [str(p) for p in sample_metadata()]
    result = runner.invoke(app, ["metadata", "import", "--lake", str(fresh), *readable])
    assert result.exit_code == 0, result.output
    assert (fresh / "metadata").is_dir()
    # the environment variable still works, and an option after the command beats it
    monkeypatch.setenv("FLOWLOGS_LAKE", str(fresh))  # an existing lake: reading never creates one
    result = runner.invoke(app, ["lake", "info", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["lake"].endswith("meta")
    result = runner.invoke(app, ["lake", "info", "--json", "--lake", sample_lake.uri])
    assert result.exit_code == 0 and json.loads(result.stdout)["lake"] == sample_lake.uri


def test_debug_after_the_command_shows_the_traceback(tmp_path):
    args = ["report", "findings", "--lake", str(tmp_path / "empty")]
    assert runner.invoke(app, args).exit_code == 2
    assert runner.invoke(app, [*args, "--debug"]).exception is not None


@pytest.mark.parametrize("fmt", ["json", "csv", "plain", "markdown", "html"])
def test_lake_info_in_every_format(sample_lake, fmt):
    result = runner.invoke(app, ["lake", "info", "--format", fmt, "--lake", sample_lake.uri])
    assert result.exit_code == 0, result.output
    if fmt == "json":
        assert json.loads(result.stdout)["tables"]["flows"]["records"] > 20000
    elif fmt == "csv":
        rows = {r["table"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
        assert int(rows["flows"]["records"]) > 20000 and rows["quarantine"]["records"] == "0"
    else:
        assert "flows" in result.stdout and "quarantine" in result.stdout


def test_help_imports_no_heavy_library():
    """`flowlogs --help` (and a command's help with the global options after it) stays fast: duckdb,
    pyarrow, boto3 and pandas are imported inside the commands that need them."""
    import subprocess
    import sys

    from conftest import REPO

    probe = ("import sys, contextlib, io\n"
             "from pipeline.cli import app\n"
             "for args in (['--help'], ['report', 'findings', '--lake', 'x', '--help']):\n"
             "    with contextlib.redirect_stdout(io.StringIO()):\n"
             "        try: app(args)\n"
             "        except SystemExit: pass\n"
             "print(sorted(m for m in ('duckdb', 'pyarrow', 'boto3', 'botocore', 'pandas') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
