"""``flowlogs ingest``: files, directories, S3 prefixes or CloudWatch log groups into the lake."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pipeline.errors import EXIT_ERROR, EXIT_FOUND, FlowlogsError
from pipeline.cli.app import app
from pipeline.cli.common import aws_settings, open_store

S3_PANEL = "S3 and CloudWatch"


@app.command(rich_help_panel="Load")
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Files or directories, s3://bucket\\[/prefix] URLs, or `cloudwatch LOG_GROUP…`.")],
    log_format: Annotated[Optional[str], typer.Option("--log-format", help="Field order of header-less records: '${version} ${account-id} …' (default: the flow log's LogFormat for CloudWatch, else v2).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Parallel worker processes (default: CPU count).", min=1)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    since: Annotated[Optional[str], typer.Option(help="From this time: ISO-8601 or back from now (2h, 30m, 7d); UTC.", rich_help_panel=S3_PANEL)] = None,
    until: Annotated[Optional[str], typer.Option(help="Up to this time (same forms as --since).", rich_help_panel=S3_PANEL)] = None,
    account: Annotated[Optional[list[str]], typer.Option("--account", help="S3: only this account id (repeatable).", rich_help_panel=S3_PANEL)] = None,
    s3_region: Annotated[Optional[list[str]], typer.Option("--s3-region", help="S3: only this region's folders (repeatable). The API region is --region.", rich_help_panel=S3_PANEL)] = None,
    late_margin: Annotated[str, typer.Option(help="How late a file or event may arrive: S3 files named up to this much before --since are read, CloudWatch streams are re-read this far back from their cursor.", rich_help_panel=S3_PANEL)] = "1h",
    stream_prefix: Annotated[Optional[str], typer.Option(help="CloudWatch: only log streams starting with this (e.g. eni-0abc).", rich_help_panel=S3_PANEL)] = None,
    role_arn: Annotated[Optional[str], typer.Option(help="Assume this IAM role to read S3 / CloudWatch.", rich_help_panel=S3_PANEL)] = None,
) -> None:
    """Ingest flow logs into the lake: files, S3 or CloudWatch Logs.

    Already-ingested objects and events are skipped (S3: by key and ETag, from the
    listing), so running it again, or on a schedule, is safe; runs on one lake take
    turns. Exit status: 0 clean; 1 some lines were quarantined or files refused (see
    `flowlogs lake info`); 2 error, or sources left unfetched after the retries (the
    next run fetches them).

    Example: flowlogs ingest s3://my-flow-logs --since 2h --account 123456789012
    Example: flowlogs ingest cloudwatch /vpc/flow-logs --stream-prefix eni- --region eu-west-1
    """
    from pipeline.ingest.pull import Request, pull
    from pipeline.cli.render_ingest import print_summary, progress_bar

    request = Request(paths, _log_format(log_format), workers, *_window(since, until, late_margin),
                      tuple(account or ()), tuple(s3_region or ()), stream_prefix)
    store = open_store(ctx)
    summary, run, notes = pull(store, aws_settings(ctx, role_arn), request,
                               lambda files, size: progress_bar(files, size, disable=quiet),
                               say=lambda message: typer.echo(message, err=True))
    for note in notes:
        typer.echo(note)
    print_summary(summary, run, store)
    if summary.left:
        raise FlowlogsError(f"{len(summary.left)} sources could not be fetched (left, above)",
                            "the next run fetches them; see the reasons above", exit_code=EXIT_ERROR)
    if not summary.clean:
        raise typer.Exit(EXIT_FOUND)


def _log_format(text):
    from pipeline.ingest import logformat

    try:
        return logformat.parse_log_format(text) if text else None
    except logformat.LogFormatError as exc:
        raise FlowlogsError(f"--log-format: {exc}") from None


def _window(since, until, late_margin):
    from pipeline.times import TimeParseError, parse_duration, parse_time

    try:
        values = (parse_time(since) if since else None, parse_time(until) if until else None)
        return (*values, parse_duration(late_margin))
    except TimeParseError as exc:
        raise FlowlogsError(str(exc)) from None
