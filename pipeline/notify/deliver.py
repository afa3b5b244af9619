"""One run's notifications: track the incidents in the lake, send what changed, commit what was sent.

Under the lake's lock (two overlapping runs would both see a change and both tell it):

1. read the records (``pipeline.lake.incidents``) and advance them with the run's document
   (``lifecycle.track``): each ``new`` or ``resolved`` change is an event in the record's outbox,
   pending for every target;
2. send every pending event (this run's, and those earlier runs could not deliver), oldest first:
   a target that fails an event gets none of that incident's later events this run, so a
   resolution never arrives before its opening;
3. rewrite the record after each delivery, and once more at the end with what is still pending.

So a change is committed only with its notifications sent, or with the failed ones still in the
outbox for the next run: never lost.  A run killed between a send and its commit sends that
event again next run with the same idempotency key (the receiver can drop it; a FIFO topic does).
"""

from __future__ import annotations

from typing import Mapping

from pipeline import vocabulary
from pipeline.lake import incidents
from pipeline.lake.locking import lake_lock
from pipeline.notify import lifecycle
from pipeline.notify.senders import SendError, Target, send


def _commit(store, record: Mapping) -> None:
    incidents.save(store, {**record, "outbox": [e for e in record.get("outbox", []) if e["pending"]]})


def deliver(store, settings, doc: dict, targets: list[Target], *, attempts: int = 4, backoff: float = 1.0) -> dict:
    """Track ``doc``'s incidents and notify ``targets``; returns the run summary's ``incidents`` part."""
    by_name = {t.name: t for t in targets}
    with lake_lock(store, "notify"):
        records = incidents.load(store)
        changed, changes = lifecycle.track(records, doc, list(by_name))
        work = {**{i: r for i, r in records.items() if any(e["pending"] for e in r.get("outbox", []))}, **changed}
        sent, failed = 0, []
        for incident_id in sorted(work):
            record = work[incident_id]
            stopped: set[str] = set()  # targets that failed an earlier event of this incident
            for event in record.get("outbox", []):
                for name in [n for n in event["pending"] if n in by_name and n not in stopped]:
                    try:
                        send(by_name[name], event["payload"], settings, attempts=attempts, backoff=backoff)
                    except SendError as exc:
                        event.update(attempts=event["attempts"] + 1, error=str(exc))
                        stopped.add(name)
                        failed.append({"incident": incident_id, "change": event["change"], "target": name,
                                       "error": str(exc)})
                        continue
                    event["pending"].remove(name)
                    sent += 1
                    _commit(store, record)
            _commit(store, record)
            records[incident_id] = record
    counts = {change: sum(1 for did in changes.values() if change in did) for change in vocabulary.INCIDENT_CHANGES}
    return {**counts, "open": sum(1 for r in records.values() if r["state"] == lifecycle.OPEN), "sent": sent,
            "undelivered": sum(len(e["pending"]) for r in records.values() for e in r.get("outbox", [])),
            "failed": failed}
