"""One DuckDB connection with the lake registered: flows, metadata, current configuration.

Every reader (findings, reports, ``flowlogs sql``) starts here, so the view names are
the same everywhere: ``flows``, ``interface_status``, ``tgw_flows``, ``quarantine``, each
metadata table under its own name with all snapshots, and ``current_<table>`` with only
the latest snapshot of each resource.
"""

from __future__ import annotations

import duckdb

from pipeline.lake import limits
from pipeline.lake.views import lock_down, register_record_views
from pipeline.metadata import register_views as register_metadata_views
from pipeline.analysis.names import query_logging
from pipeline.analysis.network import Network
from pipeline.errors import FlowlogsError
from pipeline.lake.storage import Store
from pipeline.settings import Settings
from pipeline.vocabulary import ENGINES


def connect(store: Store, *, locked: bool = True, settings: Settings | None = None, reports: bool = False):
    """A connection with the record views first (metadata views derive task evidence from flows), on the
    engine ``settings.engine`` names (DuckDB by default; ``pipeline.engines``' Spark and Athena connections
    take the same SQL and answer like DuckDB's).

    ``reports``: for a report, not people's SQL: on DuckDB, only the metadata views the analysis reads
    (``queries.metadata_views``); the views over every flow record made for people's SQL
    (``flows_with_owners``) would cost a scheduled run in proportion to the lake's files. And the merged
    ``eni_assignments`` (whose flow evidence scans every record) is computed once, not by each of the
    five queries that read it (``metadata.register_views(materialize=True)``).

    ``locked`` (the default): DuckDB can then open no file outside the lake (see ``lock_down``);
    only a caller that writes a file of its own, after checking where, passes False.
    """
    engine = engine_of(settings)
    if engine not in ENGINES:
        raise FlowlogsError(f"--engine {engine}: unknown engine", f"valid: {', '.join(ENGINES)}")
    if engine == "spark":
        from pipeline.engines import spark

        return spark.connect(store, settings)
    if engine == "athena":
        from pipeline.engines import athena

        return athena.connect(store, settings)
    con = duckdb.connect()
    # every view and query over ``flows`` binds read_parquet(union_by_name) again, which reads each data file's
    # footer: cached, a run costs in proportion to its window, not to the lake's files (issue 14; DuckDB
    # re-reads a footer whose file changed)
    con.execute("SET parquet_metadata_cache = true")
    scratch = limits.apply(con, store)  # --memory-limit, and a spill folder in the lake (pipeline.lake.limits)
    register_record_views(con, store)
    register_metadata_views(con, store, analysis=reports, materialize=reports)
    if locked:
        lock_down(con, store, scratch)
    return con


def engine_of(settings: Settings | None) -> str:
    """The engine ``settings`` name, DuckDB unless they say otherwise."""
    return (settings.engine if settings else None) or "duckdb"


def has_relation(con, name: str) -> bool:
    """Whether ``con`` has a table or view ``name`` (a temp one too). The engines' connections answer from their
    own catalogs (``has_relation``); a DuckDB connection is DuckDB's own object, so its catalog is asked here."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = $n",
                           {"n": name}).fetchone()[0] > 0
    return con.has_relation(name)


def _dicts(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def load_network(con: duckdb.DuckDBPyConnection) -> Network:
    """The current configuration as a Network (small: one VPC has thousands of rules, not millions)."""
    interfaces = {r["eni_id"]: r for r in _dicts(con, "SELECT * FROM current_network_interfaces")}
    by_ip = {}
    for row in interfaces.values():
        for ip in [row["private_ip"], *(row["private_ips"] or [])]:
            if ip:
                by_ip.setdefault(ip, row)
    prefix_lists: dict[str, list[str]] = {}
    for r in _dicts(con, "SELECT prefix_list_id, cidr FROM current_prefix_lists WHERE cidr IS NOT NULL"):
        prefix_lists.setdefault(r["prefix_list_id"], []).append(r["cidr"])
    records: dict[str, set] = {}
    for r in _dicts(con, "SELECT hosted_zone_id, name FROM current_dns_records WHERE name IS NOT NULL"):
        records.setdefault(r["hosted_zone_id"], set()).add(r["name"])
    return Network(
        interfaces=interfaces,
        by_ip=by_ip,
        groups={r["group_id"]: r for r in _dicts(con, "SELECT * FROM current_security_groups")},
        rules=_dicts(con, "SELECT * FROM current_security_group_rules"),
        acl_entries=_dicts(con, "SELECT * FROM current_network_acls"),
        routes=_dicts(con, "SELECT * FROM current_route_tables"),
        prefix_lists=prefix_lists,
        subnets={r["subnet_id"]: r for r in _dicts(con, "SELECT * FROM current_subnets")},
        endpoints={r["endpoint_id"]: r for r in _dicts(con, "SELECT * FROM current_vpc_endpoints")},
        nat_gateways={r["nat_gateway_id"]: r for r in _dicts(con, "SELECT * FROM current_nat_gateways")},
        vpcs={r["vpc_id"]: r for r in _dicts(con, "SELECT * FROM current_vpcs")},
        dns_attributes={(r["vpc_id"], r["attribute"]): r["enabled"]
                        for r in _dicts(con, "SELECT * FROM current_vpc_dns_attributes")},
        dhcp_options={r["dhcp_options_id"]: r for r in _dicts(con, "SELECT * FROM current_dhcp_options")},
        zones=_dicts(con, "SELECT * FROM current_hosted_zone_vpcs WHERE hosted_zone_id IS NOT NULL"),
        records=records,
        query_logged=query_logging(con),
    )
