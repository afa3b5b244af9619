"""``flowlogs lake``: what is in the lake."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.app import app
from pipeline.cli.common import read_store

lake_app = typer.Typer(help="Inspect the lake: partitions, counts, formats, quarantine.", no_args_is_help=True)
app.add_typer(lake_app, name="lake", rich_help_panel="Load")


@lake_app.command("info")
def info(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Partitions, record counts, time range, formats seen and quarantine counts.

    Example: flowlogs lake info
    """
    import json

    from pipeline.lake.info import lake_info

    data = lake_info(read_store(ctx))
    if as_json:
        print(json.dumps(data, indent=2))
        return
    print(f"lake {data['lake']}  ({data['runs']} runs, {data['sources']} sources)")
    for table, t in data["tables"].items():
        print(f"  {table:<17} {t['records']:>12,} records  {t['partitions']:>4} partitions  {t['first'] or '-'} .. {t['last'] or '-'}")
        if t["duplicates"]:
            print(f"  {'':<17} {t['duplicates']:>12,} duplicate records: the same record from more than one source")
    print(f"  {'quarantine':<17} {data['quarantined']:>12,} lines")
    for fmt, n in data["formats"].items():
        print(f"  format ({n} sources): {fmt}")
    for source, reason in data["refused"].items():
        print(f"  refused {source}: {reason}")
    last = data["last_run"]
    if last and last["status"] != "complete":
        print(f"  last run {last['run_id']} ({last['command']}): {last['status']}, {len(last['left'])} sources left "
              "for the next run")
        for source, reason in last["left"]:
            print(f"    left {source}: {reason}")


@lake_app.command("quarantine")
def quarantine(ctx: typer.Context, limit: Annotated[int, typer.Option(help="Rows to show.")] = 50) -> None:
    """The quarantined lines: source, line, reason and text.

    Example: flowlogs lake quarantine --limit 20
    """
    from pipeline.lake.info import quarantine_rows

    for row in quarantine_rows(read_store(ctx), limit):
        print(f"{row['_source']}:{row['_line'] if row['_line'] is not None else '-'}: {row['reason']}\n    {row['text']}")
