"""``plain``: aligned text for pipes, one line per incident (``by="task"``: per finding) or row."""

from __future__ import annotations

from typing import TextIO

from pipeline.analysis import document as F
from pipeline.report.registry import Payload, register
from pipeline.report.values import cell, is_number_column, one_line

#: The columns the one-line-per-finding views show (plain text and markdown).
BRIEF_COLUMNS = ("kind", "state", "cluster", "service", "task_id", "destination_aws_service",
                 "destination_id", "dest_port", "flows", "first_seen", "last_seen", "cause",
                 "cause_confirmed", "cause_resource")


#: The columns of the one-line-per-incident views (plain text and markdown).
INCIDENT_COLUMNS = ("id", "kind", "cluster", "service", "destination_aws_service", "destination_id", "dest_port",
                    "tasks", "conversations", "flows", "first_seen", "last_seen", "ongoing", "cause",
                    "cause_confirmed", "cause_resource")


@register("plain", "txt", "aligned text for pipes: one line per incident or row, no colour or box drawing")
def render_plain(p: Payload, out: TextIO) -> None:
    if p.by_incident:
        columns, rows = list(INCIDENT_COLUMNS), p.incident_rows
    else:
        columns = list(BRIEF_COLUMNS) if p.is_findings and p.columns == list(F.FLAT_COLUMNS) else p.columns
        rows = p.rows
    table = [[one_line(cell(r.get(c))) or "-" for c in columns] for r in rows]
    numeric = {i for i, c in enumerate(columns) if is_number_column(rows, c)}
    widths = [max([len(c)] + [len(row[i]) for row in table]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if i in numeric else v.ljust(w)
                 for i, (v, w) in enumerate(zip(values, widths))]
        return "  ".join(parts).rstrip()

    out.write(line(list(columns)) + "\n")
    for row in table:
        out.write(line(row) + "\n")
