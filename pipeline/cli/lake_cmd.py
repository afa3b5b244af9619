"""``flowlogs lake``: what is in the lake."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pipeline.cli.app import app
from pipeline.cli.common import FORMAT_HELP, filters_from, read_store, write_output
from pipeline.errors import FlowlogsError

lake_app = typer.Typer(help="Inspect the lake (partitions, counts, formats, quarantine), compact it, rebuild its derived tables.",
                       no_args_is_help=True)
app.add_typer(lake_app, name="lake", rich_help_panel="Load")


@lake_app.command("info")
def info(
    ctx: typer.Context,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help=FORMAT_HELP + " json is the whole summary.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Partitions, record counts, time range, formats seen and quarantine counts.

    Example: flowlogs lake info --format json
    """
    import sys

    from pipeline import report
    from pipeline.lake.info import lake_info

    data = lake_info(read_store(ctx))
    fmt = "json" if as_json else fmt
    known = fmt is None or report.ALIASES.get(fmt, fmt) in report.format_names()
    name = report.resolve_format(fmt, sys.stdout) if known else fmt  # unknown: write_output says which exist
    if name in ("json", "jsonl"):  # the whole summary, one JSON document
        from pipeline.report.values import dumps

        typer.echo(dumps(data, indent=2 if name == "json" else None))
        return
    human = name in ("table", "plain")
    if human:
        typer.echo(f"lake {data['lake']}  ({data['runs']} runs, {data['sources']} sources)")
    rows = [{"table": t, **v} for t, v in data["tables"].items()]
    rows.append({"table": "quarantine", "records": data["quarantined"], "partitions": None, "first": None, "last": None})
    write_output(rows, fmt, None, title=f"lake {data['lake']}", sort=False)
    for line in _notes(data):
        typer.echo(line, err=not human)


def _notes(data: dict) -> list[str]:
    """What the table does not show: formats seen, refused files, an incomplete last run."""
    lines = [f"format ({n} sources): {fmt}" for fmt, n in data["formats"].items()]
    lines += [f"refused {source}: {reason}" for source, reason in data["refused"].items()]
    if data.get("ignored"):
        lines.append(f"ignored {data['ignored']:,} files without records (CloudTrail digest files)")
    lines += [f"{t}: {v['duplicates']:,} duplicate records: the same record from more than one source"
              for t, v in data["tables"].items() if v.get("duplicates")]
    d = data.get("derived")
    if d and (d["files"] or d["stale"]):
        lines.append(f"derived {d['table']}: {d['files']:,} of {d['data_files']:,} data files reduced "
                     f"({d['records']:,} records into {d['rows']:,} rows, {d['hours']:,} hours), built "
                     f"{d['first_built']} to {d['last_built']}"
                     + (f"; {d['not_derived_count']:,} data files not yet (the next `flowlogs run` or "
                        "`flowlogs lake rebuild` reduces them)" if d["not_derived_count"] else "")
                     + (f"; {d['stale']:,} stale (their data files were compacted or rewritten)" if d["stale"] else ""))
    last = data["last_run"]
    if last and last["status"] != "complete":
        lines.append(f"last run {last['run_id']} ({last['command']}): {last['status']}, {len(last['left'])} sources "
                     "left for the next run")
        lines += [f"  left {source}: {reason}" for source, reason in last["left"]]
    return lines


@lake_app.command("compact")
def compact(
    ctx: typer.Context,
    target_mb: Annotated[int, typer.Option("--target-mb", help="Size the merged files aim for, in MB.", min=1)] = 128,
    min_files: Annotated[int, typer.Option("--min-files", help="Compact partitions holding at least this many data files.", min=2)] = 2,
) -> None:
    """Merge each partition's small data files into few large ones (ingest does it by itself for
    partitions past 32 files). Atomic: readers see the old files or the new ones; the sources stay
    known as ingested.

    Example: flowlogs lake compact --target-mb 256
    """
    from pipeline.lake import compaction, locking

    store = read_store(ctx)
    with locking.lake_lock(store, "lake compact", on_wait=lambda message: typer.echo(message, err=True)):
        done = compaction.compact(store, min_files=min_files, target=target_mb << 20)
    tables = ", ".join(f"{table} {n}" for table, n in done.tables.items())
    typer.echo(f"compacted {done.partitions} partitions{f' ({tables})' if tables else ''}: "
               f"{done.files_before:,} data files into {done.files_after:,}, {done.rows:,} rows, "
               f"{done.bytes / 1e6:,.1f} MB written")


@lake_app.command("rebuild")
def rebuild(
    ctx: typer.Context,
    since: Annotated[Optional[str], typer.Option(help="Only data files with records from this time (ISO-8601 or 2h, 7d).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Only data files with records before this time.")] = None,
) -> None:
    """Rebuild the derived tables (the flow records' reduction per data file and hour that `flowlogs run`
    keeps up to date and the findings read): all of them, or those of the data files with records in
    --since/--until; data files not reduced yet are reduced too.

    Example: flowlogs lake rebuild --since 2026-11-27T00:00Z --until 2026-11-28T00:00Z
    """
    from pipeline.lake import derived, locking

    store = read_store(ctx)
    if not store.is_local:
        raise FlowlogsError(f"the lake at {store.uri} is on S3: derived tables are kept for local lakes only",
                            "the findings read the records there")
    window = filters_from(since, until, None, None, None, None, None, None)
    with locking.lake_lock(store, "lake rebuild", on_wait=lambda message: typer.echo(message, err=True)):
        done = derived.refresh(store, since=window.since, until=window.until, force=True)
    typer.echo(f"derived {derived.NAME}: {done.built:,} data files reduced ({done.records:,} records into "
               f"{done.rows:,} rows, {len(done.hours):,} hours) in {done.seconds:.1f} s; "
               f"{done.removed:,} stale derived files removed")


@lake_app.command("quarantine")
def quarantine(ctx: typer.Context, limit: Annotated[int, typer.Option(help="Rows to show.")] = 50) -> None:
    """The quarantined lines: source, line, reason and text.

    Example: flowlogs lake quarantine --limit 20
    """
    from pipeline.lake.info import quarantine_rows

    for row in quarantine_rows(read_store(ctx), limit):
        print(f"{row['_source']}:{row['_line'] if row['_line'] is not None else '-'}: {row['reason']}\n    {row['text']}")
