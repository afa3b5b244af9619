"""The findings document (issue 5's contract) as the renderers see it.

Pure helpers, stdlib only: key order, the one deterministic sort, flattening a
finding into one row, destination labels, the incidents roll-up, the summary and
the timeline.  Every renderer goes through these, so row *i* of the CSV, finding
*i* of the JSON and section *i* of the HTML report are always the same finding.

An *incident* is one problem: the findings (one per task) that share cluster,
service, destination (endpoint or named service), port, kind and top cause.  It
counts the tasks, conversations and flows, the first and last failure, whether
it is still happening at the end of the window, and lists the indices of its
findings.  Its id is a hash of that key, so the same problem has the same id in
every run.  The roll-up knows no kind: new kinds roll up the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from pipeline import times, vocabulary

DOCUMENT_KEYS = ("generated_at", "lake", "window", "incidents", "findings", "timeline", "trail_gaps", "summary")
#: ``settle``: seconds before silence counts as no reply (``no_reply`` findings end that long before ``until``)
WINDOW_KEYS = ("since", "until", "settle")
FINDING_KEYS = (
    "kind", "state", "observed_at", "cluster", "service", "task_id", "task_arn",
    "source_eni", "source_addr", "dest_addr", "dest_addrs", "dest_port", "protocol",
    "destination", "conversations", "flows", "packets", "bytes", "first_seen", "last_seen",
    "likely_causes", "evidence",
)
INCIDENT_KEYS = (
    "id", "kind", "state", "cluster", "service", "destination", "dest_addrs", "dest_port", "protocol",
    "cause", "resources", "tasks", "task_ids", "conversations", "flows", "first_seen", "last_seen",
    "ongoing", "findings",
)
#: A failure seen this close to the end of the window (the longest flow-log aggregation
#: interval) is still happening.
ONGOING_SECONDS = 600
#: Keys only the findings from API calls and task events carry (after the common ones).
EVENT_KEYS = ("events", "api", "stopped_reason", "task_ids", "cross_evidence")
API_KEYS = ("event_source", "event_name", "error_code", "error_message", "principal_arn", "role_arn", "role",
            "vpc_endpoint_id")
DESTINATION_KEYS = ("type", "id", "name", "aws_service", "region")
#: Added by the name join; documents written before it lack them.
DESTINATION_NAME_KEYS = ("via", "named_by")
DNS_KEYS = ("query_name", "rcode", "answers", "queries")
CAUSE_KEYS = ("cause", "confirmed", "resource", "rule", "explanation", "fix", "fix_verified", "fix_scope")
#: What a fix opens, and the same fix for accounts managed as code (``--fix-format``).
FIX_SCOPE_KEYS = ("protocol", "ports", "peers")
FIX_AS_KEYS = ("terraform", "cloudformation")
TIMELINE_KEYS = ("bucket", "destination", "kind", "flows")

#: The vocabulary's order: the flow kinds (most serious first), then the kinds from API calls and task
#: events (their own section of the HTML report).  Unknown kinds sort after these, by name.
KINDS = tuple(vocabulary.KINDS)
KIND_RANK = {kind: i for i, kind in enumerate(KINDS)}
#: Kinds that mean "the task cannot talk to the service"; the rest are warnings.
BROKEN_KINDS = frozenset(vocabulary.BROKEN_KINDS)
KIND_LABELS = vocabulary.KIND_LABELS
#: Most serious first; a finding's state is one of the vocabulary's (never ``pending``).
STATES = tuple(vocabulary.STATE_LABELS)
STATE_RANK = {state: i for i, state in enumerate(STATES)}
STATE_LABELS = vocabulary.STATE_LABELS
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 58: "icmpv6", 132: "sctp"}

#: Columns of a finding flattened into one row (CSV, plain text, markdown tables).
FLAT_COLUMNS = (
    "kind", "state", "observed_at", "cluster", "service", "task_id", "task_arn",
    "source_eni", "source_addr", "dest_addr", "dest_addrs", "dest_port", "protocol",
    "destination_type", "destination_id", "destination_name", "destination_aws_service",
    "destination_region", "conversations", "flows", "packets", "bytes", "first_seen", "last_seen",
    "cause", "cause_confirmed", "cause_resource", "cause_rule", "cause_explanation",
    "cause_fix", "other_causes", "evidence_records",
    "events", "api_event_source", "api_event_name", "api_error_code", "api_role", "stopped_reason", "task_ids",
    "cross_evidence",
)

#: Columns of an incident flattened into one row (plain text, markdown tables).
INCIDENT_FLAT_COLUMNS = (
    "id", "kind", "state", "cluster", "service", "destination_type", "destination_id", "destination_name",
    "destination_aws_service", "dest_port", "protocol", "tasks", "task_ids", "conversations", "flows",
    "first_seen", "last_seen", "ongoing", "cause", "cause_confirmed", "cause_resource", "cause_fix", "findings",
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
    f = _ordered(finding, FINDING_KEYS + EVENT_KEYS)
    if isinstance(f.get("api"), Mapping):
        f["api"] = _ordered(f["api"], API_KEYS)
    if isinstance(f.get("destination"), Mapping):
        f["destination"] = _ordered(f["destination"], DESTINATION_KEYS + DESTINATION_NAME_KEYS)
    if isinstance(f.get("dns"), Mapping):
        f["dns"] = _ordered(f["dns"], DNS_KEYS)
    if isinstance(f.get("likely_causes"), list):
        f["likely_causes"] = [canonical_cause(c) if isinstance(c, Mapping) else c for c in f["likely_causes"]]
    # evidence records keep the producer's order: flow-log field order is meaningful
    return f


def canonical_incident(incident: Mapping, moved: Mapping[int, int]) -> dict:
    """An incident in key order, its finding indices renumbered by ``moved`` (old index → new)."""
    out = _ordered(incident, INCIDENT_KEYS)
    out["findings"] = sorted(moved[i] for i in out.get("findings") or [] if i in moved)
    if isinstance(out.get("destination"), Mapping):
        out["destination"] = _ordered(out["destination"], DESTINATION_KEYS)
    if isinstance(out.get("cause"), Mapping):
        out["cause"] = canonical_cause(out["cause"])
    return out


FIX_FORMAT_LABELS = {"cli": "AWS CLI", "terraform": "Terraform", "cloudformation": "CloudFormation"}


def with_fix_format(doc: Mapping, fmt: str) -> dict:
    """``doc`` for a human reader who manages the account as code: each network fix's ``fix`` is its
    ``fix_as[fmt]`` change description, marked with ``fix_format`` (the CLI text when it has none)."""
    def cause(c):
        text = (c.get("fix_as") or {}).get(fmt) if isinstance(c, Mapping) else None
        return {**c, "fix": text, "fix_format": fmt} if text else c

    out = dict(doc)
    out["findings"] = [{**f, "likely_causes": [cause(c) for c in f.get("likely_causes") or []]}
                       for f in doc.get("findings") or []]
    out["incidents"] = [{**i, "cause": cause(i["cause"])} if isinstance(i.get("cause"), Mapping) else i
                        for i in doc.get("incidents") or []]
    return out


def canonical_cause(cause: Mapping) -> dict:
    out = _ordered(cause, CAUSE_KEYS)
    for key, keys in (("fix_scope", FIX_SCOPE_KEYS), ("fix_as", FIX_AS_KEYS)):
        if isinstance(out.get(key), Mapping):
            out[key] = _ordered(out[key], keys)
    return out


def canonical_document(doc: Mapping) -> dict:
    """The document with a stable key order, its findings sorted (see :func:`finding_sort_key`) and
    its incidents pointing at them (rolled up here when the document has none)."""
    out = _ordered(doc, DOCUMENT_KEYS)
    if isinstance(out.get("window"), Mapping):
        out["window"] = _ordered(out["window"], WINDOW_KEYS)
    if not isinstance(out.get("incidents"), list):
        out = roll_up(out)
    findings = out.get("findings") or []
    order = sorted(range(len(findings)), key=lambda i: finding_sort_key(findings[i]))
    moved = {old: new for new, old in enumerate(order)}
    out["findings"] = [canonical_finding(findings[i]) for i in order]
    out["incidents"] = sorted((canonical_incident(incident, moved) for incident in out["incidents"]
                               if isinstance(incident, Mapping)),
                              key=lambda i: (i["findings"][:1] or [len(findings)], _s(i.get("id"))))
    out = _ordered(out, DOCUMENT_KEYS)
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
        where = "public" if d.get("type") == "aws_service" else vocabulary.DESTINATION_PLACES.get(str(d.get("type")), "unknown")
        return f"{d['name']} ({where}{', via ' + d['via'] if d.get('via') else ''})"
    what = d.get("aws_service") or d.get("name") or f.get("dest_addr") or "unknown"
    where = d.get("id") or vocabulary.DESTINATION_PLACES.get(str(d.get("type")), d.get("type") or "unknown")
    return f"{what} ({where})"


def destination_key(f: Mapping) -> str:
    """What an incident's destination is: the endpoint (or NAT, service, address) id, else the named service."""
    d = f.get("destination") if isinstance(f.get("destination"), Mapping) else {}
    return _s(d.get("id") or d.get("name") or d.get("aws_service") or f.get("dest_addr"))


def incident_key(f: Mapping) -> tuple:
    """(cluster, service, destination, port, kind, top cause): one problem."""
    return (_s(f.get("cluster")), _s(f.get("service")), destination_key(f), f.get("dest_port"), _s(f.get("kind")),
            _s(top_cause(f).get("cause")))


def incident_id(key: tuple) -> str:
    """Stable across runs: the same problem tomorrow has the same id."""
    return "inc-" + hashlib.sha256(json.dumps(list(key), default=str).encode()).hexdigest()[:12]


def roll_up(doc: Mapping) -> dict:
    """``doc`` with its findings in the canonical order and ``incidents`` built from them."""
    out = dict(doc)
    findings = sort_findings(doc.get("findings") or [])
    window = doc.get("window") if isinstance(doc.get("window"), Mapping) else {}
    out["findings"] = findings
    out["incidents"] = incidents(findings, parse_time(window.get("until")), int(window.get("settle") or 0))
    return out


def incidents(findings: list[Mapping], until: datetime | None = None, settle: int = 0) -> list[dict]:
    """The findings, in their order, rolled up by :func:`incident_key`; ``findings`` are indices into the list.

    ``ongoing``: a failure within ``ONGOING_SECONDS`` of ``until`` (for states given only after the
    settle time, within ``ONGOING_SECONDS + settle``).
    """
    groups: dict[tuple, list[int]] = {}
    for i, f in enumerate(findings):
        groups.setdefault(incident_key(f), []).append(i)
    out = []
    for key, members in groups.items():
        mine = [findings[i] for i in members]
        first = next((f for f in mine if top_cause(f).get("confirmed") is True), mine[0])
        states = Counter(f.get("state") for f in mine)
        firsts = [t for t in (parse_time(f.get("first_seen")) for f in mine) if t]
        lasts = [t for t in (parse_time(f.get("last_seen")) for f in mine) if t]
        state = states.most_common(1)[0][0]
        ongoing = None
        if until is not None and lasts:
            lag = ONGOING_SECONDS + (settle if state in vocabulary.SETTLED_STATES else 0)
            ongoing = max(lasts) >= until - timedelta(seconds=lag)
        counts = {name: (sum(int(f[name]) for f in mine) if all(f.get(name) is not None for f in mine) else None)
                  for name in ("conversations", "flows")}
        # a start-loop finding (task_start_failed) stands for every task that stopped the same way: task_ids
        tasks = sorted({_s(t) for f in mine for t in (f.get("task_ids") or [f.get("task_id") or f.get("task_arn")])}
                       - {""})
        out.append({
            "id": incident_id(key),
            "kind": first.get("kind"),
            "state": state,
            "cluster": first.get("cluster"),
            "service": first.get("service"),
            "destination": dict(first.get("destination") or {}),
            "dest_addrs": sorted({str(a) for f in mine for a in (f.get("dest_addrs") or [f.get("dest_addr")]) if a}),
            "dest_port": first.get("dest_port"),
            "protocol": first.get("protocol"),
            "cause": top_cause(first) or None,
            "resources": sorted({_s(top_cause(f).get("resource")) for f in mine} - {""}),
            "tasks": len(tasks),
            "task_ids": tasks,
            **counts,
            "first_seen": times.iso(min(firsts)) if firsts else None,
            "last_seen": times.iso(max(lasts)) if lasts else None,
            "ongoing": ongoing,
            "findings": members,
        })
    return out


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
        "events": f.get("events"),
        "stopped_reason": f.get("stopped_reason"),
        "task_ids": " ".join(map(str, f.get("task_ids") or [])) or None,
        "cross_evidence": f.get("cross_evidence"),
    })
    api = f.get("api") if isinstance(f.get("api"), Mapping) else {}
    row.update({f"api_{k}": api.get(k) for k in ("event_source", "event_name", "error_code", "role")})
    return {k: row.get(k) for k in FLAT_COLUMNS}


def flatten_incident(incident: Mapping) -> dict:
    """One row: the scalar fields, ``destination_*`` and the cause as ``cause*`` columns."""
    d = incident.get("destination") if isinstance(incident.get("destination"), Mapping) else {}
    cause = incident.get("cause") if isinstance(incident.get("cause"), Mapping) else {}
    row = {k: incident.get(k) for k in INCIDENT_KEYS if k not in ("destination", "cause")}
    row["task_ids"] = " ".join(map(str, incident.get("task_ids") or []))
    row["findings"] = " ".join(map(str, incident.get("findings") or []))
    row.update({f"destination_{k}": d.get(k) for k in DESTINATION_KEYS})
    row.update({f"cause_{k}": cause.get(k) for k in ("confirmed", "resource", "fix")}, cause=cause.get("cause"))
    return {k: row.get(k) for k in INCIDENT_FLAT_COLUMNS}


def incident_sentence(incident: Mapping) -> tuple[str, str, str | None]:
    """``(what is broken, what to do first, the fix command)`` in words, for the summaries."""
    kind = _s(incident.get("kind"))
    label = KIND_LABELS.get(kind, kind.replace("_", " ")).lower()
    port = incident.get("dest_port")
    proto = protocol_name(incident.get("protocol"))
    where = destination_label(incident) + (f" on {port}/{proto}" if port not in (None, "") else "")
    tasks = incident.get("tasks") or 0
    since = parse_time(incident.get("first_seen"))
    last = parse_time(incident.get("last_seen"))
    when = [f"{tasks} task{'' if tasks == 1 else 's'}", f"since {since:%H:%M} UTC" if since else "",
            "still happening" if incident.get("ongoing") else (f"last seen {last:%H:%M} UTC" if last else "")]
    when = ", ".join(w for w in when if w)
    service = _s(incident.get("service")) or "?"
    what = (f"{service} cannot reach {where} ({label}, {when})" if kind in BROKEN_KINDS
            else f"{service} → {where}: {label} ({when})")
    cause = incident.get("cause") if isinstance(incident.get("cause"), Mapping) else {}
    if not cause:
        return what, "find the cause in the findings below", None
    name = _s(cause.get("cause"))
    on = f" on {cause['resource']}" if cause.get("resource") else ""
    first = (f"fix {name}{on}" if cause.get("confirmed") is True
             else f"check {name}{on} (likely, not confirmed)")
    return what, first, (_s(cause.get("fix")) or None)


def parse_time(value: Any) -> datetime | None:
    """A time in a document (ISO-8601, a datetime or epoch seconds) as an aware UTC datetime; None if it is not one."""
    try:
        return times.parse_time(value)
    except times.TimeParseError:
        return None


def summarize(findings: list[Mapping], incidents: list[Mapping] = ()) -> dict:
    """What is broken, since when, how many tasks and services: computed from the findings (and incidents)."""
    broken = [f for f in findings if f.get("kind") in BROKEN_KINDS]
    incident_kinds = Counter(_s(i.get("kind")) for i in incidents)
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
        "since": times.iso(min(firsts)) if firsts else None,
        "last_seen": times.iso(max(lasts)) if lasts else None,
        "incidents": len(incidents),
        "incidents_broken": sum(n for k, n in incident_kinds.items() if k in BROKEN_KINDS),
        "incidents_ongoing": sum(1 for i in incidents if i.get("ongoing")),
        "incidents_by_kind": {k: incident_kinds[k] for k in sorted(incident_kinds, key=lambda k: (KIND_RANK.get(k, len(KINDS)), k))},
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
