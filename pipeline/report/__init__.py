"""Output layer: every command renders through :func:`render` (see ``formats``).

``render(data, fmt, out, *, title=None, columns=None, sort=True, width=None)``
with ``fmt`` one of ``table``, ``plain``, ``json``, ``jsonl``, ``csv``,
``markdown``, ``html`` (aliases ``md``, ``ndjson``, ``text``).  Importing this
package is cheap: rich and pyarrow are only imported when a renderer needs them.
May import: core modules and ``pipeline.analysis`` (the findings document).
"""

from pipeline.report.formats import (ALIASES, FORMATS, format_for_path, format_names, prepare, render,
                                     render_to_string, resolve_format)

__all__ = ["ALIASES", "FORMATS", "format_for_path", "format_names", "prepare", "render",
           "render_to_string", "resolve_format"]
