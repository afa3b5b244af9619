"""The incidents' lifecycle records in the lake: one JSON file per incident id.

    LAKE/_state/incidents/<incident-id>.json

Each record holds the incident's lifecycle state (``open`` or ``resolved``, see
``pipeline.vocabulary.INCIDENT_STATES``), when it opened and was last seen failing, its latest
incident JSON, and its outbox: the notifications not yet delivered to every target. A record
is rewritten whole (atomically: a temporary file and a rename locally, one PUT on S3), after
each delivery, so a run killed part-way loses nothing it had sent.
"""

from __future__ import annotations

import json

from pipeline.errors import FlowlogsError
from pipeline.lake.storage import Store

FOLDER = "_state/incidents"


def load(store: Store) -> dict[str, dict]:
    """incident id -> its record."""
    out = {}
    for path in store.list_files(FOLDER, ".json"):
        raw = store.read_bytes(path)
        if not raw:
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            raise FlowlogsError(f"the incident record {store.path(path)} is damaged (not JSON)",
                                "delete it: the next run opens the incident again") from None
        out[record["id"]] = record
    return out


def save(store: Store, record: dict) -> None:
    store.write_bytes(f"{FOLDER}/{record['id']}.json", json.dumps(record, indent=1, default=str).encode())
