"""The bundled sample account (``sample_logs/``): where it is and how to load it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from . import ingest
from .metadata import import_files
from .storage import Store


def sample_logs() -> Path:
    """``pipeline/sample_logs`` in an installed wheel, the repository's ``sample_logs/`` in a checkout."""
    packaged = Path(__file__).parent / "sample_logs"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "sample_logs"


def load(store: Store, workers: int | None = None):
    """Ingest the sample flow logs and import the sample metadata (captured at 11:05 UTC)."""
    root = sample_logs()
    summary, run = ingest.ingest(store, ingest.local_sources([root / "s3"]), workers=workers)
    captured = json.loads((root / "faults.json").read_text())["metadata_snapshot_at"]
    result = import_files(store, sorted((root / "metadata").iterdir()),
                          snapshot_time=datetime.fromisoformat(captured.replace("Z", "+00:00")))
    return summary, run, result
