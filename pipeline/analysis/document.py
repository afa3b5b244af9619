"""The findings document (issue 5's contract) as the renderers see it.

Pure helpers, stdlib only: key order, the one deterministic sort, flattening a
finding into one row, destination labels, the summary and the timeline.  Every
renderer goes through these, so row *i* of the CSV, finding *i* of the JSON and
section *i* of the HTML report are always the same finding.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from pipeline import vocabulary

DOCUMENT_KEYS = ("generated_at", "lake", "window", "findings", "timeline", "summary")
WINDOW_KEYS = ("since", "until")
FINDING_KEYS = (
    "kind", "state", "observed_at", "cluster", "service", "task_id", "task_arn",
    "source_eni", "source_addr", "dest_addr", "dest_addrs", "dest_port", "protocol",
    "destination", "flows", "packets", "bytes", "first_seen", "last_seen",
    "likely_causes", "evidence",
)
DESTINATION_KEYS = ("type", "id", "name", "aws_service", "region")
#: Added by the name join; documents written before it lack them.
DESTINATION_NAME_KEYS = ("via", "named_by")
DNS_KEYS = ("query_name", "rcode", "answers", "queries")
CAUSE_KEYS = ("cause", "confirmed", "resource", "rule", "explanation", "fix")
TIMELINE_KEYS = ("bucket", "destination", "kind", "flows")

#: Most serious first (the vocabulary's order).  Unknown kinds sort after these, by name.
KINDS = tuple(vocabulary.KINDS)
KIND_RANK = {kind: i for i, kind in enumerate(KINDS)}
#: Kinds that mean "the task cannot talk to the service"; the rest are warnings.
BROKEN_KINDS = frozenset({"reject", "no_return", "refused", "dns_failure"})
KIND_LABELS = {
    "reject": "Rejected",
    "no_return": "No reply",
    "refused": "Refused",
    "endpoint_bypassed": "Endpoint bypassed",
    "dns_failure": "Name not resolved",
}
#: Most serious first; a finding's state is one of the vocabulary's (never ``pending``).
STATES = ("blocked", "refused", "no_reply", "established")
STATE_RANK = {state: i for i, state in enumerate(STATES)}
STATE_LABELS = {
    "blocked": "blocked",
    "refused": "refused",
    "no_reply": "no reply",
    "established": "established",
}
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 58: "icmpv6", 132: "sctp"}
_WHERE = {
    "aws_service": "public endpoint",
    "internet": "internet",
    "vpc_internal": "in VPC",
    "unknown": "unknown",
}

#: Columns of a finding flattened into one row (CSV, plain text, markdown tables).
FLAT_COLUMNS = (
    "kind", "state", "observed_at", "cluster", "service", "task_id", "task_arn",
    "source_eni", "source_addr", "dest_addr", "dest_addrs", "dest_port", "protocol",
    "destination_type", "destination_id", "destination_name", "destination_aws_service",
    "destination_region", "flows", "packets", "bytes", "first_seen", "last_seen",
    "cause", "cause_confirmed", "cause_resource", "cause_rule", "cause_explanation",
    "cause_fix", "other_causes", "evidence_records",
)


def is_document(obj: Any) -> bool:
    """A findings document: a mapping with a ``findings`` list."""
    return isinstance(obj, Mapping) and isinstance(obj.get("findings"), list)


def looks_like_findings(rows: list) -> bool:
    """A bare list of findings (every item has ``kind`` and ``likely_causes``)."""
    return bool(rows) and all(
        isinstance(r, Mapping) and "kind" in r and "likely_causes" in r for r in rows
    )


def _ordered(obj: Mapping, keys: Iterable[str]) -> dict:
    """``obj`` with ``keys`` first (in that order) and any other keys after, sorted."""
    keys = tuple(keys)
    out = {k: obj[k] for k in keys if k in obj}
    for k in sorted((k for k in obj if k not in out), key=str):
        out[k] = obj[k]
    return out


def canonical_finding(finding: Mapping) -> dict:
    f = _ordered(finding, FINDING_KEYS)
    if isinstance(f.get("destination"), Mapping):
        f["destination"] = _ordered(f["destination"], DESTINATION_KEYS + DESTINATION_NAME_KEYS)
    if isinstance(f.get("dns"), Mapping):
        f["dns"] = _ordered(f["dns"], DNS_KEYS)
    if isinstance(f.get("likely_causes"), list):
        f["likely_causes"] = [
            _ordered(c, CAUSE_KEYS) if isinstance(c, Mapping) else c for c in f["likely_causes"]
        ]
    # evidence records keep the producer's order: flow-log field order is meaningful
    return f


def canonical_document(doc: Mapping) -> dict:
    """The document with a stable key order and its findings sorted (see :func:`finding_sort_key`)."""
    out = _ordered(doc, DOCUMENT_KEYS)
    if isinstance(out.get("window"), Mapping):
        out["window"] = _ordered(out["window"], WINDOW_KEYS)
    out["findings"] = [canonical_finding(f) for f in sort_findings(out.get("findings") or [])]
    if isinstance(out.get("timeline"), list):
        out["timeline"] = sorted(
            (_ordered(t, TIMELINE_KEYS) for t in out["timeline"] if isinstance(t, Mapping)),
            key=lambda t: (str(t.get("bucket")), str(t.get("destination")), str(t.get("kind"))),
        )
    return out


def top_cause(finding: Mapping) -> dict:
    causes = finding.get("likely_causes") or []
    return dict(causes[0]) if causes and isinstance(causes[0], Mapping) else {}


def destination_label(finding_or_destination: Mapping) -> str:
    """A short human label, e.g. ``secretsmanager (vpce-0a1b…)``, ``sts (public endpoint)``, or, named by a
    DNS answer or CloudTrail, ``sns.eu-west-1.amazonaws.com (public, via nat-0a1b…)``."""
    f = finding_or_destination
    d = f.get("destination") if isinstance(f.get("destination"), Mapping) else f
    if d.get("named_by") and d.get("name") and d.get("type") in ("aws_service", "internet", "unknown"):
        where = "public" if d.get("type") == "aws_service" else _WHERE.get(str(d.get("type")), "unknown")
        return f"{d['name']} ({where}{', via ' + d['via'] if d.get('via') else ''})"
    what = d.get("aws_service") or d.get("name") or f.get("dest_addr") or "unknown"
    where = d.get("id") or _WHERE.get(str(d.get("type")), d.get("type") or "unknown")
    return f"{what} ({where})"


def protocol_name(number: Any) -> str:
    try:
        return PROTOCOLS.get(int(number), str(number))
    except (TypeError, ValueError):
        return "" if number is None else str(number)


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def finding_sort_key(f: Mapping) -> tuple:
    kind = _s(f.get("kind"))
    port = f.get("dest_port")
    return (
        KIND_RANK.get(kind, len(KINDS)), kind,
        _s(f.get("cluster")), _s(f.get("service")), destination_label(f),
        port if isinstance(port, int) else -1, _s(f.get("protocol")),
        _s(f.get("task_id")), _s(f.get("source_eni")),
        _s(f.get("first_seen")), _s(f.get("last_seen")),
        json.dumps(f, sort_keys=True, default=str),
    )


def sort_findings(findings: Iterable[Mapping]) -> list:
    """Most serious kind first, then cluster, service, destination, port, task, time."""
    return sorted(findings, key=finding_sort_key)


def flatten_finding(f: Mapping) -> dict:
    """One row: the scalar fields, ``destination_*`` and the top cause as ``cause*`` columns."""
    d = f.get("destination") if isinstance(f.get("destination"), Mapping) else {}
    top = top_cause(f)
    others = [c.get("cause") for c in (f.get("likely_causes") or [])[1:] if isinstance(c, Mapping)]
    addrs = f.get("dest_addrs")
    row = {k: f.get(k) for k in FINDING_KEYS if k not in ("destination", "likely_causes", "evidence")}
    row["dest_addrs"] = " ".join(map(str, addrs)) if isinstance(addrs, list) else addrs
    row.update({f"destination_{k}": d.get(k) for k in DESTINATION_KEYS})
    row.update({
        "cause": top.get("cause"),
        "cause_confirmed": top.get("confirmed"),
        "cause_resource": top.get("resource"),
        "cause_rule": top.get("rule"),
        "cause_explanation": top.get("explanation"),
        "cause_fix": top.get("fix"),
        "other_causes": " ".join(str(c) for c in others if c),
        "evidence_records": len(f.get("evidence") or []),
    })
    return {k: row.get(k) for k in FLAT_COLUMNS}


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 (``Z`` allowed), a datetime or epoch seconds, as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def iso(dt: datetime | None) -> str:
    if dt is None:
        return ""
    dt = dt.astimezone(timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if dt.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return dt.strftime(fmt)


def summarize(findings: list[Mapping]) -> dict:
    """What is broken, since when, how many tasks and services: computed from the findings."""
    broken = [f for f in findings if f.get("kind") in BROKEN_KINDS]
    kinds = Counter(_s(f.get("kind")) for f in findings)
    by_kind = {k: kinds[k] for k in KINDS if kinds.get(k)}
    by_kind.update({k: kinds[k] for k in sorted(kinds) if k not in by_kind})

    def svc(f):
        return (_s(f.get("cluster")), _s(f.get("service")))

    firsts = [t for t in (parse_time(f.get("first_seen")) for f in broken) if t]
    lasts = [t for t in (parse_time(f.get("last_seen")) for f in broken) if t]
    return {
        "findings": len(findings),
        "broken": len(broken),
        "warnings": len(findings) - len(broken),
        "by_kind": by_kind,
        "services": len({svc(f) for f in findings}),
        "services_broken": len({svc(f) for f in broken}),
        "tasks": len({_s(f.get("task_id") or f.get("task_arn")) for f in findings} - {""}),
        "tasks_broken": len({_s(f.get("task_id") or f.get("task_arn")) for f in broken} - {""}),
        "destinations_broken": len({destination_label(f) for f in broken}),
        "confirmed": sum(1 for f in findings if top_cause(f).get("confirmed") is True),
        "failed_flows": sum(int(f.get("flows") or 0) for f in broken),
        "since": iso(min(firsts)) if firsts else None,
        "last_seen": iso(max(lasts)) if lasts else None,
    }


def timeline(doc: Mapping) -> tuple[list[dict], bool]:
    """Per-minute flows per destination: ``(rows, approximate)``.

    Uses the document's ``timeline`` when it has one.  Otherwise each finding's
    flows are spread evenly over the minutes between its first and last sighting,
    which is only an approximation (``approximate`` is then True).
    """
    given = doc.get("timeline")
    if isinstance(given, list) and given:
        rows = []
        for t in given:
            if not isinstance(t, Mapping):
                continue
            at = parse_time(t.get("bucket"))
            if at is None:
                continue
            rows.append({"bucket": at, "destination": _s(t.get("destination")),
                         "kind": _s(t.get("kind")), "flows": int(t.get("flows") or 0)})
        return rows, False
    rows = []
    for f in doc.get("findings") or []:
        first, last = parse_time(f.get("first_seen")), parse_time(f.get("last_seen"))
        flows = int(f.get("flows") or 0)
        if first is None or flows <= 0:
            continue
        last = last or first
        start = first.replace(second=0, microsecond=0)
        minutes = int((last - start).total_seconds() // 60) + 1
        minutes = max(1, min(minutes, 60 * 24 * 31))
        for i in range(minutes):
            n = (i + 1) * flows // minutes - i * flows // minutes
            if n:
                rows.append({"bucket": start + timedelta(minutes=i), "destination": destination_label(f),
                             "kind": _s(f.get("kind")), "flows": n})
    return rows, True
