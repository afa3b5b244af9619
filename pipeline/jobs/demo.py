"""The bundled sample account (``sample_logs/``): where it is and how to load it."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.ingest import load as ingest
from pipeline.ingest.keys import parse_key
from pipeline.ingest.sources.local import local_sources
from pipeline.metadata import import_documents
from pipeline.metadata.recognise import load_file
from pipeline.lake.storage import Store
from pipeline.times import parse_time


def sample_logs() -> Path:
    """``pipeline/sample_logs`` in an installed wheel, the repository's ``sample_logs/`` in a checkout."""
    package = Path(__file__).resolve().parents[1]
    packaged = package / "sample_logs"
    return packaged if packaged.is_dir() else package.parent / "sample_logs"


def load(store: Store, workers: int | None = None):
    """Ingest the sample's logs and import its metadata (captured at 11:05 UTC), as far as this version reads them.

    The sample also holds a CloudTrail trail, Resolver query logs and IAM, ECS and DNS metadata
    (sample_logs/README.md): objects whose key no ingest layout knows and files no importer recognises
    are left out and counted in the returned ``unread`` list, so the demo keeps working as readers are added."""
    root = sample_logs()
    files = local_sources([root / "s3"])
    unread = [src.name for src in files if not parse_key(src.name).layout]
    summary, run = ingest.ingest(store, [src for src in files if parse_key(src.name).layout], workers=workers)
    captured = json.loads((root / "faults.json").read_text())["metadata_snapshot_at"]
    observed = parse_time(captured)
    docs = []
    for path in sorted((root / "metadata").iterdir()):
        try:
            docs.append(load_file(path, observed))
        except ValueError:
            unread.append(str(path))
    result = import_documents(store, docs)
    return summary, run, result, unread
