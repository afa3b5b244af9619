"""Incidents across runs (pure: records and a findings document in, records and changes out).

Against the records of earlier runs, each incident of a run's document is

- ``new``: no record yet, or a ``resolved`` one failing again after its last recorded failure; its
  record opens (``openings`` counts how often);
- ``ongoing``: open before and still failing, or absent from a window that does not yet reach the
  settle time past its last failure (nothing can be said yet);
- ``resolved``: open, and the run's window reaches ``ONGOING_SECONDS`` (plus the settle time for
  states given only after it) past its last failure without a new one: the pairs succeeded or
  stayed silent.  A new incident that already stopped within the window opens and resolves in
  the same run: both happened, both are told.

Each ``new`` or ``resolved`` change puts one event in the record's outbox, for every target, with
an idempotency key (incident id, opening, change) that stays the same however often the event is
retried.  The incidents of the document are marked with their ``change``.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Mapping

from pipeline import times, vocabulary
from pipeline.analysis.document import ONGOING_SECONDS, parse_time

OPEN, RESOLVED_STATE = vocabulary.INCIDENT_STATES  # the record's state
NEW, ONGOING, RESOLVED = vocabulary.INCIDENT_CHANGES  # what a run did to it
NOTIFIED = (NEW, RESOLVED)


def idempotency_key(incident_id: str, opening: int, change: str) -> str:
    return f"{incident_id}:{opening}:{change}"


def _later(a, b) -> bool:
    ta, tb = parse_time(a), parse_time(b)
    return ta is not None and (tb is None or ta > tb)


def _silent_since(record: Mapping, window: Mapping) -> bool:
    """Does the window reach the settle time past the record's last failure?"""
    last, until = parse_time(record.get("last_seen")), parse_time(window.get("until"))
    if last is None or until is None:
        return False
    state = (record.get("incident") or {}).get("state")
    lag = ONGOING_SECONDS + (int(window.get("settle") or 0) if state in vocabulary.SETTLED_STATES else 0)
    return until >= last + timedelta(seconds=lag)


def payload(record: Mapping, change: str) -> dict:
    """What a notification carries: the incident JSON and its lifecycle (``change``, ``opened_at``,
    ``resolved_at``, ``idempotency_key``)."""
    return {**record["incident"], "change": change, "opened_at": record.get("opened_at"),
            "resolved_at": record.get("resolved_at"),
            "idempotency_key": idempotency_key(record["id"], record["openings"], change)}


def advance(record: Mapping | None, incident: Mapping | None, window: Mapping, now: str,
            targets: list[str]) -> tuple[dict | None, list[str]]:
    """The record after this run, and the changes (in order) it went through."""
    rec = copy.deepcopy(dict(record)) if record else None
    changes: list[str] = []
    if incident is not None:
        reopened = rec is not None and rec["state"] == RESOLVED_STATE and _later(incident.get("last_seen"),
                                                                                 rec.get("last_seen"))
        if rec is None or reopened:
            first = incident.get("first_seen")
            rec = {"id": incident["id"], "state": OPEN, "openings": (rec or {}).get("openings", 0) + 1,
                   "opened_at": first if rec is None or _later(first, rec.get("last_seen")) else rec.get("last_seen"),
                   "last_seen": None, "resolved_at": None, "outbox": (rec or {}).get("outbox", [])}
            changes.append(NEW)
        elif rec["state"] != OPEN:
            return rec, []  # failures the resolution already covered, still in the window
        rec["incident"] = {k: v for k, v in incident.items() if k not in ("findings", "change")}
        if _later(incident.get("last_seen"), rec.get("last_seen")):
            rec["last_seen"] = incident.get("last_seen")
        over = incident.get("ongoing") is False
    elif rec is not None and rec["state"] == OPEN:
        over = _silent_since(rec, window)
    else:
        return rec, []
    if over:
        rec.update(state=RESOLVED_STATE, resolved_at=window.get("until"))
        rec["incident"]["ongoing"] = False  # its last snapshot may be from a run that saw it failing
        changes.append(RESOLVED)
    elif not changes:
        changes.append(ONGOING)
    rec["updated_at"] = now
    for change in changes:
        if change in NOTIFIED and targets:
            rec["outbox"].append({"key": idempotency_key(rec["id"], rec["openings"], change), "change": change,
                                  "at": now, "payload": payload(rec, change), "pending": list(targets),
                                  "attempts": 0, "error": None})
    return rec, changes


def track(records: Mapping[str, Mapping], doc: dict, targets: list[str], now: str | None = None
          ) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """The records this run changes (id -> record) and each incident's changes; marks ``doc``'s
    incidents with their last change."""
    now = now or times.iso(int(times.utcnow().timestamp()))
    window = doc.get("window") or {}
    present = {i["id"]: i for i in doc.get("incidents") or []}
    changed, changes = {}, {}
    for incident_id in sorted(set(present) | {i for i, r in records.items() if r.get("state") == OPEN}):
        rec, did = advance(records.get(incident_id), present.get(incident_id), window, now, targets)
        if did:
            changed[incident_id], changes[incident_id] = rec, did
            if incident_id in present:
                present[incident_id]["change"] = did[-1]
    return changed, changes
