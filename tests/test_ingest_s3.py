"""Ingest from S3 against the moto server: layouts, formats, windows, incremental runs, faults.

Also holds the helpers the other S3/CloudWatch tests import: realistic flow-log
objects (.log.gz with a header line, AWS-style Parquet), keys in every layout, and a
digest of a lake's rows to compare two lakes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.ingest.sources import s3 as s3source
from pipeline.settings import Settings
from pipeline.cli import app
from pipeline.lake.views import register_record_views
from pipeline.lake.storage import Store
from pipeline.times import TimeParseError, parse_duration, parse_time
from throttle_proxy import ThrottleProxy, access_denied

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
REGION = "eu-west-1"
BUCKET = "flowlogs-test"
V2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
DAY = datetime(2024, 6, 20, tzinfo=timezone.utc)


# ------------------------------------------------------------------------------------------ helpers


def records(n: int, at: datetime, *, eni: str = "eni-0a1b2c3d4e5f60718", account: str = ACCOUNT, seed: int = 0):
    """``n`` v2 records starting at ``at``: a Fargate task talking to AWS endpoints, some rejected."""
    start = int(at.timestamp())
    out = []
    for i in range(n):
        k = seed * 7919 + i
        action = "REJECT" if k % 9 == 0 else "ACCEPT"
        out.append([2, account, eni, f"10.0.{k % 4}.{10 + k % 200}", f"52.94.{k % 7}.{k % 250}", 32768 + k % 20000,
                    443 if k % 5 else 53, 6 if k % 5 else 17, 1 + k % 40, 60 + k * 13 % 90000,
                    start + k % 50, start + 55 + k % 50, action, "OK"])
    return out


def log_gz(rows, header: str = V2) -> bytes:
    text = header + "\n" + "\n".join(" ".join(str(v) for v in row) for row in rows) + "\n"
    return gzip.compress(text.encode())


def parquet_bytes(rows) -> bytes:
    """Rows as AWS writes Parquet flow logs: underscored names, int32/int64 numbers."""
    names = [n.replace("-", "_") for n in V2.split()]
    types = [pa.int32(), pa.string(), pa.string(), pa.string(), pa.string(), pa.int32(), pa.int32(), pa.int32(),
             pa.int64(), pa.int64(), pa.int64(), pa.int64(), pa.string(), pa.string()]
    table = pa.table({n: pa.array([r[i] for r in rows], t) for i, (n, t) in enumerate(zip(names, types))})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def flow_key(at: datetime, *, layout: str = "plain", hourly: bool = False, account: str = ACCOUNT,
             region: str = REGION, prefix: str = "", org: str | None = None, ext: str = "log.gz",
             flow_log: str = "fl-0a1b2c3d", tag: str = "") -> str:
    """The key AWS gives a delivery file in ``layout`` (plain or hive), daily or hourly."""
    digest = hashlib.sha256(f"{at}{layout}{hourly}{account}{tag}{ext}".encode()).hexdigest()[:8]
    name = f"{account}_vpcflowlogs_{region}_{flow_log}_{at:%Y%m%dT%H%MZ}_{digest}.{ext}"
    root = f"{prefix}AWSLogs/{org + '/' if org else ''}"
    if layout == "hive":
        folder = (f"{root}aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/"
                  f"year={at:%Y}/month={at:%m}/day={at:%d}/" + (f"hour={at:%H}/" if hourly else ""))
    else:
        folder = f"{root}{account}/vpcflowlogs/{region}/{at:%Y/%m/%d}/" + (f"{at:%H}/" if hourly else "")
    return folder + name


def s3_client():
    return boto3.client("s3", region_name=REGION)


def make_bucket(name: str = BUCKET):
    s3 = s3_client()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return s3


def put_flow_log(s3, at: datetime, n: int = 20, *, fmt: str = "gz", bucket: str = BUCKET, seed: int = 0, **key):
    rows = records(n, at, seed=seed, account=key.get("account", ACCOUNT))
    ext = "parquet" if fmt == "parquet" else "log.gz"
    k = flow_key(at, ext=ext, **key)
    s3.put_object(Bucket=bucket, Key=k, Body=parquet_bytes(rows) if fmt == "parquet" else log_gz(rows))
    return k


def lake_digest(location: str, s3_options: dict | None = None) -> tuple[int, str]:
    """(rows, SHA-256 of the sorted rows) over every record table of a lake."""
    con = duckdb.connect()
    register_record_views(con, Store.open(location, s3_options=s3_options))
    digest = hashlib.sha256()
    total = 0
    for table in ("flows", "interface_status", "tgw_flows"):
        rows = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        total += len(rows)
        digest.update(repr(rows).encode())
    return total, digest.hexdigest()


def cli(*args, env: dict | None = None):
    result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def flowlogs_subprocess(*args, env: dict | None = None, **kwargs):
    """The installed CLI as a separate process (its own AWS clients and counters)."""
    command = [sys.executable, "-c", "from pipeline.cli import main; main()", *map(str, args)]
    return subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


# ------------------------------------------------------------------------------------------ times


def test_times_are_iso_or_relative_and_utc():
    now = datetime(2024, 6, 20, 12, 0, tzinfo=timezone.utc)
    assert parse_time("2h", now=now) == now - timedelta(hours=2)
    with pytest.raises(TimeParseError, match="positive duration back from now: 30m, not -30m"):
        parse_time("-30m", now=now)
    assert parse_time("7d", now=now) == now - timedelta(days=7)
    assert parse_time("now", now=now) == now
    assert parse_time("2024-06-20") == datetime(2024, 6, 20, tzinfo=timezone.utc)
    assert parse_time("2024-06-20T16:20Z") == datetime(2024, 6, 20, 16, 20, tzinfo=timezone.utc)
    assert parse_time("2024-06-20T18:20+02:00") == datetime(2024, 6, 20, 16, 20, tzinfo=timezone.utc)
    assert parse_duration("90s") == timedelta(seconds=90)
    with pytest.raises(TimeParseError, match="not a time"):
        parse_time("yesterday")


# ------------------------------------------------------------------------------------------ layouts


def test_every_layout_and_both_formats(aws, tmp_path):
    s3 = make_bucket()
    at = DAY + timedelta(hours=16, minutes=20)
    placed = {
        put_flow_log(s3, at, 11, prefix="vpc/"): 11,
        put_flow_log(s3, at, 12, prefix="vpc/", hourly=True, fmt="parquet", flow_log="fl-1"): 12,
        put_flow_log(s3, at, 13, prefix="vpc/", layout="hive", fmt="parquet"): 13,
        put_flow_log(s3, at, 14, prefix="vpc/", layout="hive", hourly=True): 14,
        put_flow_log(s3, at, 15, prefix="vpc/", org="o-a1b2c3d4e5", account=OTHER_ACCOUNT): 15,
        put_flow_log(s3, at, 16, prefix="vpc/", region="us-east-1", fmt="parquet"): 16,
    }
    s3.put_object(Bucket=BUCKET, Key="elsewhere/AWSLogs/notes.txt", Body=b"not flow logs")
    lake = tmp_path / "lake"
    result = cli("--lake", lake, "ingest", f"s3://{BUCKET}/vpc", "--workers", 2, "-q",
                 "--since", "2024-06-20T16:00Z", "--until", "2024-06-20T17:00Z")
    assert result.exit_code == 0, result.output
    assert "ingested 6 of 6 sources" in result.output
    con = duckdb.connect()
    register_record_views(con, Store.open(lake))
    got = dict(con.execute("SELECT _source, count(*) FROM flows GROUP BY 1").fetchall())
    assert got == {f"s3://{BUCKET}/{k}": n for k, n in placed.items()}
    parts = con.execute("SELECT aws_account, aws_region, count(*) FROM flows GROUP BY ALL ORDER BY ALL").fetchall()
    assert parts == [(ACCOUNT, REGION, 50), (ACCOUNT, "us-east-1", 16), (OTHER_ACCOUNT, REGION, 15)]
    formats = {f for (f,) in con.execute("SELECT DISTINCT _format FROM flows").fetchall()}
    assert formats == {V2}  # the Parquet column names and the text header give the same fields

    # --account / --s3-region narrow the selection
    lake2 = tmp_path / "lake2"
    result = cli("--lake", lake2, "ingest", f"s3://{BUCKET}/vpc", "--account", OTHER_ACCOUNT, "-q", "--workers", 1)
    assert result.exit_code == 0 and "ingested 1 of 1 sources" in result.output, result.output
    result = cli("--lake", lake2, "ingest", f"s3://{BUCKET}/vpc", "--s3-region", "us-east-1", "-q", "--workers", 1)
    assert "ingested 1 of 1 sources" in result.output, result.output


def _count_listings(s3):
    calls = []
    s3.meta.events.register("provide-client-params.s3.ListObjectsV2",
                            lambda params, **_: calls.append((params["Prefix"], params.get("Delimiter"))))
    return calls


def test_window_lists_only_the_prefixes_it_needs(aws):
    s3 = make_bucket()
    expected = set()
    for day in range(3):  # three days, every 30 minutes, daily plain layout and hourly Hive layout
        for slot in range(48):
            at = DAY + timedelta(days=day, minutes=30 * slot)
            plain = put_flow_log(s3, at, 1)
            hive = put_flow_log(s3, at, 1, layout="hive", hourly=True, account=OTHER_ACCOUNT)
            if DAY + timedelta(days=1, hours=9) <= at <= DAY + timedelta(days=1, hours=12, minutes=10):
                expected |= {plain, hive}
    counted = s3_client()
    calls = _count_listings(counted)
    window = s3source.Window.of(parse_time("2024-06-21T10:00Z"), parse_time("2024-06-21T12:00Z"), timedelta(hours=1))
    listing = s3source.list_objects(Settings(), f"s3://{BUCKET}", window, s3=counted)
    assert {o.key for o in listing.objects} == expected
    plain_base = f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/"
    hive_base = f"AWSLogs/aws-account-id={OTHER_ACCOUNT}/aws-service=vpcflowlogs/aws-region={REGION}/"
    hive_day = f"{hive_base}year=2024/month=06/day=21/"
    assert sorted(calls) == sorted([
        ("AWSLogs/", "/"),  # accounts (and organisation ids)
        (f"AWSLogs/{ACCOUNT}/", "/"),  # its record folders: vpcflowlogs, CloudTrail…, vpcdnsquerylogs
        (f"AWSLogs/{ACCOUNT}/vpcflowlogs/", "/"),  # regions
        (f"AWSLogs/aws-account-id={OTHER_ACCOUNT}/aws-service=vpcflowlogs/", "/"),
        (f"{plain_base}2024/06/21/", "/"),  # the edge day: daily files and hour folders
        (f"{hive_day}", "/"),
        *[(f"{hive_day}hour={h:02d}/", None) for h in (9, 10, 11, 12)],  # only the hours the window needs
    ])

    # with --account and --region, nothing above the date is listed but the root and the account's record folders
    calls.clear()
    listing = s3source.list_objects(Settings(), f"s3://{BUCKET}", window, accounts=[ACCOUNT], regions=[REGION],
                                    s3=counted)
    assert {o.key for o in listing.objects} == {k for k in expected if k.startswith(plain_base)}
    assert sorted(calls) == [("AWSLogs/", "/"), (f"AWSLogs/{ACCOUNT}/", "/"), (f"{plain_base}2024/06/21/", "/")]

    # a URL down to the region: only the day
    calls.clear()
    listing = s3source.list_objects(Settings(), f"s3://{BUCKET}/{plain_base}", window, s3=counted)
    assert {o.key for o in listing.objects} == {k for k in expected if k.startswith(plain_base)}
    assert calls == [(f"{plain_base}2024/06/21/", "/")]

    # a window spanning whole days lists each inner day in one go, never the bucket
    calls.clear()
    window = s3source.Window.of(parse_time("2024-06-20T12:00Z"), parse_time("2024-06-22T06:00Z"), timedelta(0))
    s3source.list_objects(Settings(), f"s3://{BUCKET}", window, accounts=[ACCOUNT], regions=[REGION], s3=counted)
    assert (f"{plain_base}2024/06/21/", None) in calls
    assert all(prefix.startswith("AWSLogs/") for prefix, _ in calls)


def test_thousands_of_objects_paginate_and_a_rerun_fetches_nothing(aws, tmp_path):
    s3 = make_bucket()
    for i in range(1500):
        put_flow_log(s3, DAY + timedelta(minutes=5 * (i % 288)), 2, seed=i, tag=str(i))
    counted = s3_client()
    calls = _count_listings(counted)
    listing = s3source.list_objects(Settings(), f"s3://{BUCKET}", s3source.Window(), s3=counted)
    assert len(listing.objects) == 1500
    assert len([c for c in calls if c[0] == f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/"]) == 2  # 1000 a page

    lake = tmp_path / "lake"
    result = cli("--lake", lake, "ingest", f"s3://{BUCKET}", "-q", "--workers", 2)
    assert result.exit_code == 0 and "ingested 1500 of 1500 sources" in result.output, result.output
    assert lake_digest(str(lake))[0] == 3000
    with ThrottleProxy(aws) as proxy:  # records what the re-run asks for
        result = cli("--lake", lake, "ingest", f"s3://{BUCKET}", "-q", "--workers", 2, env={"AWS_ENDPOINT_URL": proxy.url})
    assert "ingested 0 of 1500 sources (1500 already in the lake)" in result.output, result.output
    assert proxy.seen("s3", method="GET") and all("list-type=2" in r.path for r in proxy.seen("s3", method="GET"))


# ------------------------------------------------------------------------------------------ incremental


def test_a_late_file_is_picked_up_by_the_next_run(aws, tmp_path):
    s3 = make_bucket()
    for minute in range(0, 60, 5):
        put_flow_log(s3, DAY + timedelta(hours=10, minutes=minute), 5, seed=minute)
    lake = tmp_path / "lake"
    window = ("--since", "2024-06-20T10:30Z", "--until", "2024-06-20T11:00Z")
    first = cli("--lake", lake, "ingest", f"s3://{BUCKET}", *window, "-q", "--workers", 1)
    # the late margin (1h) reaches back to 09:30: all twelve files of the hour
    assert "ingested 12 of 12 sources" in first.output, first.output
    late = put_flow_log(s3, DAY + timedelta(hours=10, minutes=25), 7, seed=99, tag="late")  # lands after the run
    with ThrottleProxy(aws) as proxy:
        second = cli("--lake", lake, "ingest", f"s3://{BUCKET}", *window, "-q", "--workers", 1,
                     env={"AWS_ENDPOINT_URL": proxy.url})
    assert "ingested 1 of 13 sources (12 already in the lake)" in second.output, second.output
    fetched = [r.path for r in proxy.seen("s3", method="GET") if "list-type" not in r.path]
    assert fetched == [f"/{BUCKET}/{late}"]
    assert lake_digest(str(lake))[0] == 12 * 5 + 7


def test_a_changed_object_replaces_its_rows(aws, tmp_path):
    s3 = make_bucket()
    key = put_flow_log(s3, DAY, 30)
    lake = tmp_path / "lake"
    cli("--lake", lake, "ingest", f"s3://{BUCKET}", "-q")
    s3.put_object(Bucket=BUCKET, Key=key, Body=log_gz(records(4, DAY + timedelta(days=1), seed=5)))  # new day too
    result = cli("--lake", lake, "ingest", f"s3://{BUCKET}", "-q")
    assert "ingested 1 of 1 sources" in result.output, result.output
    con = duckdb.connect()
    register_record_views(con, Store.open(lake))
    assert con.execute("SELECT dt, count(*) FROM flows GROUP BY dt").fetchall() == [("2024-06-21", 4)]


# ------------------------------------------------------------------------------------------ faults


def _fixture_bucket(objects: int = 40, rows: int = 200):
    s3 = make_bucket()
    for i in range(objects):
        at = DAY + timedelta(minutes=5 * i)
        put_flow_log(s3, at, rows, seed=i, fmt="parquet" if i % 4 == 0 else "gz", hourly=i % 3 == 0)


def test_throttling_and_dropped_connections_are_retried(aws, tmp_path):
    _fixture_bucket(objects=24)
    clean = tmp_path / "clean"
    assert cli("--lake", clean, "ingest", f"s3://{BUCKET}", "-q", "--workers", 1).exit_code == 0
    faulty = tmp_path / "faulty"
    with ThrottleProxy(aws, every=4, drop=[3, 17], cut_bodies=2) as proxy:
        result = cli("--lake", faulty, "ingest", f"s3://{BUCKET}", "-q", "--workers", 1,
                     env={"AWS_ENDPOINT_URL": proxy.url})
    assert result.exit_code == 0, result.output
    assert proxy.throttled >= 6 and proxy.cut_bodies == 0
    retried = int(next(line for line in result.output.splitlines() if "retried" in line).split()[1])
    assert retried >= proxy.throttled + 2  # every throttled answer and both dropped connections
    assert lake_digest(str(faulty)) == lake_digest(str(clean))


def test_objects_left_after_the_retries_are_fetched_by_the_next_run(aws, tmp_path):
    _fixture_bucket(objects=6)
    stuck = flow_key(DAY + timedelta(minutes=10))

    def deny_one(seen):
        return (503, {}, b"<Error><Code>SlowDown</Code></Error>") if seen.path.startswith(f"/{BUCKET}/{stuck}") else None

    lake = tmp_path / "lake"
    with ThrottleProxy(aws, rule=deny_one) as proxy:
        result = cli("--lake", lake, "ingest", f"s3://{BUCKET}", "-q", "--workers", 1,
                     env={"AWS_ENDPOINT_URL": proxy.url, "AWS_MAX_ATTEMPTS": "2"})
    assert result.exit_code == 2, result.output
    assert f"left s3://{BUCKET}/{stuck}:" in result.output and "ingested 5 of 6" in result.output
    assert "1 sources could not be fetched" in result.output
    info = cli("--lake", lake, "lake", "info").output
    assert "incomplete, 1 sources left for the next run" in info and f"left s3://{BUCKET}/{stuck}" in info
    result = cli("--lake", lake, "ingest", f"s3://{BUCKET}", "-q", "--workers", 1)
    assert result.exit_code == 0 and "ingested 1 of 6 sources" in result.output, result.output
    clean = tmp_path / "clean"
    cli("--lake", clean, "ingest", f"s3://{BUCKET}", "-q")
    assert lake_digest(str(lake)) == lake_digest(str(clean))


def test_a_killed_run_resumes_without_duplicates_or_gaps(aws, tmp_path):
    _fixture_bucket(objects=300, rows=400)
    lake = tmp_path / "lake"
    proc = flowlogs_subprocess("--lake", lake, "ingest", f"s3://{BUCKET}", "-q", "--workers", 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill once some sources are in (and others not)
        runs = list((lake / "_state" / "runs").glob("*.json")) if (lake / "_state" / "runs").exists() else []
        if runs and len(json.loads(runs[0].read_text())["sources"]) >= 20:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = json.loads(next((lake / "_state" / "runs").glob("*.json")).read_text())
    assert run["status"] == "running" and 20 <= len(run["sources"]) < 300
    again = cli("--lake", lake, "ingest", f"s3://{BUCKET}", "-q", "--workers", 2)
    assert again.exit_code == 0, again.output
    clean = tmp_path / "clean"
    cli("--lake", clean, "ingest", f"s3://{BUCKET}", "-q", "--workers", 2)
    assert lake_digest(str(lake)) == lake_digest(str(clean)) and lake_digest(str(clean))[0] == 300 * 400


# ------------------------------------------------------------------------------------------ errors


def test_errors_say_what_to_do(aws, tmp_path, monkeypatch):
    make_bucket()
    lake = tmp_path / "lake"
    result = cli("--lake", lake, "ingest", "s3://no-such-bucket-here")
    assert result.exit_code == 2 and "the S3 bucket 'no-such-bucket-here' does not exist" in result.output
    result = cli("--lake", lake, "ingest", f"s3://{BUCKET}/some/prefix")
    assert result.exit_code == 2
    assert f"no VPC flow logs, CloudTrail or Resolver query logs under s3://{BUCKET}/some/prefix/AWSLogs/" in result.output
    with ThrottleProxy(aws, rule=lambda seen: access_denied("s3")) as proxy:
        result = cli("--lake", lake, "ingest", f"s3://{BUCKET}", env={"AWS_ENDPOINT_URL": proxy.url})
    assert f"access denied: s3:ListBucket on arn:aws:s3:::{BUCKET}" in result.output, result.output
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    proc = flowlogs_subprocess("--lake", lake, "ingest", f"s3://{BUCKET}")  # a fresh process: no cached client
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "Error: no usable AWS credentials" in err and "Hint: flowlogs uses" in err, err


def test_credentials_never_reach_output_or_lake(aws, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFLOWLOGSTESTKEY1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t/FlowLogsTestSecretValue+0123456789")
    _fixture_bucket(objects=3)
    lake = tmp_path / "lake"
    result = cli("--lake", lake, "ingest", f"s3://{BUCKET}", "--workers", 2)
    denied = cli("--lake", lake, "ingest", "s3://no-such-bucket-here")
    for secret in ("AKIAFLOWLOGSTESTKEY1", "FlowLogsTestSecretValue"):
        assert secret not in result.output + denied.output
        assert not [p for p in Path(lake).rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_role_arn_is_assumed(aws, tmp_path):
    _fixture_bucket(objects=2)
    role = "arn:aws:iam::123456789012:role/flowlogs-reader"
    result = cli("--lake", tmp_path / "lake", "ingest", f"s3://{BUCKET}", "--role-arn", role, "-q", "--workers", 1)
    assert result.exit_code == 0 and "ingested 2 of 2" in result.output, result.output

    def deny_sts(seen):
        return (403, {"Content-Type": "text/xml"}, b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                b"<Message>not allowed</Message></Error></ErrorResponse>") if seen.service == "sts" else None

    with ThrottleProxy(aws, rule=deny_sts) as proxy:
        result = cli("--lake", tmp_path / "lake", "ingest", f"s3://{BUCKET}", "--role-arn", role + "-2",
                     env={"AWS_ENDPOINT_URL": proxy.url})
    assert result.exit_code == 2 and "access denied: sts:AssumeRole on the role given with --role-arn" in result.output
