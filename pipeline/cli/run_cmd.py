"""``flowlogs run``: the scheduled job (ingest, metadata, findings) from a config file."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipeline.cli.app import app
from pipeline.cli.common import open_store, settings_of


@app.command("run", rich_help_panel="Start here")
def run_cmd(
    ctx: typer.Context,
    config: Annotated[str, typer.Option("--config", "-c", help="The TOML file (see `pipeline/scheduled.py` or the README).")],
) -> None:
    """Ingest, collect metadata and report in one go, for cron or an ECS scheduled task.

    Prints one JSON summary line for log collectors. Exit status: 0 nothing over the
    threshold, 1 findings of a `fail_on` kind over the threshold, 2 error.

    Example: flowlogs run --config flowlogs.toml
    """
    from pipeline.jobs.scheduled import load, run
    from pipeline.lake import limits

    cfg = load(config)
    ctx.find_root().obj = settings = settings_of(ctx).over(cfg.settings)  # the command line wins
    limits.set_memory_limit(settings.memory_limit)
    summary, status = run(open_store(ctx), settings, cfg)
    typer.echo(json.dumps(summary, default=str, separators=(",", ":")))
    raise typer.Exit(status)
