"""``flowlogs probe``: test from inside the service's network (a probe task, or ECS Exec), and read the answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.cli.app import app
from pipeline.cli.common import FORMAT_HELP, aws_settings, open_store, settings_of, write_output
from pipeline.errors import EXIT_FOUND, FlowlogsError

probe_app = typer.Typer(no_args_is_help=True, invoke_without_command=True)
app.add_typer(probe_app, name="probe", rich_help_panel="Analyse")

RUN_PANEL = "Probe task"
EXEC_PANEL = "ECS Exec"


def _targets(given: list[str] | None, region: str, port: int):
    from pipeline.jobs.probe_script import TARGET_HELP, target

    if not given:
        raise FlowlogsError("no --target given", f"name what to probe with --target (repeatable): {TARGET_HELP}")
    return [target(t, region, port) for t in given]


def _region(ctx: typer.Context) -> str:
    from pipeline import aws

    return aws.client(aws_settings(ctx), "ecs").meta.region_name


def show_results(ctx: typer.Context, store, runs: list[str], fmt, output) -> None:
    """The probe rows of ``runs``, each failure read like `flowlogs explain`; exit 1 when a target failed."""
    from pipeline.analysis.connection import connect
    from pipeline.analysis.probes import results, verdicts

    con = connect(store)
    rows = [r for run in runs for r in results(con, run)]
    write_output(rows, fmt, output, title="probe", sort=False)
    failed = [v for v in verdicts(rows) if v["verdict"] != "ok"]
    for v in failed:
        typer.echo(f"{v['target']}: {v['failed_step']} failed: {v['error']}", err=True)
    if failed:
        raise typer.Exit(EXIT_FOUND)


@probe_app.callback()
def probe_cmd(
    ctx: typer.Context,
    cluster: Annotated[Optional[str], typer.Option(help="The service's (or --task's) ECS cluster.")] = None,
    service: Annotated[Optional[str], typer.Option(help="Probe from a new task on this service's network and task role.", rich_help_panel=RUN_PANEL)] = None,
    target: Annotated[Optional[list[str]], typer.Option("--target", help="What to probe (repeatable): sqs, sns, secretsmanager, ssm, ecr, logs, kms, s3, sts, dynamodb, ssmmessages, or host:port.")] = None,
    port: Annotated[int, typer.Option(help="The port of the service targets.", min=1, max=65535)] = 443,
    image: Annotated[str, typer.Option(help="The probe's image (it needs sh, curl and the AWS CLI): one in your ECR when the subnets have no route to public ECR.", rich_help_panel=RUN_PANEL)] = "public.ecr.aws/aws-cli/aws-cli",
    log_group: Annotated[str, typer.Option(help="CloudWatch Logs group for the probe's output (created if missing).", rich_help_panel=RUN_PANEL)] = "/flowlogs/probe",
    timeout: Annotated[int, typer.Option(help="Seconds to wait for the probe to finish.", min=1, rich_help_panel=RUN_PANEL)] = 300,
    interval: Annotated[float, typer.Option(help="Seconds between looks at the task and its log.", min=0.0, rich_help_panel=RUN_PANEL)] = 5.0,
    deregister: Annotated[bool, typer.Option(help="Deregister the probe task definition afterwards (else it is reused next time).", rich_help_panel=RUN_PANEL)] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print every AWS call and the probe script; run nothing.", rich_help_panel=RUN_PANEL)] = False,
    task: Annotated[Optional[str], typer.Option(help="A running task (id or ARN) to probe from with ECS Exec.", rich_help_panel=EXEC_PANEL)] = None,
    exec_: Annotated[bool, typer.Option("--exec", help="Print the `aws ecs execute-command` line that runs the probe in --task.", rich_help_panel=EXEC_PANEL)] = False,
    container: Annotated[Optional[str], typer.Option(help="The container to exec into (default: the first whose exec agent runs).", rich_help_panel=EXEC_PANEL)] = None,
    role_arn: Annotated[Optional[str], typer.Option(help="Assume this IAM role to call ECS and CloudWatch Logs.")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help=FORMAT_HELP)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write the results to this file.")] = None,
) -> None:
    """Test it from inside: DNS, TCP, TLS and a signed call to each target, from the service's own network.

    With --cluster and --service: runs a probe task (the AWS CLI image) with the service's subnets,
    security groups, public-IP setting, task role and proxy variables, reads its output from
    CloudWatch Logs, stops it and keeps the answers in the lake (`probes` table). With --task and
    --exec: prints the `aws ecs execute-command` line that runs the same probe in the running
    container; `flowlogs probe import` reads what it printed. Exit status 1 when a target failed.

    Example: flowlogs probe --cluster prod --service orders --target sqs --target secretsmanager
    Example: flowlogs probe --cluster prod --task 0f6e… --exec --target sqs
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = aws_settings(ctx, role_arn)
    if exec_:
        if not (cluster and task):
            raise FlowlogsError("--exec needs --cluster and --task", "name the running task to exec into")
        from pipeline.jobs.probe_exec import exec_line

        typer.echo(exec_line(settings, cluster, task, container, _targets(target, _region(ctx), port),
                             profile=settings_of(ctx).profile))
        return
    if task:
        raise FlowlogsError("--task goes with --exec", "add --exec, or probe a service with --service")
    if not (cluster and service):
        raise FlowlogsError("flowlogs probe needs --cluster and --service (or --task with --exec)",
                            "see flowlogs probe --help")
    from pipeline.jobs.probe import probe

    targets = _targets(target, _region(ctx), port)
    store = None if dry_run else open_store(ctx)
    outcome = probe(settings, store, cluster, service, targets, image=image, log_group=log_group,
                    timeout=timeout, interval=interval, dry_run=dry_run, deregister=deregister,
                    say=typer.echo, progress=lambda line: typer.echo(line, err=True))
    if dry_run:
        return
    typer.echo(f"probe task {outcome.task_arn} stopped; task definition {outcome.task_definition_arn} "
               + ("deregistered" if outcome.deregistered else
                  f"kept for next time (aws ecs deregister-task-definition --task-definition "
                  f"{outcome.task_definition_arn})"), err=True)
    show_results(ctx, store, outcome.runs, fmt, output)


@probe_app.command("import")
def import_cmd(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The probe's output: the saved execute-command session, or its JSON lines.")],
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help=FORMAT_HELP)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write the results to this file.")] = None,
) -> None:
    """Read a probe's output (from `flowlogs probe --exec`) into the lake's `probes` table and show it.

    The Session Manager's own lines around the probe's JSON lines are ignored; importing the same
    output twice adds nothing. Exit status 1 when a target failed.

    Example: flowlogs probe import probe-0f6e1c.txt
    """
    from pipeline.ingest.sources.probe_output import has_probe_lines, probe_output
    from pipeline.jobs.probe import import_output

    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        raise FlowlogsError(f"{path}: {exc.strerror or exc}", "give the file the probe's output was saved to") from None
    source = probe_output(path, text)
    if not has_probe_lines(source):
        raise FlowlogsError(f"{path}: no probe lines in it (JSON lines with \"probe\": \"flowlogs/1\")",
                            "give the output of the probe script (flowlogs probe --exec prints how to save it)")
    store = open_store(ctx)
    summary = import_output(store, source)
    typer.echo(f"{path}: {summary.records.get('probes', 0)} probe rows"
               + (f", {summary.quarantined} quarantined (flowlogs lake info)" if summary.quarantined else "")
               + (" (already in the lake)" if summary.skipped else ""), err=True)
    show_results(ctx, store, source.runs(), fmt, output)


@app.command("exec-check", rich_help_panel="Analyse")
def exec_check_cmd(
    ctx: typer.Context,
    cluster: Annotated[str, typer.Option(help="The task's ECS cluster.")],
    task: Annotated[str, typer.Option(help="The task (id or ARN).")],
    collect: Annotated[bool, typer.Option("--collect", help="Read the cluster's metadata from the account first (flowlogs metadata collect --cluster).")] = False,
    role_arn: Annotated[Optional[str], typer.Option(help="Assume this IAM role to collect.")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help=FORMAT_HELP)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write the checks to this file.")] = None,
) -> None:
    """Can ECS Exec reach this task? Each prerequisite as pass, fail or unknown, with its fix.

    Checked against the lake's metadata (flowlogs metadata import of saved CLI output, or --collect):
    enableExecuteCommand, platform version 1.4.0+, the exec agent, the task role's ssmmessages
    permissions, a route to ssmmessages, egress on 443, and the cluster's KMS key. Exit status 1
    when a prerequisite fails.

    Example: flowlogs exec-check --cluster prod --task 0f6e1c --collect --profile prod
    """
    from pipeline.analysis.connection import connect
    from pipeline.analysis.exec_check import FAIL, exec_check

    store = open_store(ctx)
    if collect:
        from pipeline import aws
        from pipeline.metadata.collect import collect as collect_metadata

        settings = aws_settings(ctx, role_arn)
        try:
            collect_metadata(store, aws.session(settings), clusters=[cluster], endpoint_url=settings.endpoint_url)
        except (RuntimeError, ValueError) as exc:
            raise FlowlogsError(str(exc), aws.CREDENTIALS_HINT) from None
    checks = exec_check(connect(store), cluster, task)
    write_output([c.as_dict() for c in checks], fmt, output, title="exec-check", sort=False)
    if any(c.result == FAIL for c in checks):
        raise typer.Exit(EXIT_FOUND)
