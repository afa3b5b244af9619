"""``table``: a rich table fitted to the terminal."""

from __future__ import annotations

from typing import Any, TextIO

from pipeline import vocabulary
from pipeline.analysis import document as F
from pipeline.report.registry import DEFAULT_TITLE, Payload, header_lines, register
from pipeline.report.values import cell, is_number_column, plural as _plural


def _clock(value: Any, day: str | None, seconds: bool = True) -> str:
    """``09:12:04`` (``09:12`` without seconds) when on ``day``, else ``03-15 09:12``."""
    t = F.parse_time(value)
    if t is None:
        return cell(value)
    if t.strftime("%Y-%m-%d") != day:
        return t.strftime("%m-%d %H:%M")
    return t.strftime("%H:%M:%S" if seconds else "%H:%M")


def _incident_table(incidents: list[dict], day: str | None, width: int):
    """One line per incident: service → destination, kind, tasks, when (``→now``: still happening),
    the likely cause; from 140 columns also the endpoint, flows and resources. The two long columns
    share what the short ones leave and end in … when they must."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    wide = width >= 140
    columns = ["#", "Service → destination", *(["Endpoint"] if wide else []), "Kind", "Tasks",
               *(["Flows"] if wide else []), "Seen (UTC)", "Likely cause", *(["Resources"] if wide else [])]
    rows = []
    for i, incident in enumerate(incidents, 1):
        d = incident.get("destination") or {}
        cause = incident.get("cause") or {}
        what = cell(d.get("aws_service") or d.get("name") or (incident.get("dest_addrs") or ["?"])[0])
        port = cell(incident.get("dest_port"))
        last = "now" if incident.get("ongoing") else _clock(incident.get("last_seen"), day, seconds=False)
        confirmed = cause.get("confirmed") is True
        row = {
            "#": str(i),
            "Service → destination": f"{cell(incident.get('service')) or '-'} → {what}" + (f":{port}" if port else ""),
            "Endpoint": cell(d.get("id")) or F.destination_label(incident).rsplit("(", 1)[-1].rstrip(")"),
            "Kind": cell(incident.get("kind")),
            "Tasks": cell(incident.get("tasks")),
            "Flows": cell(incident.get("flows")),
            "Seen (UTC)": f"{_clock(incident.get('first_seen'), day, seconds=False)}→{last}",
            "Likely cause": (cell(cause.get("cause")) or "unknown") + ("" if confirmed or not cause else " (not confirmed)"),
            "Resources": ", ".join(incident.get("resources") or []),
        }
        rows.append((row, confirmed))
    need = {c: max([len(c)] + [len(r[c]) for r, _ in rows]) for c in columns}
    flexible = ("Service → destination", "Likely cause")
    room = width - 2 * (len(columns) - 1) - sum(need[c] for c in columns if c not in flexible)
    wanted = need[flexible[0]] + need[flexible[1]]
    first = max(12, min(need[flexible[0]], room * need[flexible[0]] // max(1, wanted)))
    fixed = {flexible[0]: first, flexible[1]: max(12, min(need[flexible[1]], room - first))}
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", show_edge=False, pad_edge=False, collapse_padding=True)
    for c in columns:
        table.add_column(c, justify="right" if c in ("#", "Tasks", "Flows") else "left", no_wrap=True,
                         overflow="ellipsis", width=fixed.get(c))
    for row, confirmed in rows:
        cells = [row[c] for c in columns]
        kind = row["Kind"]
        cells[columns.index("Kind")] = Text(kind, style=vocabulary.KIND_STYLES.get(kind, "bold"))
        cells[columns.index("Likely cause")] = Text(row["Likely cause"], style="green" if confirmed else "yellow")
        table.add_row(*cells)
    return table


def _finding_table(findings: list[dict], day: str | None, width: int):
    """One row per finding (task → destination), over a few lines each below 140 columns."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    wide = width >= 140
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
        table.add_column("Likely cause", overflow="fold", min_width=max(12, min(34, width - 46)))
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
    return table


@register("table", "txt", "a rich table fitted to the terminal: one line per incident, or per finding (by task)")
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
    if p.by_incident:
        s = F.summarize(findings, p.doc["incidents"])
        kinds = ", ".join(f"{n} {k}" for k, n in s["incidents_by_kind"].items())
        line = (f"{_plural(s['incidents'], 'incident')} ({kinds}), {s['incidents_ongoing']} still happening; "
                f"{_plural(s['services'], 'service')}, {_plural(s['tasks'], 'task')}.")
    else:
        kinds = ", ".join(f"{n} {k}" for k, n in s["by_kind"].items())
        line = (f"{_plural(s['findings'], 'finding')} ({kinds}); {_plural(s['services'], 'service')}, "
                f"{_plural(s['tasks'], 'task')}.")
    if s["broken"]:
        since = F.parse_time(s["since"])
        line += f" Broken since {since:%Y-%m-%d %H:%M:%S} UTC." if since else ""
    console.print(line)
    console.print()

    if p.by_incident:
        incidents = p.doc["incidents"]
        console.print(_incident_table(incidents, day, console.width))
        fixes = [(i, (incident.get("cause") or {}).get("fix")) for i, incident in enumerate(incidents, 1)]
    else:
        console.print(_finding_table(findings, day, console.width))
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
