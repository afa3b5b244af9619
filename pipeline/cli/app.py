"""The root typer app, its global options and the one place library errors become exit statuses."""


from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

import click
from pipeline.errors import explain_unexpected
from pipeline.settings import OPTIONS, Settings


def globals_first(args: list[str]) -> list[str]:
    """``args`` with the global options (and their values) moved to the front, in their order, so that
    they may be given anywhere: before the command, between group and command, or after it."""
    takes_value = {o.cli: not o.flag for o in OPTIONS}
    takes_value.update({"--no-" + o.cli[2:]: False for o in OPTIONS if o.flag})
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        name = arg.split("=", 1)[0]
        if name not in takes_value:
            rest.append(arg)
        elif takes_value[name] and "=" not in arg and i + 1 < len(args):
            front += args[i:i + 2]
            i += 1
        else:
            front.append(arg)
        i += 1
    return front + rest


class _Group(TyperGroup):
    """Turns every error into ``Error: …`` / ``Hint: …`` and an exit status, once for all commands:
    library errors with their own status, anything unexpected with 2; the traceback only with --debug."""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, globals_first(args) if ctx.parent is None else args)

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
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _option(name: str, annotation):
    o = next(o for o in OPTIONS if o.name == name)
    shown = {"show_default": o.shown_default} if o.shown_default else {}
    return Annotated[annotation, typer.Option(help=o.help, envvar=o.envvar, **shown)]


Lake = _option("lake", Optional[str])
Profile = _option("profile", Optional[str])
Region = _option("region", Optional[str])
EndpointUrl = _option("endpoint_url", Optional[str])
Debug = _option("debug", bool)
MemoryLimit = _option("memory_limit", Optional[str])
Workgroup = _option("workgroup", Optional[str])
AthenaOutput = _option("athena_output", Optional[str])
Database = _option("database", Optional[str])
Engine = _option("engine", Optional[str])
SparkMaster = _option("spark_master", Optional[str])


def _version(value: bool) -> None:
    if value:
        from pipeline import __version__

        typer.echo(f"flowlogs {__version__}")
        raise typer.Exit()


Version = Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_version)]


@app.callback()
def _globals(ctx: typer.Context, lake: Lake = None, profile: Profile = None, region: Region = None,
             endpoint_url: EndpointUrl = None, debug: Debug = False, memory_limit: MemoryLimit = None,
             workgroup: Workgroup = None, athena_output: AthenaOutput = None, database: Database = None,
             engine: Engine = None, spark_master: SparkMaster = None, version: Version = False) -> None:
    """Why can't my ECS Fargate task reach that AWS service? Flow logs in, causes out.

    Global options go anywhere on the line: flowlogs ingest PATH --lake DIR
    """
    from pipeline.lake import limits

    ctx.obj = Settings(lake, profile, region, endpoint_url, debug, memory_limit,
                       workgroup=workgroup, athena_output=athena_output, database=database,
                       engine=engine, spark_master=spark_master)
    limits.set_memory_limit(memory_limit)


def main() -> None:
    app()
