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


def build_names(con, findings_only: bool = False) -> None:
    """The ``task_proxies``, ``dns_answers`` and ``conversation_names`` tables (after ``conversations`` and
    ``destinations``): the proxies a task definition sends its calls to, and the names a task asked for (for
    the conversations the findings look at only, with ``findings_only``: naming them all costs more)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE task_proxies AS {queries.get('task_proxies').sql}")
    con.execute(queries.get("name_macros").sql)
    since, until = con.execute(queries.get("conversation_span").sql).fetchone()
    answers = queries.get("dns_answers")
    con.execute(f"CREATE OR REPLACE TEMP TABLE dns_answers AS {answers.sql}",
                {"since": since or 0, "until": (until or 0) + 1, "max_age": MAX_AGE})
    con.execute(f"CREATE OR REPLACE TEMP TABLE conversation_names AS {queries.get('conversation_names').sql}",
                {"max_age": MAX_AGE, "skew": SKEW, "findings_only": int(findings_only)})


def query_logging(con) -> set[str]:
    """The VPCs whose Resolver queries are logged: a query-log config is associated (metadata) or the lake has them."""
    return {r[0] for r in con.execute(queries.get("query_logged_vpcs").sql).fetchall()}
