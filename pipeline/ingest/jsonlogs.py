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


def _documents(data: bytes, partial: bool) -> Iterator[tuple[int, object]]:
    """(line number, document) for concatenated or newline-separated JSON documents.

    ``partial``: the data was cut short (a damaged gzip), so invalid JSON ends the
    documents instead of refusing the file.
    """
    text = data.decode("utf-8")
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        line = text.count("\n", 0, pos) + 1
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            if partial:
                return
            raise NotFlowLogs(f"invalid JSON at line {line}: {exc.msg}") from None
        yield line, doc


def _refusal(doc: object) -> str:
    if isinstance(doc, dict):
        if "class_uid" in doc or "metadata" in doc and "src_endpoint" in doc:
            return "an OCSF event (already normalised, e.g. by Security Lake), not a flow-log delivery"
        if "results" in doc and "status" in doc:
            return "CloudWatch Logs Insights query results, not a flow-log delivery; export the log group instead"
        if "body" in doc or "@timestamp" in doc:
            return "a search-engine document (already normalised), not a flow-log delivery"
        keys = ", ".join(sorted(doc)[:6])
        return f"JSON objects with keys {keys}: not a flow-log delivery shape"
    return f"a JSON {type(doc).__name__}, not a flow-log delivery shape"


def split(data: bytes, *, partial: bool = False) -> tuple[list[Messages], list[tuple[int, dict]]]:
    """Split a JSON file into record strings per stream, and field-keyed rows.

    Records are numbered by line (one document per line), by position (a JSON array),
    or for log events by their order in the file (Firehose concatenates payloads).
    """
    streams: dict[str | None, Messages] = {}
    rows: list[tuple[int, dict]] = []
    events = itertools.count(1)

    def add(stream, number, message):
        streams.setdefault(stream, Messages(stream, [], [])).numbers.append(number)
        streams[stream].texts.append(message.rstrip("\n"))

    for line, doc in _documents(data, partial):
        items = doc if isinstance(doc, list) else [doc]
        for index, item in enumerate(items):
            number = line + index if not isinstance(doc, list) else index + 1
            if not isinstance(item, dict):
                raise NotFlowLogs(_refusal(item))
            if item.get("messageType") == "CONTROL_MESSAGE":
                continue
            if "logEvents" in item:
                for event in item["logEvents"]:
                    add(item.get("logStream"), next(events), event["message"])
            elif isinstance(item.get("events"), list):
                for event in item["events"]:
                    add(event.get("logStreamName"), next(events), event["message"])
            elif isinstance(item.get("message"), str):
                add(item.get("logStream") or item.get("logStreamName"), number, item["message"])
            elif item and all(normalise(k) in BY_NAME for k in item):
                rows.append((number, item))
            else:
                raise NotFlowLogs(_refusal(item))
    return list(streams.values()), rows


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
