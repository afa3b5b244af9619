"""Pull logs into the lake: local files, S3 prefixes or CloudWatch log groups.

The library side of ``flowlogs ingest`` (and of scheduled runs): it lists what the
window and filters select, skips what the manifest already has, ingests the rest
under the lake's lock, and says what it could not fetch (``Summary.left``) so that
the next run picks it up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.errors import FlowlogsError


@contextlib.contextmanager
def _no_progress(files: int, total_bytes: int):
    yield None


def pull(store, settings, request: "Request", progress: Callable = _no_progress, say: Callable | None = None):
    """Ingest what ``request`` names; returns (summary, run, notes). Holds the lake's lock meanwhile.

    ``progress(files, bytes)`` is a context manager yielding a per-source callback (or None);
    ``say(message)`` is told at once when the run has to wait for another run's lock.
    """
    from pipeline.lake import locking

    notes: list[str] = []
    with locking.lake_lock(store, " ".join(["ingest", *request.paths])[:200], on_wait=say):
        runner = _cloudwatch if request.paths[0] == "cloudwatch" else _files_and_s3
        summary, run = runner(store, settings, request, progress, notes)
    return summary, run, notes


@dataclass(frozen=True)
class Request:
    """What to pull: local paths and s3:// URLs, or `cloudwatch` and log groups; the window and filters."""

    paths: list
    log_format: tuple | None
    workers: int | None
    since: datetime | None
    until: datetime | None
    margin: timedelta
    accounts: tuple
    regions: tuple
    stream_prefix: str | None


def _run(store, sources, request, progress, *, left=(), known=None, planning_retries=0):
    from pipeline.ingest import load as ingest_lib

    with progress(len(sources), sum(s.size for s in sources)) as advance:
        summary, run = ingest_lib.ingest(store, sources, log_format=request.log_format, workers=request.workers,
                                         progress=advance, command=" ".join(["ingest", *request.paths])[:200],
                                         known=known, left=list(left))
    summary.retries += planning_retries
    return summary, run


def _files_and_s3(store, settings, request, progress, notes):
    from pipeline import aws
    from pipeline.ingest.sources import s3 as s3source
    from pipeline.ingest.sources import local

    urls = [p for p in request.paths if p.startswith("s3://")]
    local_paths = [p for p in request.paths if not p.startswith("s3://")]
    if not urls and (request.since or request.until or request.accounts or request.regions):
        raise FlowlogsError("--since, --until, --account and --region select S3 objects or CloudWatch events",
                            "give an s3:// URL or `cloudwatch LOG_GROUP`")
    try:
        sources = local.local_sources(local_paths, notes=notes)
    except FileNotFoundError as exc:
        raise FlowlogsError(str(exc), "check the path; S3 URLs start with s3://") from None
    retries_before, left, digests = aws.retries(), [], 0
    window = s3source.Window.of(request.since, request.until, request.margin)
    for url in urls:
        listing = s3source.list_objects(settings, url, window, accounts=request.accounts, regions=request.regions)
        sources += listing.objects
        left += listing.failed
        digests += listing.digests
    if not sources and not left:
        if not urls:
            raise FlowlogsError(f"no files under {' '.join(request.paths)}", "; ".join(notes) or None)
        notes.append(f"no log objects under {' '.join(urls)} in the window")
    if digests:
        notes.append(f"skipped {digests} CloudTrail digest files (signatures of the trail's log files, no events)")
    return _run(store, sources, request, progress, left=left, planning_retries=aws.retries() - retries_before)


def _cloudwatch(store, settings, request, progress, notes):
    import tempfile

    from pipeline import aws
    from pipeline.ingest.sources import cloudwatch
    from pipeline.lake import store as lake

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
        summary, run = _run(store, [s for p in plans for s in p.sources], request, progress, known=known,
                            left=[item for p in plans for item in p.left],
                            planning_retries=aws.retries() - retries_before)
    if request.until is None:  # a bounded backfill leaves the cursors alone
        left = {name for name, _ in summary.left}
        run.cursors = {arn: ms for p in plans for arn, ms in cloudwatch.committed_cursors(p, left).items()}
        run.save(store)
    for p in plans:
        for name in p.kept:
            notes.append(f"kept the lake's version of {name}: it has more events than CloudWatch returns now")
    return summary, run
