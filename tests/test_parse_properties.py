"""Property tests: any subset and order of catalog fields, written the ways AWS writes them,
reads back as the same typed values.

Text with a header line (gzip and plain, with or without a final newline), header-less
text with the format given as ``--log-format`` would give it, and Parquet with the
column types AWS uses (int32 ports/protocol, int64 bytes/packets/start/end, strings).
"""

from __future__ import annotations

import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.ingest.conform import SCHEMA
from pipeline.fields import BY_NAME, FIELDS, ORDERED, normalise
from pipeline.ingest.logformat import parse_log_format
from pipeline.ingest.readers import read_source

CATALOG_COLUMNS = [f.column for f in FIELDS]
MS_THRESHOLD = 10**11  # start/end above this are read as milliseconds (tested separately)

_TOKEN = st.text(alphabet="abcdefABCDEF0123456789.:/_-xyz", min_size=1, max_size=24).filter(
    lambda s: s != "-" and normalise(s) not in BY_NAME
)


_ADDRESS = st.ip_addresses().map(str)


def _value(name: str):
    """Values as AWS writes them: within the catalog's ranges, words and address syntax."""
    field = BY_NAME[name]
    if name in ("start", "end"):
        value = st.integers(0, MS_THRESHOLD)
    elif field.range:
        value = st.integers(*field.range)
    elif field.values:
        value = st.sampled_from(field.values)
    elif field.address:
        value = _ADDRESS
    elif field.type == "int32":
        value = st.integers(0, 2**31 - 1)
    elif field.type == "int64":
        value = st.integers(0, 2**63 - 1)
    elif name == "account-id":
        value = st.from_regex(r"\A(\d{12}|unknown)\Z")  # leading zeros must survive
    else:
        value = _TOKEN
    return st.none() | value  # None is AWS's `-`


def _in_order(row: dict) -> dict:
    """The catalog's ordered pairs (start, end) in order, as AWS writes them."""
    for first, second in ORDERED:
        if row.get(first) is not None and row.get(second) is not None and row[first] > row[second]:
            row[first], row[second] = row[second], row[first]
    return row


@st.composite
def flow_logs(draw):
    names = draw(st.lists(st.sampled_from([f.name for f in FIELDS]), min_size=1, max_size=len(FIELDS), unique=True))
    row = st.fixed_dictionaries({n: _value(n) for n in names}).map(_in_order)
    rows = draw(st.lists(row, min_size=1, max_size=12))
    return tuple(names), rows


def _text(names, rows, *, header: bool, final_newline: bool = True) -> bytes:
    lines = [" ".join(names)] if header else []
    lines += [" ".join("-" if r[n] is None else str(r[n]) for n in names) for r in rows]
    return ("\n".join(lines) + ("\n" if final_newline else "")).encode()


def _parquet(names, rows) -> bytes:
    columns = {BY_NAME[n].column: pa.array([r[n] for r in rows], BY_NAME[n].arrow_type) for n in names}
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


def _read(data: bytes, log_format=None) -> pa.Table:
    tables, problems = [], []
    for table, bad in read_source(lambda: io.BytesIO(data), source="s", ingest_id="i", log_format=log_format, defaults={}):
        tables.append(table)
        problems += bad
    assert problems == []
    return pa.concat_tables(tables).sort_by("_line") if tables else SCHEMA.empty_table()


def _assert_reads_back(table: pa.Table, names, rows, first_line: int) -> None:
    assert table.schema == SCHEMA
    assert table.num_rows == len(rows)
    assert table["_line"].to_pylist() == list(range(first_line, first_line + len(rows)))
    for field in FIELDS:
        expected = [r[field.name] for r in rows] if field.name in names else [None] * len(rows)
        assert table[field.column].to_pylist() == expected, field.name
    assert table["_extra"].null_count == len(rows)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(flow_logs(), st.booleans())
def test_gzip_text_with_header(log, final_newline):
    names, rows = log
    data = gzip.compress(_text(names, rows, header=True, final_newline=final_newline))
    _assert_reads_back(_read(data), names, rows, first_line=2)


@SETTINGS
@given(flow_logs(), st.booleans())
def test_plain_text_with_header(log, final_newline):
    names, rows = log
    _assert_reads_back(_read(_text(names, rows, header=True, final_newline=final_newline)), names, rows, first_line=2)


@SETTINGS
@given(flow_logs())
def test_headerless_text_with_log_format(log):
    names, rows = log
    log_format = parse_log_format(" ".join("${%s}" % n for n in names))
    _assert_reads_back(_read(gzip.compress(_text(names, rows, header=False)), log_format), names, rows, first_line=1)


@SETTINGS
@given(flow_logs())
def test_parquet_as_aws_writes_it(log):
    names, rows = log
    _assert_reads_back(_read(_parquet(names, rows)), names, rows, first_line=1)


@SETTINGS
@given(flow_logs(), st.sampled_from(["start", "end"]))
def test_millisecond_times_become_seconds(log, name):
    names, rows = log
    times = ("start", "end") if name in ("start", "end") else (name,)  # end before start is quarantined
    names = (*names, *(t for t in times if t not in names))
    rows = [dict(r, **{t: 1_700_000_000_123 for t in times}) for r in rows]
    table = _read(_text(names, rows, header=True))
    assert table[name].to_pylist() == [1_700_000_000] * len(rows)


V5_DOC_ORDER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
    "log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id "
    "sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path"
).split()
V5_ROWS = [
    dict(zip(V5_DOC_ORDER, [5, "012345678901", "eni-0a1b2c3d4e5f60718", "10.0.1.5", "52.95.128.179", 34210, 443, 6,
                            7, 471, 1616729292, 1616729349, "ACCEPT", "OK", "vpc-0a1b2c3d", "subnet-0a1b2c3d",
                            None, 3, "IPv4", "10.0.1.5", "52.95.128.179", "eu-west-1", "euw1-az1", None, None,
                            None, "S3", "egress", 8])),
    dict(zip(V5_DOC_ORDER, [5, "012345678901", "eni-0a1b2c3d4e5f60718", None, None, None, None, None, None, None,
                            1616729292, 1616729349, None, "NODATA", "vpc-0a1b2c3d", "subnet-0a1b2c3d", None, None,
                            None, None, None, "eu-west-1", "euw1-az1", None, None, None, None, None, None])),
]


def test_v5_documentation_order_and_alphabetical_order_read_the_same():
    alphabetical = sorted(V5_DOC_ORDER)
    assert alphabetical != V5_DOC_ORDER and len(V5_DOC_ORDER) == 29
    doc = _read(_text(V5_DOC_ORDER, V5_ROWS, header=True))
    alpha = _read(_text(alphabetical, V5_ROWS, header=True))
    records = CATALOG_COLUMNS + ["_line", "_extra"]
    assert doc.select(records).equals(alpha.select(records))
    _assert_reads_back(doc, tuple(V5_DOC_ORDER), V5_ROWS, first_line=2)


def test_values_that_do_not_fit_their_type_are_quarantined_with_the_field_named():
    lines = [
        "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 -5 6 1 40 1700000000 1700000060 ACCEPT OK",
        "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 0x1F 6 1 40 1700000000 1700000060 ACCEPT OK",
        "2 123456789012 eni-1 10.0.0.1 10.0.0.2 99999999999 80 6 1 40 1700000000 1700000060 ACCEPT OK",
        "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 80 6 1 92233720368547758070 1700000000 1700000060 ACCEPT OK",
        "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 80 6 1 9223372036854775807 1700000000 1700000060 ACCEPT OK",
        "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 80 6 1 40 100000000000000 1700000060 ACCEPT OK",
        "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 80 6 1.5 40 1700000000 1700000060 ACCEPT OK",
    ]
    problems, tables = [], []
    data = ("\n".join(lines) + "\n").encode()
    for table, bad in read_source(lambda: io.BytesIO(data), source="s", ingest_id="i", log_format=None, defaults={}):
        tables.append(table)
        problems += bad
    assert [(p.line, p.reason) for p in problems] == [
        (1, "dstport is not a whole number: '-5'"),
        (2, "dstport is not a whole number: '0x1F'"),
        (3, "srcport is out of range: 99999999999"),
        (4, "bytes is out of range: 92233720368547758070"),
        (6, "start is not a Unix time: 100000000000000"),
        (7, "packets is not a whole number: '1.5'"),
    ]
    kept = pa.concat_tables(tables)
    assert kept["_line"].to_pylist() == [5] and kept["bytes"].to_pylist() == [2**63 - 1]


@settings(max_examples=400, deadline=None)
@example(["01.2.3.4", "256.0.0.1", "1.2.3.4 ", "1.2.3.4\n", "::ffff:1.2.3.4", "1.2.3", "0.0.0.0", "10.0.0.255"])
@given(st.lists(st.one_of(st.ip_addresses().map(str), st.text(alphabet="0123456789.:abcdef% \n", max_size=20),
                          st.none()), max_size=30))
def test_the_address_check_agrees_with_the_address_parser(values):
    """Plain IPv4 text is recognised by a regular expression (the fast path); whatever it says of a
    value, the address parser (``ip_key``) says the same."""
    from pipeline.addresses import ip_key
    from pipeline.ingest.conform import _not_addresses

    got = _not_addresses(pa.array(values, pa.string())).to_pylist()
    assert got == [v is not None and ip_key(v) is None for v in values]
