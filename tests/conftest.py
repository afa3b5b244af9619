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


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory):
    """The lake of the bundled sample account: sample_logs/s3 ingested, its metadata imported."""
    import json
    from datetime import datetime

    from pipeline.ingest import load as ingest

    from pipeline.ingest.sources.local import local_sources
    from pipeline.lake import store as lake
    from pipeline.metadata.importer import import_files

    store = lake.open_lake(tmp_path_factory.mktemp("sample") / "lake")
    summary, _ = ingest.ingest(store, local_sources([SAMPLE_LOGS / "s3"]), workers=2)
    assert summary.clean, summary
    captured = json.loads((SAMPLE_LOGS / "faults.json").read_text())["metadata_snapshot_at"]
    import_files(store, sorted((SAMPLE_LOGS / "metadata").iterdir()),
                 snapshot_time=datetime.fromisoformat(captured.replace("Z", "+00:00")))
    return store
