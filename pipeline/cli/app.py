"""The root typer app, its global options and the one place library errors become exit statuses."""


from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

import click

from pipeline.errors import explain_unexpected


class _Group(TyperGroup):
    """Turns every error into ``Error: …`` / ``Hint: …`` and an exit status, once for all commands:
    library errors with their own status, anything unexpected with 2; the traceback only with --debug."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:  # the reader went away (| head): nothing more to say, to anyone
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except Exception as raised:  # noqa: BLE001 - the one boundary between the library and a shell
            if ctx.obj is not None and getattr(ctx.obj, "debug", False):
                raise
            exc = explain_unexpected(raised)
            typer.echo(f"Error: {exc.message}", err=True)
            if exc.hint:
                typer.echo(f"Hint: {exc.hint}", err=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_Group,
    help="Why can't my ECS Fargate task reach that AWS service? Flow logs in, causes out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@dataclass
class Globals:
    lake: str | None = None
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    debug: bool = False


@app.callback()
def _globals(
    ctx: typer.Context,
    lake: Annotated[Optional[str], typer.Option(help="Lake directory or s3://bucket/prefix.", envvar="FLOWLOGS_LAKE", show_default="./flowlogs-lake")] = None,
    profile: Annotated[Optional[str], typer.Option(help="AWS profile (as in the AWS CLI).", envvar="AWS_PROFILE")] = None,
    region: Annotated[Optional[str], typer.Option(help="AWS region for API calls.")] = None,
    endpoint_url: Annotated[Optional[str], typer.Option(help="Custom AWS endpoint (e.g. a moto server).", envvar="AWS_ENDPOINT_URL")] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks on errors.")] = False,
) -> None:
    """Why can't my ECS Fargate task reach that AWS service? Flow logs in, causes out.

    Global options go before the command: flowlogs --lake DIR ingest PATH
    """
    ctx.obj = Globals(lake, profile, region, endpoint_url, debug)


def main() -> None:
    app()
