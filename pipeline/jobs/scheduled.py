"""Scheduled runs: ingest, metadata and findings in one go, from a TOML file.

``flowlogs run --config flowlogs.toml`` is what a cron job or an ECS scheduled task runs
every few minutes. Example::

    lake = "s3://my-bucket/flowlogs-lake"      # or a directory; --lake wins
    region = "eu-west-1"                       # profile, endpoint_url, role_arn too

    [ingest]
    sources = ["s3://my-flow-logs/prefix", "cloudwatch:/vpc/flow-logs"]
    since = "3h"                               # window; late_margin = "1h"; workers; log_format

    [metadata]
    collect = true                             # live DescribeTasks/ENIs/… snapshot
    clusters = ["prod"]
    import = []                                # and/or saved AWS CLI JSON files

    [report]
    since = "2h"                               # the findings window
    fail_on = ["reject", "no_return"]          # kinds that make the run fail…
    threshold = 1                              # …when at least this many incidents have them
    output = "findings.json"                   # optional; format from the extension

    [notify]                                   # on a new and on a resolved incident (pipeline.notify)
    targets = ["arn:aws:sns:eu-west-1:123456789012:flowlogs"]   # topic or event bus ARNs, https:// webhooks
    attempts = 4                               # webhook tries per run; backoff = 1.0 (seconds, doubling)

Every run records the incidents' lifecycle in the lake (``pipeline.lake.incidents``) and, before
the findings, reduces the data files new since the last run into the lake's derived tables
(``pipeline.lake.derived``), which the findings read instead of those records.
The result is one JSON summary (for log collectors) and an exit status: 0 nothing over
the threshold, 1 findings over it, 2 an error (or notifications left for the next run).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import EXIT_ERROR, EXIT_FOUND, EXIT_OK, FlowlogsError
from pipeline.settings import KEYS, Settings
from pipeline.vocabulary import KINDS

_SETTINGS = set(KEYS) - {"debug"}  # the top-level keys: the global options, and role_arn
_SECTIONS = {
    "": _SETTINGS | {"ingest", "metadata", "report", "notify"},
    "ingest": {"sources", "since", "until", "late_margin", "workers", "log_format"},
    "metadata": {"collect", "clusters", "regions", "import"},
    "report": {"since", "until", "settle", "fail_on", "threshold", "output", "format"},
    "notify": {"targets", "attempts", "backoff"},
}


@dataclass
class Config:
    settings: Settings = field(default_factory=Settings)
    ingest: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    notify: dict = field(default_factory=dict)
    targets: list = field(default_factory=list)  # the [notify] targets, parsed


def load(path: str | Path) -> Config:
    """Read and check the config: unknown keys and bad values are named with the valid ones."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FlowlogsError(f"--config: no such file {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise FlowlogsError(f"--config {path}: {exc}") from None
    for section, allowed in _SECTIONS.items():
        values = data if not section else data.get(section, {})
        if not isinstance(values, dict):
            raise FlowlogsError(f"--config {path}: [{section}] must be a table")
        unknown = set(values) - allowed
        if unknown:
            where = f"[{section}]" if section else "the top level"
            raise FlowlogsError(f"--config {path}: unknown key {', '.join(sorted(unknown))} in {where}",
                                f"valid keys: {', '.join(sorted(allowed))}")
    bad = set(data.get("report", {}).get("fail_on", [])) - set(KINDS)
    if bad:
        raise FlowlogsError(f"--config {path}: unknown fail_on kind {', '.join(sorted(bad))}",
                            f"valid kinds: {', '.join(KINDS)}")
    _check_times(path, data)
    targets = _targets(path, data.get("notify", {}))
    top = {k: data.pop(k) for k in _SETTINGS if k in data}
    return Config(Settings(**top), **data, targets=targets)


def _targets(path, notify: dict) -> list:
    from pipeline.notify.senders import parse_target

    targets = notify.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise FlowlogsError(f"--config {path}: [notify] targets must be a list of strings",
                            'e.g. targets = ["arn:aws:sns:eu-west-1:123456789012:flowlogs"]')
    for key, kind in (("attempts", int), ("backoff", (int, float))):
        value = notify.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, kind) or value < (1 if key == "attempts" else 0):
            raise FlowlogsError(f"--config {path}: [notify] {key} must be a number"
                                f"{' of at least 1' if key == 'attempts' else ' of seconds, 0 or more'}")
    return [parse_target(t, f"--config {path}: [notify] targets") for t in targets]


def _check_times(path, data: dict) -> None:
    """Times and durations are checked when the file is read, before any step runs."""
    from pipeline.times import TimeParseError, parse_duration, parse_time

    for section, key, parse in (("ingest", "since", parse_time), ("ingest", "until", parse_time),
                                ("ingest", "late_margin", parse_duration), ("report", "since", parse_time),
                                ("report", "until", parse_time)):
        value = data.get(section, {}).get(key)
        try:
            if value is not None:
                parse(str(value))
        except TimeParseError as exc:
            raise FlowlogsError(f"--config {path}: [{section}] {key}: {exc}",
                                "times are ISO-8601 (2026-11-27T09:30Z) or back from now (2h, 30m, 7d)") from None


def _pull_requests(cfg: Config):
    from pipeline.ingest.pull import Request
    from pipeline.times import parse_duration, parse_time

    ing = cfg.ingest
    window = (parse_time(ing["since"]) if ing.get("since") else None,
              parse_time(ing["until"]) if ing.get("until") else None,
              parse_duration(ing.get("late_margin", "1h")))
    log_format = None
    if ing.get("log_format"):
        from pipeline.ingest.logformat import parse_log_format

        log_format = parse_log_format(ing["log_format"])
    for source in ing.get("sources", []):
        paths = ["cloudwatch", source[len("cloudwatch:"):]] if source.startswith("cloudwatch:") else [source]
        # local directories take no window (the whole tree is checked against the manifest)
        win = window if paths[0] == "cloudwatch" or source.startswith("s3://") else (None, None, window[2])
        yield Request(paths, log_format, ing.get("workers"), *win, (), (), None)


def _derive(store) -> dict:
    """Bring the lake's derived reduction up to date (``pipeline.lake.derived``): the data files new since the
    last run are reduced once, so the findings read them and not the records again."""
    from pipeline.lake import derived, locking

    with locking.lake_lock(store, "run: derive"):
        done = derived.refresh(store)
    return {"built": done.built, "records": done.records, "fresh": done.fresh, "removed": done.removed,
            "seconds": round(done.seconds, 2)}


def run(store, settings, cfg: Config) -> tuple[dict, int]:
    """Do the configured steps; returns (summary for log collectors, exit status)."""
    from pipeline.analysis import reports
    from pipeline.ingest.pull import pull
    from pipeline.notify.deliver import deliver
    from pipeline.times import parse_time

    summary: dict = {"event": "flowlogs.run", "lake": store.uri, "ingest": [], "metadata": None}
    status = EXIT_OK
    for request in _pull_requests(cfg):
        result, _, notes = pull(store, settings, request)
        summary["ingest"].append({
            "source": " ".join(request.paths), "new_sources": result.sources - result.skipped,
            "skipped": result.skipped, "records": result.records or {}, "quarantined": result.quarantined,
            "refused": result.refused, "left": len(result.left), "retries": result.retries, "notes": notes,
        })
        if result.left:
            status = EXIT_ERROR
    meta = cfg.metadata
    if meta.get("import"):
        from pipeline.metadata import import_files

        summary["metadata"] = import_files(store, meta["import"]).to_dict()
    if meta.get("collect"):
        from pipeline import aws
        from pipeline.metadata.collect import collect

        summary["metadata"] = collect(store, aws.session(settings), clusters=meta.get("clusters"),
                                      regions=meta.get("regions"), endpoint_url=settings.endpoint_url).to_dict()
    summary["derived"] = _derive(store)
    rep = cfg.report
    flt = reports.Filters(
        since=int(parse_time(rep["since"]).timestamp()) if rep.get("since") else None,
        until=int(parse_time(rep["until"]).timestamp()) if rep.get("until") else None,
    )
    doc = reports.findings_document(store, flt, rep.get("settle", 900), settings)  # engine = "spark" in the config
    summary["incidents"] = deliver(store, settings, doc, cfg.targets, attempts=cfg.notify.get("attempts", 4),
                                   backoff=cfg.notify.get("backoff", 1.0))
    if summary["incidents"]["failed"]:
        status = EXIT_ERROR
    if rep.get("output"):
        from pipeline.report import format_for_path, render

        render(doc, rep.get("format") or format_for_path(rep["output"]) or "json", rep["output"])
    by_kind: dict[str, int] = {}
    for f in doc["findings"]:
        by_kind[f["kind"]] = by_kind.get(f["kind"], 0) + 1
    incidents_by_kind: dict[str, int] = {}
    for incident in doc["incidents"]:
        incidents_by_kind[incident["kind"]] = incidents_by_kind.get(incident["kind"], 0) + 1
    failing = sum(incidents_by_kind.get(k, 0) for k in rep.get("fail_on", []))  # problems, not task rows
    summary["findings"] = {"total": len(doc["findings"]), "by_kind": by_kind, "incidents": len(doc["incidents"]),
                           "incidents_by_kind": incidents_by_kind, "failing": failing, "window": doc["window"]}
    if rep.get("fail_on") and failing >= rep.get("threshold", 1) and status == EXIT_OK:
        status = EXIT_FOUND
    summary["exit"] = status
    return summary, status
