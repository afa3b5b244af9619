"""Who is talking: AWS metadata (ENIs, endpoints, NAT, routes, SGs, NACLs, ECS tasks, ip-ranges)
kept in the lake with time validity, so a flow's address can be named at the flow's time.

Public API (the CLI wires ``flowlogs metadata import|collect`` and ``flowlogs whois`` to it):

- ``import_files(store, paths, *, snapshot_time=None) -> ImportResult``
- ``collect(store, session, clusters=None, regions=None, *, snapshot_time=None, endpoint_url=None) -> ImportResult``
- ``whois(store, address_or_eni, at=None, *, con=None) -> dict``
- ``register_views(con, store, *, materialize=False) -> list[str]``
- ``assignments_from_flows(con) -> pyarrow.Table`` and ``import_flow_assignments(store, con) -> ImportResult``

Heavy modules (boto3) are imported only by the functions that need them.
May import: core modules and ``pipeline.lake``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.metadata.importer import ImportResult, import_documents, import_files
from pipeline.metadata.schema import SCHEMAS, TABLES

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import pyarrow as pa

    from pipeline.lake.storage import Store

__all__ = [
    "ImportResult", "SCHEMAS", "TABLES", "assignments_from_flows", "collect", "import_documents",
    "import_files", "import_flow_assignments", "register_views", "whois",
]


def collect(store: "Store", session: Any, clusters=None, regions=None, **kwargs) -> ImportResult:
    from pipeline.metadata.collect import collect as _collect

    return _collect(store, session, clusters=clusters, regions=regions, **kwargs)


def whois(store: "Store", address_or_eni: str, at=None, **kwargs) -> dict:
    from pipeline.metadata.whois import whois as _whois

    return _whois(store, address_or_eni, at, **kwargs)


def register_views(con: "duckdb.DuckDBPyConnection", store: "Store", *, materialize: bool = False,
                   analysis: bool = False) -> list[str]:
    from pipeline.metadata.views import register_views as _register

    return _register(con, store, materialize=materialize, analysis=analysis)


def assignments_from_flows(con: "duckdb.DuckDBPyConnection") -> "pa.Table":
    from pipeline.metadata.assignments import assignments_from_flows as _from_flows

    return _from_flows(con)


def import_flow_assignments(store: "Store", con: "duckdb.DuckDBPyConnection") -> ImportResult:
    from pipeline.metadata.flowstore import import_flow_assignments as _import

    return _import(store, con)
