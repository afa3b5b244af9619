"""The registry of output formats, and the one ``render`` every command calls.

Each format lives in its own module and registers itself with :func:`register`
(``json_format``, ``csv_format``, ``plain``, ``markdown``, ``table``, ``html``);
``pipeline.report`` imports them all.

``render(data, fmt, out, *, title=None, columns=None, sort=True, width=None, by="incident")``

``data`` is one of

* a findings document (``{"generated_at", "lake", "window", "incidents": [...],
  "findings": [...]}``, issue 5's contract), or a bare list of findings;
* a list (or any iterable) of row dicts, e.g. an ad-hoc SQL result; the columns
  are ``columns=`` or else the keys of the rows in first-seen order (the first
  row's keys first); an iterable of tuples needs ``columns=``;
* a pyarrow ``Table``/``RecordBatch`` or a pandas ``DataFrame``.

Formats (``FORMATS``; aliases in ``ALIASES``):

``table``
    A rich table that fits the terminal: 80 columns and up, more detail when
    wider (off a terminal: ``width``, else $COLUMNS, else 80).
``plain``
    Pipe-friendly text: a header line, then one line per row, columns aligned
    and separated by at least two spaces, empty values shown as ``-``, no colour,
    no box drawing, no wrapping, no truncation.  For exact machine parsing use
    ``csv`` or ``jsonl``.
``json``
    A findings document as-is with a stable key order (contract order, then any
    extra keys sorted); rows as a JSON array of objects.
``jsonl``
    One incident per line (each with its ``id`` and the indices of its findings),
    then one finding per line (rows: one row per line).
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

``fmt=None`` picks ``table`` on a terminal and ``plain`` otherwise (so that ``| grep``
and ``| awk`` work); a format given explicitly is always used.

Findings views lead with incidents (``document.roll_up``: one line per problem):
``table`` and ``plain`` show the incidents, ``markdown`` and ``html`` the incidents
first and then every finding; ``by="task"`` gives one row per finding instead.
``json``, ``jsonl`` and ``csv`` do not depend on ``by``.

Rows are always sorted before rendering, so the same input gives the same bytes:
findings most serious kind first, then cluster, service, destination, port, task
(``findings.finding_sort_key``); plain rows by every column in order (``sort=True``),
by the named columns (``sort=["-bytes", "service"]``, ``-`` for descending), or in
the given order with ``sort=False`` when the caller's SQL already has an ORDER BY.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TextIO

from pipeline.analysis import document as F
from pipeline.report.values import cell, sortable

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
    by: str = "incident"

    @property
    def is_findings(self) -> bool:
        return self.doc is not None

    @property
    def by_incident(self) -> bool:
        """A findings view that leads with incidents (``by="task"``: one row per finding, as before)."""
        return self.is_findings and self.by == "incident"

    @property
    def incident_rows(self) -> list[dict]:
        return [F.flatten_incident(i) for i in self.doc["incidents"]] if self.is_findings else []


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


#: How a findings view is organised: by incident (one line per problem) or by task (one per finding).
BY = ("incident", "task")


def prepare(data: Any, *, columns: Sequence[str] | None = None, sort: bool | Sequence[str] = True,
            title: str | None = None, by: str = "incident") -> Payload:
    """Normalise any accepted input into a :class:`Payload` (sorted rows, canonical document)."""
    if by not in BY:
        raise ValueError(f"unknown grouping {by!r} (known: {', '.join(BY)})")
    if isinstance(data, list) and F.looks_like_findings(data):
        data = {"findings": data}
    if F.is_document(data):
        doc = F.canonical_document(data)
        rows = [F.flatten_finding(f) for f in doc["findings"]]
        cols = list(columns or F.FLAT_COLUMNS)
        return Payload(cols, rows, doc=doc, title=title, by=by)
    cols, rows = _to_rows(data, columns)
    return Payload(cols, sort_rows(rows, cols, sort), title=title)


def header_lines(doc: Mapping, templates: Mapping[str, str], *, when: Callable[[Any], str] = cell,
                 text: Callable[[Any], str] = cell) -> list[str]:
    """What every findings view heads with, in the renderer's own words: the ``window`` ({since},
    {until}), the ``lake`` ({lake}) and when it was ``generated`` ({generated}), those the document
    has and ``templates`` names; times written by ``when``, the lake by ``text``."""
    window = doc.get("window") or {}
    facts = {
        "window": (window.get("since") or window.get("until")) and {"since": when(window.get("since")),
                                                                    "until": when(window.get("until"))},
        "lake": doc.get("lake") and {"lake": text(doc["lake"])},
        "generated": doc.get("generated_at") and {"generated": when(doc["generated_at"])},
    }
    return [template.format(**facts[key]) for key, template in templates.items() if facts[key]]


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
    """The format actually used: aliases resolved; no format is ``table`` on a terminal, ``plain`` off
    one (an explicit ``table`` stays a table: the choice wins, only the default follows the terminal)."""
    if fmt is None:
        return "table" if width is not None or _isatty(out) else "plain"
    name = ALIASES.get(fmt.lower(), fmt.lower())
    if name not in FORMATS:
        known = ", ".join(FORMATS)
        raise ValueError(f"unknown output format {fmt!r} (known: {known})")
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
           sort: bool | Sequence[str] = True, width: int | None = None, by: str = "incident") -> None:
    """Render ``data`` as ``fmt`` to ``out`` (a text stream, a file path, or stdout when None).

    ``width`` sets the width of a table (default: the terminal's, else $COLUMNS, else 80).
    ``by`` (findings): ``incident`` leads with one line per problem, ``task`` shows one row per
    finding.  See the module docstring for the formats.
    """
    if isinstance(out, (str, os.PathLike)):
        text = render_to_string(data, fmt or format_for_path(out) or "plain", title=title,
                                columns=columns, sort=sort, width=width, by=by)
        with open(out, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        return
    stream = out if out is not None else sys.stdout
    name = resolve_format(fmt, stream, width=width)
    payload = prepare(data, columns=columns, sort=sort, title=title, by=by)
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
