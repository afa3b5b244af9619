"""The ``conversations`` table (``queries/conversations.sql``), in parts when the window would not fit the memory limit.

The query reduces the window's records per ENI and key, pairs both directions, and judges each conversation.
At tens of millions of records its aggregations outgrow a memory limit of a few GB and spill, which costs more
than the work itself. Every record of a conversation has the same unordered address pair, so on DuckDB the
window is split by a hash of that pair: each part is reduced and judged in memory, on its own. What looks
across parts is done once for all: each ENI's own address (``own``, from all the window's records) before,
and the reset-sized count per server (``sized``) after. The result is the same table.

Two inputs: the flow records (``flows``), or the lake's derived reduction (``pipeline.lake.derived``:
``flow_reduction_rows``, rows of the window still to be added up per key). The number of parts is worked
out from the rows the window holds (``ROW_BYTES`` each through the query; a row of the reduction stands
for ``RECORDS_PER_ROW`` records) against the connection's memory limit. On Spark and Athena the query
runs whole, as one statement.
"""

from __future__ import annotations

import duckdb

from pipeline import queries
from pipeline.lake import limits

ROW_BYTES = 1000  # memory a row of the window's reduction takes through the query, about (50 M records, 3 GB limit)
RECORDS_PER_ROW = 5  # flow records per row of the reduction, about (a busy VPC's records, benchmarks/)
PAIR_HASH = "hash(least({src}, {dst}), greatest({src}, {dst})) % {parts} = {part}"


def build(con, params: dict, derived_rows: int | None = None) -> int:
    """Create the temp table ``conversations``; returns the number of parts it was computed in.

    ``params``: ``since``, ``until``, ``as_of``, ``settle``, ``addrs``, ``port`` (``conversations.sql``'s).
    ``derived_rows``: read ``flow_reduction_rows`` (about that many rows) instead of the records."""
    sql = queries.get("conversations").sql
    if derived_rows is None:
        con.execute(queries.get("flow_reduction").sql)  # the table macro conversations.sql reduces the records with
        if not isinstance(con, duckdb.DuckDBPyConnection):
            con.execute(f"CREATE OR REPLACE TEMP TABLE conversations AS {sql}", params)
            return 1
        records = con.execute('SELECT count(*) FROM flows WHERE "start" < $until AND "end" >= $since',
                              {k: params[k] for k in ("since", "until")}).fetchone()[0]
        parts = parts_for(records // RECORDS_PER_ROW)
    else:
        parts = parts_for(derived_rows)
    if parts == 1 and derived_rows is None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE conversations AS {sql}", params)
        return 1
    at = {name: _cte(sql, name) for name in ("rec", "pairs", "own", "keyed", "sized")}
    judged = params_of(params, "as_of", "settle", "addrs", "port")
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
        con.execute("CREATE OR REPLACE TEMP TABLE own_addresses AS WITH " + pairs.format("flow_reduction_rows")
                    + _ctes(sql[at["own"]:at["keyed"]]) + "\nSELECT * FROM own")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE own_addresses AS WITH " + _ctes(sql[at["pairs"]:at["keyed"]])
                    + "\nSELECT * FROM own", params_of(params, "since", "until"))
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
                        params_of(params, "since", "until", "addrs", "port"))
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


def params_of(params: dict, *names: str) -> dict:
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
