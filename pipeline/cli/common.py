"""Option types and helpers shared by the commands."""

from __future__ import annotations

import sys

import typer

from ..errors import FlowlogsError


def globals_of(ctx: typer.Context):
    return ctx.find_root().obj


def open_store(ctx: typer.Context):
    """The lake named by --lake / $FLOWLOGS_LAKE / the default, opened for use."""
    from .. import lake

    g = globals_of(ctx)
    try:
        return lake.open_lake(g.lake, s3_options=s3_options(ctx) if (g.lake or "").startswith("s3://") else None)
    except lake.LakeError as exc:
        raise FlowlogsError(str(exc)) from None


def s3_options(ctx: typer.Context) -> dict:
    """pyarrow S3FileSystem options from the same settings boto3 uses."""
    import boto3

    g = globals_of(ctx)
    session = boto3.Session(profile_name=g.profile, region_name=g.region)
    creds = session.get_credentials()
    options: dict = {"region": session.region_name or "us-east-1"}
    if creds is not None:
        frozen = creds.get_frozen_credentials()
        options.update(access_key=frozen.access_key, secret_key=frozen.secret_key, session_token=frozen.token)
    if g.endpoint_url:
        options["endpoint_override"] = g.endpoint_url
        if g.endpoint_url.startswith("http://"):
            options["scheme"] = "http"
    return options


def is_terminal() -> bool:
    return sys.stdout.isatty()
