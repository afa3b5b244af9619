"""The lake's derived reduction (pipeline.lake.derived): the findings read from it are the findings read
from the records, whatever the window, the filters, late deliveries and compaction; scheduled runs over a
growing lake give what one run over the whole lake gives."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builders import T0, make_lake, rec, write_flow_file
from pipeline.analysis import connection as analysis
from pipeline.analysis import conversations, findings
from pipeline.analysis.reports import Filters
from pipeline.cli import app
from pipeline.ingest import load as ingest
from pipeline.ingest.sources.local import local_sources
from pipeline.lake import compaction, derived
from pipeline.lake import store as lake
from pipeline.lake.info import lake_info
from test_findings_scenarios import SQS_PUBLIC, TASK_IP, VPCE_IP, network

HOURS = 6
LATE = 300  # the last 5 minutes of an hour arrive with the next hour's delivery


def document(store, flt: Filters = Filters(), use_derived: bool = True) -> tuple[dict, bool]:
    """The findings document (without its generation time) and whether the derived rows were read."""
    con = analysis.connect(store)
    doc = findings.find(con, analysis.load_network(con), flt.window, lake="lake", scope=flt.scope(con),
                        derived=store if use_derived else None)
    doc.pop("generated_at")
    used = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'flow_reduction_window'").fetchone()[0]
    return doc, bool(used)


def same_both_ways(store, flt: Filters = Filters()) -> dict:
    raw, used_raw = document(store, flt, use_derived=False)
    mine, used = document(store, flt)
    assert not used_raw and used
    assert mine == raw
    return mine


@pytest.fixture(params=[1, 3], ids=["one part", "three parts"])
def split(request, monkeypatch):
    """The derived rows in one part, or split in three by address pair (as when they would not fit the memory
    limit: ``conversations.parts_for``); the records they are compared with stay in one part. Checks that
    each conversations table from the derived rows was built in that many parts."""
    built = []
    build = conversations.build

    def recorded(con, params, derived_rows=None):
        if derived_rows is None:  # the records: in one part, the reference
            with monkeypatch.context() as m:
                m.setattr(conversations, "parts_for", lambda rows: 1)
                return build(con, params, derived_rows)
        built.append(build(con, params, derived_rows))
        return built[-1]

    monkeypatch.setattr(conversations, "parts_for", lambda rows: request.param)
    monkeypatch.setattr(conversations, "build", recorded)
    yield request.param
    assert built and set(built) == {request.param}


# --- the sample account --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample_copy(sample_lake, tmp_path_factory):
    """A copy of the sample lake with its derived reduction (the session's lake stays without)."""
    target = tmp_path_factory.mktemp("derived-sample") / "lake"
    shutil.copytree(sample_lake.root, target)
    store = lake.open_lake(target)
    done = derived.refresh(store)
    assert done.built == len(derived.live_sources(store)) > 0
    return store


@pytest.mark.parametrize("flt", [
    Filters(),
    Filters(service="orders"),
    Filters(port=443),
], ids=["whole lake", "service", "port"])
def test_sample_findings_are_the_same_from_the_derived_rows(sample_copy, flt, split):
    doc = same_both_ways(sample_copy, flt)
    assert doc["findings"]


def test_sample_findings_are_the_same_in_windows_that_cut_hours(sample_copy, split):
    hours = [h for r in derived.records(sample_copy).values() for h in r["hours"]]
    first, last = min(h["min_start"] for h in hours), max(h["max_end"] for h in hours)
    cut = [(first + 600, last - 900), (first + 1234, first + 1234 + 3600), (first - first % 3600 + 3600, last)]
    for since, until in cut:
        same_both_ways(sample_copy, Filters(since=since, until=until))


# --- a generated account: hours, late deliveries, compaction -------------------------------------------

def hour_records(h: int, rng: random.Random) -> list[tuple[int, str]]:
    """(start, line) of hour ``h``'s traffic: healthy calls, rejects at the endpoint, calls without a reply,
    and conversations that cross into the next hour (request before the boundary, the rest after it)."""
    out = []
    base = T0 + h * 3600
    for i in range(40):
        t = base + rng.randrange(0, 3540) // 60 * 60
        sport = 30000 + h * 1000 + i
        kind = rng.random()
        out.append((t, rec("eni-task1", TASK_IP, VPCE_IP, sport, 443, t, flags=2, direction="egress", subnet="subnet-a")))
        if kind < 0.6:
            out.append((t, rec("eni-vpce", TASK_IP, VPCE_IP, sport, 443, t, flags=2, direction="ingress", subnet="subnet-e")))
            out.append((t + 60, rec("eni-vpce", VPCE_IP, TASK_IP, 443, sport, t + 60, flags=18, direction="egress", subnet="subnet-e")))
            out.append((t + 60, rec("eni-task1", VPCE_IP, TASK_IP, 443, sport, t + 60, flags=18, direction="ingress", subnet="subnet-a")))
        elif kind < 0.8:
            out.append((t, rec("eni-vpce", TASK_IP, VPCE_IP, sport, 443, t, action="REJECT", flags=2, direction="ingress",
                               subnet="subnet-e")))
    for i in range(5):  # across the hour's end: SYN at hh:58, zero flags in the middle windows, the reply at hh+1:01
        sport = 50000 + h * 10 + i
        t = base + 3480
        for w in range(5):
            flags = 2 if w == 0 else 0
            out.append((t + 60 * w, rec("eni-task1", TASK_IP, SQS_PUBLIC, sport, 443, t + 60 * w, flags=flags,
                                        direction="egress", subnet="subnet-a")))
        if i % 2 == 0:  # half get their reply after the boundary; the others never do (no_reply across hours)
            out.append((t + 180, rec("eni-task1", SQS_PUBLIC, TASK_IP, 443, sport, t + 180, flags=18, direction="ingress",
                                     subnet="subnet-a")))
    return out


def deliveries() -> list[list[tuple[int, str]]]:
    """Hour h's delivery: its records up to 5 minutes before its end, and the previous hour's last 5 minutes."""
    rng = random.Random(14)
    records = sorted(r for h in range(HOURS) for r in hour_records(h, rng))
    out = []
    for h in range(HOURS + 1):
        lo, hi = T0 + h * 3600 - LATE, T0 + (h + 1) * 3600 - LATE
        ontime = [r for r in records if T0 + h * 3600 <= r[0] < hi] if h < HOURS else []
        late = [r for r in records if lo <= r[0] < T0 + h * 3600] if h else []
        if h == HOURS:  # the records after the last hour (the crossing conversations' tails)
            ontime = [r for r in records if r[0] >= T0 + HOURS * 3600]
        out.append([late, ontime])
    return out


def deliver(store, folder: Path, h: int, parts: list, serial: int = 0) -> None:
    """Hour h's files (AWS delivery names: a name is a delivery, a second file under it a new version of it)."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, part in enumerate(parts):
        if part:
            write_flow_file(folder, f"20261127T{9 + h:02d}{5 * n + 10 * serial:02d}Z_{h * 16 + n + 256 * serial:08x}",
                            [line for _, line in part])
    ingest.ingest(store, local_sources([folder]), workers=1)


def test_hourly_runs_over_a_growing_lake_give_the_findings_of_one_run_over_it(tmp_path, split):
    """24-style scheduled runs (here 7 hours): after each delivery the new data files are reduced and the
    two-hour window's findings are those read from the records; at the end, the whole lake's findings
    equal those of a lake that got every delivery at once and derived nothing."""
    parts = deliveries()
    store = make_lake(tmp_path / "scheduled", [line for _, line in parts[0][1]], network())
    folder = tmp_path / "scheduled" / "more"
    windows_checked = 0
    for h, delivery in enumerate(parts):
        if h:
            deliver(store, folder / f"h{h}", h, delivery)
        before = len(derived.fresh(store))
        done = derived.refresh(store)
        assert done.built == len(derived.live_sources(store)) - before  # only the new data files are reduced
        assert derived.bounds(store) == scanned_bounds(store)  # the lake's time bounds without a scan
        end = T0 + (h + 1) * 3600 - LATE
        doc = same_both_ways(store, Filters(since=end - 7200, until=end))
        windows_checked += bool(doc["findings"])
    assert windows_checked >= HOURS - 1

    whole = same_both_ways(store)
    kinds = {f["state"] for f in whole["findings"]}
    assert {"blocked", "no_reply"} <= kinds, kinds

    con = analysis.connect(store)
    findings.build_conversations(con, findings.Window(), derived=store)
    crossing = con.execute(f"""SELECT count(*) FROM conversations
                               WHERE first_seen < ({T0} + 3600) AND last_seen >= ({T0} + 3600)""").fetchone()[0]
    assert crossing >= 5  # hour 0's conversations that go on into hour 1 are single conversations

    one_shot = make_lake(tmp_path / "oneshot", [line for _, line in parts[0][1]], network())
    for h, delivery in enumerate(parts[1:], start=1):
        write_flow_file(tmp_path / "oneshot" / "logs", f"20261127T{9 + h:02d}00Z_{h * 16:08x}",
                        [line for _, line in delivery[1]]) if delivery[1] else None
        if delivery[0]:
            write_flow_file(tmp_path / "oneshot" / "logs", f"20261127T{9 + h:02d}00Z_{h * 16 + 1:08x}",
                            [line for _, line in delivery[0]])
    ingest.ingest(one_shot, local_sources([tmp_path / "oneshot" / "logs"]), workers=1)
    reference, used = document(one_shot, use_derived=False)
    assert not used
    assert _without_sources(whole) == _without_sources(reference)


def scanned_bounds(store) -> tuple:
    """The lake's first start and last end read from its records (``queries/flow_bounds.sql``)."""
    return analysis.connect(store).execute(findings.queries.get("flow_bounds").sql).fetchone()


def _without_sources(doc: dict) -> str:
    """The document with the evidence's file names left out (the two lakes got the same records in other files)."""
    text = json.dumps(doc, sort_keys=True, default=str)
    for f in doc["findings"]:
        for e in f["evidence"]:
            text = text.replace(json.dumps(e.get("_source")), '"-"')
    return text


def test_a_late_file_and_a_compaction_rebuild_only_what_changed(tmp_path):
    parts = deliveries()
    store = make_lake(tmp_path, [line for _, line in parts[0][1]], network())
    for h in (1, 2):
        deliver(store, tmp_path / "more" / f"h{h}", h, parts[h])
    first = derived.refresh(store)
    assert first.built == len(derived.live_sources(store)) and first.removed == 0
    again = derived.refresh(store)
    assert again.built == 0 and again.fresh == first.built  # nothing new: nothing rebuilt

    # a late file for hour 1, after its hour was derived: only that file is reduced
    late = [(t, line) for t, line in hour_records(1, random.Random(99)) if t < T0 + 2 * 3600]
    deliver(store, tmp_path / "more" / "late", 1, [late[:30]], serial=1)
    after_late = derived.refresh(store)
    assert after_late.built == 1 and after_late.removed == 0
    same_both_ways(store)
    same_both_ways(store, Filters(since=T0 + 3600, until=T0 + 2 * 3600))

    # compaction merges the data files: the merged file is reduced once, the replaced ones' derived files go
    data_files = len(derived.live_sources(store))
    compaction.compact(store)
    merged = derived.live_sources(store)
    assert len(merged) < data_files
    after_compaction = derived.refresh(store)
    assert after_compaction.built == len(merged) and after_compaction.removed == data_files
    same_both_ways(store)
    assert not derived.records(store).keys() - {derived._digest(s) for s in merged.values()}

    # derived files are not records: the flows view and lake info count the same records
    info = lake_info(store)
    con = analysis.connect(store)
    assert info["tables"]["flows"]["records"] == con.execute("SELECT count(*) FROM flows").fetchone()[0]
    assert info["derived"]["files"] == len(merged) and info["derived"]["not_derived_count"] == 0


def test_data_files_not_derived_yet_are_read_from_the_records(tmp_path, split):
    parts = deliveries()
    store = make_lake(tmp_path, [line for _, line in parts[0][1]], network())
    derived.refresh(store)
    deliver(store, tmp_path / "more" / "h1", 1, parts[1])  # not derived
    assert len(derived.fresh(store)) < len(derived.live_sources(store))
    assert derived.bounds(store) is None  # the bounds are read from the records then
    assert findings.lake_bounds(analysis.connect(store), store) == scanned_bounds(store)
    same_both_ways(store)
    same_both_ways(store, Filters(since=T0 + 1800, until=T0 + 5400))


def test_a_killed_build_leaves_nothing_read_and_is_tidied(tmp_path, monkeypatch):
    parts = deliveries()
    store = make_lake(tmp_path, [line for _, line in parts[0][1]], network())

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store.__class__, "write_bytes", killed)  # the commit record is never written
    with pytest.raises(KeyboardInterrupt):
        derived.refresh(store)
    monkeypatch.undo()
    assert store.list_files(derived.DATA, ".parquet") and not derived.records(store)
    _, used = document(store)
    assert not used  # an uncommitted derived file is never read
    done = derived.refresh(store)
    assert done.removed == 1 and done.built == 1
    assert len(store.list_files(derived.DATA, ".parquet")) == 1


def test_lake_rebuild_and_info_on_the_command_line(tmp_path):
    parts = deliveries()
    store = make_lake(tmp_path, [line for _, line in parts[0][1]], network())
    deliver(store, tmp_path / "more" / "h1", 1, parts[1])
    import duckdb

    files = duckdb.connect().execute(f"SELECT count(DISTINCT filename) FILTER (WHERE \"start\" >= {T0 + 3600}), count(DISTINCT filename) "
                       f"FROM read_parquet('{store.root}/flows/*/*/*/*.parquet', filename = true)").fetchone()
    assert 0 < files[0] < files[1]
    runner = CliRunner()
    result = runner.invoke(app, ["--lake", store.uri, "lake", "rebuild", "--since", "2026-11-27T10:00Z"])
    assert result.exit_code == 0, result.output
    assert f"{files[0]} data files reduced" in result.output  # only the data files with records from 10:00
    result = runner.invoke(app, ["--lake", store.uri, "lake", "info", "--format", "plain"])
    assert result.exit_code == 0, result.output
    assert f"derived flow_reduction: {files[0]} of {files[1]} data files reduced" in result.output
    result = runner.invoke(app, ["--lake", store.uri, "lake", "rebuild"])
    assert f"{files[1]} data files reduced" in result.output
    info = json.loads(runner.invoke(app, ["--lake", store.uri, "lake", "info", "--json"]).stdout)
    assert info["derived"]["files"] == files[1] and info["derived"]["first_built"]
    result = runner.invoke(app, ["--lake", store.uri, "lake", "rebuild", "--since", "yesterday"])
    assert result.exit_code == 2 and "Traceback" not in result.output
