"""Progress and summaries of ingest runs, for the terminal."""

from __future__ import annotations

import contextlib

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.tables import TABLES

err = Console(stderr=True)


@contextlib.contextmanager
def progress_bar(files: int, total_bytes: int, *, disable: bool = False):
    """Yield a callback taking each finished source's manifest entry."""
    records = 0
    with Progress(
        TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
        TextColumn("{task.fields[records]:,} records"), TextColumn("{task.fields[mb]:.1f} MB"),
        TimeElapsedColumn(), console=err, disable=disable or not err.is_terminal, transient=True,
    ) as progress:
        task = progress.add_task("ingest", total=files, records=0, mb=0.0)
        done_bytes = 0

        def advance(entry: dict) -> None:
            nonlocal records, done_bytes
            records += sum(entry.get("records", {}).values())
            done_bytes += entry["size"]
            progress.update(task, advance=1, records=records, mb=done_bytes / 1e6)

        yield advance


def print_summary(summary, run, store) -> None:
    records = summary.records or {}
    rate = sum(records.values()) / summary.seconds if summary.seconds else 0
    read = len(run.sources) - len(summary.kept)
    unfetched = summary.sources - summary.skipped - read
    print(
        f"ingested {read} of {summary.sources} sources ({summary.skipped} already in the lake"
        f"{f', {unfetched} left' if unfetched else ''}) into {store.uri} in {summary.seconds:.1f}s"
    )
    for table in TABLES:
        if records.get(table):
            print(f"  {table:<17} {records[table]:>12,} records")
    if rate:
        print(f"  {'rate':<17} {rate:>12,.0f} records/s")
    if summary.quarantined:
        print(f"  {'quarantined':<17} {summary.quarantined:>12,} lines (flowlogs lake quarantine)")
    if summary.compacted:
        partitions, before, after = summary.compacted
        print(f"  {'compacted':<17} {partitions:>12,} partitions ({before:,} data files into {after:,})")
    if summary.retries:
        print(f"  {'retried':<17} {summary.retries:>12,} requests (throttling, 5xx, dropped connections)")
    for entry in run.sources:
        if entry.get("refused"):
            print(f"  refused {entry['source']}: {entry['refused']}")
    ignored = [e for e in run.sources if e.get("ignored")]
    for reason in sorted({e["ignored"] for e in ignored}):
        print(f"  ignored {sum(e['ignored'] == reason for e in ignored)} files: {reason}")
    for source in summary.kept:
        print(f"  skipped {source}: a shorter copy of a delivery the lake holds a longer version of")
    for source, reason in summary.left:
        print(f"  left {source}: {reason}")
