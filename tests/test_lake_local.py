"""The lake from local files: idempotent re-runs, a killed run, damaged and vanishing inputs.

The CLI is driven in-process through typer's CliRunner, and as a real subprocess where
it has to be killed. Lake contents are compared with duckdb over the Parquet files:
row count plus a digest of the sorted rows (partition columns included).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import pipeline.ingest.sources.local as local_source
from pipeline.cli import app

ACCOUNT, REGION = "123456789012", "eu-west-1"
HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
START = 1705320000  # 2024-01-15T12:00:00Z
TABLES = ("flows", "interface_status", "tgw_flows")


def record(i: int, *, account: str = ACCOUNT, day: int = 0, dstport: str | int = 443) -> str:
    start = START + day * 86400 + i % 240
    status = "NODATA" if i % 97 == 0 else "OK"
    if status == "NODATA":
        return f"2 {account} eni-0a1b2c3d{i % 7} - - - - - - - {start} {start + 60} - NODATA"
    return (f"2 {account} eni-0a1b2c3d{i % 7} 10.0.{i % 200}.{i % 250} 52.95.{i % 100}.{i % 50} "
            f"{1024 + i % 60000} {dstport} 6 {1 + i % 9} {40 + i % 9000} {start} {start + 60} "
            f"{'REJECT' if i % 11 == 0 else 'ACCEPT'} {status}")


def s3_path(root: Path, n: int, *, account: str = ACCOUNT, day: int = 0, suffix: str = ".log.gz") -> Path:
    """Where AWS would put file ``n`` (default layout), under a local copy of the bucket."""
    date = time.strftime("%Y/%m/%d", time.gmtime(START + day * 86400))
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(START + day * 86400 + 300 * n))
    name = f"{account}_vpcflowlogs_{REGION}_fl-0123456789abcdef0_{stamp}_{n:08x}{suffix}"
    path = root / "AWSLogs" / account / "vpcflowlogs" / REGION / date / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def text(lines: list[str]) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def run_cli(*args: str):
    return CliRunner().invoke(app, list(args))


def lake_info(lake: Path) -> dict:
    result = run_cli("--lake", str(lake), "lake", "info", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def digest(lake: Path, table: str) -> tuple[int, str | None]:
    """(rows, digest of the sorted rows) of a lake table, read by duckdb with its partitions."""
    if not list((lake / table).rglob("*.parquet")):
        return 0, None
    glob = str(lake / table / "*" / "*" / "*" / "*.parquet")
    return duckdb.connect().execute(
        f"SELECT count(*), md5(string_agg(h, '' ORDER BY h)) "
        f"FROM (SELECT md5(CAST(t AS VARCHAR)) AS h FROM read_parquet('{glob}', hive_partitioning = true) t)"
    ).fetchone()


def digests(lake: Path) -> dict:
    return {table: digest(lake, table) for table in TABLES}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """48 gzip files in the S3 default layout: 2 accounts, 2 days, 3,000 records each."""
    root = tmp_path_factory.mktemp("bucket")
    for n in range(48):
        account = ACCOUNT if n % 2 else "012345678901"
        day = n % 3 == 0
        lines = [record(n * 10_000 + i, account=account, day=day) for i in range(3000)]
        s3_path(root, n, account=account, day=day).write_bytes(gzip.compress(text(lines), 1))
    return root


@pytest.fixture(scope="module")
def clean_lake(tree, tmp_path_factory) -> Path:
    lake = tmp_path_factory.mktemp("clean") / "lake"
    result = run_cli("--lake", str(lake), "ingest", "--workers", "2", "--quiet", str(tree))
    assert result.exit_code == 0, result.output
    return lake


def test_a_clean_run(tree, clean_lake):
    info = lake_info(clean_lake)
    nodata = sum(1 for n in range(48) for i in range(3000) if (n * 10_000 + i) % 97 == 0)
    assert info["sources"] == 48 and info["runs"] == 1
    assert info["tables"]["flows"]["records"] + info["tables"]["interface_status"]["records"] == 48 * 3000
    assert info["tables"]["interface_status"]["records"] == nodata
    assert info["tables"]["flows"]["partitions"] == 4  # 2 accounts x 2 days
    assert info["quarantined"] == 0 and info["refused"] == {}
    assert info["formats"] == {" ".join(HEADER.split()): 48}
    assert info["tables"]["flows"]["first"] == "2024-01-15T12:00:00Z"
    assert digests(clean_lake)["flows"][0] == info["tables"]["flows"]["records"]


def test_reingesting_the_same_tree_adds_nothing(tree, clean_lake, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(clean_lake, lake)
    before = digests(lake)
    again = run_cli("--lake", str(lake), "ingest", "--workers", "2", "--quiet", str(tree))
    assert again.exit_code == 0, again.output
    assert "ingested 0 of 48 sources (48 already in the lake)" in again.output
    # The same content under another path (another copy of the bucket) is the same source.
    copy = tmp_path / "elsewhere" / "copy.log.gz"
    copy.parent.mkdir()
    shutil.copy(next(tree.rglob("*.log.gz")), copy)
    moved = run_cli("--lake", str(lake), "ingest", "--workers", "1", "--quiet", str(copy))
    assert moved.exit_code == 0, moved.output
    assert "ingested 0 of 1 sources (1 already in the lake)" in moved.output
    assert digests(lake) == before
    assert lake_info(lake)["sources"] == 48


def _visible_parquet(lake: Path) -> list[Path]:
    """Every Parquet file a reader of the lake would see (staging is not part of the lake)."""
    return [p for p in lake.rglob("*.parquet") if "_staging" not in p.relative_to(lake).parts]


def test_killed_run_then_rerun_gives_exactly_one_clean_run(tree, clean_lake, tmp_path):
    lake = tmp_path / "lake"
    cmd = [sys.executable, "-c", "from pipeline.cli import main; main()",
           "--lake", str(lake), "ingest", "--workers", "1", "--quiet", str(tree)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(lake.glob("flows/*/*/*/*.parquet")):
            assert proc.poll() is None, "the ingest finished before any data file appeared"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert proc.poll() is None, "the ingest finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    partial = digests(lake)
    assert 0 < partial["flows"][0] < digests(clean_lake)["flows"][0]
    for path in _visible_parquet(lake):  # no half-written file is visible
        pq.read_table(path)
    lake_info(lake)  # the lake can be inspected after the kill

    rerun = run_cli("--lake", str(lake), "ingest", "--workers", "1", "--quiet", str(tree))
    assert rerun.exit_code == 0, rerun.output
    assert digests(lake) == digests(clean_lake)
    info = lake_info(lake)
    assert info["sources"] == 48
    assert info["tables"] == lake_info(clean_lake)["tables"]


@pytest.fixture
def damaged(tmp_path) -> dict:
    """A bucket copy with one good file and one of each kind of damage, and what to expect."""
    root = tmp_path / "bucket"
    lines = [record(i) for i in range(6000)]
    expect = {"records": 0, "lines": {}}

    good = s3_path(root, 0)
    good.write_bytes(gzip.compress(text(lines[:100])))
    expect["records"] += 100

    truncated = s3_path(root, 1)
    whole = gzip.compress(text(lines[:5000]))
    truncated.write_bytes(whole[: len(whole) // 2])
    kept = zlib.decompressobj(wbits=31).decompress(whole[: len(whole) // 2]).count(b"\n")  # header included
    expect["records"] += kept - 1
    expect["lines"][(str(truncated), kept + 1)] = f"the gzip data ends early (truncated after {len(whole) // 2:,} compressed bytes)"

    corrupt = s3_path(root, 2)  # valid up to a flush point, then an invalid deflate block
    deflate = zlib.compressobj(wbits=31)
    head = deflate.compress(text(lines[:3000])) + deflate.flush(zlib.Z_FULL_FLUSH)
    corrupt.write_bytes(head + b"\xff" * 16 + deflate.compress(text(lines[3000:])) + deflate.flush())
    expect["records"] += 3000
    expect["lines"][(str(corrupt), 3002)] = f"the gzip data is corrupt near compressed byte {len(head):,}"

    not_gzip = s3_path(root, 3)
    not_gzip.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    expect["refused"] = {str(not_gzip): "not a valid gzip file"}

    checksum = s3_path(root, 6)  # one bit of the CRC-32 in the trailer flipped: every line read, but flagged
    crc = bytearray(gzip.compress(text(lines[:50])))
    crc[-8] ^= 1
    checksum.write_bytes(bytes(crc))
    expect["records"] += 50
    expect["lines"][(str(checksum), 52)] = "the gzip checksum does not match"

    bad_line = s3_path(root, 4, suffix=".log")
    bad_line.write_bytes(text([*lines[10:14], "this is not a flow log record", *lines[15:20]]))
    expect["records"] += 9
    expect["lines"][(str(bad_line), 6)] = "7 values for the 14 fields of the file's header line"

    not_utf8 = s3_path(root, 8, suffix=".log")  # one Latin-1 byte: only its line is lost
    not_utf8.write_bytes(text(lines[20:23]).replace(b"eni-0a1b2c3d1", b"eni-\xe90a1b2c3d1"))
    expect["records"] += 2
    expect["lines"][(str(not_utf8), 4)] = "bytes that are not UTF-8 text"

    s3_path(root, 7).mkdir()  # a directory named like a delivery: not a source, not an error

    bad_port = s3_path(root, 5, suffix=".log")
    bad_port.write_bytes(text([lines[1], record(2, dstport="https"), lines[3]]))
    expect["records"] += 2
    expect["lines"][(str(bad_port), 3)] = "dstport is not a whole number: 'https'"
    return {"root": root, **expect}


def test_damaged_inputs_are_counted_and_the_run_goes_on(damaged, tmp_path):
    lake = tmp_path / "lake"
    result = run_cli("--lake", str(lake), "ingest", "--workers", "2", "--quiet", str(damaged["root"]))
    assert result.exit_code == 1, result.output
    assert "ingested 8 of 8 sources" in result.output
    assert f"quarantined {len(damaged['lines'])} lines (flowlogs lake quarantine)" in " ".join(result.output.split())
    (path, reason), = damaged["refused"].items()
    assert f"refused {path}: {reason}" in result.output

    info = lake_info(lake)
    flows = info["tables"]["flows"]
    nodata = info["tables"]["interface_status"]["records"]
    assert flows["records"] + nodata == damaged["records"]
    assert flows["partitions"] == 1
    assert (flows["first"], flows["last"]) == ("2024-01-15T12:00:00Z", "2024-01-15T12:04:59Z")
    assert info["sources"] == 8 and info["runs"] == 1
    assert info["formats"] == {" ".join(HEADER.split()): 7}
    assert info["quarantined"] == len(damaged["lines"])  # lines; the refused file is listed under "refused"
    assert list(info["refused"]) == [path] and reason in info["refused"][path]

    rows = [r for p in (lake / "quarantine").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    lines = {(r["_source"], r["_line"]): r["reason"] for r in rows if r["_line"] is not None}
    assert set(lines) == set(damaged["lines"])
    for key, reason in damaged["lines"].items():
        assert reason in lines[key], key
    assert [r["_source"] for r in rows if r["_line"] is None] == [path]


def test_a_file_that_vanishes_or_cannot_be_opened_is_refused_and_the_run_goes_on(tmp_path, monkeypatch):
    root = tmp_path / "bucket"
    paths = [s3_path(root, n) for n in range(4)]
    for n, path in enumerate(paths):
        path.write_bytes(gzip.compress(text([record(n * 100 + i) for i in range(10)])))
    vanished, became_dir, unreadable = map(str, paths[1:])
    os.chmod(unreadable, 0)
    listed = local_source.local_sources

    def list_then_change(found, **options):
        sources = listed(found, **options)
        os.remove(vanished)
        os.remove(became_dir)
        os.mkdir(became_dir)
        return sources

    monkeypatch.setattr(local_source, "local_sources", list_then_change)
    lake = tmp_path / "lake"
    result = run_cli("--lake", str(lake), "ingest", "--workers", "1", "--quiet", str(root))
    assert result.exit_code == 1, result.output
    info = lake_info(lake)
    refused = {vanished, became_dir} | (set() if os.geteuid() == 0 else {unreadable})  # root reads mode 000 files
    assert set(info["refused"]) == refused
    records = info["tables"]["flows"]["records"] + info["tables"]["interface_status"]["records"]
    assert records == 10 * (4 - len(refused))
    assert f"refused {vanished}: could not read the file" in result.output


def cloudwatch_payload(stream: str, messages: list[str], first_id: int) -> bytes:
    """A CloudWatch Logs subscription payload, as Firehose receives it."""
    events = [{"id": str(first_id + i), "timestamp": START * 1000, "message": m} for i, m in enumerate(messages)]
    return json.dumps({"messageType": "DATA_MESSAGE", "owner": ACCOUNT, "logGroup": "/vpc/flow-logs",
                       "logStream": stream, "subscriptionFilters": ["to-firehose"], "logEvents": events}).encode()


def test_firehose_objects_of_concatenated_gzip_payloads(tmp_path):
    """Firehose writes each (gzip) subscription payload back to back into one S3 object."""
    payloads = [cloudwatch_payload("eni-0a1b2c3d0-all", [record(k * 50 + i) for i in range(50)], k * 50)
                for k in range(4)]
    members = [gzip.compress(p) for p in payloads]
    root = tmp_path / "firehose"
    root.mkdir()
    (root / "whole.gz").write_bytes(b"".join(members))
    (root / "cut.gz").write_bytes(b"".join(members[:3]) + members[3][: len(members[3]) // 2])
    lake = tmp_path / "lake"
    result = run_cli("--lake", str(lake), "ingest", "--workers", "1", "--quiet", str(root))
    assert result.exit_code == 1, result.output

    rows = [(p.name, r["_source"], r["_line"]) for table in TABLES for p in (lake / table).rglob("*.parquet")
            for r in pq.read_table(p, columns=["_source", "_line"]).to_pylist()]
    lines = {name: sorted(line for _, source, line in rows if source.endswith(name)) for name in ("whole.gz", "cut.gz")}
    assert lines == {"whole.gz": list(range(1, 201)), "cut.gz": list(range(1, 151))}  # events numbered in the file
    quarantine = [r for p in (lake / "quarantine").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    assert [(Path(q["_source"]).name, q["_line"]) for q in quarantine] == [("cut.gz", 151)]
    assert quarantine[0]["reason"].startswith("the gzip data ends early (truncated after ")
    assert quarantine[0]["reason"].endswith("the records after number 150 are lost")
