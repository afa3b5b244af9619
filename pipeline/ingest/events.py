"""JSON evidence records that are not flow logs: CloudTrail events, Resolver query logs, probe lines.

``kind(item)`` recognises one JSON object by its field names: a CloudTrail event
(``eventName`` with ``eventSource``/``eventVersion``), a container of them (``Records``
as delivered to S3, ``Events`` as ``aws cloudtrail lookup-events`` prints them, an
EventBridge "AWS API Call via CloudTrail" envelope), a CloudTrail digest file (skipped:
signatures, no events), a Route 53 Resolver query log record (``query_name``) or a line
of the probe script (``"probe": "flowlogs/1"``, ``step``). The JSON reader
(``jsonlogs``) walks the documents and envelopes; ``batches`` types the events into the
``api_calls``, ``dns_queries`` and ``probes`` tables, by name, quarantining what cannot
be typed with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.lake.store import Problem
from pipeline.tables import API_CALLS, DNS_QUERIES, PROBES, TIME, Table

CLOUDTRAIL = "cloudtrail"
RESOLVER = "resolver"
PROBE = "probe"
DIGEST = "cloudtrail-digest"
_ASSUMED = re.compile(r"^arn:(?P<partition>[\w-]+):sts::(?P<account>[^:]*):assumed-role/(?P<role>[^/]+)(?:/(?P<session>.+))?$")
_FRACTION = re.compile(r"(\.\d{6})\d+")
_QUARANTINED_TEXT = 4096


def kind(item: dict) -> str | None:
    """``cloudtrail``, ``resolver``, ``probe`` or ``cloudtrail-digest`` for a record (or container) of them."""
    if "eventVersion" in item and ("eventName" in item or "eventID" in item) or "eventName" in item and "eventSource" in item:
        return CLOUDTRAIL  # Insights events have no eventName
    if "query_name" in item and ("query_timestamp" in item or "rcode" in item):
        return RESOLVER
    if str(item.get("probe", "")).startswith("flowlogs/") and "step" in item:
        return PROBE
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
    """Records met in one source, typed into batches every ``CHUNK`` records (memory stays
    bounded), with their number (line or position) and JSON text; digests are counted."""

    def __init__(self, source: str = "", ingest_id: str = "", defaults: dict | None = None):
        self.context = (source, ingest_id, defaults or {})
        self.rows: dict[str, list[tuple[int, dict, str | None, str]]] = {CLOUDTRAIL: [], RESOLVER: [], PROBE: []}
        self.typed: list[tuple[pa.Table, list[Problem]]] = []
        self.records = 0
        self.last = 0  # the highest record number met
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
            rows = self.rows[found]
            rows.append((number, item, text if isinstance(text, str) else None, fmt))
            self.records += 1
            self.last = max(self.last, number)
            if len(rows) >= CHUNK:
                self._convert(found)
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

    def _convert(self, kind_: str) -> None:
        rows, self.rows[kind_] = self.rows[kind_], []
        if rows:
            table, to_row = _TYPES[kind_]
            self.typed.append(_typed(table, rows, to_row, *self.context))

    def batches(self) -> Iterator[tuple[pa.Table, list[Problem]]]:
        """The typed ``api_calls``, ``dns_queries`` and ``probes`` batches, and the records kept aside."""
        for kind_ in self.rows:
            self._convert(kind_)
        yield from self.typed
        self.typed = []
        if self.problems:
            yield API_CALLS.schema.empty_table(), self.problems


CHUNK = 8192


def _typed(table: Table, rows, to_row, source, ingest_id, defaults) -> tuple[pa.Table, list[Problem]]:
    """Rows → one typed batch of ``table``: ``to_row`` gives the values of the columns before
    ``record`` in order; rows it rejects, or whose time is no time, are quarantined."""
    values, numbers, texts, formats, problems = [], [], [], [], []
    for number, item, text, fmt in rows:
        try:
            values.append(to_row(item))
        except _Bad as exc:
            problems.append(Problem(number, str(exc), (text or json.dumps(item))[:_QUARANTINED_TEXT]))
            continue
        numbers.append(number)
        texts.append(text if text is not None else json.dumps(item, ensure_ascii=False, separators=(",", ":")))
        formats.append(fmt)
    n = len(numbers)
    names = [name for name, _, _ in table.columns]
    columns = dict(zip(names, zip(*values))) if values else dict.fromkeys(names, ())
    columns.update(record=texts, _line=numbers, _format=formats)
    times, bad = _times(columns[table.time[0]])
    arrays = []
    for name, type_, _ in table.columns:
        if name == table.time[0]:
            array = times
        elif name in ("_source", "_ingest_id"):
            array = pa.repeat(pa.scalar(source if name == "_source" else ingest_id, type_), n)
        else:
            array = pa.array(columns[name], type_)
        if defaults.get(name) is not None:
            array = pc.fill_null(array, defaults[name])
        arrays.append(array)
    typed = pa.Table.from_arrays(arrays, schema=table.schema)
    if bad:
        problems += [Problem(numbers[i], f"{text} is not a time", texts[i][:_QUARANTINED_TEXT]) for i, text in bad.items()]
        typed = typed.filter(pa.array([i not in bad for i in range(n)]))
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


def _api_call(e: dict) -> tuple:
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
    return (  # in the order of API_CALLS.columns
        _text(e.get("eventTime")),  # event_time
        _text(e.get("eventSource")),  # event_source
        _text(e.get("eventName")),  # event_name
        _text(e.get("awsRegion")),  # region
        _text(e.get("errorCode")),  # error_code
        _text(e.get("errorMessage")),  # error_message
        principal,  # principal_arn
        _text(identity.get("type")),  # principal_type
        _text(identity.get("accountId")),  # principal_account_id
        role_arn,  # role_arn
        session,  # session_name
        _text(e.get("recipientAccountId")),  # account_id
        _text(e.get("sourceIPAddress")),  # source_ip
        _text(e.get("vpcEndpointId")),  # vpc_endpoint_id
        _text(e.get("vpcEndpointAccountId")),  # vpc_endpoint_account_id
        _text(e.get("userAgent")),  # user_agent
        _text(tls.get("clientProvidedHostHeader")),  # tls_host
        _text(e.get("eventCategory")),  # event_category
        _text(e.get("eventType")),  # event_type
        _flag(e.get("readOnly")),  # read_only
        _flag(e.get("managementEvent")),  # management_event
        _text(e.get("requestID")),  # request_id
        _text(e.get("eventID")),  # event_id
        _text(e.get("eventVersion")),  # event_version
        _resources(e.get("resources")),  # resources
    )


def _resources(value) -> list[dict] | None:
    if not isinstance(value, list):
        return None
    return [{"arn": _text(r.get("ARN")), "account_id": _text(r.get("accountId")), "type": _text(r.get("type"))}
            for r in value if isinstance(r, dict)]


ADDRESS_TYPES = ("A", "AAAA")


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


def _dns_query(r: dict) -> tuple:
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
    return (  # in the order of DNS_QUERIES.columns
        _text(r.get("query_timestamp")),  # query_time
        _text(r.get("account_id")),  # account_id
        _text(r.get("region")),  # region
        _text(r.get("vpc_id")),  # vpc_id
        name,  # query_name
        None if name is None else name.strip().rstrip(".").lower(),  # name
        _text(r.get("query_type")),  # query_type
        _text(r.get("query_class")),  # query_class
        _text(r.get("rcode")),  # rcode
        answers,  # answers
        [a["rdata"] for a in answers if a["type"] in ADDRESS_TYPES and a["rdata"]],  # answer_addresses
        _text(r.get("srcaddr")),  # srcaddr
        port,  # srcport
        _text(r.get("transport")),  # transport
        _text(srcids.get("instance")),  # srcids_instance
        _text(srcids.get("resolver_endpoint", srcids.get("resolver-endpoint"))),  # srcids_resolver_endpoint
        _text(r.get("firewall_rule_action")),  # firewall_rule_action
        _text(r.get("firewall_rule_group_id")),  # firewall_rule_group_id
        _text(r.get("firewall_domain_list_id")),  # firewall_domain_list_id
        _text(r.get("version")),  # version
    )


def _probe(r: dict) -> tuple:
    if r.get("time") in (None, ""):
        raise _Bad("no time (every probe line has one)")
    port, seconds, addresses = r.get("port"), r.get("seconds"), r.get("addresses")
    if port is not None and not (isinstance(port, int) and 0 <= port <= 65535):
        raise _Bad(f"port is not a port number: {port!r}")
    if seconds is not None and not isinstance(seconds, (int, float)):
        raise _Bad(f"seconds is not a number: {seconds!r}")
    if addresses is not None and not (isinstance(addresses, list) and all(isinstance(a, str) for a in addresses)):
        raise _Bad(f"addresses is not a list of addresses: {addresses!r}")
    text = lambda name: _text(r.get(name)) or None  # noqa: E731 - the script writes "" for what it does not know
    return (  # in the order of PROBES.columns
        _text(r.get("time")),  # probe_time
        text("account"),  # account_id
        text("region"),  # region
        text("run"),  # run_id
        text("task_arn"),  # task_arn
        text("source_ip"),  # source_ip
        text("cluster"),  # cluster
        text("service"),  # service
        text("step"),  # step
        text("target"),  # target
        text("host"),  # host
        port,  # port
        text("address"),  # address
        addresses,  # addresses
        _flag(r.get("ok")),  # ok
        None if seconds is None else float(seconds),  # seconds
        text("principal"),  # principal_arn
        text("call"),  # call
        text("proxy"),  # proxy
        text("error"),  # error
    )


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


_TYPES = {CLOUDTRAIL: (API_CALLS, _api_call), RESOLVER: (DNS_QUERIES, _dns_query), PROBE: (PROBES, _probe)}
