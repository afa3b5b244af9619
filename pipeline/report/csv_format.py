"""``csv``: a header and one row per finding or row."""

from __future__ import annotations

import csv
from typing import TextIO

from pipeline.report.registry import Payload, register
from pipeline.report.values import cell

@register("csv", "csv", "a header and one row per finding (destination.* and the top cause flattened)")
def render_csv(p: Payload, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(p.columns)
    for row in p.rows:
        writer.writerow([cell(row.get(c)) for c in p.columns])
