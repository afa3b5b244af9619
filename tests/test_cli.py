"""Every command and output format, driven through Typer's CliRunner on the sample account,
asserting on content."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from conftest import SAMPLE_LOGS, sample_metadata
from pipeline.cli import app

TRUTH = json.loads((SAMPLE_LOGS / "faults.json").read_text())
# Every fault of the sample account, and nothing else (see test_findings_sample_logs.py).
FAULTY = {f["service"] for f in TRUTH["faults"]}
runner = CliRunner()


def run(store, *args, code=0):
    result = runner.invoke(app, ["--lake", store.uri, *args])
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def test_findings_json_is_the_contract(sample_lake):
    doc = json.loads(run(sample_lake, "report", "findings", "--format", "json").stdout)
    assert set(doc) >= {"generated_at", "lake", "window", "findings"}
    assert {f["service"] for f in doc["findings"]} == FAULTY
    f = doc["findings"][0]
    assert list(f)[:4] == ["kind", "state", "observed_at", "cluster"]
    assert set(f["destination"]) == {"type", "id", "name", "aws_service", "region", "via", "named_by"}
    keys = {"cause", "confirmed", "resource", "rule", "explanation", "fix", "fix_verified", "fix_scope"}
    for cause in (c for f in doc["findings"] for c in f["likely_causes"]):
        # a network fix also comes as a Terraform and a CloudFormation change (--fix-format)
        assert set(cause) == (keys | {"fix_as"} if cause["fix_scope"] else keys)
        assert set(cause["fix_scope"] or {"protocol": 0, "ports": 0, "peers": 0}) == {"protocol", "ports", "peers"}


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "markdown", "plain", "html"])
def test_findings_in_every_format_name_every_faulty_service(sample_lake, fmt):
    out = run(sample_lake, "report", "findings", "--format", fmt).stdout
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert {r["service"] for r in rows} == FAULTY
        assert all("aws " in r["cause_fix"] for r in rows if r["cause_confirmed"] == "true")
    elif fmt == "jsonl":
        assert {json.loads(line)["service"] for line in out.splitlines()} == FAULTY
    else:
        for service in FAULTY:
            assert service in out
        for f in TRUTH["faults"]:
            assert f["expected"]["top_cause"] in out


def test_filters_narrow_the_findings(sample_lake):
    def services(*args):
        return {f["service"] for f in json.loads(run(sample_lake, "report", "findings", "-f", "json", *args).stdout)["findings"]}

    assert services("--service", "orders") == {"orders"}
    assert services("--dest", "sqs") == {"orders"}
    assert services("--dest", "secretsmanager") == {"billing", "ledger", "exporter"}  # exporter: its execution role
    assert services("--kind", "no_return") == {"reports"}
    assert services("--port", "22") == set()
    assert services("--since", "2026-11-27T10:30:00Z") >= {"orders", "billing"}


def test_fail_on_sets_the_exit_status(sample_lake):
    run(sample_lake, "report", "findings", "-f", "json", "--fail-on", "reject", code=1)
    run(sample_lake, "report", "findings", "-f", "json", "--fail-on", "refused", code=1)  # indexer's resets
    run(sample_lake, "report", "findings", "-f", "json", "--service", "billing", "--fail-on", "refused", code=0)
    bad = run(sample_lake, "report", "findings", "--fail-on", "oops", code=2)
    assert "valid kinds: reject, no_return, refused, endpoint_bypassed" in bad.output


def test_unknown_format_lists_the_valid_ones(sample_lake):
    result = run(sample_lake, "report", "findings", "--format", "yaml", code=2)
    assert "unknown format 'yaml'" in result.output and "csv" in result.output


def test_a_window_with_no_data_says_what_the_lake_covers(sample_lake):
    result = run(sample_lake, "report", "findings", "--since", "2025-01-01T00:00Z", "--until", "2025-01-02T00:00Z", code=2)
    assert "no flow records between 2025-01-01" in result.output and "the lake covers 2026-11-27" in result.output


def test_empty_lake_says_how_to_fill_it(tmp_path):
    result = runner.invoke(app, ["--lake", str(tmp_path / "empty"), "report", "findings"])
    assert result.exit_code == 2 and "flowlogs ingest" in result.output


@pytest.mark.parametrize("report", ["rejects", "no-return", "talkers", "endpoints"])
def test_table_reports(sample_lake, report):
    rows = json.loads(run(sample_lake, "report", report, "--format", "json").stdout)
    assert rows
    if report == "endpoints":
        sqs = next(r for r in rows if r["endpoint"] == TRUTH["faults"][1]["destination"]["id"])
        assert sqs["blocked"] > 0 and sqs["established"] > 0  # api gets through, orders does not
    if report == "rejects":
        assert all(r["flows"] > 0 for r in rows)


def test_task_report_decodes_flags_and_direction(sample_lake):
    billing = TRUTH["faults"][0]
    rows = json.loads(run(sample_lake, "report", "task", billing["task_ids"][0], "-f", "json").stdout)
    assert any(r["action"] == "REJECT" and r["flags"] == "SYN" and r["dir"] == "→" for r in rows)
    assert {r["interface_id"] for r in rows} & set(billing["source"]["interface_ids"])
    missing = run(sample_lake, "report", "task", "no-such-task", code=2)
    assert "no task no-such-task" in missing.output


def test_sql_query_file_list_and_params(sample_lake, tmp_path):
    rows = json.loads(run(sample_lake, "sql", "SELECT count(*) AS n FROM flows", "--format", "json").stdout)
    assert rows == [{"n": TRUTH["record_counts"]["flows"] if "flows" in TRUTH["record_counts"] else rows[0]["n"]}]
    q = tmp_path / "q.sql"
    q.write_text("SELECT state, count(*) AS n FROM conversations WHERE server_port = $port GROUP BY state")
    rows = json.loads(run(sample_lake, "sql", "-f", str(q), "-p", "port=443", "--format", "json").stdout)
    assert {r["state"] for r in rows} >= {"established", "blocked"}
    listed = run(sample_lake, "sql", "--list", "--format", "json").stdout
    assert {"rejects", "talkers"} <= {r["name"] for r in json.loads(listed)}
    rows = json.loads(run(sample_lake, "sql", "SELECT service, kind FROM findings", "--format", "json").stdout)
    assert {r["service"] for r in rows} == FAULTY
    bad = run(sample_lake, "sql", "SELECT nope FROM flows", code=2)
    assert "SQL:" in bad.output


def test_whois_resolves_the_reused_ip_by_time(sample_lake):
    case = TRUTH["ip_reuse"][0]
    for side in ("earlier", "later"):
        at = case[side]["from"].replace("Z", "") + "Z"
        answer = json.loads(run(sample_lake, "whois", case["ip"], "--at", at).stdout)
        assert answer["owner"]["task_id"] == case[side]["task_id"]


def test_lake_info_and_metadata_import_is_idempotent(sample_lake):
    info = json.loads(run(sample_lake, "lake", "info", "--json").stdout)
    assert info["tables"]["flows"]["records"] > 20000 and info["quarantined"] == 0
    again = run(sample_lake, "metadata", "import", *map(str, sample_metadata()))
    assert "nothing new" in again.stdout


def test_export_duckdb(sample_lake, tmp_path):
    import duckdb

    target = tmp_path / "x.duckdb"
    run(sample_lake, "export", "--duckdb", str(target))
    con = duckdb.connect(str(target), read_only=True)
    assert con.execute("SELECT count(*) FROM flows").fetchone()[0] > 20000
    assert {r[0] for r in con.execute("SELECT service FROM findings").fetchall()} == FAULTY


def test_demo_on_a_fresh_lake(tmp_path):
    result = runner.invoke(app, ["--lake", str(tmp_path / "demo"), "demo", "--format", "json",
                                 "--output", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert {f["service"] for f in json.loads(result.stdout)["findings"]} == FAULTY
    assert "<html" in (tmp_path / "r.html").read_text()[:200].lower()
    # what to run next: two commands, each on its own line (not joined by a pipe symbol)
    after = result.stderr.split("next:", 1)[1].strip().splitlines()
    assert len(after) == 2 and all(line.strip().startswith("flowlogs --lake ") for line in after)
    assert "|" not in result.stderr.split("next:", 1)[1]


def test_sql_prompt_runs_statements_and_survives_errors(sample_lake, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    result = runner.invoke(app, ["--lake", sample_lake.uri, "sql"],
                           input="SELECT count(*) AS n FROM findings;\nSELECT nope;\nSELECT 41 + 1 AS answer;\n")
    assert result.exit_code == 0, result.output
    assert "Error:" in result.output and "42" in result.output
    assert (tmp_path / ".flowlogs_history").exists()
