"""``flowlogs sql``: DuckDB SQL over the lake, saved queries, and an interactive prompt."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pipeline.errors import FlowlogsError
from pipeline.cli.app import app
from pipeline.cli.common import FORMAT_HELP, check_output, read_store, settings_of, write_output


@app.command("sql", rich_help_panel="Analyse")
def sql_cmd(
    ctx: typer.Context,
    query: Annotated[Optional[str], typer.Argument(help="SQL text, or the name of a saved query (see --list).")] = None,
    file: Annotated[Optional[str], typer.Option("--file", "-f", help="Read the SQL from this file.")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="A named parameter: -p port=443 (use $port in SQL); -p port=NULL for any; times as ISO-8601 or relative (2h).")] = None,
    list_queries: Annotated[bool, typer.Option("--list", help="List the saved questions in queries/ with their parameters and defaults.")] = False,
    fmt: Annotated[Optional[str], typer.Option("--format", help=FORMAT_HELP)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write to this file.")] = None,
    allow_writes: Annotated[bool, typer.Option("--allow-writes", help="Let the SQL read and write files outside the lake (COPY … TO, ATTACH); the lake's own files stay read-only.")] = False,
) -> None:
    """Run DuckDB SQL over the lake's views (flows, conversations, findings, metadata).

    The lake is opened read-only and DuckDB can open no other file, unless --allow-writes.

    With no query, opens an interactive prompt with history. Views: flows,
    interface_status, tgw_flows, quarantine, every metadata table (and current_<table>),
    conversations, destinations and findings (built when named).

    Example: flowlogs sql "SELECT action, count(*) FROM flows GROUP BY 1"
    """
    from pipeline import queries

    if list_queries:
        rows = [{"name": q.name, "title": q.title, "why": q.why, "params": "; ".join(p.usage() for p in q.params)}
                for q in queries.of_kind("question")]
        write_output(rows, fmt, output, title="saved questions")
        return
    if file:
        try:
            with open(file) as fh:
                query = fh.read()
        except OSError as exc:
            raise FlowlogsError(f"--file: {exc}") from None
    if query is None:
        _prompt(ctx, allow_writes)
        return
    given = _params(param or [])
    if query in queries.registry():
        saved = queries.get(query)
        _check_runnable(saved)
        query, params = saved.sql, saved.param_values(given)
    else:
        params = {name: _value(text) for name, text in given.items()}
    check_output(output)
    write_output(_run(ctx, query, params, allow_writes), fmt, output, title="sql", sort=False)


def _check_runnable(saved) -> None:
    if saved.kind == "view":
        raise FlowlogsError(f'{saved.name} is a view; query it with flowlogs sql "SELECT … FROM {saved.name}"')
    if saved.kind != "question":
        raise FlowlogsError(f"{saved.name} is a step that flowlogs runs itself with values it computes, not a question",
                            "the saved questions: flowlogs sql --list")


def _params(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise FlowlogsError(f"--param {item!r}: expected name=value")
        out[name] = value
    return out


def _value(text: str):
    """An ad-hoc query's parameter: NULL, a whole number, or text."""
    from pipeline.queries import NULL_WORDS

    if text.lower() in NULL_WORDS[:1]:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def _run(ctx, sql: str, params: dict, allow_writes: bool):
    import duckdb

    from pipeline.analysis.sql import run

    try:
        return run(read_store(ctx), sql, params, allow_writes=allow_writes, settings=settings_of(ctx))
    except duckdb.Error as exc:
        raise FlowlogsError(f"SQL: {exc}", "views: flows, conversations, findings, metadata tables; see flowlogs sql --list") from None


def _prompt(ctx, allow_writes: bool) -> None:
    """A small REPL over one connection (every view built once): statements end with ';',
    history in ~/.flowlogs_history."""
    import os
    import readline

    import duckdb

    from pipeline.analysis.findings import rows
    from pipeline.analysis.sql import DERIVED, check, connect_for

    store = read_store(ctx)
    con = connect_for(store, " ".join(DERIVED), allow_writes=allow_writes)

    history = os.path.expanduser("~/.flowlogs_history")
    try:
        readline.read_history_file(history)
    except OSError:
        pass
    typer.echo("flowlogs sql: end statements with ';', Ctrl-D to quit. Views: flows, conversations, findings, metadata.")
    buffer = ""
    try:
        while True:
            line = input("flowlogs> " if not buffer else "     ...> ")
            buffer += line + "\n"
            if buffer.strip().endswith(";"):
                try:
                    check(store, buffer, allow_writes=allow_writes)
                    write_output(rows(con, buffer.strip().rstrip(";")), None, None, title="sql", sort=False)
                except (duckdb.Error, FlowlogsError) as exc:
                    typer.echo(f"Error: {exc}", err=True)
                buffer = ""
    except EOFError:
        typer.echo("")
    finally:
        readline.write_history_file(history)


@app.command("export", rich_help_panel="Analyse")
def export_cmd(
    ctx: typer.Context,
    duckdb_file: Annotated[str, typer.Option("--duckdb", help="The DuckDB database file to write.")],
) -> None:
    """Write a DuckDB database with the lake's views and tables, for notebooks and BI tools.

    Example: flowlogs export --duckdb incident.duckdb
    """
    from pipeline.analysis.export import export_duckdb

    counts = export_duckdb(read_store(ctx), duckdb_file)
    typer.echo(f"wrote {duckdb_file}: flows views, " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
