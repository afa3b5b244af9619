"""``json`` and ``jsonl``: the findings document as-is, or rows.

In JSONL, the incidents come first (an incident has an ``id`` and ``findings``, the indices of
its findings among the finding lines), then the findings (``likely_causes``)."""

from __future__ import annotations

from typing import TextIO

from pipeline.report.registry import Payload, register
from pipeline.report.values import dumps

@register("json", "json", "the document as-is (stable key order), or rows as a JSON array")
def render_json(p: Payload, out: TextIO) -> None:
    value = p.doc if p.is_findings else [{c: r.get(c) for c in p.columns} for r in p.rows]
    out.write(dumps(value, indent=2) + "\n")


@register("jsonl", "jsonl", "one incident, then one finding, or one row per line")
def render_jsonl(p: Payload, out: TextIO) -> None:
    items = (p.doc["incidents"] + p.doc["findings"] if p.is_findings
             else [{c: r.get(c) for c in p.columns} for r in p.rows])
    for item in items:
        out.write(dumps(item) + "\n")
