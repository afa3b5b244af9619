"""The reports behind ``flowlogs report …``: one function per report, filters shared.

Each returns plain data (a findings document or a list of row dicts) for the
renderers in ``pipeline.report``; nothing here prints.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pipeline.analysis import connection as analysis
from pipeline.analysis import findings
from pipeline.analysis.document import roll_up
from pipeline import queries
from pipeline.errors import FlowlogsError
from pipeline.times import iso
from pipeline.lake.storage import Store
from pipeline.settings import Settings

REPORTS = ("findings", "incidents", "rejects", "no-return", "talkers", "endpoints", "task")
INCIDENT_COLUMNS = ("id", "state", "kind", "cluster", "service", "destination", "dest_port", "cause", "tasks",
                    "opened_at", "last_seen", "resolved_at", "openings", "undelivered")


@dataclass(frozen=True)
class Filters:
    since: int | None = None  # epoch seconds
    until: int | None = None
    cluster: str | None = None
    service: str | None = None
    task: str | None = None
    dest: str | None = None  # address, CIDR, endpoint/NAT id, or AWS service name (sns, sqs…)
    port: int | None = None
    kinds: tuple[str, ...] = ()

    @property
    def window(self) -> findings.Window:
        return findings.Window(self.since, self.until)

    def scope(self, con) -> findings.Scope:
        """The filters pushed down to the flow records: the addresses the tasks concerned held, the port."""
        addrs = None
        if self.cluster or self.service or self.task:
            addrs = tuple(r["address"] for r in findings.rows(con, queries.get("scope_addresses").sql, {
                "cluster": self.cluster, "service": self.service, "task": self.task}))
        return findings.Scope(addrs, self.port)


def _dest_matches(f: dict, dest: str) -> bool:
    d = f["destination"]
    wanted = dest.lower()
    if wanted in {str(v).lower() for v in (d["id"], d["name"], d["aws_service"]) if v}:
        return True
    if wanted in (d["aws_service"] or "").lower().split("."):
        return True
    try:
        net = ipaddress.ip_network(dest, strict=False)
    except ValueError:
        return False
    return any(ipaddress.ip_address(a) in net for a in f["dest_addrs"] if ipaddress.ip_address(a).version == net.version)


def keep(f: dict, flt: Filters) -> bool:
    """Does finding ``f`` pass the filters?"""
    checks = (
        (flt.cluster, lambda: f["cluster"] == flt.cluster),
        (flt.service, lambda: f["service"] == flt.service),
        (flt.task, lambda: flt.task in (f["task_id"], f["task_arn"])),
        (flt.dest, lambda: _dest_matches(f, flt.dest)),
        (flt.port, lambda: f["dest_port"] == flt.port),
        (flt.kinds, lambda: f["kind"] in flt.kinds),
    )
    return all(check() for value, check in checks if value)


def _connect(store: Store, settings: Settings | None):
    con = analysis.connect(store, settings=settings, reports=True)
    if findings.lake_bounds(con, store)[0] is None:
        raise FlowlogsError(f"the lake at {store.uri} has no flow records",
                            "fill it with `flowlogs ingest PATH` (or try `flowlogs demo`)")
    return con


def _check_window(con, store: Store, flt: Filters) -> None:
    first, last = findings.lake_bounds(con, store)
    since = flt.since if flt.since is not None else first
    until = flt.until if flt.until is not None else last + 1
    if since >= last + 1 or until <= first:
        raise FlowlogsError(
            f"no flow records between {iso(since)} and {iso(until)}",
            f"the lake covers {iso(first)} to {iso(last)}")


def findings_document(store: Store, flt: Filters = Filters(), settle: int = findings.DEFAULT_SETTLE,
                      settings: Settings | None = None) -> dict:
    """The findings document; ``settings.engine`` says where its SQL runs (DuckDB by default)."""
    con = _connect(store, settings)
    _check_window(con, store, flt)
    on_duckdb = analysis.engine_of(settings) == "duckdb"  # the derived reduction is read by DuckDB
    doc = findings.find(con, analysis.load_network(con), flt.window, settle, lake=store.uri, scope=flt.scope(con),
                        derived=store if on_duckdb else None)
    doc["findings"] = [f for f in doc["findings"] if keep(f, flt)]
    return roll_up(doc)  # the incidents of the findings kept


def incident_report(store: Store, state: str = "all") -> list[dict]:
    """The incidents' lifecycle records (``pipeline.lake.incidents``) in ``state`` (or all), most recent first."""
    from pipeline.analysis.document import destination_label
    from pipeline.lake import incidents

    rows = []
    for record in incidents.load(store).values():
        if state != "all" and record["state"] != state:
            continue
        incident = record.get("incident") or {}
        rows.append({
            **{k: record.get(k) for k in ("id", "state", "opened_at", "last_seen", "resolved_at", "openings")},
            **{k: incident.get(k) for k in ("kind", "cluster", "service", "dest_port", "tasks")},
            "destination": destination_label(incident),
            "cause": (incident.get("cause") or {}).get("cause"),
            "undelivered": sum(len(e["pending"]) for e in record.get("outbox", [])),
        })
    rows.sort(key=lambda r: (str(r["last_seen"]), r["id"]), reverse=True)
    return [{k: r[k] for k in INCIDENT_COLUMNS} for r in rows]


def table_report(store: Store, name: str, flt: Filters = Filters(), settle: int = findings.DEFAULT_SETTLE,
                 settings: Settings | None = None) -> list[dict]:
    """The rows of a tabular report (rejects, no-return, talkers, endpoints)."""
    con = _connect(store, settings)
    _check_window(con, store, flt)
    used = findings.build_conversations(con, flt.window, settle, flt.scope(con))
    findings.build_destinations(con)
    query = queries.get(name.replace("-", "_"))
    params = {"since": used["since"], "until": used["until"], "port": flt.port}
    params = {k: v for k, v in params.items() if k in query.used_params}
    return findings.rows(con, query.sql, params)


def task_report(store: Store, task: str, flt: Filters = Filters(), settings: Settings | None = None) -> dict:
    """One task: who it was, and its flow records as a focused packet view."""
    con = _connect(store, settings)
    rows = findings.rows(con, queries.get("task_identity").sql, {"task": task})
    if not rows:
        raise FlowlogsError(f"no task {task} in the metadata or in the flow records' ECS fields",
                            "import its metadata with `flowlogs metadata import` or check the id")
    first, last = findings.lake_bounds(con, store)
    since = max(flt.since or first, min(int(r["valid_from"].timestamp()) for r in rows if r["valid_from"]) - 60)
    ends = [int(r["valid_to"].timestamp()) for r in rows if r["valid_to"] and not r["running"]]
    until = min(flt.until or last + 1, (max(ends) + 60) if ends else last + 1)
    records = findings.rows(con, queries.get("task").sql, {
        "since": since, "until": until,
        "enis": sorted({r["eni_id"] for r in rows if r["eni_id"]}),
        "ips": sorted({r["ip"] for r in rows if r["ip"]}),
    })
    return {"task": rows, "records": records}
