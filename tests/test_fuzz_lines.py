"""Fuzzing over line contents and lengths: every non-blank input line ends up in a record
table (flows, interface_status, tgw_flows) or in the quarantine, never both, never neither.

Lines are records with fields replaced by arbitrary text, arbitrary text, and lines longer
than the longest line the parser takes (lowered here, with pyarrow's block, so that long
lines are cheap to make).
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest import load
from pipeline.ingest import textlogs
from pipeline.ingest.sources.local import local_sources
from pipeline.lake import store as lake
from test_lake_local import HEADER, record

MAX_LINE = 3000

FIELD_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=12)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=200)


@st.composite
def mangled_record(draw) -> str:
    fields = record(draw(st.integers(1, 10_000))).split(" ")
    for _ in range(draw(st.integers(0, 3))):
        fields[draw(st.integers(0, len(fields) - 1))] = draw(FIELD_TEXT)
    return " ".join(fields)


@st.composite
def long_line(draw) -> str:
    return record(1) + " " + "z" * draw(st.integers(MAX_LINE - 200, 3 * MAX_LINE))


LINE = st.one_of(st.builds(record, st.integers(1, 10_000)), mangled_record(), TEXT, long_line())


def line_numbers(folder: Path) -> list[int]:
    return [n for p in folder.rglob("*.parquet") for n in pq.read_table(p, columns=["_line"])["_line"].to_pylist()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, min_size=1, max_size=25), gz=st.booleans())
def test_every_line_is_in_the_lake_or_the_quarantine_once(monkeypatch, lines, gz):
    monkeypatch.setattr(textlogs, "MAX_LINE", MAX_LINE)
    monkeypatch.setattr(textlogs, "BLOCK_SIZE", 4 * MAX_LINE)
    data = ("\n".join([HEADER, *lines]) + "\n").encode()
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "in" / ("fuzz.log.gz" if gz else "fuzz.log")
        source.parent.mkdir()
        source.write_bytes(gzip.compress(data) if gz else data)
        store = lake.open_lake(Path(work) / "lake")
        load.ingest(store, local_sources([source]), workers=1)
        kept = line_numbers(Path(work) / "lake" / "flows") + line_numbers(Path(work) / "lake" / "interface_status") \
            + line_numbers(Path(work) / "lake" / "tgw_flows")
        quarantined = [n for n in line_numbers(Path(work) / "lake" / "quarantine") if n is not None]
    expected = {number for number, line in enumerate(lines, start=2)
                if line.strip(" \t\r") and line.split() != HEADER.split()}
    assert len(kept) == len(set(kept)) and len(quarantined) == len(set(quarantined)), "a line counted twice"
    assert not set(kept) & set(quarantined), "a line both kept and quarantined"
    assert set(kept) | set(quarantined) == expected, "a line lost, or one that does not exist"
