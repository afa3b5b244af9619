"""``flowlogs metadata`` and ``flowlogs whois``: who was behind an ENI or an address, and when."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pipeline.errors import EXIT_FOUND, FlowlogsError
from pipeline.cli.app import app
from pipeline.cli.common import aws_settings, open_store, read_store, write_output

metadata_app = typer.Typer(help="Import or collect ECS/EC2 metadata (tasks, ENIs, endpoints, rules).", no_args_is_help=True)
app.add_typer(metadata_app, name="metadata", rich_help_panel="Load")


def _print_result(result) -> None:
    counts = ", ".join(f"{t} {n}" for t, n in sorted(result.counts.items()) if n)
    if result.snapshot_id is None:
        typer.echo("nothing imported: every file was refused" if result.refused and not result.skipped
                   else "nothing new: every file was imported before")
    else:
        typer.echo(f"snapshot {result.snapshot_id}: {counts or 'no rows'}")
    for name in result.skipped:
        typer.echo(f"  skipped (already imported): {name}")
    for warning in result.warnings:
        typer.echo(f"  warning: {warning}", err=True)
    for name, reason in result.refused:
        typer.echo(f"  refused {name}: {reason}", err=True)


@metadata_app.command("import")
def import_cmd(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="JSON files (or directories) saved from the AWS CLI, EventBridge task events, ip-ranges.json.")],
    at: Annotated[Optional[str], typer.Option("--at", help="When the files were captured (ISO-8601 or relative; default: each file's modification time).")] = None,
) -> None:
    """Import AWS CLI JSON: describe-network-interfaces, describe-tasks, describe-security-groups, …

    Files are recognised by content; importing the same files twice adds nothing. Files not
    recognised are listed with the reason and the others imported (exit status 1).

    Example: flowlogs metadata import sample_logs/metadata/
    """
    from pipeline.metadata import import_files
    from pipeline.times import parse_time

    try:
        when = parse_time(at) if at else None
    except ValueError as exc:
        raise FlowlogsError(f"--at: {exc}") from None
    try:
        result = import_files(open_store(ctx), paths, snapshot_time=when)
    except (ValueError, FileNotFoundError) as exc:
        raise FlowlogsError(str(exc)) from None
    _print_result(result)
    if result.refused:
        raise typer.Exit(EXIT_FOUND)


@metadata_app.command("collect")
def collect_cmd(
    ctx: typer.Context,
    cluster: Annotated[Optional[list[str]], typer.Option("--cluster", help="ECS cluster name or ARN (repeatable; default: all).")] = None,
    regions: Annotated[Optional[list[str]], typer.Option("--regions", help="Collect from these regions (comma-separated or repeated; default: --region's or the profile's).")] = None,
    role_arn: Annotated[Optional[str], typer.Option(help="Assume this role first (cross-account).")] = None,
    ip_ranges_url: Annotated[str, typer.Option(help="Where to download AWS's ip-ranges.json from.")] = "https://ip-ranges.amazonaws.com/ip-ranges.json",
    ip_ranges: Annotated[bool, typer.Option(help="Also download ip-ranges.json (public AWS service ranges).")] = True,
) -> None:
    """Collect the same metadata live through the AWS APIs, as a timestamped snapshot.

    Run it on a schedule to build the task ↔ ENI ↔ IP history (stopped tasks are
    forgotten by the API after about an hour).

    Also downloads AWS's ip-ranges.json (--no-ip-ranges to skip); where that is not
    reachable, it says so and how to import the file instead.

    Example: flowlogs metadata collect --cluster prod --profile prod
    """
    from pipeline import aws
    from pipeline.metadata.collect import collect

    settings = aws_settings(ctx, role_arn)
    try:
        result = collect(open_store(ctx), aws.session(settings), clusters=cluster, regions=[r.strip() for item in regions or () for r in item.split(",") if r.strip()] or None,
                         endpoint_url=settings.endpoint_url)
    except (RuntimeError, ValueError) as exc:
        raise FlowlogsError(str(exc), aws.CREDENTIALS_HINT) from None
    _print_result(result)
    if ip_ranges:
        _import_ip_ranges(ctx, ip_ranges_url)


def _import_ip_ranges(ctx: typer.Context, url: str) -> None:
    import tempfile

    from pipeline.metadata import import_files
    from pipeline.metadata.ipranges import download

    with tempfile.TemporaryDirectory() as work:
        try:
            path = download(url, work)
        except OSError as exc:
            typer.echo(f"warning: could not download {url} ({exc}); download it where you can and run "
                       "`flowlogs metadata import ip-ranges.json` (AWS service ranges name public destinations)",
                       err=True)
            return
        _print_result(import_files(open_store(ctx), [path]))


@app.command("whois", rich_help_panel="Analyse")
def whois_cmd(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="An IP address (v4 or v6) or an ENI id.")],
    at: Annotated[Optional[str], typer.Option("--at", help="When (ISO-8601 or relative; default: now). IPs are reused: the answer depends on it.")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="json (the default): the answer with its evidence; "
                                               "table, plain, jsonl, csv, markdown, html: the owner as one row.")] = "json",
) -> None:
    """Who was behind an address or ENI at a time: task, endpoint, NAT, AWS service…, with evidence.

    Example: flowlogs whois 10.20.1.193 --at 2026-11-27T10:30Z
    """
    from pipeline.metadata.whois import whois
    from pipeline.times import parse_time

    try:
        answer = whois(read_store(ctx), target, parse_time(at) if at else None)
    except ValueError as exc:
        raise FlowlogsError(str(exc), "give an IPv4/IPv6 address or an eni-… id") from None
    if fmt in (None, "json"):
        from pipeline.report.values import dumps

        typer.echo(dumps(answer, indent=2))
    else:  # the owner as one row; the evidence is in the JSON
        write_output([{"query": answer["query"], "at": answer["at"], **answer["owner"]}], fmt, None,
                     title=f"whois {target}", sort=False)
