"""One registry of output formats, and the one ``render`` every command calls.

``render(data, fmt, out, *, title=None, columns=None, sort=True, width=None)``

``data`` is one of

* a findings document (``{"generated_at", "lake", "window", "findings": [...]}``,
  issue 5's contract), or a bare list of findings;
* a list (or any iterable) of row dicts, e.g. an ad-hoc SQL result; the columns
  are ``columns=`` or else the keys of the rows in first-seen order (the first
  row's keys first); an iterable of tuples needs ``columns=``;
* a pyarrow ``Table``/``RecordBatch`` or a pandas ``DataFrame``.

Formats (``FORMATS``; aliases in ``ALIASES``):

``table``
    A rich table that fits the terminal: 80 columns and up, more detail when
    wider.  When ``out`` is not a terminal (pipe, file) and no ``width`` is given,
    ``table`` falls back to ``plain`` so that ``| grep`` and ``| awk`` work.
``plain``
    Pipe-friendly text: a header line, then one line per row, columns aligned
    and separated by at least two spaces, empty values shown as ``-``, no colour,
    no box drawing, no wrapping, no truncation.  For exact machine parsing use
    ``csv`` or ``jsonl``.
``json``
    A findings document as-is with a stable key order (contract order, then any
    extra keys sorted); rows as a JSON array of objects.
``jsonl``
    One finding (or row) per line.
``csv``
    A header plus one row per finding, flattened: ``destination_*`` and the top
    cause as ``cause``, ``cause_confirmed``, ``cause_resource``, ``cause_rule``,
    ``cause_explanation``, ``cause_fix`` (see ``findings.FLAT_COLUMNS``).
``markdown``
    GitHub-flavoured markdown: a summary table, then a section per finding with
    the fix in a code block (rows: one table).
``html``
    The self-contained incident report (see ``pipeline.report.html``); rows: a
    standalone HTML table.

``fmt=None`` picks ``table`` on a terminal and ``plain`` otherwise.

Rows are always sorted before rendering, so the same input gives the same bytes:
findings most serious kind first, then cluster, service, destination, port, task
(``findings.finding_sort_key``); plain rows by every column in order (``sort=True``),
by the named columns (``sort=["-bytes", "service"]``, ``-`` for descending), or in
the given order with ``sort=False`` when the caller's SQL already has an ORDER BY.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TextIO

from pipeline.analysis import document as F
from pipeline.report.values import dumps, cell, one_line, is_number_column, sortable

DEFAULT_TITLE = "Fargate connectivity findings"


# --------------------------------------------------------------------------- data


@dataclass
class Payload:
    """What a renderer gets: flat rows always; ``doc`` too when the input was findings."""

    columns: list[str]
    rows: list[dict]
    doc: dict | None = None
    title: str | None = None
    width: int | None = None
    color: bool = False

    @property
    def is_findings(self) -> bool:
        return self.doc is not None


def _to_rows(data: Any, columns: Sequence[str] | None) -> tuple[list[str], list[dict]]:
    mod = type(data).__module__ or ""
    if mod.startswith("pyarrow") and hasattr(data, "to_pylist"):
        cols = list(data.schema.names)
        return list(columns or cols), data.to_pylist()
    if mod.startswith("pandas") and hasattr(data, "to_dict") and hasattr(data, "columns"):
        cols = [str(c) for c in data.columns]
        records = [{str(k): v for k, v in r.items()} for r in data.to_dict("records")]
        return list(columns or cols), records
    if isinstance(data, Mapping):
        data = [data]
    rows: list[dict] = []
    seen: dict[str, None] = {}
    for item in data:
        if isinstance(item, Mapping):
            row = dict(item)
        elif columns is not None:
            row = dict(zip(columns, item))
        else:
            raise TypeError("rows that are not mappings need columns=")
        rows.append(row)
        for key in row:
            seen.setdefault(key, None)
    return list(columns or seen), rows


def sort_rows(rows: list[dict], columns: Sequence[str], sort: bool | Sequence[str]) -> list[dict]:
    if sort is False or sort is None:
        return list(rows)
    if sort is True:
        return sorted(rows, key=lambda r: tuple(sortable(r.get(c)) for c in columns))
    out = list(rows)
    for spec in reversed(list(sort)):  # stable sorts, least significant key first
        desc = spec.startswith("-")
        name = spec[1:] if desc else spec
        out.sort(key=lambda r: sortable(r.get(name)), reverse=desc)
    return out


def prepare(data: Any, *, columns: Sequence[str] | None = None, sort: bool | Sequence[str] = True,
            title: str | None = None) -> Payload:
    """Normalise any accepted input into a :class:`Payload` (sorted rows, canonical document)."""
    if isinstance(data, list) and F.looks_like_findings(data):
        data = {"findings": data}
    if F.is_document(data):
        doc = F.canonical_document(data)
        rows = [F.flatten_finding(f) for f in doc["findings"]]
        cols = list(columns or F.FLAT_COLUMNS)
        return Payload(cols, rows, doc=doc, title=title)
    cols, rows = _to_rows(data, columns)
    return Payload(cols, sort_rows(rows, cols, sort), title=title)


# -------------------------------------------------------------------- registry


Renderer = Callable[[Payload, TextIO], None]


@dataclass(frozen=True)
class Format:
    name: str
    render: Renderer
    extension: str
    description: str


FORMATS: dict[str, Format] = {}
ALIASES = {"md": "markdown", "ndjson": "jsonl", "text": "plain", "txt": "plain", "htm": "html"}


def register(name: str, extension: str, description: str) -> Callable[[Renderer], Renderer]:
    def deco(fn: Renderer) -> Renderer:
        FORMATS[name] = Format(name, fn, extension, description)
        return fn

    return deco


def format_names() -> list[str]:
    """Registered format names, for ``--format`` choices and the docs."""
    return list(FORMATS)


def resolve_format(fmt: str | None, out: Any = None, *, width: int | None = None) -> str:
    """The format actually used: aliases resolved, ``None``/``table`` to ``plain`` off a terminal."""
    if fmt is None:
        fmt = "table"
    name = ALIASES.get(fmt.lower(), fmt.lower())
    if name not in FORMATS:
        known = ", ".join(FORMATS)
        raise ValueError(f"unknown output format {fmt!r} (known: {known})")
    if name == "table" and width is None and not _isatty(out):
        return "plain"
    return name


def format_for_path(path: str | os.PathLike) -> str | None:
    """The format whose extension matches ``path`` (``report.html`` → ``html``), if any."""
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    for f in FORMATS.values():
        if f.extension == ext:
            return f.name
    return ALIASES.get(ext) if ALIASES.get(ext) in FORMATS else None


def _isatty(out: Any) -> bool:
    if out is None:
        out = sys.stdout
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _terminal_width(out: Any) -> int:
    try:
        return max(40, os.get_terminal_size(out.fileno()).columns)
    except (AttributeError, ValueError, OSError):
        try:
            return max(40, int(os.environ.get("COLUMNS", "")))
        except ValueError:
            return 80


def render(data: Any, fmt: str | None = None, out: TextIO | str | os.PathLike | None = None, *,
           title: str | None = None, columns: Sequence[str] | None = None,
           sort: bool | Sequence[str] = True, width: int | None = None) -> None:
    """Render ``data`` as ``fmt`` to ``out`` (a text stream, a file path, or stdout when None).

    ``width`` forces a rich table of that many columns even when ``out`` is not a
    terminal (tests, ``--width``).  See the module docstring for the formats.
    """
    if isinstance(out, (str, os.PathLike)):
        text = render_to_string(data, fmt or format_for_path(out) or "plain", title=title,
                                columns=columns, sort=sort, width=width)
        with open(out, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        return
    stream = out if out is not None else sys.stdout
    name = resolve_format(fmt, stream, width=width)
    payload = prepare(data, columns=columns, sort=sort, title=title)
    if name == "table":
        tty = _isatty(stream)
        payload.width = width or _terminal_width(stream)
        payload.color = tty and "NO_COLOR" not in os.environ
    buf = io.StringIO()
    FORMATS[name].render(payload, buf)
    stream.write(buf.getvalue())
    try:
        stream.flush()
    except (AttributeError, ValueError, OSError):
        pass


def render_to_string(data: Any, fmt: str, **options: Any) -> str:
    """Like :func:`render` into a string (``table`` needs ``width=`` to stay a rich table)."""
    buf = io.StringIO()
    render(data, fmt, buf, **options)
    return buf.getvalue()


# ----------------------------------------------------------------- json / jsonl


@register("json", "json", "the document as-is (stable key order), or rows as a JSON array")
def render_json(p: Payload, out: TextIO) -> None:
    value = p.doc if p.is_findings else [{c: r.get(c) for c in p.columns} for r in p.rows]
    out.write(dumps(value, indent=2) + "\n")


@register("jsonl", "jsonl", "one finding or row per line")
def render_jsonl(p: Payload, out: TextIO) -> None:
    items = p.doc["findings"] if p.is_findings else [{c: r.get(c) for c in p.columns} for r in p.rows]
    for item in items:
        out.write(dumps(item) + "\n")


# ------------------------------------------------------------------------- csv


@register("csv", "csv", "a header and one row per finding (destination.* and the top cause flattened)")
def render_csv(p: Payload, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(p.columns)
    for row in p.rows:
        writer.writerow([cell(row.get(c)) for c in p.columns])


# ------------------------------------------------------------------------ plain

#: The columns the one-line-per-finding views show (plain text and markdown).
BRIEF_COLUMNS = ("kind", "state", "cluster", "service", "task_id", "destination_aws_service",
                 "destination_id", "dest_port", "flows", "first_seen", "last_seen", "cause",
                 "cause_confirmed", "cause_resource")


@register("plain", "txt", "aligned text for pipes: one line per row, no colour or box drawing")
def render_plain(p: Payload, out: TextIO) -> None:
    columns = list(BRIEF_COLUMNS) if p.is_findings and p.columns == list(F.FLAT_COLUMNS) else p.columns
    table = [[one_line(cell(r.get(c))) or "-" for c in columns] for r in p.rows]
    numeric = {i for i, c in enumerate(columns) if is_number_column(p.rows, c)}
    widths = [max([len(c)] + [len(row[i]) for row in table]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if i in numeric else v.ljust(w)
                 for i, (v, w) in enumerate(zip(values, widths))]
        return "  ".join(parts).rstrip()

    out.write(line(list(columns)) + "\n")
    for row in table:
        out.write(line(row) + "\n")


# --------------------------------------------------------------------- markdown


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


@register("markdown", "md", "a markdown summary table, then one section per finding")
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
    window = doc.get("window") or {}
    lines += [f"# {p.title or DEFAULT_TITLE}", ""]
    meta = []
    if window.get("since") or window.get("until"):
        meta.append(f"Window: {cell(window.get('since')) or '…'} → {cell(window.get('until')) or '…'}")
    if doc.get("lake"):
        meta.append(f"lake: `{cell(doc['lake'])}`")
    if doc.get("generated_at"):
        meta.append(f"generated {cell(doc['generated_at'])}")
    if meta:
        lines += [" · ".join(meta), ""]
    if not findings:
        lines += ["No findings: every conversation in the window was answered.", ""]
        out.write("\n".join(lines))
        return
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


# ------------------------------------------------------------------------ table


KIND_STYLES = {"reject": "bold red", "no_return": "bold yellow", "refused": "bold magenta",
               "endpoint_bypassed": "bold cyan", "dns_failure": "bold yellow"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


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
    meta = []
    if window.get("since") or window.get("until"):
        meta.append(f"window {cell(window.get('since'))} → {cell(window.get('until'))}")
    if doc.get("lake"):
        meta.append(f"lake {cell(doc['lake'])}")
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
        kind_text = Text(kind, style=KIND_STYLES.get(kind, "bold"))
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


# ------------------------------------------------------------------------- html


@register("html", "html", "the self-contained HTML incident report")
def render_html(p: Payload, out: TextIO) -> None:
    from pipeline.report import html

    if p.is_findings:
        out.write(html.report(p.doc, title=p.title))
    else:
        out.write(html.rows_page(p.columns, p.rows, title=p.title))
