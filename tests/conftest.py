"""Shared fixtures: a real moto server on 127.0.0.1, and AWS settings that reach nothing else."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_LOGS = REPO / "sample_logs"
REAL_SAMPLES = REPO.parent / "shared" / "real_samples"


def cli_commands(group=None, prefix=()):
    """(path, click command) of every `flowlogs` command, e.g. (("report", "findings"), cmd)."""
    import typer.main

    from pipeline.cli import app

    group = group or typer.main.get_command(app)
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from cli_commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def shared_or_skip(path: Path) -> Path:
    """``path`` under ../shared (beside the repository on the team's machines only), or a skip with
    the reason where it is absent, as on a fresh clone; under CI=true its absence is a failure."""
    if not path.exists():
        reason = f"{path} is absent: ../shared lies beside the repository only on the team's machines"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI=true, so this is an error, not a skip")
        pytest.skip(reason)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_moto_server():
    """A moto server subprocess on 127.0.0.1 (a free port): boto3 talks HTTP to it as to AWS."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto server did not start")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_server():
    """The session's moto server (tests reset it through the ``aws`` fixture)."""
    with running_moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_server, monkeypatch):
    """A clean moto state and AWS settings pointing only at it (dummy credentials)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=5)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    return moto_server


def sample_metadata() -> list[Path]:
    """The sample account's metadata files (every one is read by an importer)."""
    return sorted((SAMPLE_LOGS / "metadata").iterdir())


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory):
    """The lake of the bundled sample account: what `flowlogs demo` loads of it (its flow logs and metadata)."""
    from pipeline.jobs import demo
    from pipeline.lake import store as lake

    store = lake.open_lake(tmp_path_factory.mktemp("sample") / "lake")
    summary, _, _, _ = demo.load(store, workers=2)
    assert summary.clean, summary
    return store


def shared(*parts: str) -> Path:
    """A path under ../shared (the team's reference files): the test is skipped when it is
    absent, and fails under CI=true, where it must be there."""
    return shared_or_skip(REPO.parent.joinpath("shared", *parts))
