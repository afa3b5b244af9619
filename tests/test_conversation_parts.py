"""Conversations computed in parts by address pair (pipeline.analysis.conversations), as when a window would not
fit the memory limit: the same table and the same findings as in one part, from the records."""

from __future__ import annotations

import contextlib

import pytest

from builders import T0, V2_FORMAT, make_lake, rec_v2
from pipeline.analysis import connection as analysis
from pipeline.analysis import conversations, findings
from pipeline.analysis.reports import Filters
from pipeline.lake import derived, limits
from test_findings_scenarios import network


@contextlib.contextmanager
def in_parts(monkeypatch, parts: int):
    """Conversations built in ``parts`` parts whatever the window; yields the parts each build used."""
    built = []
    build = conversations.build
    with monkeypatch.context() as m:
        m.setattr(conversations, "parts_for", lambda rows: parts)
        m.setattr(conversations, "build", lambda *a: built.append(build(*a)) or built[-1])
        yield built


def document(store, flt: Filters, parts: int, monkeypatch) -> dict:
    with in_parts(monkeypatch, parts) as built:
        con = analysis.connect(store)
        doc = findings.find(con, analysis.load_network(con), flt.window, lake="lake", scope=flt.scope(con))
    assert built == [parts]
    doc.pop("generated_at")
    return doc


@pytest.mark.parametrize("flt", [Filters(), Filters(service="orders"), Filters(port=443)],
                         ids=["whole lake", "service", "port"])
def test_the_sample_account_in_three_parts_gives_the_same_findings(sample_lake, flt, monkeypatch):
    whole = document(sample_lake, flt, 1, monkeypatch)
    assert whole["findings"]
    assert document(sample_lake, flt, 3, monkeypatch) == whole


@pytest.mark.parametrize("from_derived", [False, True], ids=["records", "derived rows"])
def test_resets_inferred_from_sizes_count_across_parts(tmp_path, monkeypatch, from_derived):
    """A server's reset-sized conversations are refused only when there are at least 3: three clients whose
    address pairs fall in three different parts still make 3 (``sized`` looks across parts), read from the
    records or from the lake's derived rows."""
    server, clients = "10.0.2.30", ["10.0.1.10", "10.0.1.12", "10.0.1.13"]
    lines = []
    for i, client in enumerate(clients):
        t = T0 + 60 * i
        lines += [rec_v2(f"eni-c{i}", client, server, 46000 + i, 9200, t, 1, 60),
                  rec_v2(f"eni-c{i}", server, client, 9200, 46000 + i, t, 1, 40)]
    store = make_lake(tmp_path, lines, network(), log_format=V2_FORMAT)
    if from_derived:
        derived.refresh(store)
    con = analysis.connect(store)
    placed = con.execute("SELECT DISTINCT hash(least(c, $s), greatest(c, $s)) % 3 FROM unnest($c) AS t(c)",
                         {"s": server, "c": clients}).fetchall()
    assert len(placed) == 3  # the test's premise: one client per part
    for parts in (1, 3):
        with in_parts(monkeypatch, parts) as built:
            con = analysis.connect(store)
            findings.build_conversations(con, findings.Window(), derived=store if from_derived else None)
        assert built == [parts]
        assert con.execute("SELECT state, state_from_sizes FROM conversations").fetchall() == [("refused", True)] * 3


def test_parts_follow_the_memory_limit():
    try:
        limits.set_memory_limit("1GB")
        assert conversations.parts_for(10_000) == 1
        assert conversations.parts_for(1_000_000_000 // conversations.ROW_BYTES) == 1
        assert conversations.parts_for(2_500_000_000 // conversations.ROW_BYTES) == 3
        limits.set_memory_limit("4GB")
        assert conversations.parts_for(2_500_000_000 // conversations.ROW_BYTES) == 1
    finally:
        limits.set_memory_limit(None)


def test_the_parts_are_worked_out_from_the_rows_the_records_reduce_to(tmp_path, monkeypatch):
    """40 records of 10 connections (4 windows each): while 40 rows would fit the limit, 40 is the estimate;
    past it, the distinct ENI, addresses and ports are counted: 10."""
    lines = [rec_v2("eni-c", "10.0.1.10", "10.0.2.30", 46000 + i, 443, T0 + 60 * w, 3, 180)
             for i in range(10) for w in range(4)]
    con = analysis.connect(make_lake(tmp_path, lines, network(), log_format=V2_FORMAT))
    window = {"since": T0, "until": T0 + 3600}
    limit = limits.limit_bytes()
    monkeypatch.setattr(conversations, "ROW_BYTES", limit // 40)
    assert conversations._record_rows(con, window) == 40
    monkeypatch.setattr(conversations, "ROW_BYTES", limit // 39)
    assert conversations._record_rows(con, window) == 10
    assert conversations.parts_for(10) == 1
