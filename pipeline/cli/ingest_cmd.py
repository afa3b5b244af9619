"""``flowlogs ingest``: files and directories (S3 layouts recognised) into the lake."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import EXIT_FOUND, FlowlogsError
from . import app
from .common import open_store


@app.command(rich_help_panel="Load")
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Files or directories (e.g. an `aws s3 sync` of the bucket).")],
    log_format: Annotated[Optional[str], typer.Option("--log-format", help="Field order of header-less files: '${version} ${account-id} …' (default: the v2 default format).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Parallel worker processes (default: CPU count).", min=1)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Ingest flow-log files into the lake (gzip/plain text, Parquet, CloudWatch JSON).

    Already-ingested content is skipped, so running it again is safe. Exit status: 0
    clean, 1 some lines were quarantined or files refused (see `flowlogs lake info`),
    2 error.

    Example: flowlogs ingest sample_logs/s3
    """
    from .. import ingest as ingest_lib
    from .. import logformat
    from .render_ingest import print_summary, progress_bar

    try:
        fmt = logformat.parse_log_format(log_format) if log_format else None
    except logformat.LogFormatError as exc:
        raise FlowlogsError(f"--log-format: {exc}") from None
    try:
        sources = ingest_lib.local_sources(paths)
    except FileNotFoundError as exc:
        raise FlowlogsError(str(exc), "check the path; S3 URLs go to `flowlogs ingest s3 s3://bucket/prefix`") from None
    if not sources:
        raise FlowlogsError(f"no files under {' '.join(paths)}")
    store = open_store(ctx)
    with progress_bar(len(sources), sum(s.size for s in sources), disable=quiet) as advance:
        summary, run = ingest_lib.ingest(store, sources, log_format=fmt, workers=workers, progress=advance)
    print_summary(summary, run, store)
    if not summary.clean:
        raise typer.Exit(EXIT_FOUND)
