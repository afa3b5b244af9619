"""Flow-log records that arrive wrapped in JSON.

- CloudWatch Logs subscription payloads (``{"messageType": "DATA_MESSAGE", "logStream",
  "logEvents": [...]}``), one or several concatenated, as Firehose lands them in S3;
- ``aws logs filter-log-events`` / ``get-log-events`` output (``{"events": [...]}``);
- Firehose lines ``{"message": "<record>"}``;
- rows keyed by field name (``{"srcaddr": …}``, hyphens or underscores), as JSON
  renderings of AWS Parquet rows.

Everything else that is JSON (OCSF events, search-engine documents, Logs Insights
results) is refused as a whole: it is not a flow-log delivery format.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline.errors import FlowlogsError
from pipeline.ingest.conform import Context, Problem, conform
from pipeline.ingest.events import Events
from pipeline.fields import BY_NAME, normalise

_STREAM_ENI = re.compile(r"^(eni-[0-9a-f]+)")


class NotFlowLogs(FlowlogsError, ValueError):
    """The file is JSON but not one of the flow-log delivery shapes."""


@dataclass
class Messages:
    """Record strings of one log stream, with their position in the file."""

    stream: str | None
    numbers: list[int]
    texts: list[str]


def _documents(data: bytes, partial: bool, problems: list) -> Iterator[tuple[int, object, object]]:
    """(line number, document, its text) for the JSON documents of a file.

    JSON lines (the first line is a whole object) are read line by line: a line that is
    not JSON is quarantined in ``problems`` and the others are kept. Otherwise the file
    is concatenated documents (pretty-printed ones included), where invalid JSON refuses
    the file, unless ``partial`` (a damaged gzip cut it short): then it ends the documents.
    The text is the line of a JSON line, the list of the record texts of a CloudTrail
    ``Records`` document, else None.
    """
    text = data.decode("utf-8")
    pos = _WS.match(text).end()
    end = text.find("\n", pos)
    first = text[pos:end if end >= 0 else len(text)].strip()
    try:
        head = None if _RECORDS.match(first) else json.loads(first)  # Records: read by the fast path below
    except ValueError:
        head = None
    if isinstance(head, dict):
        line0 = text.count("\n", 0, pos) + 1
        yield line0, head, first
        rest = text[end + 1:].split("\n") if end >= 0 else []
        for line, raw in enumerate(rest, line0 + 1):
            stripped = raw.strip()
            if not stripped:
                continue
            try:
                yield line, json.loads(stripped), stripped
            except ValueError as exc:
                if not (partial and line == line0 + len(rest)):  # a damaged gzip's cut line: the damage says it
                    problems.append(Problem(line, f"invalid JSON: {exc}", stripped[:4096]))
        return
    decoder = json.JSONDecoder()
    line, pos = 1, 0
    while True:
        start = pos
        pos = _WS.match(text, pos).end()
        line += text.count("\n", start, pos)
        if pos >= len(text):
            return
        records = _records(text, pos, decoder)
        try:
            doc, end = records[0] if records else decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            if partial:
                return
            raise NotFlowLogs(f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
        yield line, doc, records[1] if records else None
        line += text.count("\n", pos, end)
        pos = end


_WS = re.compile(r"\s*")
_RECORDS = re.compile(r'\{\s*"Records"\s*:\s*\[')


def _records(text: str, pos: int, decoder) -> tuple[tuple[dict, int], list[str]] | None:
    """A CloudTrail ``{"Records": [...]}`` document at ``pos``, each record with its own text
    (so the lake keeps it without serialising it again); None: not that shape, read it whole."""
    match = _RECORDS.match(text, pos)
    if not match:
        return None
    records, texts = [], []
    at = _WS.match(text, match.end()).end()
    try:
        while text[at] != "]":
            record, end = decoder.raw_decode(text, at)
            records.append(record)
            texts.append(text[at:end])
            at = _WS.match(text, end).end()
            if text[at] == ",":
                at = _WS.match(text, at + 1).end()
            elif text[at] != "]":
                return None
        at = _WS.match(text, at + 1).end()
        if text[at] != "}":
            return None
    except (IndexError, json.JSONDecodeError):
        return None
    return ({"Records": records}, at + 1), texts


def _refusal(doc: object) -> str:
    if isinstance(doc, dict):
        if "class_uid" in doc or "metadata" in doc and "src_endpoint" in doc:
            return "an OCSF event (already normalised, e.g. by Security Lake), not a flow-log delivery"
        if "results" in doc and "status" in doc:
            return "CloudWatch Logs Insights query results, not a flow-log delivery; export the log group instead"
        if "body" in doc or "@timestamp" in doc:
            return "a search-engine document (already normalised), not a flow-log delivery"
        keys = ", ".join(sorted(doc)[:6])
        return f"JSON objects with keys {keys}: not a flow-log, CloudTrail or Resolver query-log delivery shape"
    return f"a JSON {type(doc).__name__}, not a flow-log, CloudTrail or Resolver query-log delivery shape"


def split(data: bytes, *, partial: bool = False, found: Events | None = None
          ) -> tuple[list[Messages], list[tuple[int, dict]], Events]:
    """Split a JSON file into flow-record strings per stream, field-keyed flow rows, and
    the CloudTrail and Resolver records (``events.Events``, with the lines kept aside).

    Records are numbered by line (one document per line, or where a document starts),
    by position (a JSON array, a CloudTrail ``Records`` list), or for log events by their
    order in the file (Firehose concatenates payloads). A log event whose message is a
    JSON object is a CloudTrail or Resolver record (their CloudWatch Logs form).
    """
    streams: dict[str | None, Messages] = {}
    rows: list[tuple[int, dict]] = []
    found = Events() if found is None else found
    numbers = itertools.count(1)

    def add(stream, number, message, fmt):
        if message.lstrip().startswith("{") and found.add(number, message, None, fmt):
            return
        streams.setdefault(stream, Messages(stream, [], [])).numbers.append(number)
        streams[stream].texts.append(message.rstrip("\n"))

    for line, doc, text in _documents(data, partial, found.problems):
        items = doc if isinstance(doc, list) else [doc]
        shape = "json-lines" if isinstance(text, str) else "json"
        for index, item in enumerate(items):
            number = index + 1 if isinstance(doc, list) else line
            if not isinstance(item, dict):
                raise NotFlowLogs(_refusal(item))
            if item.get("messageType") == "CONTROL_MESSAGE":
                continue
            if "logEvents" in item:
                for event in item["logEvents"]:
                    add(item.get("logStream"), next(numbers), event["message"], "cloudwatch-logs")
            elif isinstance(item.get("events"), list):
                for event in item["events"]:
                    add(event.get("logStreamName"), next(numbers), event["message"], "cloudwatch-logs")
            elif isinstance(item.get("message"), str):
                add(item.get("logStream") or item.get("logStreamName"), number, item["message"], "firehose-message")
            elif found.add(number, item, text if isinstance(text, (str, list)) else None, shape):
                continue
            elif item and all(normalise(k) in BY_NAME for k in item):
                rows.append((number, item))
            else:
                raise NotFlowLogs(_refusal(item))
    return list(streams.values()), rows, found


def stream_eni(stream: str | None) -> str | None:
    """CloudWatch Logs streams of flow logs are named after the ENI (``eni-…-all``)."""
    match = _STREAM_ENI.match(stream or "")
    return match.group(1) if match else None


def read_rows(rows: list[tuple[int, dict]], ctx: Context) -> Iterator[tuple[pa.Table, list[Problem]]]:
    """Field-keyed JSON rows → lake batches, one per set of keys (each its own ``_format``).

    Types come from the values, as in Parquet: numbers stay numbers (``6.0`` is 6),
    strings are checked like text.
    """
    shapes: dict[tuple[str, ...], list[tuple[int, dict]]] = {}
    for number, row in rows:
        named = {normalise(k): v for k, v in row.items()}
        shapes.setdefault(tuple(named), []).append((number, named))
    for names, group in shapes.items():
        columns = {}
        for name in names:
            values = [None if r[name] in (None, "-") else r[name] for _, r in group]
            if BY_NAME[name].type != "string" and all(isinstance(v, (int, float)) or v is None for v in values):
                floats = any(isinstance(v, float) for v in values)
                columns[name] = pa.array(values, pa.float64() if floats else pa.int64())
            else:
                columns[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
        numbers = np.array([n for n, _ in group], np.int64)
        yield conform(columns, numbers, Context(ctx.source, ctx.ingest_id, " ".join(names), ctx.defaults))
