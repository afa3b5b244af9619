"""Fault injection: ``flowlogs ingest`` (2 worker processes) killed with SIGTERM or SIGKILL at
random points, 10 runs each, then run again: the lake equals a clean run's, and no process
of the killed run is left behind (workers, resource tracker).

The points are random but reproducible (a seeded generator); the kill goes to the parent
only, as ``kill PID``, cron or an orchestrator's stop would send it.
"""

from __future__ import annotations

import gzip
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.ingest import load
from pipeline.ingest.sources.local import local_sources
from pipeline.lake import store as lake
from test_lake_local import digests, record, s3_path, text

REPO = Path(__file__).resolve().parent.parent
FILES, LINES = 8, 300


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bucket")
    for n in range(FILES):
        s3_path(root, n).write_bytes(gzip.compress(text([record(n * 1000 + i) for i in range(LINES)]), 1))
    return root


@pytest.fixture(scope="module")
def clean(tree, tmp_path_factory) -> dict:
    store = lake.open_lake(tmp_path_factory.mktemp("clean") / "lake")
    load.ingest(store, local_sources([tree]), workers=1)
    return digests(Path(store.root))


def group_members(pgid: int) -> list[int]:
    """The processes still in the process group ``pgid`` (the killed run's workers inherit it)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


def killed_run(tree: Path, lake_dir: Path, sig: int, after: float, *, from_start: bool) -> subprocess.CompletedProcess:
    """Run ingest and send ``sig`` ``after`` seconds from its start, or from when the run began
    (its staging folder appears: the command is past its imports and options)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "--lake", str(lake_dir), "ingest", "--workers", "2", "-q", str(tree)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 30
    while not from_start and not (lake_dir / "_staging").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.01)
    time.sleep(after)
    proc.send_signal(sig)  # the parent only
    out, err = proc.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while (left := group_members(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes left behind after {signal.Signals(sig).name} at {after:.2f}s: {left}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_at_random_points_then_rerun_equals_a_clean_run(tree, clean, tmp_path, sig):
    rng = random.Random(f"faults-{int(sig)}")
    stopped_cleanly = 0
    for attempt in range(10):
        lake_dir = tmp_path / f"lake{attempt}"
        from_start = attempt % 3 == 0  # some during start-up, most while sources are read
        after = rng.uniform(0.1, 1.0)
        done = killed_run(tree, lake_dir, sig, after, from_start=from_start)
        if sig == signal.SIGTERM and done.returncode == 2:
            assert "ingest stopped by SIGTERM" in done.stderr and "Traceback" not in done.stderr, done.stderr
            stopped_cleanly += 1
        store = lake.open_lake(lake_dir)
        assert not [p for p in (lake_dir / "_staging").rglob("*") if p.is_file()] or sig == signal.SIGKILL
        load.ingest(store, local_sources([tree]), workers=1)
        assert digests(lake_dir) == clean, f"{signal.Signals(sig).name} at {after:.2f}s"
        assert not list((lake_dir / "_staging").iterdir()), "the rerun leaves no staging behind"
    if sig == signal.SIGTERM:
        assert stopped_cleanly, "no SIGTERM came while the run was going"
