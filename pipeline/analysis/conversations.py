"""The ``conversations`` table (``queries/conversations.sql``), in parts when the window would not fit the memory limit.

The query reduces the window's records per ENI and key, pairs both directions, and judges each conversation.
At tens of millions of records its aggregations outgrow a memory limit of a few GB and spill, which costs more
than the work itself. Every record of a conversation has the same unordered address pair, so on DuckDB the
window is split by a hash of that pair: each part is reduced and judged in memory, on its own. What looks
across parts is done once for all: each ENI's own address (``own``, from all the window's records, in parts
by a hash of the ENI) before, and the reset-sized count per server (``sized``) after. The result is the
same table.

Two inputs: the flow records (``flows``), or the lake's derived reduction (``pipeline.lake.derived``:
``flow_reduction_rows``, rows of the window still to be added up per key). The number of parts is worked
out from the rows the window reduces to (``ROW_BYTES`` each through the query) against the connection's
memory limit. On Spark and Athena the query runs whole, as one statement.
"""

from __future__ import annotations

import duckdb

from pipeline import queries
from pipeline.lake import limits

ROW_BYTES = 1000  # memory a row of the window's reduction takes through the query, about (50 M records, 3 GB limit)
PAIR_HASH = "hash(least({src}, {dst}), greatest({src}, {dst})) % {parts} = {part}"


def build(con, params: dict, derived_rows: int | None = None) -> int:
    """Create the temp table ``conversations``; returns the number of parts it was computed in.

    ``params``: ``since``, ``until``, ``as_of``, ``settle``, ``addrs``, ``port`` (``conversations.sql``'s).
    ``derived_rows``: read ``flow_reduction_rows`` (about that many rows) instead of the records."""
    sql = queries.get("conversations").sql
    if derived_rows is None:
        con.execute(queries.get("flow_reduction").sql)  # the table macro conversations.sql reduces the records with
        on_duckdb = isinstance(con, duckdb.DuckDBPyConnection)
        parts = parts_for(_record_rows(con, _pick(params, "since", "until"))) if on_duckdb else 1
        if parts == 1:
            con.execute(f"CREATE OR REPLACE TEMP TABLE conversations AS {sql}", params)
            return 1
    else:
        parts = parts_for(derived_rows)
    at = {name: _cte(sql, name) for name in ("rec", "pairs", "own", "keyed", "sized")}
    judged = _pick(params, "as_of", "settle", "addrs", "port")
    rec = ("WITH rec AS (\n    SELECT * FROM flow_reduction_window\n"
           "    WHERE ($addrs IS NULL OR src IN (SELECT unnest($addrs)) OR dst IN (SELECT unnest($addrs)))\n"
           "      AND ($port IS NULL OR srcport = $port OR dstport = $port)\n),\n")
    if derived_rows is not None:
        pairs = ("pairs AS (\n    SELECT interface_id, srcaddr, dstaddr, flow_direction, CAST(sum(records) AS BIGINT) AS records\n"
                 "    FROM {} GROUP BY interface_id, srcaddr, dstaddr, flow_direction\n),\n")
        if parts == 1:
            _derived_part(con, "")
            con.execute("CREATE OR REPLACE TEMP TABLE conversations AS " + rec + pairs.format("flow_reduction_window")
                        + sql[at["own"]:], judged)
            return 1
        own = pairs.format("(SELECT * FROM flow_reduction_rows WHERE {eni}) AS r") + _ctes(sql[at["own"]:at["keyed"]])
    else:
        own = _ctes(sql[at["pairs"]:at["keyed"]])
        if own.count("\n    FROM flows\n") != 1:
            raise RuntimeError("conversations.sql: `pairs` must read `FROM flows` on a line of its own "
                               "(pipeline.analysis.conversations reads it by part)")
        own = own.replace("\n    FROM flows\n", "\n    FROM (SELECT * FROM flows WHERE {eni}) AS flows\n")
    for part in range(parts):  # each ENI's own address, by a hash of the ENI: from all its records, in parts too
        eni = f"hash(interface_id) % {parts} = {part}"
        con.execute(("CREATE OR REPLACE TEMP TABLE own_addresses AS " if part == 0 else "INSERT INTO own_addresses ")
                    + "WITH " + own.replace("{eni}", eni) + "\nSELECT * FROM own",
                    _pick(params, "since", "until") if derived_rows is None else {})
    part_sql = rec + "own AS (SELECT * FROM own_addresses),\n" + _ctes(sql[at["keyed"]:at["sized"]]) + "\nSELECT * FROM judged"
    for part in range(parts):
        if derived_rows is not None:
            _derived_part(con, "WHERE " + PAIR_HASH.format(src="src", dst="dst", parts=parts, part=part))
        else:
            where = PAIR_HASH.format(src="coalesce(pkt_srcaddr, srcaddr)", dst="coalesce(pkt_dstaddr, dstaddr)",
                                     parts=parts, part=part)
            con.execute("CREATE OR REPLACE TEMP TABLE flow_reduction_window AS " + sql[:at["rec"]]
                        + f"part_records AS (SELECT * FROM window_records WHERE {where})\n"
                        "SELECT * EXCLUDE (hour) FROM flow_reduction(part_records)",
                        _pick(params, "since", "until", "addrs", "port"))
        con.execute(("CREATE OR REPLACE TEMP TABLE judged_parts AS " if part == 0 else "INSERT INTO judged_parts ")
                    + part_sql, judged)
    con.execute("CREATE OR REPLACE TEMP TABLE conversations AS WITH judged AS (SELECT * FROM judged_parts),\n"
                + sql[at["sized"]:])
    con.execute("DROP TABLE judged_parts")
    con.execute("DROP TABLE own_addresses")
    return parts


def parts_for(rows: int) -> int:
    """In how many parts ``build`` computes a window of ``rows`` rows: enough for each to fit the memory limit."""
    return max(1, -(-rows * ROW_BYTES // limits.limit_bytes()))


def _record_rows(con, window: dict) -> int:
    """About how many rows the window's records reduce to: their number when that fits the memory limit
    anyway, else the distinct ENI, addresses and ports among them (a HyperLogLog count: one pass over five
    columns, a fiftieth of the query's time)."""
    where = 'WHERE "start" < $until AND "end" >= $since'
    records = con.execute(f"SELECT count(*) FROM flows {where}", window).fetchone()[0]
    if parts_for(records) == 1:
        return records
    return con.execute("SELECT approx_count_distinct(hash(interface_id, srcaddr, dstaddr, srcport, dstport)) "
                       f"FROM flows {where}", window).fetchone()[0]


def _pick(params: dict, *names: str) -> dict:
    """The parameters a piece of the query takes (DuckDB refuses one it does not)."""
    return {k: params[k] for k in names}


def _derived_part(con, where: str) -> None:
    """``flow_reduction_window``: the rows of ``flow_reduction_rows`` (those ``where`` keeps) added up per key."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW flow_reduction_parts AS SELECT * FROM flow_reduction_rows {where}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE flow_reduction_window AS {queries.get('flow_reduction_window').sql}")


def _cte(sql: str, name: str) -> int:
    """Where the CTE ``name`` of ``conversations.sql`` starts (this module runs the query in pieces)."""
    at = sql.find(f"\n{name} AS (")
    if at < 0:
        raise RuntimeError(f"conversations.sql: no `{name}` CTE (pipeline.analysis.conversations runs the query "
                           "in pieces: rec, pairs, own, keyed to judged, sized)")
    return at + 1


def _ctes(text: str) -> str:
    """A run of CTEs cut from the query, without the comma that followed the last."""
    return text.rstrip().rstrip(",")
