"""Names for addresses: which hostname a task asked for before it talked to an address.

The SQL is ``queries/name_macros.sql`` (service and Region of a hostname),
``queries/dns_answers.sql`` (each answered address of the Resolver query logs) and
``queries/conversation_names.sql`` (the time-valid join, its rule documented there). This
module runs them over the conversations and says, per VPC, whether names could be known at
all: a VPC without Resolver query logging has no DNS evidence, which is not the same as
"no queries".
"""

from __future__ import annotations

from pipeline import queries

#: An answer names an address for this long after it was given (see conversation_names.sql).
MAX_AGE = 3600
#: Flow-record windows start up to a minute before their packets; answers may look "late" by that much.
SKEW = 120

#: The record tables the name join reads, with the columns it needs (ingested by other sources).
SOURCES = {
    "dns_queries": ("query_time TIMESTAMPTZ, vpc_id VARCHAR, srcaddr VARCHAR, name VARCHAR, query_name VARCHAR, "
                    "query_type VARCHAR, rcode VARCHAR, answers VARCHAR, answer_addresses VARCHAR[], srcport INTEGER, "
                    "transport VARCHAR"),
    "api_calls": ("event_time TIMESTAMPTZ, event_source VARCHAR, region VARCHAR, source_ip VARCHAR, "
                  "vpc_endpoint_id VARCHAR, tls_host VARCHAR, session_name VARCHAR"),
}


def ensure_sources(con) -> None:
    """Empty ``dns_queries`` / ``api_calls`` where the lake has no such table, so the SQL runs either way."""
    for name, columns in SOURCES.items():
        try:
            con.execute(f'SELECT 1 FROM "{name}" LIMIT 0')
        except Exception:  # duckdb.CatalogException: not in this lake
            con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" ({columns})')


def build_names(con, since: int, until: int) -> None:
    """The ``dns_answers``, ``conversation_names`` and ``task_proxies`` tables (after ``conversations`` and
    ``destinations``): the names a task asked for, and the proxies its task definition sends it to."""
    ensure_sources(con)
    con.execute(queries.get("name_macros").sql)
    answers = queries.get("dns_answers")
    con.execute(f"CREATE OR REPLACE TEMP TABLE dns_answers AS {answers.sql}",
                {"since": since, "until": until, "max_age": MAX_AGE})
    con.execute(f"CREATE OR REPLACE TEMP TABLE conversation_names AS {queries.get('conversation_names').sql}",
                {"max_age": MAX_AGE, "skew": SKEW})
    con.execute(f"CREATE OR REPLACE TEMP TABLE task_proxies AS {queries.get('task_proxies').sql}")


def query_logging(con) -> set[str]:
    """The VPCs whose Resolver queries are logged: a query-log config is associated (metadata) or the lake has them."""
    ensure_sources(con)
    return {r[0] for r in con.execute(
        "SELECT vpc_id FROM current_query_log_associations "
        "WHERE vpc_id IS NOT NULL AND coalesce(upper(status), 'ACTIVE') NOT IN ('DELETING', 'FAILED') "
        "UNION SELECT DISTINCT vpc_id FROM dns_queries WHERE vpc_id IS NOT NULL").fetchall()}
