"""The output layer: one registry, one ``render``, content checked by parsing it back."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import random
import re
from pathlib import Path

import pytest

from pipeline.report import FORMATS, format_names, render, render_to_string, resolve_format
from pipeline.analysis import document as F
from pipeline.report import html as H

FIXTURE = Path(__file__).parent / "fixtures" / "findings_example.json"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def doc() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def _shuffled(doc: dict, seed: int) -> dict:
    """The same document with findings and every mapping's keys in another order."""
    rng = random.Random(seed)

    def scramble(value, key=None):
        if isinstance(value, dict) and key != "evidence":  # raw records keep their field order
            items = list(value.items())
            rng.shuffle(items)
            return {k: scramble(v, k) for k, v in items}
        if isinstance(value, list):
            return [scramble(v, key) for v in value]
        return value

    out = scramble(copy.deepcopy(doc))
    order = list(range(len(out["findings"])))
    rng.shuffle(order)
    out["findings"] = [out["findings"][i] for i in order]
    moved = {old: new for new, old in enumerate(order)}
    for incident in out.get("incidents", []):  # still pointing at the same findings
        incident["findings"] = [moved[i] for i in incident["findings"]]
    rng.shuffle(out.get("incidents", []))
    return out


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


# --------------------------------------------------------------------- fixture


def test_fixture_follows_the_contract(doc):
    assert set(doc) >= {"generated_at", "lake", "window", "findings"}
    assert len(doc["findings"]) == 5
    for f in doc["findings"]:
        assert set(F.FINDING_KEYS) <= set(f), f["service"]
        assert f["kind"] in F.KINDS
        assert f["state"] in F.STATES
        assert f["observed_at"] in {"source_egress", "destination_ingress",
                                    "destination_egress_return", "source_ingress_return"}
        assert set(f["destination"]) == set(F.DESTINATION_KEYS)
        assert f["task_arn"].startswith("arn:aws:ecs:eu-west-1:123456789012:task/")
        assert 1 <= len(f["evidence"]) <= 5
        assert all({"_source", "_line"} <= set(r) for r in f["evidence"])
        for c in f["likely_causes"]:
            assert set(c) == set(F.CAUSE_KEYS)
            assert c["fix"].startswith("aws ")
    causes = {f["service"]: f["likely_causes"][0]["cause"] for f in doc["findings"]}
    assert causes == {
        "billing": "security_group_egress",
        "orders": "security_group_ingress_destination",
        "ledger": "network_acl_return",
        "reports": "route_missing",
        "notifier": "private_dns_disabled",
    }
    # the fixture is stored in the canonical order, so "as-is" JSON equals the file
    assert doc["findings"] == F.sort_findings(doc["findings"])


# -------------------------------------------------------------------- registry


def test_registry_names_and_aliases():
    assert {"table", "json", "jsonl", "csv", "markdown", "html", "plain"} <= set(format_names())
    assert set(format_names()) == set(FORMATS)
    assert resolve_format("md", width=80) == "markdown"
    assert resolve_format("ndjson") == "jsonl"
    assert resolve_format("JSON") == "json"
    with pytest.raises(ValueError, match="unknown output format 'yaml'"):
        resolve_format("yaml")


def test_no_format_is_plain_when_not_a_terminal(doc):
    assert resolve_format(None, io.StringIO()) == "plain"
    assert resolve_format("table", io.StringIO()) == "table"  # an explicit choice wins
    assert resolve_format(None, FakeTTY()) == "table"
    assert resolve_format(None, io.StringIO(), width=80) == "table"

    out = io.StringIO()
    render(doc, None, out, by="task")
    text = out.getvalue()
    assert "─" not in text and "\x1b[" not in text
    lines = text.splitlines()
    header = lines[0].split()
    assert header[:4] == ["kind", "state", "cluster", "service"]
    assert len(lines) == 1 + len(doc["findings"])
    for line, f in zip(lines[1:], doc["findings"]):
        fields = line.split()
        assert len(fields) == len(header), line  # awk-friendly: no blanks inside values
        row = dict(zip(header, fields))
        assert row["service"] == f["service"]
        assert row["cause"] == f["likely_causes"][0]["cause"]
        assert row["flows"] == str(f["flows"])


def test_table_on_a_terminal_uses_its_width_and_colour(doc, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = FakeTTY()
    render(doc, None, out)
    text = out.getvalue()
    assert "\x1b[" in text
    plain = ANSI.sub("", text)
    assert max(len(line) for line in plain.splitlines()) <= 100
    assert "Likely cause" in plain


@pytest.mark.parametrize("width", [80, 160])
def test_table_fits_the_width_and_shows_every_finding(doc, width):
    text = render_to_string(doc, "table", width=width, by="task")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "\x1b[" not in text
    for f in doc["findings"]:
        assert f["service"] in text
        assert f["likely_causes"][0]["cause"] in text
        assert f["destination"]["aws_service"] in text
    # the fix commands are listed too (wrapped to the width, so compare without whitespace)
    squashed = re.sub(r"\s+", "", text)
    for f in doc["findings"]:
        assert re.sub(r"\s+", "", f["likely_causes"][0]["fix"]) in squashed


def test_table_rows_of_dicts_fit(doc):
    rows = [F.flatten_finding(f) for f in doc["findings"]]
    text = render_to_string(rows, "table", width=80, columns=["service", "cause", "flows"], title="t")
    assert max(len(line) for line in text.splitlines()) <= 80
    assert all(r["service"] in text and r["cause"] in text for r in rows)


# ------------------------------------------------------------------ json/jsonl


def test_json_is_the_document_as_is(doc):
    text = render_to_string(doc, "json")
    assert json.loads(text) == doc
    parsed = json.loads(text)
    assert list(parsed) == ["generated_at", "lake", "window", "incidents", "findings", "timeline"]
    for f in parsed["findings"]:
        assert list(f) == list(F.FINDING_KEYS)
        assert list(f["destination"]) == list(F.DESTINATION_KEYS)
        assert all(list(c) == list(F.CAUSE_KEYS) for c in f["likely_causes"])
    assert text.endswith("}\n")


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "markdown", "html", "plain"])
def test_output_does_not_depend_on_input_order(doc, fmt):
    expected = render_to_string(doc, fmt)
    for seed in (1, 2, 3):
        assert render_to_string(_shuffled(doc, seed), fmt) == expected


def test_jsonl_one_incident_then_one_finding_per_line(doc):
    lines = render_to_string(doc, "jsonl").splitlines()
    assert [json.loads(line) for line in lines] == doc["incidents"] + doc["findings"]


def test_a_bare_list_of_findings_is_a_document(doc):
    parsed = json.loads(render_to_string(doc["findings"], "json"))
    assert list(parsed) == ["incidents", "findings"] and parsed["findings"] == doc["findings"]
    assert [i["findings"] for i in parsed["incidents"]] == [[n] for n in range(len(doc["findings"]))]
    rows = list(csv.DictReader(io.StringIO(render_to_string(doc["findings"], "csv"))))
    assert [r["service"] for r in rows] == [f["service"] for f in doc["findings"]]


# ------------------------------------------------------------------------- csv


def test_csv_flattens_destination_and_top_cause(doc):
    text = render_to_string(doc, "csv")
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == list(F.FLAT_COLUMNS)
    rows = list(reader)
    assert len(rows) == len(doc["findings"])
    for row, f in zip(rows, doc["findings"]):
        top = f["likely_causes"][0]
        assert row["service"] == f["service"]
        assert row["kind"] == f["kind"]
        assert row["task_arn"] == f["task_arn"]
        assert row["dest_port"] == str(f["dest_port"])
        assert row["dest_addrs"].split() == f["dest_addrs"]
        for key in F.DESTINATION_KEYS:
            assert row[f"destination_{key}"] == (f["destination"][key] or "")
        assert row["cause"] == top["cause"]
        assert row["cause_confirmed"] == ("true" if top["confirmed"] else "false")
        assert row["cause_resource"] == top["resource"]
        assert row["cause_fix"] == top["fix"]
        assert row["cause_explanation"] == top["explanation"]
        assert row["other_causes"].split() == [c["cause"] for c in f["likely_causes"][1:]]
        assert row["evidence_records"] == str(len(f["evidence"]))


# -------------------------------------------------------------------- markdown


def _first_md_table(text: str) -> list[dict]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append(line)

    def cells(line):
        parts = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        return [p.strip().replace("\\|", "|") for p in parts]

    header = cells(block[0])
    assert set("".join(cells(block[1]))) <= set("-:")
    return [dict(zip(header, cells(line))) for line in block[2:]]


def test_markdown_table_and_sections(doc):
    text = render_to_string(doc, "markdown")
    assert text.startswith("# Fargate connectivity findings\n")
    rows = _first_md_table(text)
    assert [r["service"] for r in rows] == [f["service"] for f in doc["findings"]]
    assert [r["cause"] for r in rows] == [f["likely_causes"][0]["cause"] for f in doc["findings"]]
    assert [r["#"] for r in rows] == ["1", "2", "3", "4", "5"]
    fences = re.findall(r"```sh\n(.*?)\n```", text, flags=re.S)
    assert fences == [f["likely_causes"][0]["fix"] for f in doc["findings"]]
    for i, f in enumerate(doc["findings"], 1):
        assert f"## {i}. {f['service']} → " in text
        for other in f["likely_causes"][1:]:
            assert f"`{other['cause']}`" in text


def test_markdown_escapes_pipes_in_rows():
    rows = [{"name": "a|b", "note": "line1\nline2", "n": 2}, {"name": "c", "note": None, "n": 10}]
    text = render_to_string(rows, "md", title="Rows")
    parsed = _first_md_table(text)
    assert parsed == [{"name": "a|b", "note": "line1<br>line2", "n": "2"},
                      {"name": "c", "note": "", "n": "10"}]
    assert "| ---: |" in text.splitlines()[3] or text.splitlines()[3].endswith("---: |")


# ----------------------------------------------------------- rows and pyarrow


ROWS = [
    {"service": "orders", "bytes": 300, "seen": dt.datetime(2025, 3, 14, 9, 31, tzinfo=dt.timezone.utc)},
    {"service": "billing", "bytes": 1200, "seen": dt.datetime(2025, 3, 14, 9, 12, tzinfo=dt.timezone.utc)},
    {"service": "billing", "bytes": 50, "seen": None, "extra": "x"},
]


def test_rows_are_sorted_and_columns_come_from_the_rows():
    parsed = json.loads(render_to_string(ROWS, "json"))
    assert [(r["service"], r["bytes"]) for r in parsed] == [("billing", 50), ("billing", 1200), ("orders", 300)]
    assert list(parsed[0]) == ["service", "bytes", "seen", "extra"]
    assert parsed[1]["seen"] == "2025-03-14T09:12:00Z"
    header = render_to_string(ROWS, "csv").splitlines()[0]
    assert header == "service,bytes,seen,extra"


def test_rows_columns_and_sort_options():
    text = render_to_string(ROWS, "csv", columns=["bytes", "service"])
    assert text.splitlines() == ["bytes,service", "50,billing", "300,orders", "1200,billing"]
    text = render_to_string(ROWS, "csv", columns=["service", "bytes"], sort=["-bytes"])
    assert text.splitlines()[1:] == ["billing,1200", "orders,300", "billing,50"]
    text = render_to_string(ROWS, "csv", columns=["service"], sort=False)
    assert text.splitlines()[1:] == ["orders", "billing", "billing"]
    lines = render_to_string(ROWS, "jsonl", columns=["service"]).splitlines()
    assert [json.loads(line) for line in lines] == [{"service": "billing"}] * 2 + [{"service": "orders"}]


def test_tuples_need_columns():
    with pytest.raises(TypeError):
        render_to_string([("a", 1)], "csv")
    assert render_to_string([("a", 1)], "csv", columns=["x", "y"]) == "x,y\na,1\n"


def test_pyarrow_table_renders_like_rows():
    pa = pytest.importorskip("pyarrow")
    table = pa.Table.from_pylist(ROWS)
    for fmt in ("json", "jsonl", "csv", "markdown", "plain"):
        assert render_to_string(table, fmt) == render_to_string(
            [{k: r.get(k) for k in table.column_names} for r in ROWS], fmt, columns=table.column_names
        ), fmt
    text = render_to_string(table, "table", width=80, title="bytes per service")
    assert "bytes per service" in text and "billing" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_pandas_frame_and_non_finite_numbers():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"service": ["b", "a"], "ratio": [float("nan"), 0.5]})
    parsed = json.loads(render_to_string(frame, "json"))
    assert parsed == [{"service": "a", "ratio": 0.5}, {"service": "b", "ratio": None}]


def test_render_to_a_path_picks_the_format_from_the_extension(doc, tmp_path):
    target = tmp_path / "incident.html"
    render(doc, None, target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    render(doc, None, tmp_path / "findings.csv")
    assert (tmp_path / "findings.csv").read_text(encoding="utf-8").startswith("kind,state,")


@pytest.mark.parametrize("fmt", ["table", "plain", "json", "jsonl", "csv", "markdown", "html"])
def test_empty_inputs_render(fmt):
    empty_doc = {"generated_at": "2025-03-14T10:00:00Z", "lake": "./lake",
                 "window": {"since": None, "until": None}, "findings": []}
    text = render_to_string(empty_doc, fmt, width=80)
    if fmt == "json":
        assert json.loads(text)["findings"] == []
    if fmt in ("table", "markdown", "html"):
        assert "No findings" in text
    render_to_string([], fmt, width=80, columns=["a", "b"])


# ------------------------------------------------------------------------ html


def test_html_is_self_contained(doc):
    page = render_to_string(doc, "html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<link[^>]+stylesheet|<script[^>]+src|@import|url\(", page)
    for ref in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page):
        assert ref.startswith(("#", "data:")), ref
    assert page.count("<svg") == 1 and "@media print" in page


def test_html_has_summary_sections_fixes_and_limits(doc):
    page = render_to_string(doc, "html")
    for i, f in enumerate(doc["findings"], 1):
        section = re.search(rf'<section class="card finding[^"]*" id="finding-{i}">(.*?)</section>', page, re.S)
        assert section, i
        body = section.group(1)
        top = f["likely_causes"][0]
        assert f"<code>{H.e(top['cause'])}</code>" in body
        assert H.e(top["fix"]) in body and f'id="fix-{i}"' in body
        assert H.e(top["resource"]) in body and H.e(top["rule"]) in body
        assert all(H.e(c["cause"]) in body for c in f["likely_causes"][1:])
        assert body.count("<tr>") >= len(f["evidence"])
        box = body[body.index('class="cause-box"'):]
        assert (">confirmed<" if top["confirmed"] else ">not confirmed<") in box[:box.index("</code>") + 200]
    summary = page[page.index('id="summary"'):page.index('id="timeline"')]
    assert "billing, ledger, orders and reports cannot reach 4 destinations since 09:05 UTC" in summary
    assert "2 × Rejected" in summary and "2 × No reply" in summary and "1 × Endpoint bypassed" in summary
    matrix = page[page.index('id="matrix"'):page.index('id="finding-1"')]
    assert matrix.count('<td class="st-blocked"') == 2 and matrix.count('<td class="st-noreply"') == 2
    assert matrix.count('<td class="st-established"') == 1 and matrix.count('<td class="st-none"') == 20
    limits = page[page.index('id="limits"'):]
    for topic in ("IAM", "endpoint polic", "DNS"):
        assert topic in limits


def test_html_timeline_uses_the_document_or_approximates(doc):
    svg, approximate, step = H.timeline_svg(doc)
    assert not approximate and step == 1
    drawn = sum(int(n) for n in re.findall(r"<title>[^<]*: (\d+) [a-z ]+ flows at", svg))
    charted = sum(t["flows"] for t in doc["timeline"] if t["kind"] in H.CHART_KINDS)
    assert drawn == charted
    assert "sns" not in svg  # the bypassed endpoint is not a failure
    del doc["timeline"]
    svg, approximate, _ = H.timeline_svg(doc)
    assert approximate
    drawn = sum(int(n) for n in re.findall(r"<title>[^<]*: (\d+) [a-z ]+ flows at", svg))
    assert drawn == sum(f["flows"] for f in doc["findings"] if f["kind"] in H.CHART_KINDS)
    assert "spread evenly" in render_to_string(doc, "html")


@pytest.mark.parametrize("spelling", ["lake columns (interface_id)", "flow-log tokens (interface-id)"])
def test_html_evidence_table_reads_both_field_spellings(doc, spelling):
    if "tokens" in spelling:
        for f in doc["findings"]:
            f["evidence"] = [{k.replace("_", "-") if not k.startswith("_") else k: v for k, v in r.items()}
                             for r in f["evidence"]]
    page = render_to_string(doc, "html")
    ledger = page[page.index('id="finding-2"'):page.index('id="finding-3"')]
    assert "eni-0f1a2b3c4d5e6f708" in ledger and "52.94.25.140:443" in ledger
    assert "18 <span" in ledger and "SYN+ACK" in ledger and 'class="act-REJECT"' in ledger
    assert "09:05:33" in ledger and "path 7" in ledger
    notifier = page[page.index('id="finding-5"'):page.index('id="limits"')]
    assert "packet: 52.94.237.18" in notifier  # the NAT hides the real destination
    assert "f1:9" in notifier and "20250314T0900Z" in notifier


def test_html_escapes_every_value(doc):
    evil = '<script>alert("x")</script>&'
    f = doc["findings"][0]
    f["service"] = evil
    f["destination"]["name"] = evil
    f["likely_causes"][0]["fix"] = f"aws ec2 describe-vpcs # {evil}"
    f["likely_causes"][0]["explanation"] = evil
    f["evidence"][0]["_source"] = evil
    doc["lake"] = evil
    page = render_to_string(doc, "html", title=evil)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    assert page.count("<script>") == 1  # only the copy-button script


def test_html_for_plain_rows():
    page = render_to_string(ROWS, "html", title="Query <1>")
    assert "<title>Query &lt;1&gt;</title>" in page
    assert page.index("billing") < page.index("orders")
    assert "3 rows" in page and "https://" not in page
