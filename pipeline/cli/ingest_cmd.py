"""``flowlogs ingest``: files, directories, S3 prefixes or CloudWatch log groups into the lake."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Optional

import typer

from ..errors import EXIT_ERROR, EXIT_FOUND, FlowlogsError
from . import app
from .common import aws_settings, open_store

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
    region_filter: Annotated[Optional[list[str]], typer.Option("--region", help="S3: only this region's folders (repeatable). The API region is the global --region.", rich_help_panel=S3_PANEL)] = None,
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
    Example: flowlogs --region eu-west-1 ingest cloudwatch /vpc/flow-logs --stream-prefix eni-
    """
    from .. import locking
    from .render_ingest import print_summary

    settings = aws_settings(ctx, role_arn)
    request = _Request(paths, _log_format(log_format), workers, quiet, *_window(since, until, late_margin),
                       tuple(account or ()), tuple(region_filter or ()), stream_prefix)
    store = open_store(ctx)
    with locking.lake_lock(store, " ".join(["ingest", *paths])[:200]):
        runner = _cloudwatch if paths[0] == "cloudwatch" else _files_and_s3
        summary, run = runner(store, settings, request)
    print_summary(summary, run, store)
    if summary.left:
        raise FlowlogsError(f"{len(summary.left)} sources could not be fetched (left, above)",
                            "the next run fetches them; see the reasons above", exit_code=EXIT_ERROR)
    if not summary.clean:
        raise typer.Exit(EXIT_FOUND)


@dataclass(frozen=True)
class _Request:
    """The command's options, parsed."""

    paths: list
    log_format: tuple | None
    workers: int | None
    quiet: bool
    since: datetime | None
    until: datetime | None
    margin: timedelta
    accounts: tuple
    regions: tuple
    stream_prefix: str | None


def _log_format(text):
    from .. import logformat

    try:
        return logformat.parse_log_format(text) if text else None
    except logformat.LogFormatError as exc:
        raise FlowlogsError(f"--log-format: {exc}") from None


def _window(since, until, late_margin):
    from ..timeparse import TimeParseError, parse_duration, parse_time

    try:
        values = (parse_time(since) if since else None, parse_time(until) if until else None)
        return (*values, parse_duration(late_margin))
    except TimeParseError as exc:
        raise FlowlogsError(str(exc)) from None


def _run(store, sources, request, *, left=(), known=None, planning_retries=0):
    from .. import ingest as ingest_lib
    from .render_ingest import progress_bar

    with progress_bar(len(sources), sum(s.size for s in sources), disable=request.quiet) as advance:
        summary, run = ingest_lib.ingest(store, sources, log_format=request.log_format, workers=request.workers,
                                         progress=advance, command=" ".join(["ingest", *request.paths])[:200],
                                         known=known, left=list(left))
    summary.retries += planning_retries
    return summary, run


def _files_and_s3(store, settings, request):
    from .. import aws, s3source
    from .. import ingest as ingest_lib

    urls = [p for p in request.paths if p.startswith("s3://")]
    local = [p for p in request.paths if not p.startswith("s3://")]
    if not urls and (request.since or request.until or request.accounts or request.regions):
        raise FlowlogsError("--since, --until, --account and --region select S3 objects or CloudWatch events",
                            "give an s3:// URL or `cloudwatch LOG_GROUP`")
    try:
        sources = ingest_lib.local_sources(local)
    except FileNotFoundError as exc:
        raise FlowlogsError(str(exc), "check the path; S3 URLs start with s3://") from None
    retries_before, left = aws.retries(), []
    window = s3source.Window.of(request.since, request.until, request.margin)
    for url in urls:
        listing = s3source.list_objects(settings, url, window, accounts=request.accounts, regions=request.regions)
        sources += listing.objects
        left += listing.failed
    if not sources and not left:
        if not urls:
            raise FlowlogsError(f"no files under {' '.join(request.paths)}")
        print(f"no flow-log objects under {' '.join(urls)} in the window")
    return _run(store, sources, request, left=left, planning_retries=aws.retries() - retries_before)


def _cloudwatch(store, settings, request):
    import tempfile

    from .. import aws, cloudwatch, lake

    groups = request.paths[1:]
    if not groups:
        raise FlowlogsError("name the log group", "flowlogs ingest cloudwatch LOG_GROUP [LOG_GROUP…]")
    if request.accounts or request.regions:
        raise FlowlogsError("--account and --region select S3 folders",
                            "CloudWatch reads the log group in the global --region (before the command)")
    all_runs = lake.runs(store)
    known, cursors = lake.manifest(store, all_runs), lake.cursors(all_runs)
    with tempfile.TemporaryDirectory(prefix="flowlogs-cloudwatch-") as work:
        retries_before = aws.retries()
        plans = [cloudwatch.plan(settings, group, work, known=known, cursors=cursors,
                                 stream_prefix=request.stream_prefix, since=request.since, until=request.until,
                                 overlap=request.margin, log_format=request.log_format) for group in groups]
        summary, run = _run(store, [s for p in plans for s in p.sources], request, known=known,
                            left=[item for p in plans for item in p.left],
                            planning_retries=aws.retries() - retries_before)
    if request.until is None:  # a bounded backfill leaves the cursors alone
        left = {name for name, _ in summary.left}
        run.cursors = {arn: ms for p in plans for arn, ms in cloudwatch.committed_cursors(p, left).items()}
        run.save(store)
    for p in plans:
        for name in p.kept:
            print(f"  kept the lake's version of {name}: it has more events than CloudWatch returns now")
    return summary, run
