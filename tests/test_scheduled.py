"""The scheduled mode against a moto server: two runs in a row; the second fetches nothing
new; the exit status follows fail_on and the threshold; the config is checked."""

from __future__ import annotations

import json

import boto3
from typer.testing import CliRunner

from conftest import SAMPLE_LOGS, sample_metadata
from pipeline.ingest.keys import parse_key

FAULTS = json.loads((SAMPLE_LOGS / "faults.json").read_text())["faults"]
# the kind each fault has in the flow logs alone (None: a fault only API, task or DNS logs show)
FLOW_KINDS = [(f.get("expected_from_flows", f["expected"]) or {}).get("kind") for f in FAULTS]
from pipeline.cli import app

runner = CliRunner()


def _config(tmp_path, fail_on, threshold=1):
    path = tmp_path / f"flowlogs-{'-'.join(fail_on)}-{threshold}.toml"
    path.write_text(f"""
lake = "{tmp_path / 'lake'}"
region = "eu-west-1"

[ingest]
sources = ["s3://flow-logs/prod"]
since = "2026-11-27T08:00:00Z"
until = "2026-11-27T12:00:00Z"

[metadata]
import = {json.dumps([str(p) for p in sample_metadata()])}

[report]
fail_on = {json.dumps(fail_on)}
threshold = {threshold}
output = "{tmp_path / 'findings.json'}"
""")
    return str(path)


def _upload_sample(bucket: str) -> int:
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    # flow logs, the trail and the query logs; the trail's digest files are skipped, not sources
    files = [p for p in (SAMPLE_LOGS / "s3").rglob("*.gz") if parse_key(str(p)).layout]
    for p in files:
        s3.upload_file(str(p), bucket, "prod/" + str(p.relative_to(SAMPLE_LOGS / "s3")))
    return sum("CloudTrail-Digest" not in str(p) for p in files)


def _run(config):
    result = runner.invoke(app, ["run", "--config", config])
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1]), result


def test_two_scheduled_runs(aws, tmp_path):
    objects = _upload_sample("flow-logs")
    code, first, result = _run(_config(tmp_path, ["reject", "no_return"]))
    assert code == 1, result.output
    [ingested] = first["ingest"]
    assert ingested["new_sources"] == objects and ingested["records"]["flows"] > 20000
    # fail_on counts incidents (one per fault), not the per-task findings
    failing = sum(1 for kind in FLOW_KINDS if kind in ("reject", "no_return"))
    assert first["findings"]["incidents_by_kind"]["reject"] >= 3 and first["findings"]["failing"] == failing
    assert first["findings"]["total"] > first["findings"]["incidents"] >= sum(1 for kind in FLOW_KINDS if kind)
    assert json.loads((tmp_path / "findings.json").read_text())["findings"]

    code, second, _ = _run(_config(tmp_path, ["reject", "no_return"]))
    assert second["ingest"][0]["new_sources"] == 0 and second["ingest"][0]["records"] == {}
    assert second["findings"]["total"] == first["findings"]["total"] and code == 1

    refused = FLOW_KINDS.count("refused")
    code, third, _ = _run(_config(tmp_path, ["refused"]))
    assert (code, third["findings"]["failing"]) == (1 if refused else 0, refused)
    code, fourth, _ = _run(_config(tmp_path, ["reject", "no_return"], threshold=failing + 1))
    assert code == 0 and fourth["findings"]["failing"] == failing
    assert sum(n for k, n in fourth["findings"]["by_kind"].items() if k in ("reject", "no_return")) > failing


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[report]\nfail_on = ["oops"]\n')
    result = runner.invoke(app, ["run", "--config", str(bad)])
    assert result.exit_code == 2 and "unknown fail_on kind oops" in result.output
    bad.write_text('[ingest]\nsource = "s3://x"\n')
    result = runner.invoke(app, ["run", "--config", str(bad)])
    assert result.exit_code == 2 and "unknown key source in [ingest]" in result.output and "sources" in result.output
