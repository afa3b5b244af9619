"""The bundled sample account (``sample_logs/``): where it is and how to load it."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.ingest import load as ingest
from pipeline.ingest.sources.local import local_sources
from pipeline.metadata import import_files
from pipeline.lake.storage import Store
from pipeline.times import parse_time


def sample_logs() -> Path:
    """``pipeline/sample_logs`` in an installed wheel, the repository's ``sample_logs/`` in a checkout."""
    package = Path(__file__).resolve().parents[1]
    packaged = package / "sample_logs"
    return packaged if packaged.is_dir() else package.parent / "sample_logs"


def load(store: Store, workers: int | None = None):
    """Ingest the sample flow logs and import the sample metadata (captured at 11:05 UTC)."""
    root = sample_logs()
    summary, run = ingest.ingest(store, local_sources([root / "s3"]), workers=workers)
    captured = json.loads((root / "faults.json").read_text())["metadata_snapshot_at"]
    result = import_files(store, sorted((root / "metadata").iterdir()),
                          snapshot_time=parse_time(captured))
    return summary, run, result
