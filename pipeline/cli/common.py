"""Option types and helpers shared by the commands."""

from __future__ import annotations

import typer

from pipeline.errors import FlowlogsError


def settings_of(ctx: typer.Context):
    """The global options (a ``pipeline.settings.Settings``)."""
    return ctx.find_root().obj


def aws_settings(ctx: typer.Context, role_arn: str | None = None):
    """Where and as whom to call AWS: the global options, and the command's --role-arn."""
    return settings_of(ctx).with_role(role_arn)


def open_store(ctx: typer.Context, *, create: bool = True):
    """The lake named by --lake / $FLOWLOGS_LAKE / the default, opened for use (created if missing)."""
    from pipeline.lake import store as lake
    from pipeline.aws import pyarrow_s3_options

    g = settings_of(ctx)
    options = pyarrow_s3_options(aws_settings(ctx)) if (g.lake or "").startswith("s3://") else None
    return lake.open_lake(g.lake, s3_options=options, create=create)


def read_store(ctx: typer.Context):
    """The lake, for commands that only read it: a mistyped --lake is an error, never a new lake."""
    return open_store(ctx, create=False)


FORMAT_HELP = "table (default on a terminal), plain (default in a pipe), json, jsonl, csv, markdown, html."


def filters_from(since, until, cluster, service, task, dest, port, kinds):
    """Filters from the shared options; times parsed as ISO-8601 or relative, UTC."""
    from pipeline.analysis.reports import Filters
    from pipeline.times import parse_time
    from pipeline.vocabulary import KINDS

    def instant(option: str, text: str | None):
        if text is None:
            return None
        try:
            return int(parse_time(text).timestamp())
        except ValueError as exc:
            raise FlowlogsError(f"{option}: {exc}", "use ISO-8601 (2026-11-27T09:30Z) or relative (2h, 30m, 7d)") from None

    bad = [k for k in (kinds or []) if k not in KINDS]
    if bad:
        raise FlowlogsError(f"--kind: unknown kind {', '.join(bad)}", f"valid kinds: {', '.join(KINDS)}")
    return Filters(instant("--since", since), instant("--until", until), cluster, service, task, dest, port,
                   tuple(kinds or ()))


def check_output(output: str | None) -> None:
    """Refuse an --output whose folder does not exist before any work is done."""
    import os

    folder = os.path.dirname(os.path.abspath(output)) if output else None
    if folder and not os.path.isdir(folder):
        raise FlowlogsError(f"--output {output}: the folder {folder} does not exist", "create it, or write elsewhere")


BY_HELP = ("incident: one line per problem (service → destination, kind, cause, tasks), then the details; "
           "task: one row per task and destination. JSON, JSONL and CSV hold both either way.")


def write_output(data, fmt: str | None, output: str | None, *, title: str, sort: bool = True,
                 by: str = "incident") -> None:
    """Render ``data`` to stdout or ``output`` in ``fmt`` (an unknown format or grouping lists the valid ones)."""
    from pipeline import report as formats
    from pipeline.report.registry import BY

    if fmt is not None and formats.ALIASES.get(fmt, fmt) not in formats.format_names():
        raise FlowlogsError(f"--format: unknown format {fmt!r}", f"valid formats: {', '.join(formats.format_names())}")
    if by not in BY:
        raise FlowlogsError(f"--by: unknown grouping {by!r}", f"valid: {', '.join(BY)}")
    if output is not None and fmt is None:
        fmt = formats.format_for_path(output) or "json"
    formats.render(data, fmt, output, title=title, sort=sort, by=by)
