"""`flowlogs metadata collect` from the command line, against the moto server, with
ip-ranges.json served on loopback (and a clear warning when it cannot be had)."""

from __future__ import annotations

import functools
import http.server
import threading

import boto3
import duckdb
from typer.testing import CliRunner

from conftest import SAMPLE_LOGS
from pipeline.cli import app

runner = CliRunner()


def _serve(directory):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _count(lake, table):
    con = duckdb.connect()
    return con.execute(f"SELECT count(*) FROM read_parquet('{lake}/metadata/{table}/*.parquet')").fetchone()[0]


def test_collect_with_ip_ranges_from_a_url(aws, tmp_path):
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")
    boto3.client("ecs", region_name="eu-west-1").create_cluster(clusterName="prod")
    server = _serve(SAMPLE_LOGS / "metadata")
    try:
        lake = tmp_path / "lake"
        url = f"http://127.0.0.1:{server.server_address[1]}/ip-ranges.json"
        result = runner.invoke(app, ["--lake", str(lake), "--region", "eu-west-1", "metadata", "collect",
                                     "--ip-ranges-url", url])
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.output
    assert "snapshot" in result.stdout and "aws_ip_ranges" in result.stdout
    assert _count(lake, "subnets") >= 1 and _count(lake, "aws_ip_ranges") > 10


def test_collect_says_how_to_import_ip_ranges_when_unreachable(aws, tmp_path):
    boto3.client("ec2", region_name="eu-west-1").create_vpc(CidrBlock="10.8.0.0/16")
    result = runner.invoke(app, ["--lake", str(tmp_path / "lake"), "--region", "eu-west-1", "metadata", "collect",
                                 "--ip-ranges-url", "http://127.0.0.1:9/ip-ranges.json"])
    assert result.exit_code == 0, result.output
    assert "could not download" in result.output and "flowlogs metadata import ip-ranges.json" in result.output
