"""Output layer: every command renders through :func:`render` (see ``registry``).

``render(data, fmt, out, *, title=None, columns=None, sort=True, width=None)``
with ``fmt`` one of ``table``, ``plain``, ``json``, ``jsonl``, ``csv``,
``markdown``, ``html`` (aliases ``md``, ``ndjson``, ``text``). One module per
format, each registering itself with ``registry.register``.  Importing this
package is cheap: rich and pyarrow are only imported when a renderer needs them.
May import: core modules and ``pipeline.analysis`` (the findings document).
"""

from pipeline.report.registry import (ALIASES, FORMATS, format_for_path, format_names, prepare, render,
                                      render_to_string, resolve_format)
from pipeline.report import json_format, csv_format, plain, markdown, table, html  # noqa: F401,E402  (register, in this order)

__all__ = ["ALIASES", "FORMATS", "format_for_path", "format_names", "prepare", "render",
           "render_to_string", "resolve_format"]
