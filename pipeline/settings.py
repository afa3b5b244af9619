"""The global settings, declared once: which lake, and where and as whom to call AWS.

The command line's global options (``--lake``, ``--profile``, ``--region``,
``--endpoint-url``, ``--debug``, ``--memory-limit``, ``--engine``, ``--spark-master``, and Athena's ``--workgroup``, ``--athena-output``,
``--database``, accepted anywhere on the line), the scheduled run's
config file (its top-level keys) and the AWS clients all use one :class:`Settings`.
It is picklable (worker processes get it) and holds no secret.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Option:
    """A global option: its field, its help text and the environment variable it falls back to."""

    name: str
    help: str
    envvar: str | None = None
    flag: bool = False
    shown_default: str | None = None

    @property
    def cli(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS = (
    Option("lake", "Lake directory or s3://bucket/prefix.", "FLOWLOGS_LAKE", shown_default="./flowlogs-lake"),
    Option("profile", "AWS profile (as in the AWS CLI).", "AWS_PROFILE"),
    Option("region", "AWS region for API calls."),
    Option("endpoint_url", "Custom AWS endpoint (e.g. a moto server).", "AWS_ENDPOINT_URL"),
    Option("debug", "Show tracebacks on errors.", flag=True),
    Option("memory_limit", "Memory DuckDB may use for queries: 4GB, 512MiB, or a share of this machine's (50%); "
           "past it, work spills to the lake's _tmp/ folder.", "FLOWLOGS_MEMORY_LIMIT", shown_default="50%"),
    Option("engine", "Where the SQL runs: duckdb (this machine), spark (--spark-master) or athena (over the lake's "
           "S3 tables; flowlogs athena ddl makes them).", "FLOWLOGS_ENGINE", shown_default="duckdb"),
    Option("spark_master", "Spark master URL for --engine spark (local[*], spark://host:7077, yarn…).",
           "FLOWLOGS_SPARK_MASTER", shown_default="local[*]"),
    # Athena (--engine athena, flowlogs athena ddl --apply). Its result location is --athena-output, not
    # --output: report and sql already take --output/-o for the file they write.
    Option("workgroup", "Athena workgroup the queries run in.", "FLOWLOGS_ATHENA_WORKGROUP", shown_default="primary"),
    Option("athena_output", "Athena's query result location, s3://bucket/prefix/ (also where scratch tables go).",
           "FLOWLOGS_ATHENA_OUTPUT"),
    Option("database", "Athena (Glue) database holding the lake's tables (flowlogs athena ddl creates them).",
           "FLOWLOGS_ATHENA_DATABASE", shown_default="flowlogs"),
)


@dataclass(frozen=True)
class Settings:
    lake: str | None = None
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    debug: bool = False
    memory_limit: str | None = None
    role_arn: str | None = None  # per command (--role-arn) or per config file, not global
    workgroup: str | None = None
    athena_output: str | None = None
    database: str | None = None
    engine: str | None = None
    spark_master: str | None = None

    def over(self, fallback: "Settings") -> "Settings":
        """These settings, with ``fallback``'s values where these have none."""
        return replace(self, **{f.name: getattr(fallback, f.name) for f in fields(self)
                                if getattr(self, f.name) in (None, False)})

    def with_role(self, role_arn: str | None) -> "Settings":
        return replace(self, role_arn=role_arn) if role_arn else self


KEYS = tuple(f.name for f in fields(Settings))
