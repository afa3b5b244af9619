"""The views lead with incidents (one line per problem); ``by="task"`` gives one row per finding;
JSON and JSONL carry both; a table asked for by name is a table even in a pipe."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import pytest

from pipeline.analysis import document as F
from pipeline.report import render, render_to_string

FIXTURE = Path(__file__).parent / "fixtures" / "findings_example.json"


@pytest.fixture
def doc() -> dict:
    """The example document with a second billing task failing the same way: 6 findings, 5 incidents."""
    doc = json.loads(FIXTURE.read_text(encoding="utf-8"))
    twin = copy.deepcopy(next(f for f in doc["findings"] if f["service"] == "billing"))
    twin.update(task_id="0" * 32, task_arn=twin["task_arn"].rsplit("/", 1)[0] + "/" + "0" * 32, flows=4)
    doc["findings"].append(twin)
    return F.roll_up(doc)


def _table_rows(text: str) -> list[str]:
    """The body lines of the rich table: between the rule under the header and the first blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if set(line.strip()) == {"─"}) + 1
    body = []
    for line in lines[start:]:
        if not line.strip():
            break
        body.append(line)
    return body


def test_the_fixture_has_one_incident_with_two_tasks(doc):
    assert (len(doc["findings"]), len(doc["incidents"])) == (6, 5)
    [billing] = [i for i in doc["incidents"] if i["service"] == "billing"]
    assert billing["tasks"] == 2 and len(billing["findings"]) == 2


def test_plain_is_one_line_per_incident(doc):
    lines = render_to_string(doc, "plain").splitlines()
    header = lines[0].split()
    assert header[:4] == ["id", "kind", "cluster", "service"] and "tasks" in header and "ongoing" in header
    assert len(lines) == 1 + len(doc["incidents"])
    for line, incident in zip(lines[1:], doc["incidents"]):
        row = dict(zip(header, line.split()))
        assert len(line.split()) == len(header)  # awk-friendly
        assert (row["id"], row["service"], row["tasks"]) == (incident["id"], incident["service"], str(incident["tasks"]))
        assert row["cause"] == incident["cause"]["cause"]
    by_task = render_to_string(doc, "plain", by="task").splitlines()
    assert by_task[0].split()[:2] == ["kind", "state"] and len(by_task) == 1 + len(doc["findings"])


@pytest.mark.parametrize("width", [80, 100, 160])
def test_table_is_one_line_per_incident_within_the_width(doc, width):
    text = render_to_string(doc, "table", width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    rows = _table_rows(text)
    assert len(rows) == len(doc["incidents"])
    for n, (row, incident) in enumerate(zip(rows, doc["incidents"]), 1):
        assert row.split()[0] == str(n) and incident["service"] in row
    assert "5 incidents" in text
    if width >= 140:
        for row, incident in zip(rows, doc["incidents"]):
            assert incident["cause"]["cause"] in row and incident["kind"] in row
    # the fixes follow, one per incident
    squashed = re.sub(r"\s+", "", text)
    for incident in doc["incidents"]:
        assert re.sub(r"\s+", "", incident["cause"]["fix"]) in squashed


def test_table_by_task_is_one_row_per_finding(doc):
    rows = _table_rows(render_to_string(doc, "table", width=160, by="task"))
    numbered = [line.split()[0] for line in rows if line[:3].strip().isdigit()]
    assert numbered == [str(n) for n in range(1, len(doc["findings"]) + 1)]


def test_markdown_leads_with_the_incidents(doc):
    text = render_to_string(doc, "markdown")
    head, details = text.split("## Findings by task", 1)
    table = [line for line in head.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == 1 + len(doc["incidents"])
    sentences = [line for line in head.splitlines() if re.match(r"\d+\. ", line)]
    assert len(sentences) == len(doc["incidents"])
    assert "billing cannot reach secretsmanager" in sentences[0] and "2 tasks" in sentences[0]
    assert all(f"## {n}. " in details for n in range(1, len(doc["findings"]) + 1))
    assert "## Findings by task" not in render_to_string(doc, "markdown", by="task")


def test_html_summary_says_per_incident_what_is_broken_and_what_to_do_first(doc):
    page = render_to_string(doc, "html")
    summary = page.split('id="summary"', 1)[1].split("</section>", 1)[0]
    items = re.findall(r'<li id="incident-\d+" data-incident="(inc-[0-9a-f]+)">(.*?)</li>', summary, re.S)
    assert [i for i, _ in items] == [i["id"] for i in doc["incidents"]]
    first = items[0][1]
    assert "billing cannot reach secretsmanager" in first and "first, fix security_group_egress" in first
    assert "authorize-security-group-egress" in first
    rows = re.findall(r"<tr><td class=\"n\">", summary)
    assert len(rows) == len(doc["incidents"])
    # every finding still has its section; by task, the summary lists the findings
    assert page.count('<section class="card finding') == len(doc["findings"])
    by_task = render_to_string(doc, "html", by="task").split('id="summary"', 1)[1].split("</section>", 1)[0]
    assert "data-incident" not in by_task and len(re.findall(r"<tr><td class=\"n\">", by_task)) == len(doc["findings"])


def test_json_and_jsonl_carry_incidents_and_findings(doc):
    parsed = json.loads(render_to_string(doc, "json"))
    assert parsed["incidents"] == doc["incidents"] and parsed["findings"] == doc["findings"]
    lines = [json.loads(line) for line in render_to_string(doc, "jsonl").splitlines()]
    n = len(doc["incidents"])
    assert lines[:n] == doc["incidents"] and lines[n:] == doc["findings"]
    for incident in lines[:n]:
        assert {lines[n + i]["service"] for i in incident["findings"]} == {incident["service"]}


def test_a_table_asked_for_in_a_pipe_is_a_table(doc, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    piped = io.StringIO()
    render(doc, "table", piped)
    text = piped.getvalue()
    assert "─" in text and "\x1b[" not in text and max(len(line) for line in text.splitlines()) <= 120
    default = io.StringIO()
    render(doc, None, default)
    assert "─" not in default.getvalue() and default.getvalue().startswith("id ")
