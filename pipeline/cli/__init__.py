"""The ``flowlogs`` command line: thin commands over the library.

Global options go anywhere on the line: ``flowlogs ingest … --lake DIR``.
Heavy libraries (duckdb, pyarrow, boto3) are imported inside commands, so that
``flowlogs --help`` starts fast. The only stage that imports typer and rich; may import
every other stage.
"""

from pipeline.cli.app import app, main
from pipeline.cli import (  # noqa: F401  (each command module registers its commands on app)
    athena_cmd, demo_cmd, explain_cmd, ingest_cmd, lake_cmd, metadata_cmd, probe_cmd, report_cmd, run_cmd, sql_cmd)

__all__ = ["app", "main"]
