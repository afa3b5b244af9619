"""Nothing lost, nothing doubled, no traceback: the lake under the mistakes real users make.

One test (or a few) per numbered item of the issue "Nothing lost, nothing doubled, no
traceback"; each was run against the code before the fix and failed there. The process
faults (killed workers) are in test_faults.py, the line fuzzing in test_fuzz_lines.py.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from conftest import REAL_SAMPLES, SAMPLE_LOGS, shared_or_skip
from pipeline.errors import FlowlogsError
from pipeline.ingest.sources.local import content_digest
from pipeline.lake import locking
from pipeline.lake.store import manifest
from pipeline.lake.storage import Store
from test_ingest_s3 import BUCKET, DAY, make_bucket, put_flow_log
from test_lake_local import HEADER, digests, lake_info, record, run_cli, s3_path, text


def lines_of(n: int, first: int = 0) -> list[str]:
    return [record(first + i) for i in range(n)]


def write_delivery(root: Path, n: int, lines: list[str], *, suffix: str = ".log.gz") -> Path:
    path = s3_path(root, n, suffix=suffix)
    data = text(lines)
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    return path


def lake_manifest(lake: Path) -> dict[str, dict]:
    return manifest(Store.open(str(lake), create=False))


def records_in(lake: Path) -> int:
    tables = lake_info(lake)["tables"]
    return sum(t["records"] for t in tables.values())


def quarantine(lake: Path) -> list[dict]:
    return [row for p in sorted((lake / "quarantine").glob("*.parquet")) for row in pq.read_table(p).to_pylist()]


def no_traceback(result) -> None:
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), result.output


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory) -> Path:
    """A lake of 3 deliveries (60 records), for the readers' tests."""
    root = tmp_path_factory.mktemp("bucket")
    for n in range(3):
        write_delivery(root, n, lines_of(20, n * 100))
    lake = tmp_path_factory.mktemp("lakes") / "lake"
    result = run_cli("--lake", str(lake), "ingest", "--workers", "1", "-q", str(root))
    assert result.exit_code == 0, result.output
    return lake


# ----------------------------------------------------- 1. the lake is never its own input


def test_1_ingesting_the_folder_that_holds_the_lake_reads_the_input_only(tmp_path, monkeypatch):
    work = tmp_path / "work"
    for n in range(3):
        write_delivery(work, n, lines_of(20, n * 100))
    monkeypatch.chdir(work)
    monkeypatch.delenv("FLOWLOGS_LAKE", raising=False)
    first = run_cli("ingest", "--workers", "1", "-q", ".")
    assert first.exit_code == 0, first.output
    assert "a lake is never read as input" in first.output
    once = digests(work / "flowlogs-lake")
    for _ in range(2):
        again = run_cli("ingest", "--workers", "1", "-q", ".")
        assert again.exit_code == 0, again.output
        assert "ingested 0 of 3 sources (3 already in the lake)" in again.output
    assert digests(work / "flowlogs-lake") == once
    assert records_in(work / "flowlogs-lake") == 60
    inside = next((work / "flowlogs-lake" / "flows").rglob("*.parquet"))
    named = run_cli("ingest", "--workers", "1", "-q", str(inside))  # a lake file named explicitly
    assert named.exit_code == 2 and "is inside the lake" in named.output, named.output
    assert digests(work / "flowlogs-lake") == once


# ----------------------------------------------------- 2. one delivery, however it comes


def test_2_gunzipped_and_regzipped_copies_of_a_delivery_add_nothing(tmp_path):
    root = tmp_path / "bucket"
    originals = [write_delivery(root, n, lines_of(20, n * 100)) for n in range(3)]
    lake = tmp_path / "lake"
    assert run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(root)).exit_code == 0
    before = digests(lake)
    copies = tmp_path / "downloads"
    copies.mkdir()
    plain = copies / originals[0].name.removesuffix(".gz")
    plain.write_bytes(gzip.decompress(originals[0].read_bytes()))
    (copies / "again").mkdir()
    (copies / "again" / originals[1].name).write_bytes(gzip.compress(gzip.decompress(originals[1].read_bytes()), 9))
    renamed = copies / "renamed.log"  # no delivery name: known by its content
    renamed.write_bytes(gzip.decompress(originals[2].read_bytes()))
    result = run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(copies))
    assert result.exit_code == 0, result.output
    assert digests(lake) == before
    assert lake_info(lake)["tables"]["flows"]["duplicates"] == 0


def test_2_a_delivery_read_once_has_the_version_of_its_content_damaged_or_not(tmp_path):
    """A gzip delivery new to the lake is digested while it is read, not inflated twice: its version must
    still be the digest of its content (of its bytes when the gzip is damaged), so that its copies are
    known, and a copy under another delivery name adds nothing."""
    root = tmp_path / "bucket"
    whole = write_delivery(root, 0, lines_of(20))
    damaged = write_delivery(root, 1, lines_of(20, 100))
    damaged.write_bytes(damaged.read_bytes()[:-30])  # truncated: the end of the data and the trailer lost
    lake = tmp_path / "lake"
    assert run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(root)).exit_code == 1  # the cut
    versions = {e["source"]: e["etag"] for e in lake_manifest(lake).values()}
    assert versions == {str(whole): content_digest(str(whole)), str(damaged): content_digest(str(damaged))}
    before = digests(lake)
    other = tmp_path / "other"
    twin = write_delivery(other, 7, [])  # another delivery's name, the first one's bytes
    twin.write_bytes(whole.read_bytes())
    result = run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(other))
    assert result.exit_code == 0 and "1 already in the lake" in result.output, result.output
    assert digests(lake) == before


def test_2_a_truncated_copy_then_the_complete_file_gives_the_complete_file_only(tmp_path):
    lines = lines_of(44, 5000)
    complete = text(lines)
    truncated = complete[: len(complete) // 2 + 7]  # cut in the middle of a line
    name = s3_path(tmp_path / "naming", 0, suffix=".log").name
    (tmp_path / "early").mkdir()
    (tmp_path / "early" / name).write_bytes(truncated)
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / (name + ".gz")).write_bytes(gzip.compress(complete))

    lake = tmp_path / "lake"
    assert run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(tmp_path / "early")).exit_code == 1
    assert 0 < records_in(lake) < 44 and len(quarantine(lake)) == 1  # the cut line
    result = run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(tmp_path / "later"))
    assert result.exit_code == 0, result.output
    assert records_in(lake) == 44 and quarantine(lake) == []
    again = run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(tmp_path / "early"))
    assert again.exit_code == 0 and records_in(lake) == 44, again.output

    other = tmp_path / "lake2"  # the other order: the complete file stays
    assert run_cli("--lake", str(other), "ingest", "-q", "--workers", "1", str(tmp_path / "later")).exit_code == 0
    late = run_cli("--lake", str(other), "ingest", "-q", "--workers", "1", str(tmp_path / "early"))
    assert late.exit_code == 0 and "a shorter copy of a delivery" in late.output, late.output
    assert digests(other) == digests(lake)


def test_2_the_same_objects_from_s3_then_from_a_download_are_counted_once(aws, tmp_path):
    s3 = make_bucket()
    keys = [put_flow_log(s3, DAY.replace(hour=9, minute=5 * i), 30, seed=i) for i in range(4)]
    lake = tmp_path / "lake"
    first = run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", f"s3://{BUCKET}")
    assert first.exit_code == 0, first.output
    before = digests(lake)
    download = tmp_path / "download"
    for key in keys:
        (download / key).parent.mkdir(parents=True, exist_ok=True)
        (download / key).write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    second = run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(download))
    assert second.exit_code == 0, second.output
    assert digests(lake)["flows"][0] == before["flows"][0] == 120
    assert lake_info(lake)["sources"] == 4


def test_2_lake_info_reports_records_that_remain_duplicated(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.log").write_bytes(text(lines_of(10)))
    (tmp_path / "in" / "b.log").write_bytes(text(lines_of(11)))  # other content: another source, same 10 records
    lake = tmp_path / "lake"
    assert run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(tmp_path / "in")).exit_code == 0
    info = lake_info(lake)
    assert info["tables"]["flows"]["duplicates"] + info["tables"]["interface_status"]["duplicates"] == 10
    shown = run_cli("--lake", str(lake), "lake", "info")
    assert "duplicate records: the same record from more than one source" in shown.output


# ----------------------------------------------------- 4. lines of any length


def test_4_a_huge_line_is_quarantined_and_the_rest_of_its_file_kept(tmp_path):
    lines = lines_of(200)
    lines[99] = "2 " + "x" * (9 << 20)  # 9 MiB: more than pyarrow's block
    path = tmp_path / "in" / "huge.log.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(text(lines), 1))
    lake = tmp_path / "lake"
    result = run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(path))
    assert result.exit_code == 1, result.output
    assert records_in(lake) == 199
    [bad] = quarantine(lake)
    assert bad["_line"] == 101 and "longer than any flow-log record" in bad["reason"], bad["reason"]
    assert len(bad["text"]) <= 4096
    assert lake_info(lake)["refused"] == {}


# ----------------------------------------------------- 5. values checked against the catalog


def test_5_values_aws_never_writes_are_quarantined_with_the_field_named(tmp_path):
    good = record(1)
    fields = good.split()
    names = HEADER.split()

    def with_(**values):
        return " ".join(values.get(n.replace("-", "_"), v) for n, v in zip(names, fields))

    bad = {
        with_(dstport="99999"): "dstport 99999 is outside 0..65535",
        with_(end=str(int(fields[10]) - 1)): "end",
        with_(srcaddr="10.0.0.999"): "srcaddr is not an IP address",
        with_(dstaddr="☃☃☃"): "dstaddr is not an IP address",
        with_(action="MAYBE"): "action is not one of ACCEPT, REJECT",
        with_(action="ACCÉPT"): "action is not one of ACCEPT, REJECT",
        with_(protocol="300"): "protocol 300 is outside 0..255",
    }
    path = tmp_path / "in" / "values.log"
    path.parent.mkdir()
    path.write_bytes(text([good, *bad, record(2)]))
    lake = tmp_path / "lake"
    assert run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(path)).exit_code == 1
    assert records_in(lake) == 2
    reasons = {row["text"]: row["reason"] for row in quarantine(lake)}
    assert len(reasons) == len(bad)
    for line, fragment in bad.items():
        assert fragment in reasons[line], (line, reasons[line])
    assert "is before start" in reasons[with_(end=str(int(fields[10]) - 1))]


# ----------------------------------------------------- 6. sql cannot harm the lake


def test_6_sql_is_read_only_and_cannot_reach_other_files(small_lake, tmp_path):
    data_file = next((small_lake / "flows").rglob("*.parquet"))
    before = digests(small_lake)
    version = (small_lake / "_flowlogs_version").read_bytes()
    for statement in (f"COPY (SELECT 1 AS a) TO '{data_file}' (FORMAT parquet)",
                      f"COPY (SELECT 'x') TO '{small_lake / '_flowlogs_version'}'",
                      f"ATTACH '{tmp_path / 'x.duckdb'}'"):
        result = run_cli("--lake", str(small_lake), "sql", statement)
        assert result.exit_code == 2 and "read-only" in result.output, result.output
        no_traceback(result)
    other = tmp_path / "secret.csv"
    other.write_text("a\n1\n")
    result = run_cli("--lake", str(small_lake), "sql", f"SELECT * FROM read_csv('{other}')")
    assert result.exit_code == 2 and "Permission" in result.output, result.output
    result = run_cli("--lake", str(small_lake), "sql", "SET enable_external_access = true")
    assert result.exit_code == 2, result.output
    # --allow-writes lifts the lock-down, but never for the lake's own files
    out = tmp_path / "out.csv"
    ok = run_cli("--lake", str(small_lake), "sql", "--allow-writes", f"COPY (SELECT count(*) AS n FROM flows) TO '{out}'")
    assert ok.exit_code == 0 and out.read_text().split() == ["n", str(before["flows"][0])], ok.output
    into = run_cli("--lake", str(small_lake), "sql", "--allow-writes", f"COPY (SELECT 1) TO '{data_file}'")
    assert into.exit_code == 2 and "only ingest writes there" in into.output, into.output
    assert digests(small_lake) == before and (small_lake / "_flowlogs_version").read_bytes() == version
    assert run_cli("--lake", str(small_lake), "sql", "SELECT count(*) FROM flows").exit_code == 0


# ----------------------------------------------------- 7. Error: …, exit 2, never a traceback


def test_7_bad_options_and_environments_give_an_error_not_a_traceback(small_lake, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    config = tmp_path / "flowlogs.toml"
    config.write_text('[ingest]\nsources = ["/nowhere"]\nsince = "yesterday"\n')
    damaged = tmp_path / "damaged"
    shutil.copytree(small_lake, damaged)
    (damaged / "_flowlogs_version").write_text("garbage")
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "_flowlogs_version").write_text("7\n")
    cases = {
        ("--lake", str(a_file), "lake", "info"): "is a file, not a lake directory",
        ("--lake", str(small_lake), "sql", ""): "the SQL is empty",
        ("--lake", str(small_lake), "sql", "SELECT 1", "-o", str(tmp_path / "missing" / "x.json")): "does not exist",
        ("--lake", str(damaged), "lake", "info"): "is damaged",
        ("--lake", str(newer), "demo"): "layout version 7",
        ("run", "--config", str(config)): "[ingest] since",
        ("--lake", str(small_lake), "report", "findings", "-o", str(tmp_path / "missing" / "r.json")): "does not exist",
    }
    for args, fragment in cases.items():
        result = run_cli(*args)
        assert result.exit_code == 2 and "Error:" in result.output and fragment in result.output, (args, result.output)
        no_traceback(result)
    fail_on = run_cli("--lake", str(small_lake), "report", "findings", "--fail-on", "oops")
    assert fail_on.exit_code == 2 and fail_on.stdout == "", fail_on.output  # checked before the report is printed
    assert "--fail-on: unknown kind oops" in fail_on.output


def test_7_quotes_in_the_lake_and_export_paths_work(small_lake, tmp_path):
    lake = tmp_path / "it's a lake"
    shutil.copytree(small_lake, lake)
    result = run_cli("--lake", str(lake), "sql", "SELECT count(*) AS n FROM flows", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["n"] == digests(small_lake)["flows"][0], result.output
    out = tmp_path / "o'clock.duckdb"
    exported = run_cli("--lake", str(lake), "export", "--duckdb", str(out))
    assert exported.exit_code == 0 and out.exists(), exported.output


def test_7_an_unexpected_error_is_an_error_line_and_the_traceback_needs_debug(small_lake, monkeypatch):
    import pipeline.lake.info as info

    def broken(store):
        raise RuntimeError("something nobody planned for")

    monkeypatch.setattr(info, "lake_info", broken)
    result = run_cli("--lake", str(small_lake), "lake", "info")
    assert result.exit_code == 2 and "Error: RuntimeError: something nobody planned for" in result.output
    no_traceback(result)
    debug = run_cli("--debug", "--lake", str(small_lake), "lake", "info")
    assert isinstance(debug.exception, RuntimeError)  # with --debug the exception (and its traceback) goes through


# ----------------------------------------------------- 8. reading never creates


@pytest.mark.parametrize("command", [["lake", "info"], ["sql", "SELECT 1"], ["whois", "10.0.0.1"],
                                     ["report", "findings"], ["export", "--duckdb", "OUT"]])
def test_8_reading_a_mistyped_lake_is_an_error_and_creates_nothing(tmp_path, command):
    missing = tmp_path / "mistyped-lake"
    result = run_cli("--lake", str(missing), *[str(tmp_path / "x.duckdb") if c == "OUT" else c for c in command])
    assert result.exit_code == 2 and f"no lake at {missing}" in result.output, result.output
    no_traceback(result)
    assert not missing.exists()


# ----------------------------------------------------- 9. a full disk, a stale lock


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(name, options)`` mounts a real file system (root only): a small one fills up for real."""
    mounts = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_9_a_full_disk_stops_the_run_cleanly_and_the_next_run_completes(tmpfs, tmp_path):
    root = tmp_path / "bucket"
    for n in range(12):
        write_delivery(root, n, lines_of(3000, n * 10_000))
    small_disk = tmpfs("disk", "size=256k")
    lake = small_disk / "lake"
    full = run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(root))
    assert full.exit_code == 2 and "No space left on device" in full.output, full.output
    no_traceback(full)
    leftovers = [p for p in lake.rglob("*") if p.is_file() and ("_staging" in p.parts or p.suffix == ".tmp")]
    assert leftovers == []
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    rerun = run_cli("--lake", str(lake), "ingest", "-q", "--workers", "1", str(root))
    assert rerun.exit_code == 0, rerun.output
    clean = tmp_path / "clean"
    assert run_cli("--lake", str(clean), "ingest", "-q", "--workers", "1", str(root)).exit_code == 0
    assert digests(lake) == digests(clean)
    readonly = run_cli("--lake", str(tmpfs("readonly", "ro") / "lake"), "ingest", "-q", "--workers", "1", str(root))
    assert readonly.exit_code == 2 and "Read-only file system" in readonly.output, readonly.output
    no_traceback(readonly)


def test_9_a_held_local_lock_says_whose_it_is_and_how_long_it_waits(tmp_path):
    store = Store.open(tmp_path / "lake")
    path = Path(store.path(locking.LOCK))
    path.parent.mkdir(parents=True)
    with open(path, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write(json.dumps({"run": "nightly", "host": "box", "pid": 4242, "expires": time.time() + 60}))
        held.flush()
        said = []
        with pytest.raises(FlowlogsError, match="nightly"):
            with locking.lake_lock(store, "me", wait=0.5, on_wait=said.append):
                pass
    assert len(said) == 1 and "waiting up to 0.5s" in said[0] and "run 'nightly' on box, pid 4242" in said[0]


def test_9_a_stale_s3_lock_is_announced_at_once(aws):
    make_bucket("lake-bucket")
    s3 = boto3.client("s3")
    from pipeline.aws import pyarrow_s3_options
    from pipeline.settings import Settings

    store = Store.open("s3://lake-bucket/lake", s3_options=pyarrow_s3_options(Settings(endpoint_url=aws)))
    owner = {"run": "ingest s3://x", "host": "old-box", "pid": 77, "expires": time.time() + 90}
    s3.put_object(Bucket="lake-bucket", Key=f"lake/{locking.LOCK}", Body=json.dumps(owner))
    said = []
    started = time.monotonic()
    with pytest.raises(FlowlogsError):
        with locking.lake_lock(store, "me", wait=1.5, on_wait=said.append):
            pass
    assert len(said) == 1 and "old-box, pid 77" in said[0] and "expires in" in said[0], said
    assert time.monotonic() - started < 10


# ----------------------------------------------------- 10. metadata import takes what it knows


def test_10_metadata_import_takes_the_files_it_recognises_and_lists_the_others(tmp_path):
    folder = tmp_path / "metadata"
    shutil.copytree(SAMPLE_LOGS / "metadata", folder)
    # a command's output it does not read (AWS Config rules), saved next to the others
    (folder / "describe-config-rules.json").write_text(json.dumps({"ConfigRules": [{"ConfigRuleName": "x"}]}))
    lake = tmp_path / "lake"
    result = run_cli("--lake", str(lake), "metadata", "import", str(folder))
    assert result.exit_code == 1, result.output
    assert f"refused {folder / 'describe-config-rules.json'}: " in result.output
    assert "snapshot " in result.output
    manifests = list((lake / "metadata").rglob("*.json"))
    assert manifests and "network_interfaces" in {p.parent.name for p in (lake / "metadata").rglob("*.parquet")}


# ----------------------------------------------------- 11. ../shared is beside the repository only here


def test_11_shared_samples_skip_when_absent_and_fail_under_ci(tmp_path, monkeypatch):
    missing = tmp_path / "shared" / "real_samples"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="absent"):
        shared_or_skip(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        shared_or_skip(missing)
    if REAL_SAMPLES.exists():
        assert shared_or_skip(REAL_SAMPLES) == REAL_SAMPLES
