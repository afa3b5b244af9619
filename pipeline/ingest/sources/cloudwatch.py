"""Flow logs in CloudWatch Logs: FilterLogEvents into one source per stream and hour.

The unit of ingest is the events of one log stream (one ENI) in one UTC hour. It is
always fetched whole, so each version of it is complete as of the fetch, and a later
version (late events arrived) replaces the earlier one in the lake: identical events
are never counted twice, whichever runs saw them. Within a fetch, events are
de-duplicated by event id (pages repeated by a repeated ``nextToken``).

What to fetch: each stream has a cursor (the latest event time ingested, kept in
the run records under ``_state/``). A run starts at the earliest cursor, minus the
overlap window, of the streams with events past their cursor (new streams from their
first event), rounded down to the hour; ``--since`` overrides it. The range is fetched in
6-hour chunks, in parallel; a chunk that fails after the retries is reported as left,
and no stream's cursor moves past it.

The record format is the flow log's ``LogFormat`` (DescribeFlowLogs on the group),
or ``--log-format``; streams are named after their ENI, which the JSON reader uses when
the format has no interface-id.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import ClassVar

from pipeline.aws import client, explain, is_transient
from pipeline.settings import Settings
from pipeline.errors import FlowlogsError
from pipeline.ingest.keys import KeyInfo
from pipeline.ingest.logformat import LogFormatError, parse_log_format

HOUR_MS = 3_600_000
CHUNK_HOURS = 6
FETCH_THREADS = 4
MAX_SAME_TOKEN = 50


class Stalled(FlowlogsError):
    """Paging did not move forward: the chunk is left for the next run."""


@dataclass
class StreamHour:
    """The events of one stream in one hour, as filter-log-events JSON in a local file."""

    LISTED: ClassVar[bool] = True
    path: str
    name: str  # <stream ARN>@<YYYY-MM-DDTHH>Z
    size: int
    etag: str  # SHA-256 of the file: the version
    stream_arn: str
    hour_ms: int
    log_format: tuple[str, ...] | None = None

    def identity(self) -> tuple[str, str]:
        return hashlib.sha256(self.name.encode()).hexdigest(), self.etag

    def open(self):
        return open(self.path, "rb")

    def key_info(self) -> KeyInfo:
        parts = self.stream_arn.split(":")
        hour = datetime.fromtimestamp(self.hour_ms / 1000, timezone.utc)
        return KeyInfo(account=parts[4] or None, region=parts[3] or None, date=hour.strftime("%Y-%m-%d"))


@dataclass(frozen=True)
class Stream:
    name: str
    arn: str
    first: int  # ms: the first event's time, or the stream's creation if earlier
    last_event: int | None  # ms; eventually consistent (may lag)


@dataclass
class Plan:
    sources: list[StreamHour] = field(default_factory=list)
    left: list[list[str]] = field(default_factory=list)  # [what, reason]
    cursors: dict[str, int] = field(default_factory=dict)  # stream ARN -> latest event fetched (ms)
    kept: list[str] = field(default_factory=list)  # stream-hours whose lake version has more events


def _group_arn(logs, group: str) -> str:
    return f"arn:aws:logs:{logs.meta.region_name}:*:log-group:{group}"


def group_format(settings: Settings, group: str) -> tuple[str, ...] | None:
    """The LogFormat of the flow logs writing to ``group`` (None: none found, the v2 default)."""
    formats: dict[str, list[str]] = {}
    try:
        pages = client(settings, "ec2").get_paginator("describe_flow_logs").paginate(
            Filters=[{"Name": "log-group-name", "Values": [group]}])
        for page in pages:
            for flow_log in page.get("FlowLogs", []):
                if flow_log.get("LogDestinationType", "cloud-watch-logs") == "cloud-watch-logs":
                    formats.setdefault(flow_log.get("LogFormat") or "", []).append(flow_log["FlowLogId"])
    except Exception as exc:
        error = explain(exc, "ec2:DescribeFlowLogs", "*")
        error.hint = f"{error.hint or 'check the permissions'}; or give the record format with --log-format"
        raise error from None
    if len(formats) > 1:
        described = "; ".join(f"{', '.join(ids)}: {fmt or 'default'}" for fmt, ids in sorted(formats.items()))
        raise FlowlogsError(f"flow logs with different formats write to the log group {group} ({described})",
                            "pick one with --log-format '${version} …' (records of the other format are quarantined)")
    fmt = next(iter(formats), "")
    try:
        return parse_log_format(fmt) if fmt else None
    except LogFormatError as exc:
        raise FlowlogsError(f"the LogFormat of the flow log on {group}: {exc}", "give it with --log-format") from None


def streams(logs, group: str, prefix: str | None) -> list[Stream]:
    kwargs = {"logGroupName": group, **({"logStreamNamePrefix": prefix} if prefix else {})}
    try:
        return [
            Stream(s["logStreamName"], s["arn"], min(t for t in (s.get("creationTime"), s.get("firstEventTimestamp"),
                                                                 2**62) if t is not None), s.get("lastEventTimestamp"))
            for page in logs.get_paginator("describe_log_streams").paginate(**kwargs)
            for s in page.get("logStreams", [])
        ]
    except Exception as exc:
        raise explain(exc, "logs:DescribeLogStreams", f"log group {group} ({_group_arn(logs, group)})") from None


def fetch_range(found: list[Stream], cursors: dict[str, int], *, since: int | None, until: int | None,
                overlap: int, now: int) -> tuple[int, int] | None:
    """[start, end) in ms to fetch: from the earliest stream that may have news, in whole hours."""
    end = -(-until // HOUR_MS) * HOUR_MS if until is not None else now + 1
    if since is not None:
        start = since
    else:
        starts = [s.first - overlap for s in found if s.arn not in cursors]
        starts += [cursors[s.arn] - overlap for s in found
                   if s.arn in cursors and (s.last_event is None or s.last_event > cursors[s.arn])]
        if not starts:  # every stream looks quiet; last-event times lag, so look back once anyway
            known = [cursors[s.arn] for s in found if s.arn in cursors]
            if not known:
                return None
            starts = [max(known) - overlap]
        start = min(starts)
    start = start // HOUR_MS * HOUR_MS
    return (start, end) if start < end else None


def _pages(logs, group: str, prefix: str | None, start: int, end: int, limit: int | None):
    """Events of the group in [start, end), page by page; a repeated nextToken is asked again."""
    kwargs = {"logGroupName": group, "startTime": start, "endTime": end - 1}
    kwargs.update({"logStreamNamePrefix": prefix} if prefix else {})
    kwargs.update({"limit": limit} if limit else {})
    token, repeats = None, 0
    while True:
        page = logs.filter_log_events(**kwargs, **({"nextToken": token} if token else {}))
        yield page.get("events", [])
        following = page.get("nextToken")
        if not following:
            return
        repeats = repeats + 1 if following == token else 0
        if repeats > MAX_SAME_TOKEN:
            raise Stalled(f"FilterLogEvents returned the same nextToken {repeats} times with no end")
        token = following


def _fetch_chunk(logs, group, prefix, start, end, directory, limit) -> dict[tuple[str, int], str]:
    """Spool the chunk's events to one JSON-lines file per (stream, hour); returns their paths."""
    os.makedirs(directory, exist_ok=True)
    paths: dict[tuple[str, int], str] = {}
    for events in _pages(logs, group, prefix, start, end, limit):
        grouped: dict[tuple[str, int], list[str]] = {}
        for event in events:
            stream = event["logStreamName"]
            if prefix and not stream.startswith(prefix):
                continue
            line = json.dumps({"logStreamName": stream, "timestamp": event["timestamp"],
                               "message": event["message"], "eventId": event.get("eventId")})
            grouped.setdefault((stream, event["timestamp"] // HOUR_MS * HOUR_MS), []).append(line)
        for key, lines in grouped.items():
            path = paths.setdefault(key, os.path.join(directory, f"{len(paths)}.jsonl"))
            with open(path, "a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
    return paths


def _finish(spool: str, stream_arn: str, hour: int, log_format) -> tuple[StreamHour, int]:
    """De-duplicate and sort a spooled stream-hour into its source file; returns it and its last event time."""
    unique: dict = {}
    with open(spool, encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            unique[event["eventId"] or (event["timestamp"], event["message"])] = event
    events = sorted(unique.values(), key=lambda e: (e["timestamp"], e["eventId"] or "", e["message"]))
    data = json.dumps({"events": events}, separators=(",", ":")).encode()
    path = spool[: -len(".jsonl")] + ".json"
    with open(path, "wb") as f:
        f.write(data)
    os.remove(spool)
    stamp = datetime.fromtimestamp(hour / 1000, timezone.utc).strftime("%Y-%m-%dT%H")
    source = StreamHour(path, f"{stream_arn}@{stamp}Z", len(data), hashlib.sha256(data).hexdigest(),
                        stream_arn, hour, log_format)
    return source, events[-1]["timestamp"]


def plan(settings: Settings, group: str, workdir: str, *, known: dict[str, dict], cursors: dict[str, int],
         stream_prefix: str | None = None, since: datetime | None = None, until: datetime | None = None,
         overlap: timedelta = timedelta(hours=1), log_format: tuple[str, ...] | None = None,
         limit: int | None = None) -> Plan:
    """Fetch what a run needs of ``group`` into ``workdir`` as stream-hour sources."""
    logs = client(settings, "logs")
    result = Plan()
    found = streams(logs, group, stream_prefix)
    if not found:
        return result
    fmt = log_format or group_format(settings, group)
    group_arn = found[0].arn.rsplit(":log-stream:", 1)[0]
    span = fetch_range(found, cursors, since=_ms(since), until=_ms(until), overlap=int(overlap.total_seconds() * 1000),
                       now=_ms(datetime.now(timezone.utc)))
    if span is None:
        return result
    chunks = [(t, min(t + CHUNK_HOURS * HOUR_MS, span[1])) for t in range(span[0], span[1], CHUNK_HOURS * HOUR_MS)]
    spool = os.path.join(workdir, hashlib.sha256(group_arn.encode()).hexdigest()[:16])

    def fetch(i_chunk):
        i, (start, end) = i_chunk
        try:
            return _fetch_chunk(logs, group, stream_prefix, start, end, f"{spool}-{i}", limit), None
        except Stalled as exc:
            return None, str(exc)
        except Exception as exc:
            if not is_transient(exc):
                raise explain(exc, "logs:FilterLogEvents", f"log group {group} ({group_arn})") from None
            return None, f"FilterLogEvents failed after retries: {exc}"

    with ThreadPoolExecutor(FETCH_THREADS) as pool:
        fetched = list(pool.map(fetch, enumerate(chunks)))
    failed_at = next((i for i, (_, error) in enumerate(fetched) if error), len(chunks))
    for i, (paths, error) in enumerate(fetched):
        if error:
            start, end = (_iso(t) for t in chunks[i])
            result.left.append([f"{group_arn} events {start} .. {end}", error])
            continue
        for (stream, hour), spooled in sorted(paths.items()):
            source, last = _finish(spooled, f"{group_arn}:log-stream:{stream}", hour, fmt)
            if i < failed_at:
                result.cursors[source.stream_arn] = max(last, result.cursors.get(source.stream_arn, last))
            previous = known.get(source.identity()[0])
            if previous and previous.get("size", 0) > source.size:
                result.kept.append(source.name)  # fewer events than the lake has (retention expired)
            else:
                result.sources.append(source)
    return result


def committed_cursors(result: Plan, left_sources: set[str]) -> dict[str, int]:
    """The plan's cursors, except for streams with a stream-hour that did not reach the lake."""
    behind = {name.rsplit("@", 1)[0] for name in left_sources}
    return {arn: ms for arn, ms in result.cursors.items() if arn not in behind}


def _ms(t: datetime | None) -> int | None:
    return None if t is None else int(t.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
