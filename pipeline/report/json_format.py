"""``json`` and ``jsonl``: the findings document as-is, or rows."""

from __future__ import annotations

from typing import TextIO

from pipeline.report.registry import Payload, register
from pipeline.report.values import dumps

@register("json", "json", "the document as-is (stable key order), or rows as a JSON array")
def render_json(p: Payload, out: TextIO) -> None:
    value = p.doc if p.is_findings else [{c: r.get(c) for c in p.columns} for r in p.rows]
    out.write(dumps(value, indent=2) + "\n")


@register("jsonl", "jsonl", "one finding or row per line")
def render_jsonl(p: Payload, out: TextIO) -> None:
    items = p.doc["findings"] if p.is_findings else [{c: r.get(c) for c in p.columns} for r in p.rows]
    for item in items:
        out.write(dumps(item) + "\n")
