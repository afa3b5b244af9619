"""``table``: a rich table fitted to the terminal."""

from __future__ import annotations

from typing import Any, TextIO

from pipeline import vocabulary
from pipeline.analysis import document as F
from pipeline.report.registry import DEFAULT_TITLE, Payload, header_lines, register
from pipeline.report.values import cell, is_number_column, plural as _plural


def _clock(value: Any, day: str | None) -> str:
    """``09:12:04`` when on ``day``, else ``03-15 09:12``."""
    t = F.parse_time(value)
    if t is None:
        return cell(value)
    return t.strftime("%H:%M:%S") if t.strftime("%Y-%m-%d") == day else t.strftime("%m-%d %H:%M")


@register("table", "txt", "a rich table fitted to the terminal (plain text when not a terminal)")
def render_table(p: Payload, out: TextIO) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out, width=p.width or 80, force_terminal=p.color,
                      color_system="auto" if p.color else None, no_color=not p.color,
                      highlight=False, emoji=False, legacy_windows=False, soft_wrap=False)
    if not p.is_findings:
        table = Table(title=p.title, box=box.SIMPLE_HEAD, header_style="bold", show_edge=False,
                      pad_edge=False)
        for c in p.columns:
            numeric = is_number_column(p.rows, c)
            table.add_column(c, justify="right" if numeric else "left", overflow="fold")
        for r in p.rows:
            table.add_row(*(cell(r.get(c)) for c in p.columns))
        console.print(table)
        return

    doc, findings = p.doc, p.doc["findings"]
    s = F.summarize(findings)
    window = doc.get("window") or {}
    since_t = F.parse_time(window.get("since")) or F.parse_time(s["since"])
    day = since_t.strftime("%Y-%m-%d") if since_t else None
    head = Text(p.title or DEFAULT_TITLE, style="bold")
    meta = header_lines(doc, {"window": "window {since} → {until}", "lake": "lake {lake}"})
    console.print(head)
    for m in meta:
        console.print(Text(m, style="dim"), overflow="fold")
    if not findings:
        console.print("No findings: every conversation in the window was answered.")
        return
    kinds = ", ".join(f"{n} {k}" for k, n in s["by_kind"].items())
    line = (f"{_plural(s['findings'], 'finding')} ({kinds}); {_plural(s['services'], 'service')}, "
            f"{_plural(s['tasks'], 'task')}.")
    if s["broken"]:
        since = F.parse_time(s["since"])
        line += f" Broken since {since:%Y-%m-%d %H:%M:%S} UTC." if since else ""
    console.print(line)
    console.print()

    wide = console.width >= 140
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", show_edge=False, pad_edge=False,
                  collapse_padding=True, show_lines=not wide)
    table.add_column("#", justify="right", no_wrap=True)
    if wide:
        table.add_column("Service", overflow="fold")
        table.add_column("Task", no_wrap=True)
        table.add_column("Kind / state", overflow="fold")
        table.add_column("Destination", overflow="fold")
        table.add_column("Port", justify="right", no_wrap=True)
        table.add_column("Flows", justify="right", no_wrap=True)
        table.add_column("Seen (UTC)", overflow="fold")
        table.add_column("Likely cause", no_wrap=True)
        table.add_column("Resource", overflow="fold")
    else:
        table.add_column("Service / problem", overflow="fold")
        table.add_column("Destination", overflow="fold")
        table.add_column("Likely cause", overflow="fold", min_width=max(12, min(34, console.width - 46)))
    for i, f in enumerate(findings, 1):
        top = F.top_cause(f)
        d = f.get("destination") or {}
        kind = cell(f.get("kind"))
        kind_text = Text(kind, style=vocabulary.KIND_STYLES.get(kind, "bold"))
        cause = Text(cell(top.get("cause")) or "unknown", style="bold")
        confirmed = Text("confirmed" if top.get("confirmed") else "not confirmed",
                         style="green" if top.get("confirmed") else "yellow")
        service = cell(f.get("service")) or "-"
        cluster = cell(f.get("cluster"))
        task = cell(f.get("task_id"))[:8]
        what = cell(d.get("aws_service") or d.get("name") or f.get("dest_addr")) or "unknown"
        where = cell(d.get("id")) or F.destination_label(f).rsplit("(", 1)[-1].rstrip(")")
        seen = f"{_clock(f.get('first_seen'), day)} → {_clock(f.get('last_seen'), day)}"
        if wide:
            table.add_row(
                str(i), f"{service}\n{cluster}" if cluster else service, task,
                Text.assemble(kind_text, "\n", cell(f.get("state"))),
                f"{what}\n{where}", cell(f.get("dest_port")), cell(f.get("flows")), seen,
                Text.assemble(cause, "\n", confirmed), cell(top.get("resource")),
            )
        else:
            port = cell(f.get("dest_port"))
            proto = F.protocol_name(f.get("protocol"))
            table.add_row(
                str(i),
                Text("\n").join([Text(service, style="bold")]
                                 + ([Text("/".join(x for x in (cluster, task) if x), style="dim")]
                                    if cluster or task else [])
                                 + [kind_text, Text(cell(f.get("state")))]),
                "\n".join([what, where] + ([f"{port}/{proto}"] if port else []) +
                          [f"{cell(f.get('flows'))} flows"]),
                Text("\n").join([cause, confirmed] + ([Text(cell(top.get("resource")))]
                                                       if top.get("resource") else [])),
            )
    console.print(table)
    fixes = [(i, F.top_cause(f).get("fix")) for i, f in enumerate(findings, 1)]
    fixes = [(i, fix) for i, fix in fixes if fix]
    if fixes:
        console.print()
        console.print(Text("Fixes for the most likely causes:", style="bold"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(overflow="fold")
        for i, fix in fixes:
            grid.add_row(Text(f"{i}.", style="bold"), Text(cell(fix), style="cyan"))
        console.print(grid)
