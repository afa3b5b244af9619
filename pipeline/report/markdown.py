"""``markdown``: the incidents (a table and a sentence each), then the findings: a summary table and one
section per finding with its fix (``by="task"``: the findings only)."""

from __future__ import annotations

from typing import Any, Sequence, TextIO

from pipeline.analysis import document as F
from pipeline.report.plain import BRIEF_COLUMNS, INCIDENT_COLUMNS
from pipeline.report.registry import DEFAULT_TITLE, Payload, header_lines, register
from pipeline.report.values import cell, is_number_column, plural as _plural

def _md(text: Any) -> str:
    value = cell(text)
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")


def _md_table(columns: Sequence[str], rows: list[dict], headers: Sequence[str] | None = None) -> list[str]:
    headers = list(headers or columns)
    align = ["---:" if is_number_column(rows, c) else "---" for c in columns]
    lines = ["| " + " | ".join(_md(h) for h in headers) + " |", "| " + " | ".join(align) + " |"]
    for r in rows:
        lines.append("| " + " | ".join(_md(r.get(c)) for c in columns) + " |")
    return lines


def _fence(text: str) -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return ticks


def _code(text: Any) -> str:
    value = cell(text)
    if not value:
        return "-"
    ticks = "``" if "`" in value else "`"
    return f"{ticks}{value}{ticks}"


def _incidents(p: Payload) -> list[str]:
    """One line per incident (a table), then one sentence each: what is broken, what to do first."""
    incidents = p.doc["incidents"]
    s = F.summarize(p.doc["findings"], incidents)
    kinds = ", ".join(f"{n} {k}" for k, n in s["incidents_by_kind"].items())
    lines = [f"**{_plural(s['incidents'], 'incident')}** ({kinds}), {s['incidents_ongoing']} still happening "
             f"at the end of the window.", ""]
    rows = [dict(r, n=i) for i, r in enumerate(p.incident_rows, 1)]
    lines += _md_table(["n", *INCIDENT_COLUMNS], rows, ["#", *INCIDENT_COLUMNS]) + [""]
    for i, incident in enumerate(incidents, 1):
        what, first, fix = F.incident_sentence(incident)
        lines.append(f"{i}. {_md(what)}; first, {_md(first)}" + (f": {_code(fix)}" if fix else "."))
    return lines + [""]


@register("markdown", "md", "a markdown table of the incidents, then of the findings, then a section per finding")
def render_markdown(p: Payload, out: TextIO) -> None:
    lines: list[str] = []
    if not p.is_findings:
        if p.title:
            lines += [f"# {p.title}", ""]
        lines += _md_table(p.columns, p.rows)
        out.write("\n".join(lines) + "\n")
        return
    doc = p.doc
    findings = doc["findings"]
    s = F.summarize(findings)
    lines += [f"# {p.title or DEFAULT_TITLE}", ""]
    meta = header_lines(doc, {"window": "Window: {since} → {until}", "lake": "lake: `{lake}`",
                              "generated": "generated {generated}"}, when=lambda v: cell(v) or "…")
    if meta:
        lines += [" · ".join(meta), ""]
    if not findings:
        lines += ["No findings: every conversation in the window was answered.", ""]
        out.write("\n".join(lines))
        return
    if p.by_incident:
        lines += _incidents(p) + ["## Findings by task", ""]
    kinds = ", ".join(f"{n} {k}" for k, n in s["by_kind"].items())
    lines += [f"**{_plural(s['findings'], 'finding')}** ({kinds}) across {_plural(s['services'], 'service')} "
              f"and {_plural(s['tasks'], 'task')}."]
    if s["broken"]:
        lines += [f"{_plural(s['services_broken'], 'service')} cannot reach "
                  f"{_plural(s['destinations_broken'], 'destination')} since {s['since']} "
                  f"({_plural(s['failed_flows'], 'failed flow')})."]
    lines += [""]
    cols = list(BRIEF_COLUMNS)
    rows = [dict(r, n=i) for i, r in enumerate(p.rows, 1)]
    lines += _md_table(["n"] + cols, rows, ["#"] + cols)
    lines += [""]
    for i, f in enumerate(findings, 1):
        top = F.top_cause(f)
        d = f.get("destination") or {}
        addrs = " ".join(map(str, f.get("dest_addrs") or [])) or cell(f.get("dest_addr"))
        lines += [f"## {i}. {_md(f.get('service'))} → {_md(F.destination_label(f))}"
                  f":{_md(f.get('dest_port'))}", ""]
        lines += [
            f"- **Kind:** {_md(f.get('kind'))} ({_md(f.get('state'))}, observed at {_md(f.get('observed_at'))})",
            f"- **Task:** {_code(f.get('task_id'))} in cluster {_code(f.get('cluster'))}, "
            f"ENI {_code(f.get('source_eni'))} {_code(f.get('source_addr'))}",
            "- **Destination:** " + " ".join(x for x in (
                _md(d.get("type")), _code(d.get("id")) if d.get("id") else "", _md(d.get("name")),
                f"({_md(addrs)})" if addrs else "") if x),
            f"- **Traffic:** {_md(f.get('flows'))} flows, {_md(f.get('packets'))} packets, "
            f"{_md(f.get('bytes'))} bytes, {_md(f.get('first_seen'))} → {_md(f.get('last_seen'))}",
        ]
        if top:
            status = "confirmed" if top.get("confirmed") else "not confirmed"
            lines += [f"- **Likely cause:** {_code(top.get('cause'))} ({status}) on "
                      f"{_code(top.get('resource'))}",
                      f"- **Rule:** {_md(top.get('rule')) or '-'}", ""]
            if top.get("explanation"):
                lines += [_md(top["explanation"]), ""]
            if top.get("fix"):
                fix = cell(top["fix"])
                fence = _fence(fix)
                lines += [f"{fence}sh", fix, fence, ""]
        else:
            lines += [""]
        others = (f.get("likely_causes") or [])[1:]
        if others:
            lines += ["Other candidate causes:", ""]
            for c in others:
                status = "confirmed" if c.get("confirmed") else "not confirmed"
                lines += [f"- {_code(c.get('cause'))} ({status}) on {_code(c.get('resource'))}: "
                          f"{_md(c.get('explanation'))}"]
            lines += [""]
    out.write("\n".join(lines).rstrip("\n") + "\n")
