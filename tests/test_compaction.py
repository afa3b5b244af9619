"""Compaction: many small deliveries merged into few files per partition, atomically.

The lake is read the way every command reads it (the DuckDB views over the live files) and
compared as row count plus a digest of the sorted rows, provenance and partitions included.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipeline.ingest import load
from pipeline.ingest.sources.local import local_sources
from pipeline.lake import compaction
from pipeline.lake import store as lake
from pipeline.lake.views import register_record_views
from pipeline.tables import TABLES
from test_lake_local import record, run_cli, s3_path, text

FILES = 40  # deliveries: 20 a day over 2 days, in one account


def _deliver(root: Path, n: int, lines: int = 30) -> Path:
    path = s3_path(root, n, day=n % 2)
    path.write_bytes(gzip.compress(text([record(n * 1000 + i, day=n % 2) for i in range(lines)])))
    return path


@pytest.fixture(scope="module")
def bucket(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bucket")
    for n in range(FILES):
        _deliver(root, n)
    return root


def _ingest(store, paths, **kw):
    summary, _ = load.ingest(store, local_sources([str(p) for p in paths]), workers=1, **kw)
    return summary


def seen(store) -> dict:
    """(rows, digest of the sorted rows) of each record table, as the views show them."""
    con = duckdb.connect()
    register_record_views(con, store)
    return {t: con.execute(f"SELECT count(*), md5(string_agg(h, '' ORDER BY h)) FROM "
                           f"(SELECT md5(CAST(t AS VARCHAR)) AS h FROM {t} t)").fetchone()
            for t in ("flows", "interface_status")}


def per_partition(store) -> dict[str, int]:
    out: dict[str, int] = {}
    for path in compaction.live_files(store, "flows"):
        partition = path.rsplit("/", 1)[0]
        out[partition] = out.get(partition, 0) + 1
    return out


@pytest.fixture
def small_lake(bucket, tmp_path, monkeypatch):
    """The deliveries ingested one file each, nothing compacted yet."""
    monkeypatch.setattr(compaction, "AUTO_FILES", 10_000)
    store = lake.open_lake(tmp_path / "lake")
    _ingest(store, [bucket])
    monkeypatch.undo()
    assert set(per_partition(store).values()) == {FILES // 2}
    return store


@pytest.mark.parametrize("read_as", ["strings", "dictionaries"])  # small files, and files of DICTIONARY_READ bytes
def test_compacting_keeps_every_row_and_bounds_the_files(bucket, small_lake, monkeypatch, read_as):
    if read_as == "dictionaries":
        monkeypatch.setattr(compaction, "DICTIONARY_READ", 0)
    before = seen(small_lake)
    result = run_cli("--lake", small_lake.root, "lake", "compact")
    assert result.exit_code == 0, result.output
    assert f"(flows 2, interface_status " in result.output  # both days
    assert per_partition(small_lake) == {p: 1 for p in per_partition(small_lake)} and len(per_partition(small_lake)) == 2
    assert seen(small_lake) == before
    on_disk = [p for p in small_lake.list_files("flows", ".parquet")]
    assert len(on_disk) == 2 and all(Path(p).name.startswith(compaction.PREFIX) for p in on_disk)
    for path in on_disk:  # read back as the table's own schema, metadata included: no dictionary types
        assert pq.read_schema(small_lake.path(path)).equals(TABLES["flows"].schema, check_metadata=True)
    # still known as ingested: a re-ingest reads nothing and changes nothing
    again = _ingest(small_lake, [bucket])
    assert again.skipped == FILES and not again.records
    assert seen(small_lake) == before
    info = json.loads(run_cli("--lake", small_lake.root, "lake", "info", "--json").stdout)
    assert info["tables"]["flows"]["files"] == 2 and info["tables"]["flows"]["duplicates"] == 0
    assert info["sources"] == FILES


def test_ingest_compacts_a_crowded_partition_by_itself(bucket, small_lake, tmp_path, monkeypatch):
    monkeypatch.setattr(compaction, "AUTO_FILES", 8)
    store = lake.open_lake(tmp_path / "auto")
    summary = _ingest(store, [bucket])
    assert summary.compacted and summary.compacted[0] >= 2  # flows and interface status, two days
    assert max(per_partition(store).values()) == 1
    assert seen(store) == seen(small_lake)
    late = _deliver(tmp_path / "late", FILES)  # one more delivery: a small file beside the compacted one
    _ingest(store, [late])
    assert sorted(per_partition(store).values()) == [1, 2]


def test_a_new_version_of_a_compacted_delivery_replaces_its_rows(bucket, small_lake, tmp_path):
    compaction.compact(small_lake)
    before = seen(small_lake)
    longer = _deliver(tmp_path / "copy", 3, lines=45)  # the same delivery, complete: 15 more flow lines
    summary = _ingest(small_lake, [longer])
    assert summary.skipped == 0 and summary.records == {"flows": 44, "interface_status": 1}
    after = seen(small_lake)
    assert (after["flows"][0], after["interface_status"][0]) == (before["flows"][0] + 15, before["interface_status"][0])
    con = duckdb.connect()
    register_record_views(con, small_lake)
    assert con.execute("SELECT count(DISTINCT _source), max(_line) FROM flows WHERE _ingest_id = "
                       "(SELECT _ingest_id FROM flows WHERE _source = ? LIMIT 1)", [str(longer)]).fetchone() == (1, 46)
    assert json.loads(run_cli("--lake", small_lake.root, "lake", "info", "--json").stdout)[
        "tables"]["flows"]["duplicates"] == 0
    assert _ingest(small_lake, [longer]).skipped == 1 and seen(small_lake) == after


class Killed(Exception):
    pass


@pytest.mark.parametrize("step", ["write", "commit", "tidy"])
def test_an_interrupted_compaction_leaves_the_lake_readable_and_complete(small_lake, monkeypatch, step):
    before = seen(small_lake)
    target = {"write": (compaction.pq.ParquetWriter, "write_table"), "commit": (type(small_lake), "write_bytes"),
              "tidy": (type(small_lake), "delete")}[step]
    real = getattr(*target)
    calls = []

    def kill_midway(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise Killed(step)
        return real(*args, **kwargs)

    if step == "write":  # row groups of 7 rows: the third is written half-way through the first file
        monkeypatch.setattr(compaction, "TABLES", {
            name: dataclasses.replace(kind, row_group=7) for name, kind in compaction.TABLES.items()})
    monkeypatch.setattr(*target, kill_midway)
    with pytest.raises(Killed):
        compaction.compact(small_lake)
    monkeypatch.undo()
    assert seen(small_lake) == before  # readable, nothing missing, nothing twice
    compaction.compact(small_lake)  # the next compaction finishes the job and removes the leftovers
    assert seen(small_lake) == before
    assert max(per_partition(small_lake).values()) == 1
    on_disk = small_lake.list_files("flows", ".parquet") + small_lake.list_files("interface_status", ".parquet")
    assert sorted(on_disk) == sorted(compaction.live_files(small_lake, "flows")
                                     + compaction.live_files(small_lake, "interface_status"))
    assert not [p for p in Path(small_lake.root, "_staging").rglob("*") if p.is_file()]


def test_a_lake_on_s3_is_compacted_the_same_way(aws, tmp_path, monkeypatch):
    from datetime import timedelta

    from pipeline.aws import pyarrow_s3_options
    from pipeline.settings import Settings
    from test_ingest_s3 import BUCKET, DAY, cli, lake_digest, make_bucket, put_flow_log

    s3 = make_bucket()
    make_bucket("compacted-lake")
    for i in range(12):
        put_flow_log(s3, DAY + timedelta(minutes=5 * i), 20, seed=i)
    options = pyarrow_s3_options(Settings(endpoint_url=aws))
    monkeypatch.setattr(compaction, "AUTO_FILES", 8)
    location = "s3://compacted-lake/lake"
    result = cli("--lake", location, "ingest", f"s3://{BUCKET}", "-q", "--workers", 1)
    assert result.exit_code == 0 and "compacted" in result.output, result.output
    local = tmp_path / "local"
    monkeypatch.setattr(compaction, "AUTO_FILES", 10_000)
    cli("--lake", local, "ingest", f"s3://{BUCKET}", "-q", "--workers", 1)
    store = lake.open_lake(location, s3_options=options, create=False)
    assert [Path(f).name[:len(compaction.PREFIX)] for f in store.list_files("flows", ".parquet")] == [compaction.PREFIX]
    assert lake_digest(location, options) == lake_digest(str(local)) and lake_digest(str(local))[0] == 12 * 20
