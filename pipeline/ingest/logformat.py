"""Which fields, in which order: header lines, ``${…}`` LogFormat strings, JSON keys.

Flow logs are parsed by field NAME, never by counting fields. The names come from the
file's header line (S3 text delivery), from the flow log's LogFormat (``--log-format``
or DescribeFlowLogs), or else the v2 default format.
"""

from __future__ import annotations

import re

from pipeline.errors import FlowlogsError
from pipeline.fields import BY_NAME, DEFAULT_FORMAT, normalise

_NAME_SHAPE = re.compile(r"^(\$\{)?[a-z][a-z0-9_-]*\}?$")
EXPORT_TIME = "_export_time"  # the leading timestamp of a CloudWatch Logs export to S3
_EXPORT_TIME_SHAPE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?$")


class LogFormatError(FlowlogsError, ValueError):
    pass


def parse_log_format(text: str) -> tuple[str, ...]:
    """``'${version} ${srcaddr} …'`` (or bare names) → catalog field names, in order."""
    tokens = text.split()
    if not tokens:
        raise LogFormatError("the log format is empty; give it as '${version} ${account-id} …'")
    names = tuple(normalise(t) for t in tokens)
    unknown = [t for t, n in zip(tokens, names) if n not in BY_NAME]
    if len(unknown) == len(names):
        raise LogFormatError(
            f"no known flow-log field in the log format {text!r}; "
            "fields look like ${version} ${srcaddr} (see `python -m pipeline.fields`)"
        )
    if len(set(names)) != len(names):
        raise LogFormatError(f"a field appears twice in the log format {text!r}")
    return names


def header_names(line: bytes) -> tuple[str, ...] | None:
    """The field names if ``line`` is a header line, else None.

    A header is a line whose tokens are all shaped like field names (lower case,
    hyphens, no digits-only values, no addresses) and at least half of them are catalog
    fields. Unknown names are kept: they become ``_extra`` entries, never a reason to
    misread the known ones.
    """
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    tokens = text.split()
    if not tokens or not all(_NAME_SHAPE.match(t) for t in tokens):
        return None
    names = tuple(normalise(t) for t in tokens)
    known = sum(n in BY_NAME for n in names)
    if known * 2 < len(names) or len(set(names)) != len(names):
        return None
    return names


def starts_with_export_time(line: bytes) -> bool:
    """A CloudWatch Logs export to S3 prefixes each record with an ISO timestamp."""
    first = line.split(maxsplit=1)[:1]
    return bool(first) and bool(_EXPORT_TIME_SHAPE.match(first[0]))


def describe(names: tuple[str, ...]) -> str:
    """The format's name in the lake (``_format``): field names joined by spaces."""
    return " ".join(names)


DEFAULT = DEFAULT_FORMAT
