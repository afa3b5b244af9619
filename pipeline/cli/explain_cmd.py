"""``flowlogs explain MESSAGE``: what an access-denied message or a task's stoppedReason means, and the fix."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from pipeline.cli.app import app
from pipeline.cli.common import FORMAT_HELP, open_store, settings_of, write_output
from pipeline.errors import FlowlogsError


@app.command("explain", rich_help_panel="Analyse")
def explain_cmd(
    ctx: typer.Context,
    message: Annotated[Optional[str], typer.Argument(help="The error text; '-' or nothing reads it from stdin.")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help=FORMAT_HELP)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Explain an AWS access-denied error, a CloudTrail errorMessage or an ECS stoppedReason.

    Example: flowlogs explain "An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: …"
    """
    from pipeline.analysis.explain import explain, explanation_rows

    if message in (None, "-"):
        if message is None and sys.stdin.isatty():
            raise FlowlogsError("no message given", "pass the error text as an argument, or pipe it: … | flowlogs explain -")
        message = sys.stdin.read()
    result = explain(message, open_store(ctx) if settings_of(ctx).lake else None)
    as_document = (fmt or "").lower() in ("json", "jsonl", "ndjson") or (fmt is None and output and output.endswith((".json", ".jsonl")))
    data = result.as_dict() if as_document else explanation_rows(result)
    write_output(data, fmt, output, title="explain", sort=False)
