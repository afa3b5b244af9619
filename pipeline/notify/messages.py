"""A notification in words: a subject line and a short text (SNS e-mail and SMS, Slack's ``text``).

The sentence is the summary's (``document.incident_sentence``), so an alert reads like the report.
"""

from __future__ import annotations

from typing import Mapping

from pipeline import vocabulary
from pipeline.analysis.document import incident_sentence, parse_time
from pipeline.notify.lifecycle import RESOLVED

#: Amazon SNS: a subject is ASCII, one line, under 100 characters.
SUBJECT_LIMIT = 99
_WORDS = {change: change.upper() for change in vocabulary.INCIDENT_CHANGES}


def _when(value) -> str:
    at = parse_time(value)
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "?"


def subject(payload: Mapping) -> str:
    what, _, _ = incident_sentence(payload)
    text = f"[flowlogs] {_WORDS.get(payload['change'], payload['change'])}: {what}".replace("→", "->")
    text = " ".join(text.encode("ascii", "replace").decode().split())
    return text if len(text) <= SUBJECT_LIMIT else text[:SUBJECT_LIMIT - 3] + "..."


def text(payload: Mapping) -> str:
    """Three or four lines: what, what to do first (or since when it is over), the fix, the id."""
    what, first, fix = incident_sentence(payload)
    lines = [f"{_WORDS.get(payload['change'], payload['change'])} incident: {what}"]
    if payload["change"] == RESOLVED:
        lines.append(f"No failure after {_when(payload.get('last_seen'))} (open since {_when(payload.get('opened_at'))}).")
    else:
        lines.append(f"First: {first}.")
        if fix:
            lines.append(f"Fix: {fix}")
    lines.append(f"Incident {payload['id']} · flowlogs report incidents --state all")
    return "\n".join(lines)
