"""``flowlogs demo``: the first thing a newcomer runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.cli.app import app
from pipeline.cli.common import BY_HELP, FORMAT_HELP, settings_of, write_output

DEMO_LAKE = "flowlogs-demo-lake"


@app.command("demo", rich_help_panel="Start here")
def demo(
    ctx: typer.Context,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help=FORMAT_HELP)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Also write the report to this file (e.g. report.html).")] = None,
    by: Annotated[str, typer.Option("--by", help=BY_HELP)] = "incident",
) -> None:
    """Ingest the bundled sample account, import its metadata, and print the findings.

    Uses ./flowlogs-demo-lake unless --lake is given, so your own lake is left alone.

    Example: flowlogs demo --output report.html
    """
    from pipeline.jobs import demo as demo_lib
    from pipeline.lake import store as lake
    from pipeline.analysis.reports import findings_document

    g = settings_of(ctx)
    store = lake.open_lake(g.lake or DEMO_LAKE)
    summary, _, result, unread = demo_lib.load(store)
    records = sum((summary.records or {}).values())
    typer.echo(f"sample account: {summary.sources} log files ({records:,} new records, "
               f"{summary.skipped} files already in), metadata snapshot {result.snapshot_id or 'already in'}; "
               f"lake: {store.uri}", err=True)
    if unread:
        names = ", ".join(sorted(Path(u).name for u in unread))
        typer.echo(f"not read by this version: {len(unread)} sample files ({names})", err=True)
    doc = findings_document(store)
    write_output(doc, fmt, None, title="Fargate connectivity findings (sample account)", by=by)
    if output:
        write_output(doc, None, output, title="Fargate connectivity findings (sample account)", by=by)
        typer.echo(f"report written to {output}", err=True)
    typer.echo(f"next:\n  flowlogs --lake {store.uri} report findings --format html -o report.html\n"
               f"  flowlogs --lake {store.uri} sql \"SELECT * FROM conversations LIMIT 5\"", err=True)
