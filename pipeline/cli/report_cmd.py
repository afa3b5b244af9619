"""``flowlogs report …``: findings and the other reports, in every output format."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pipeline.analysis.fixes import FIX_FORMATS
from pipeline.errors import EXIT_FOUND, FlowlogsError
from pipeline.vocabulary import KINDS
from pipeline.cli.app import app
from pipeline.cli.common import (BY_HELP, FORMAT_HELP, check_output, filters_from, read_store, settings_of,
                                 write_output)

report_app = typer.Typer(help="Findings and reports, in table/json/jsonl/csv/markdown/html.", no_args_is_help=True)
app.add_typer(report_app, name="report", rich_help_panel="Analyse")

Since = Annotated[Optional[str], typer.Option(help="Start: ISO-8601 (UTC unless an offset is given) or relative (2h, 30m, 7d).")]
Until = Annotated[Optional[str], typer.Option(help="End: ISO-8601 or relative (default: the end of the data).")]
Cluster = Annotated[Optional[str], typer.Option(help="Only this ECS cluster.")]
Service = Annotated[Optional[str], typer.Option(help="Only this ECS service.")]
Task = Annotated[Optional[str], typer.Option(help="Only this task (id or ARN).")]
Dest = Annotated[Optional[str], typer.Option(help="Only this destination: address, CIDR, vpce-/nat- id, or AWS service (sns, sqs…).")]
Port = Annotated[Optional[int], typer.Option(help="Only this destination port.", min=0, max=65535)]
Kind = Annotated[Optional[list[str]], typer.Option("--kind", help=f"Only these finding kinds (repeatable): {', '.join(KINDS)}.")]
Fmt = Annotated[Optional[str], typer.Option("--format", "-f", help=FORMAT_HELP)]
Output = Annotated[Optional[str], typer.Option("--output", "-o", help="Write to this file (format from its extension unless --format).")]
Settle = Annotated[int, typer.Option(help="Seconds before silence counts as no reply (delivery lag).", min=0)]
By = Annotated[str, typer.Option("--by", help=BY_HELP)]
FailOn = Annotated[Optional[str], typer.Option(help="Exit 1 if incidents of these kinds exist, e.g. reject,no_return.")]
FixFormat = Annotated[str, typer.Option(
    "--fix-format", help="Show network fixes as cli (AWS CLI), terraform or cloudformation changes (resource, attribute, "
    "old → new); JSON keeps `fix` the CLI text and carries both others in `fix_as`.")]
Notify = Annotated[Optional[list[str]], typer.Option(
    "--notify", help="Track the incidents in the lake and tell this target of new and resolved ones (repeatable): "
    "an SNS topic ARN, an EventBridge bus ARN or an https:// webhook URL.")]


@report_app.command("findings")
def findings_cmd(ctx: typer.Context, since: Since = None, until: Until = None, cluster: Cluster = None,
                 service: Service = None, task: Task = None, dest: Dest = None, port: Port = None, kind: Kind = None,
                 fmt: Fmt = None, output: Output = None, settle: Settle = 900, fail_on: FailOn = None,
                 by: By = "incident", notify: Notify = None, fix_format: FixFormat = "cli") -> None:
    """Failing task → destination conversations, rolled up into incidents, with the likely cause and the fix.

    With --notify, the incidents' lifecycle is kept in the lake and each target hears of a new
    incident once and of its resolution once (see `flowlogs report incidents`).

    Example: flowlogs report findings --since 2h --service orders --format json
    """
    from pipeline.analysis.reports import findings_document
    from pipeline.vocabulary import KINDS

    flt = filters_from(since, until, cluster, service, task, dest, port, kind)
    wanted = {k.strip() for k in (fail_on or "").split(",") if k.strip()}
    if wanted - set(KINDS):  # options are checked before any work or output
        raise FlowlogsError(f"--fail-on: unknown kind {', '.join(sorted(wanted - set(KINDS)))}",
                            f"valid kinds: {', '.join(KINDS)}")
    if fix_format not in FIX_FORMATS:
        raise FlowlogsError(f"--fix-format: unknown format {fix_format!r}", f"valid: {', '.join(FIX_FORMATS)}")
    check_output(output)
    targets = _notify_targets(notify, flt)
    store = read_store(ctx)
    doc = findings_document(store, flt, settle, settings_of(ctx))
    sent = None
    if targets:
        from pipeline.notify.deliver import deliver

        sent = deliver(store, settings_of(ctx), doc, targets)
    write_output(_for_reader(doc, fix_format, fmt, output), fmt, output, title="Fargate connectivity findings", by=by)
    if sent and sent["failed"]:
        first = sent["failed"][0]
        raise FlowlogsError(f"--notify: {len(sent['failed'])} notification(s) not delivered, e.g. {first['change']} "
                            f"{first['incident']} to {first['target']}: {first['error']}",
                            "they stay in the lake and are sent again by the next run with --notify")
    failing = sum(1 for incident in doc["incidents"] if incident["kind"] in wanted)
    if failing:
        typer.echo(f"--fail-on: {failing} incident{'s' if failing > 1 else ''} of {', '.join(sorted(wanted))}",
                   err=True)
        raise typer.Exit(EXIT_FOUND)


def _for_reader(doc: dict, fix_format: str, fmt: str | None, output: str | None) -> dict:
    """The document as rendered: with --fix-format terraform|cloudformation, a human format shows those changes
    as the fixes; JSON and JSONL stay the contract (``fix`` the CLI text, the others in ``fix_as``)."""
    from pipeline import report as formats
    from pipeline.analysis.document import with_fix_format

    shown = formats.ALIASES.get(fmt.lower(), fmt.lower()) if fmt else (formats.format_for_path(output) if output else None)
    return doc if fix_format == "cli" or shown in ("json", "jsonl") else with_fix_format(doc, fix_format)


def _notify_targets(notify, flt) -> list:
    """The --notify targets; refused with a filter (an incident filtered out would look resolved)."""
    from pipeline.notify.senders import parse_target

    if not notify:
        return []
    narrowed = [name for name, value in (("--cluster", flt.cluster), ("--service", flt.service), ("--task", flt.task),
                                         ("--dest", flt.dest), ("--port", flt.port), ("--kind", flt.kinds)) if value]
    if narrowed:
        raise FlowlogsError(f"--notify cannot be combined with {', '.join(narrowed)}",
                            "notifications judge every incident of the window: drop the filter, or drop --notify")
    return [parse_target(text, "--notify") for text in notify]


IncidentState = Annotated[str, typer.Option("--state", help="open, resolved or all.")]


@report_app.command("incidents")
def incidents_cmd(ctx: typer.Context, state: IncidentState = "open", fmt: Fmt = None, output: Output = None) -> None:
    """The incidents tracked across scheduled runs: open since, last seen, resolved, notifications pending.

    Kept in the lake by `flowlogs run` and `report findings --notify`.

    Example: flowlogs report incidents --state all
    """
    from pipeline.analysis.reports import incident_report
    from pipeline.vocabulary import INCIDENT_STATES

    if state != "all" and state not in INCIDENT_STATES:
        raise FlowlogsError(f"--state: unknown state {state!r}", f"valid: {', '.join(INCIDENT_STATES)}, all")
    check_output(output)
    write_output(incident_report(read_store(ctx), state), fmt, output, title=f"incidents ({state})", sort=False)


def _table(name: str):
    def command(ctx: typer.Context, since: Since = None, until: Until = None, port: Port = None, fmt: Fmt = None,
                output: Output = None, settle: Settle = 900) -> None:
        from pipeline.analysis.reports import table_report

        flt = filters_from(since, until, None, None, None, None, port, None)
        write_output(table_report(read_store(ctx), name, flt, settle, settings_of(ctx)), fmt, output, title=name)

    return command


for _name, _doc in (
    ("rejects", "REJECTed flows by ENI, destination and port.\n\nExample: flowlogs report rejects --since 1h"),
    ("no-return", "Conversations with requests and no reply (and no REJECT).\n\nExample: flowlogs report no-return --port 443"),
    ("talkers", "Top client → server pairs by bytes, with how many fail.\n\nExample: flowlogs report talkers -f csv"),
    ("endpoints", "Traffic and health per destination endpoint.\n\nExample: flowlogs report endpoints"),
):
    _cmd = _table(_name)
    _cmd.__doc__ = _doc
    report_app.command(_name)(_cmd)


@report_app.command("task")
def task_cmd(ctx: typer.Context, task_id: Annotated[str, typer.Argument(help="Task id or ARN.")], since: Since = None,
             until: Until = None, fmt: Fmt = None, output: Output = None) -> None:
    """One task's flow records: direction, decoded TCP flags, action and path.

    Example: flowlogs report task 5f2c1e0a9b8d4c7e
    """
    from pipeline.analysis.reports import task_report

    flt = filters_from(since, until, None, None, None, None, None, None)
    result = task_report(read_store(ctx), task_id, flt, settings_of(ctx))
    write_output(result["records"], fmt, output, title=f"task {task_id}", sort=False)
