"""The lake itself on S3 (moto): scheduled runs, overlapping runs, the lock, and reading it back."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import boto3
import duckdb
import pyarrow.dataset as ds
import pytest

from pipeline.lake import store as lake
from pipeline.lake import locking
from pipeline.aws import pyarrow_s3_options
from pipeline.settings import Settings
from pipeline.ingest.conform import SCHEMA
from pipeline.errors import FlowlogsError
from pipeline.lake.views import register_record_views
from pipeline.lake.storage import Store
from test_ingest_cloudwatch import ENIS, FORMAT_A, every, flow_log_group, put_events
from test_ingest_s3 import BUCKET, DAY, REGION, cli, flowlogs_subprocess, lake_digest, make_bucket, put_flow_log

LAKE_BUCKET = "flowlogs-lake"
LAKE = f"s3://{LAKE_BUCKET}/lakes/prod"


@pytest.fixture
def s3_lake(aws):
    make_bucket(LAKE_BUCKET)
    return pyarrow_s3_options(Settings(endpoint_url=aws))


def test_scheduled_runs_into_an_s3_lake_read_back_through_pyarrow(s3_lake, tmp_path):
    s3 = make_bucket()
    for minute in range(0, 120, 5):
        put_flow_log(s3, DAY + timedelta(hours=8, minutes=minute), 25, seed=minute, fmt="parquet" if minute % 2 else "gz")
    window = ("--since", "2024-06-20T09:00Z", "--until", "2024-06-20T10:00Z")
    first = cli("--lake", LAKE, "ingest", f"s3://{BUCKET}", *window, "-q", "--workers", 2)
    assert first.exit_code == 0 and "ingested 24 of 24 sources" in first.output, first.output
    for minute in range(0, 60, 5):  # the next hour's files arrive; the next scheduled run takes them
        put_flow_log(s3, DAY + timedelta(hours=10, minutes=minute), 25, seed=100 + minute)
    second = cli("--lake", LAKE, "ingest", f"s3://{BUCKET}", "--since", "2024-06-20T10:00Z",
                 "--until", "2024-06-20T11:00Z", "-q", "--workers", 2)
    assert second.exit_code == 0 and "ingested 12 of 24 sources (12 already in the lake)" in second.output, second.output

    store = Store.open(LAKE, s3_options=s3_lake)
    assert len(lake.runs(store)) == 2 and len(lake.manifest(store)) == 36
    assert not store.exists(locking.LOCK)
    flows = ds.dataset(store.path("flows"), filesystem=store.fs, format="parquet", partitioning="hive")
    assert flows.count_rows() == 36 * 25
    con = duckdb.connect()
    register_record_views(con, store)
    assert con.execute("SELECT aws_account, aws_region, dt, count(*) FROM flows GROUP BY ALL").fetchall() == [
        ("123456789012", REGION, "2024-06-20", 900)]
    described = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE tgw_flows)").fetchall())
    assert list(described)[:len(SCHEMA)] == SCHEMA.names and described["aws_account"] == "VARCHAR"
    assert con.execute("SELECT count(*) FROM tgw_flows").fetchone() == (0,)

    local = tmp_path / "local"
    cli("--lake", local, "ingest", f"s3://{BUCKET}", "-q")
    assert lake_digest(LAKE, s3_lake) == lake_digest(str(local))


def test_overlapping_runs_do_not_double_count(s3_lake, tmp_path):
    s3 = make_bucket()
    for i in range(40):
        put_flow_log(s3, DAY + timedelta(minutes=5 * i), 300, seed=i)
    runs = [flowlogs_subprocess("--lake", LAKE, "ingest", f"s3://{BUCKET}", "-q", "--workers", 2) for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in runs]
    assert [proc.returncode for proc in runs] == [0, 0], outputs
    ingested = sorted(int(out.split()[1]) for out, _ in outputs)
    assert ingested == [0, 40]  # the second waited for the lock, then found everything in
    local = tmp_path / "local"
    cli("--lake", local, "ingest", f"s3://{BUCKET}", "-q")
    assert lake_digest(LAKE, s3_lake) == lake_digest(str(local)) and lake_digest(str(local))[0] == 40 * 300


def test_cloudwatch_cursors_live_in_the_s3_lake(s3_lake):
    flow_log_group("/vpc/task-flows", FORMAT_A)
    total = sum(put_events("/vpc/task-flows", FORMAT_A, eni, every(10, 3)) for eni in ENIS)
    assert cli("--lake", LAKE, "ingest", "cloudwatch", "/vpc/task-flows", "-q").exit_code == 0
    again = cli("--lake", LAKE, "ingest", "cloudwatch", "/vpc/task-flows", "-q")
    assert "ingested 0 of" in again.output, again.output
    store = Store.open(LAKE, s3_options=s3_lake)
    assert len(lake.cursors(lake.runs(store))) == 3
    assert lake_digest(LAKE, s3_lake)[0] == total


def test_credentials_never_reach_an_s3_lake(aws, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFLOWLOGSLAKEKEY1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "LakeSecretValue/0123456789+abcdefghijkl")
    s3 = make_bucket()
    make_bucket(LAKE_BUCKET)
    put_flow_log(s3, DAY, 10)
    result = cli("--lake", LAKE, "ingest", f"s3://{BUCKET}", "--workers", 2)
    assert result.exit_code == 0 and "AKIAFLOWLOGSLAKEKEY1" not in result.output, result.output
    objects = s3.list_objects_v2(Bucket=LAKE_BUCKET)["Contents"]
    assert len(objects) >= 3  # version, run record, data
    for obj in objects:
        body = s3.get_object(Bucket=LAKE_BUCKET, Key=obj["Key"])["Body"].read()
        assert b"AKIAFLOWLOGSLAKEKEY1" not in body and b"LakeSecretValue" not in body, obj["Key"]


def test_the_s3_lock_waits_and_takes_over_an_expired_one(s3_lake):
    store = Store.open(LAKE, s3_options=s3_lake)
    s3 = boto3.client("s3")
    key = f"lakes/prod/{locking.LOCK}"
    s3.put_object(Bucket=LAKE_BUCKET, Key=key, Body=json.dumps({"run": "killed", "expires": time.time() - 5}))
    with locking.lake_lock(store, "taker", wait=5):
        holder = json.loads(s3.get_object(Bucket=LAKE_BUCKET, Key=key)["Body"].read())
        assert holder["run"] == "taker"
        with pytest.raises(FlowlogsError, match="another ingest holds the lock"):
            with locking.lake_lock(store, "second", wait=1):
                pass
    assert "Contents" not in s3.list_objects_v2(Bucket=LAKE_BUCKET, Prefix=key)


def test_the_local_lock_makes_a_second_run_wait(tmp_path):
    store = Store.open(tmp_path / "lake")
    order = []

    def second():
        with locking.lake_lock(store, "second", wait=10):
            order.append("second")

    with locking.lake_lock(store, "first"):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        order.append("first")
        with pytest.raises(FlowlogsError, match="another ingest holds the lock"):
            with locking.lake_lock(store, "third", wait=0.3):
                pass
    thread.join()
    assert order == ["first", "second"]


def test_an_empty_local_lake_has_every_view_with_its_schema(tmp_path):
    con = duckdb.connect()
    register_record_views(con, Store.open(tmp_path / "lake"))
    for table in (*lake.RECORD_TABLES, "quarantine"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    columns = [name for name, *_ in con.execute("DESCRIBE flows").fetchall()]
    assert columns == SCHEMA.names + list(lake.PARTITION_KEYS)
