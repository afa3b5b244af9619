"""CloudTrail ``Records`` files and Resolver query-log JSON lines typed by Arrow's JSON reader (C++).

The record-by-record path (``events``) reads every shape and says what is wrong with a
record; these two read the shapes AWS delivers in bulk (a trail's S3 objects, a query
log's S3 objects) four to five times faster. Each returns None as soon as the file holds
anything the fast path would not type exactly as the record path does (another shape, a
value of another type, a record to quarantine): the record path then reads it. Tests hold
the two paths equal on generated and real files.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.ingest.events import ADDRESS_TYPES, RESOLVER, kind
from pipeline.tables import ANSWER, API_CALLS, DNS_QUERIES, RESOURCE, TIME, Table


def bulk(data: bytes, source: str, ingest_id: str, defaults: dict) -> pa.Table | None:
    """The file typed by a fast path, or None: not a bulk shape, or not one it types exactly."""
    if _RECORDS_START.match(data):
        return trail_records(data, source, ingest_id, defaults)
    if _first_line_is_query_log(data):
        return query_log_lines(data, source, ingest_id, defaults)
    return None


def _first_line_is_query_log(data: bytes) -> bool:
    import json

    head = data[:1 << 20]
    try:
        first = json.loads(head[:head.find(b"\n")] if b"\n" in head else head)
    except ValueError:
        return False
    return isinstance(first, dict) and kind(first) == RESOLVER


def _lines(data: bytes) -> tuple[pa.Array, np.ndarray]:
    """The file's lines (trimmed) as one string array over its bytes, and the 0-based numbers
    of the lines that are not blank."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))
    offsets = np.concatenate([[0], ends + 1, [len(data)] if not ends.size or ends[-1] != len(data) - 1 else []])
    lines = pc.utf8_trim_whitespace(pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(
        offsets.astype(np.int32)), pa.py_buffer(data)))
    return lines, np.flatnonzero(pc.greater(pc.binary_length(lines), 0).to_numpy(zero_copy_only=False))


def _read(data: bytes, schema: pa.Schema, block: int) -> pa.Table:
    import pyarrow.json as pajson

    return pajson.read_json(pa.py_buffer(data), read_options=pajson.ReadOptions(use_threads=False, block_size=block),
                            parse_options=pajson.ParseOptions(explicit_schema=schema,
                                                              unexpected_field_behavior="ignore")).combine_chunks()


def _provenance(n: int, source: str, ingest_id: str, lines: pa.Array, fmt: str) -> dict:
    return {"_source": pa.repeat(pa.scalar(source), n), "_line": lines, "_format": pa.repeat(pa.scalar(fmt), n),
            "_ingest_id": pa.repeat(pa.scalar(ingest_id), n)}


def _assemble(table: Table, columns: dict, raw, defaults: dict) -> pa.Table:
    arrays = []
    for column, _, _ in table.columns:
        array = columns[column] if column in columns else raw[column]
        if defaults.get(column) is not None:
            array = pc.fill_null(array, defaults[column])
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=table.schema)


_RAW_ANSWER = pa.struct([("Rdata", pa.string()), ("Type", pa.string()), ("Class", pa.string())])
_RAW_QUERY = pa.schema(
    [(name, pa.string()) for name in ("version", "account_id", "region", "vpc_id", "query_timestamp", "query_name",
                                      "query_type", "query_class", "rcode", "srcaddr", "srcport", "transport",
                                      "firewall_rule_action", "firewall_rule_group_id", "firewall_domain_list_id")]
    + [("answers", pa.list_(_RAW_ANSWER)),
       ("srcids", pa.struct([("instance", pa.string()), ("resolver_endpoint", pa.string())]))])


def query_log_lines(data: bytes, source: str, ingest_id: str, defaults: dict) -> pa.Table | None:
    """A file of Resolver query-log JSON lines typed by Arrow's JSON reader (C++), or None when
    any line needs the record-by-record path (another shape, a bad value, a record to quarantine):
    the result is then exactly what that path gives."""
    try:
        raw = _read(data, _RAW_QUERY, 1 << 24)
        when = pc.cast(raw["query_timestamp"], TIME)
        port = pc.cast(raw["srcport"], pa.int32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    lines, kept = _lines(data)
    answers = raw["answers"].chunk(0) if raw.num_rows else pa.array([], pa.list_(_RAW_ANSWER))
    flat = answers.flatten()
    if (len(kept) != raw.num_rows or when.null_count or raw["query_name"].null_count
            or pc.any(pc.or_(pc.less(port, 0), pc.greater(port, 65535))).as_py() or flat.field("Rdata").null_count):
        return None
    rdata = pc.utf8_trim_whitespace(flat.field("Rdata"))
    offsets = pc.subtract(answers.offsets, answers.offsets[0])
    typed_answers = pa.ListArray.from_arrays(offsets, pa.StructArray.from_arrays(
        [rdata, flat.field("Type"), flat.field("Class")], fields=list(ANSWER)))
    address = pc.fill_null(pc.is_in(flat.field("Type"), pa.array(ADDRESS_TYPES)), False)
    parents = pc.list_parent_indices(answers).to_numpy()[address.to_numpy(zero_copy_only=False)]
    counts = np.bincount(parents, minlength=raw.num_rows)
    addresses = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(counts)]), pa.int32()),
                                         rdata.filter(address))
    name = raw["query_name"]
    srcids = raw["srcids"].chunk(0) if raw.num_rows else pa.array([], _RAW_QUERY.field("srcids").type)
    n = raw.num_rows
    columns = {
        **_provenance(n, source, ingest_id, pa.array(kept + 1), "json-lines"),
        "query_time": when, "name": pc.utf8_lower(pc.utf8_rtrim(pc.utf8_trim_whitespace(name), ".")),
        "answers": typed_answers, "answer_addresses": addresses, "srcport": port,
        "srcids_instance": srcids.field("instance"), "srcids_resolver_endpoint": srcids.field("resolver_endpoint"),
        "record": lines.take(pa.array(kept)),
    }
    return _assemble(DNS_QUERIES, columns, raw, defaults)


_S = pa.string()
_RAW_EVENT = pa.struct(
    [(name, _S) for name in ("eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "errorCode",
                             "errorMessage", "recipientAccountId", "sourceIPAddress", "vpcEndpointId",
                             "vpcEndpointAccountId", "userAgent", "eventCategory", "eventType", "requestID", "eventID")]
    + [("readOnly", pa.bool_()), ("managementEvent", pa.bool_()),
       ("userIdentity", pa.struct([("type", _S), ("arn", _S), ("accountId", _S), ("sessionContext", pa.struct(
           [("sessionIssuer", pa.struct([("arn", _S)]))]))])),
       ("tlsDetails", pa.struct([("clientProvidedHostHeader", _S)])),
       ("resources", pa.list_(pa.struct([("ARN", _S), ("accountId", _S), ("type", _S)])))])
_RAW_RECORDS = pa.schema([("Records", pa.list_(_RAW_EVENT))])
_RECORDS_START = re.compile(rb'\s*\{"Records":\[')
_BETWEEN = re.compile(rb'\},\{"eventVersion":')
_ASSUMED = r"^arn:(?P<partition>[\w-]+):sts::(?P<account>[^:]*):assumed-role/(?P<role>[^/]+)(?:/(?P<session>.+))?$"
_RENAMED = {"event_time": "eventTime", "event_source": "eventSource", "event_name": "eventName", "region": "awsRegion",
            "error_code": "errorCode", "error_message": "errorMessage", "account_id": "recipientAccountId",
            "source_ip": "sourceIPAddress", "vpc_endpoint_id": "vpcEndpointId",
            "vpc_endpoint_account_id": "vpcEndpointAccountId", "user_agent": "userAgent",
            "event_category": "eventCategory", "event_type": "eventType", "read_only": "readOnly",
            "management_event": "managementEvent", "request_id": "requestID", "event_id": "eventID",
            "event_version": "eventVersion"}


def trail_records(data: bytes, source: str, ingest_id: str, defaults: dict) -> pa.Table | None:
    """A trail's ``{"Records":[…]}`` object, written compactly as CloudTrail does, or None.

    The record texts are cut between records (``},{"eventVersion":``, which cannot occur
    inside a JSON string, whose quotes are escaped); their count must equal the records read.
    """
    match = _RECORDS_START.match(data)
    end = data.rstrip().rfind(b"]}")
    if not match or end < 0 or data.rstrip()[end + 2:]:
        return None
    try:
        flat = _read(data, _RAW_RECORDS, len(data) + 1)["Records"].combine_chunks().flatten()
        raw = {name: flat.field(name) for name in _RAW_EVENT.names}
        when = pc.cast(raw["eventTime"], TIME)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    n = len(flat)
    starts = [match.end()] + [m.start() + 2 for m in _BETWEEN.finditer(data, match.end(), end)]
    if len(starts) != n or when.null_count or not data.startswith(b'{"eventVersion":', match.end()):
        return None
    # record i is data[start i : start i+1], less the comma between records: no copy of the texts
    offsets = np.array(starts + [end], np.int32)
    record = pc.utf8_rtrim(pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)), characters=",")
    identity = raw["userIdentity"]
    principal = identity.field("arn")
    assumed = pc.extract_regex(pc.fill_null(principal, ""), _ASSUMED)
    matched = pc.is_valid(assumed)
    issuer = identity.field("sessionContext").field("sessionIssuer").field("arn")
    derived = pc.binary_join_element_wise("arn:", assumed.field("partition"), ":iam::", assumed.field("account"),
                                          ":role/", assumed.field("role"), "")
    role_arn = pc.if_else(matched, pc.if_else(pc.fill_null(pc.match_substring(issuer, ":role/"), False), issuer, derived),
                          pa.scalar(None, _S))
    session = pc.if_else(pc.and_(matched, pc.not_equal(assumed.field("session"), "")), assumed.field("session"),
                         pa.scalar(None, _S))
    resources = raw["resources"]
    named = resources.flatten()
    typed_resources = pa.ListArray.from_arrays(
        pc.subtract(resources.offsets, resources.offsets[0]),
        pa.StructArray.from_arrays([named.field("ARN"), named.field("accountId"), named.field("type")],
                                   fields=list(RESOURCE)), mask=pc.is_null(resources))
    columns = {
        **{column: raw[field] for column, field in _RENAMED.items()},
        **_provenance(n, source, ingest_id, pa.array(np.arange(1, n + 1), pa.int64()), "cloudtrail-records"),
        "event_time": when, "principal_arn": principal, "principal_type": identity.field("type"),
        "principal_account_id": identity.field("accountId"), "role_arn": role_arn, "session_name": session,
        "tls_host": raw["tlsDetails"].field("clientProvidedHostHeader"), "resources": typed_resources,
        "record": record,
    }
    return _assemble(API_CALLS, columns, raw, defaults)
