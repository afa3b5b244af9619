"""``flowlogs athena``: the lake's tables in Athena (the queries run there with ``--engine athena``)."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.app import app
from pipeline.cli.common import read_store, settings_of

athena_app = typer.Typer(help="Query the lake on S3 with Amazon Athena: create its tables.", no_args_is_help=True)
app.add_typer(athena_app, name="athena", rich_help_panel="Analyse")


@athena_app.command("ddl")
def ddl_cmd(
    ctx: typer.Context,
    apply: Annotated[bool, typer.Option("--apply", help="Also run the statements on Athena (StartQueryExecution, "
                                                         "in --workgroup, results under --athena-output).")] = False,
) -> None:
    """Print CREATE EXTERNAL TABLE statements, with partition projection, for every lake table.

    No crawler and no MSCK REPAIR: the partitions are projected (accounts and regions as found in
    the lake now, days from the first to today). Make them again after a new account or region.

    Example: flowlogs athena ddl --lake s3://my-bucket/flowlogs --database flowlogs --apply
    """
    from pipeline.engines import athena

    settings = settings_of(ctx)
    made = athena.ddl(read_store(ctx), settings.database or athena.DEFAULT_DATABASE)
    statements = made.statements()
    typer.echo(";\n\n".join(statements) + ";")
    for table, days in made.unknown_days.items():
        typer.echo(f"note: {table} has {days} dt=unknown partitions (records without a time): "
                   "Athena's date projection does not see them", err=True)
    if apply:
        runs = athena.apply(statements, settings)
        typer.echo(f"applied {len(runs)} statements in workgroup {settings.workgroup or athena.DEFAULT_WORKGROUP}: "
                   f"database {made.database}, {len(made.tables)} tables, {len(made.views)} views", err=True)
