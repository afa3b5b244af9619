"""The root typer app, its global options and the one place library errors become exit statuses."""


from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from pipeline.errors import FlowlogsError


class _Group(TyperGroup):
    """Turns library errors into ``Error: …`` / ``Hint: …`` and an exit status, once for all commands."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FlowlogsError as exc:
            if ctx.obj is not None and getattr(ctx.obj, "debug", False):
                raise
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
