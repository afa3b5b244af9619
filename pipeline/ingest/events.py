"""JSON evidence records that are not flow logs: CloudTrail events and Resolver query logs.

``kind(item)`` recognises one JSON object by its field names: a CloudTrail event
(``eventName`` with ``eventSource``/``eventVersion``), a container of them (``Records``
as delivered to S3, ``Events`` as ``aws cloudtrail lookup-events`` prints them, an
EventBridge "AWS API Call via CloudTrail" envelope), a CloudTrail digest file (skipped:
signatures, no events) or a Route 53 Resolver query log record (``query_name``). The
JSON reader (``jsonlogs``) walks the documents and envelopes; ``batches`` types the
events into the ``api_calls`` and ``dns_queries`` tables, by name, quarantining what
cannot be typed with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.lake.store import Problem
from pipeline.tables import API_CALLS, DNS_QUERIES, TIME, Table

CLOUDTRAIL = "cloudtrail"
RESOLVER = "resolver"
DIGEST = "cloudtrail-digest"
_ASSUMED = re.compile(r"^arn:(?P<partition>[\w-]+):sts::(?P<account>[^:]*):assumed-role/(?P<role>[^/]+)(?:/(?P<session>.+))?$")
_FRACTION = re.compile(r"(\.\d{6})\d+")
_QUARANTINED_TEXT = 4096


def kind(item: dict) -> str | None:
    """``cloudtrail``, ``resolver`` or ``cloudtrail-digest`` for a record (or container) of them."""
    if "eventVersion" in item and ("eventName" in item or "eventID" in item) or "eventName" in item and "eventSource" in item:
        return CLOUDTRAIL  # Insights events have no eventName
    if "query_name" in item and ("query_timestamp" in item or "rcode" in item):
        return RESOLVER
    if "digestStartTime" in item or ("awsAccountId" in item and "logFiles" in item):
        return DIGEST
    return None


def contained(item: dict) -> list | None:
    """The CloudTrail events inside a container object, or None if it is not one.

    ``Records`` (S3 delivery), ``Events`` (lookup-events: each ``CloudTrailEvent`` is the
    event as a JSON string; the docs also print bare events there) and the EventBridge
    envelope's ``detail``. Elements that are JSON strings are returned as strings.
    """
    if isinstance(item.get("Records"), list):
        return item["Records"]
    if isinstance(item.get("Events"), list):
        return [e.get("CloudTrailEvent", e) if isinstance(e, dict) else e for e in item["Events"]]
    detail = item.get("detail")
    if "detail-type" in item and isinstance(detail, dict) and kind(detail) == CLOUDTRAIL:
        return [detail]
    return None


class Events:
    """Records met in one source, per table, with their number (line or position) and JSON text."""

    def __init__(self):
        self.rows: dict[str, list[tuple[int, dict, str | None, str]]] = {CLOUDTRAIL: [], RESOLVER: []}
        self.digests = 0
        self.problems: list[Problem] = []

    def add(self, number: int, item, text, fmt: str) -> bool:
        """Take ``item`` (an object, or a JSON string of one) if it is an event or holds
        events; False if not. ``text`` is the item's JSON text if known (for a ``Records``
        document: the list of its records' texts)."""
        if isinstance(item, str):
            try:
                parsed = json.loads(item)
            except ValueError as exc:
                self.problems.append(Problem(number, f"invalid JSON in the event text: {exc}", item[:_QUARANTINED_TEXT]))
                return True
            return self.add(number, parsed, item, fmt) if isinstance(parsed, dict) else False
        if not isinstance(item, dict):
            return False
        found = kind(item)
        if found == DIGEST:
            self.digests += 1
        elif found:
            self.rows[found].append((number, item, text if isinstance(text, str) else None, fmt))
        else:
            inner = contained(item)
            if inner is None:
                return False
            texts = text if isinstance(text, list) and len(text) == len(inner) else None
            fmt = "cloudtrail-records" if "Records" in item else ("lookup-events" if "Events" in item else "eventbridge")
            for index, event in enumerate(inner):
                at = number if fmt == "eventbridge" else index + 1  # the envelope's line; else the position
                if not self.add(at, event, texts[index] if texts else None, fmt):
                    shown = json.dumps(event)[:_QUARANTINED_TEXT]
                    self.problems.append(Problem(at, f"not a CloudTrail event in {fmt}: {shown[:80]}", shown))
        return True

    @property
    def records(self) -> int:
        return len(self.rows[CLOUDTRAIL]) + len(self.rows[RESOLVER])

    def numbers(self) -> list[int]:
        return [r[0] for rows in self.rows.values() for r in rows]


def batches(events: Events, source: str, ingest_id: str, defaults: dict) -> Iterator[tuple[pa.Table, list[Problem]]]:
    """The typed ``api_calls`` and ``dns_queries`` batches of the events, and their problems."""
    for name, to_row, table in ((CLOUDTRAIL, _api_call, API_CALLS), (RESOLVER, _dns_query, DNS_QUERIES)):
        rows = events.rows[name]
        if rows:
            yield _typed(table, rows, to_row, source, ingest_id, defaults)
    if events.problems:
        yield API_CALLS.schema.empty_table(), events.problems


def _typed(table: Table, rows, to_row, source, ingest_id, defaults) -> tuple[pa.Table, list[Problem]]:
    names = [name for name, _, _ in table.columns]
    columns: dict[str, list] = {name: [] for name in names}
    problems: list[Problem] = []
    for number, item, text, fmt in rows:
        try:
            values = to_row(item)
        except _Bad as exc:
            problems.append(Problem(number, str(exc), (text or json.dumps(item))[:_QUARANTINED_TEXT]))
            continue
        values["record"] = text if text is not None else json.dumps(item, ensure_ascii=False, separators=(",", ":"))
        values.update(_source=source, _line=number, _format=fmt, _ingest_id=ingest_id)
        for name in names:
            columns[name].append(values.get(name))
    time_column = table.time[0]
    times, bad = _times(columns[time_column])
    arrays = []
    for name, type_, _ in table.columns:
        array = times if name == time_column else pa.array(columns[name], type_)
        if defaults.get(name) is not None:
            array = pc.fill_null(array, defaults[name])
        arrays.append(array)
    typed = pa.Table.from_arrays(arrays, schema=table.schema)
    if bad:
        problems += [Problem(columns["_line"][i], f"{text} is not a time", columns["record"][i][:_QUARANTINED_TEXT])
                     for i, text in bad.items()]
        typed = typed.filter(pa.array([i not in bad for i in range(typed.num_rows)]))
    return typed, problems


class _Bad(ValueError):
    """A record that cannot be typed: quarantined with this reason."""


def _text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _flag(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _api_call(e: dict) -> dict:
    if e.get("eventTime") in (None, ""):
        raise _Bad("no eventTime (every CloudTrail event has one)")
    identity = e.get("userIdentity") if isinstance(e.get("userIdentity"), dict) else {}
    principal = _text(identity.get("arn"))
    role_arn = session = None
    match = _ASSUMED.match(principal or "")
    if match:
        issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
        issuer_arn = issuer.get("arn") if isinstance(issuer, dict) else None
        role_arn = (issuer_arn if isinstance(issuer_arn, str) and ":role/" in issuer_arn
                    else f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}")
        session = match["session"]
    tls = e.get("tlsDetails") if isinstance(e.get("tlsDetails"), dict) else {}
    return {
        "event_time": _text(e.get("eventTime")),
        "event_source": _text(e.get("eventSource")),
        "event_name": _text(e.get("eventName")),
        "region": _text(e.get("awsRegion")),
        "error_code": _text(e.get("errorCode")),
        "error_message": _text(e.get("errorMessage")),
        "principal_arn": principal,
        "principal_type": _text(identity.get("type")),
        "principal_account_id": _text(identity.get("accountId")),
        "role_arn": role_arn,
        "session_name": session,
        "account_id": _text(e.get("recipientAccountId")),
        "source_ip": _text(e.get("sourceIPAddress")),
        "vpc_endpoint_id": _text(e.get("vpcEndpointId")),
        "vpc_endpoint_account_id": _text(e.get("vpcEndpointAccountId")),
        "user_agent": _text(e.get("userAgent")),
        "tls_host": _text(tls.get("clientProvidedHostHeader")),
        "event_category": _text(e.get("eventCategory")),
        "event_type": _text(e.get("eventType")),
        "read_only": _flag(e.get("readOnly")),
        "management_event": _flag(e.get("managementEvent")),
        "request_id": _text(e.get("requestID")),
        "event_id": _text(e.get("eventID")),
        "event_version": _text(e.get("eventVersion")),
        "resources": None if e.get("resources") is None else json.dumps(e["resources"]),
    }


_ADDRESS_TYPES = ("A", "AAAA")


def _answers(value) -> list[dict]:
    """The answers as a list of {rdata, type, class}; ``Address`` was the rdata key of format 1.0."""
    items = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
    out = []
    for a in items:
        if not isinstance(a, dict):
            raise _Bad(f"an answer is not an object: {a!r}")
        rdata = a.get("Rdata", a.get("Address"))
        out.append({"rdata": None if rdata is None else str(rdata).strip(), "type": _text(a.get("Type")),
                    "class": _text(a.get("Class"))})
    return out


def _dns_query(r: dict) -> dict:
    if r.get("query_timestamp") in (None, ""):
        raise _Bad("no query_timestamp (every query log record has one)")
    port = r.get("srcport")
    if port is not None:
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise _Bad(f"srcport is not a port number: {port!r}") from None
        if not 0 <= port <= 65535:
            raise _Bad(f"srcport is not a port number: {port}")
    srcids = r.get("srcids")
    if isinstance(srcids, list):  # format 1.0: a list of instance ids
        srcids = {"instance": next((s for s in srcids if isinstance(s, str)), None)}
    srcids = srcids if isinstance(srcids, dict) else {}
    answers = _answers(r.get("answers"))
    name = _text(r.get("query_name"))
    return {
        "query_time": _text(r.get("query_timestamp")),
        "account_id": _text(r.get("account_id")),
        "region": _text(r.get("region")),
        "vpc_id": _text(r.get("vpc_id")),
        "query_name": name,
        "name": None if name is None else name.strip().rstrip(".").lower(),
        "query_type": _text(r.get("query_type")),
        "query_class": _text(r.get("query_class")),
        "rcode": _text(r.get("rcode")),
        "answers": None if r.get("answers") is None else json.dumps(r["answers"]),
        "answer_records": answers,
        "answer_addresses": [a["rdata"] for a in answers if a["type"] in _ADDRESS_TYPES and a["rdata"]],
        "srcaddr": _text(r.get("srcaddr")),
        "srcport": port,
        "transport": _text(r.get("transport")),
        "srcids_instance": _text(srcids.get("instance")),
        "srcids_resolver_endpoint": _text(srcids.get("resolver_endpoint", srcids.get("resolver-endpoint"))),
        "firewall_rule_action": _text(r.get("firewall_rule_action")),
        "firewall_rule_group_id": _text(r.get("firewall_rule_group_id")),
        "firewall_domain_list_id": _text(r.get("firewall_domain_list_id")),
        "version": _text(r.get("version")),
    }


def _times(values: list) -> tuple[pa.Array, dict[int, str]]:
    """ISO-8601 texts → UTC times, and {index: text} of those that are not times (NULL there).

    One Arrow cast when every value has a zone (as AWS writes them); else value by value.
    """
    try:
        return pc.cast(pa.array(values, pa.string()), TIME), {}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out, bad = [], {}
    for i, value in enumerate(values):
        try:
            out.append(_time(value))
        except (TypeError, ValueError):
            out.append(None)
            bad[i] = repr(value)
    return pa.array(out, TIME), bad


def _time(value) -> datetime | None:
    """One ISO-8601 time (``T`` or space, any fraction, ``Z``/offset or none: UTC)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
