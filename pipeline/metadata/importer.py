"""Import recognised documents into the lake as one snapshot."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from pipeline.metadata import dns
from pipeline.metadata import ec2
from pipeline.metadata import ecs
from pipeline.metadata import iam
from pipeline.metadata import ipranges
from pipeline.metadata.assignments import evidence_from_interfaces
from pipeline.metadata.recognise import (
    ECS_EVENTS, EVENT_SELECTORS, IP_RANGES, RESOURCE_POLICY, TASK_DEFINITION, VPC_ATTRIBUTE, Document, load_file,
)
from pipeline.metadata.schema import SCHEMAS, to_table
from pipeline.metadata.store import known_digests, write_snapshot
from pipeline.times import iso, utcnow
from pipeline.lake.storage import Store

FILE_SUFFIXES = (".json", ".jsonl", ".ndjson")


@dataclass
class ImportResult:
    """What an import or a collection added to the lake."""

    snapshot_id: str | None
    counts: dict[str, int] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    snapshot_time: datetime | None = None
    refused: list[list[str]] = field(default_factory=list)  # [file, reason]: not recognised, not imported

    def to_dict(self) -> dict:
        return {
            "snapshot_id": self.snapshot_id,
            "counts": dict(sorted(self.counts.items())),
            "sources": list(self.sources),
            "skipped": list(self.skipped),
            "warnings": list(self.warnings),
            "snapshot_time": iso(self.snapshot_time),
            "refused": [list(r) for r in self.refused],
        }


def normalise(doc: Document) -> dict[str, list[dict]]:
    """Rows per table for one document (rows may carry their own ``snapshot_time``)."""
    p = doc.payload
    k = doc.kind
    if isinstance(p, list) and k != ECS_EVENTS:  # several outputs of one command
        merged: dict[str, list[dict]] = {}
        for output in p:
            for table, table_rows in normalise(replace(doc, payload=output)).items():
                merged.setdefault(table, []).extend(table_rows)
        return merged
    if k == RESOURCE_POLICY:
        return iam.normalise_resource_policy(p, doc.context["resource_type"], doc.context)
    if k == "ec2_network_interfaces":
        rows = ec2.normalise_network_interfaces(p)
        rows["eni_assignments"] = evidence_from_interfaces(rows["network_interfaces"], doc.observed_at, doc.source)
        return rows
    if k == "ec2_prefix_list_entries":
        return ec2.normalise_prefix_list_entries(p, doc.context["prefix_list_id"])
    if k == "route53_hosted_zones_by_vpc":
        return dns.normalise_hosted_zones_by_vpc(p, doc.context["vpc_id"])
    if k == "route53_record_sets":
        return dns.normalise_record_sets(p, doc.context["hosted_zone_id"])
    if k == "ecs_tasks":
        return ecs.normalise_tasks(p, doc.observed_at, doc.source)
    if k == ECS_EVENTS:
        return ecs.normalise_events(p, doc.source, doc.observed_at)
    if k == "ecs_services":
        return ecs.normalise_services(p)
    if k == IP_RANGES:
        return ipranges.normalise_ip_ranges(p)
    simple = {
        "ec2_vpc_endpoints": ec2.normalise_vpc_endpoints,
        "ec2_nat_gateways": ec2.normalise_nat_gateways,
        "ec2_subnets": ec2.normalise_subnets,
        "ec2_vpcs": ec2.normalise_vpcs,
        "ec2_route_tables": ec2.normalise_route_tables,
        "ec2_security_groups": ec2.normalise_security_groups,
        "ec2_network_acls": ec2.normalise_network_acls,
        "ec2_flow_logs": ec2.normalise_flow_logs,
        "ec2_managed_prefix_lists": ec2.normalise_managed_prefix_lists,
        "ecs_clusters": ecs.normalise_clusters,
        "iam_authorization_details": iam.normalise_authorization_details,
        "cloudtrail_trails": iam.normalise_trails,
        EVENT_SELECTORS: iam.normalise_event_selectors,
        TASK_DEFINITION: ecs.normalise_task_definition,
        VPC_ATTRIBUTE: dns.normalise_vpc_attribute,
        "ec2_dhcp_options": dns.normalise_dhcp_options,
        "resolver_query_log_configs": dns.normalise_query_log_configs,
        "resolver_query_log_associations": dns.normalise_query_log_associations,
    }
    return simple[k](p)


def _document_time(doc: Document) -> datetime | None:
    if doc.kind == IP_RANGES:
        return ipranges.published_at(doc.payload) or doc.observed_at
    return doc.observed_at


def snapshot_id_of(digests: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()[:20]


def import_documents(store: Store, docs: list[Document], *, warnings: list[str] | None = None) -> ImportResult:
    """Normalise ``docs`` and commit them as one snapshot; documents already in the lake are skipped."""
    known = known_digests(store)
    fresh: list[Document] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for doc in docs:
        if doc.digest in known or doc.digest in seen:
            skipped.append(doc.source)
            continue
        seen.add(doc.digest)
        fresh.append(doc)
    if not fresh:
        return ImportResult(None, {}, [], skipped, list(warnings or []))
    snapshot_id = snapshot_id_of([d.digest for d in fresh])
    rows: dict[str, list[dict]] = {}
    entries = []
    for doc in fresh:
        doc_time = _document_time(doc)
        doc_counts = {}
        for table, table_rows in normalise(doc).items():
            for r in table_rows:
                r["snapshot_id"] = snapshot_id
                if r.get("snapshot_time") is None:
                    r["snapshot_time"] = doc_time
                if table != "eni_assignments":
                    r["source"] = doc.source
            rows.setdefault(table, []).extend(table_rows)
            if table_rows:
                doc_counts[table] = len(table_rows)
        entries.append({"source": doc.source, "kind": doc.kind, "digest": doc.digest,
                        "observed_at": iso(doc_time), "counts": doc_counts, **doc.context})
    tables: dict[str, pa.Table] = {t: to_table(t, r) for t, r in rows.items() if t in SCHEMAS}
    counts = {t: tbl.num_rows for t, tbl in tables.items() if tbl.num_rows}
    times = [d.observed_at for d in fresh if d.observed_at is not None]
    manifest = {
        "snapshot_id": snapshot_id,
        "created_at": iso(utcnow()),
        "counts": counts,
        "documents": entries,
        "warnings": list(warnings or []),
    }
    write_snapshot(store, snapshot_id, tables, manifest)
    return ImportResult(snapshot_id, counts, [d.source for d in fresh], skipped, list(warnings or []),
                        max(times) if times else None)


def expand_paths(paths) -> list[Path]:
    """Files as given; directories expand to their *.json/*.jsonl/*.ndjson files (sorted, recursive)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in FILE_SUFFIXES)
        elif not p.exists():
            raise ValueError(f"{p}: cannot read (no such file or directory)")
        else:
            out.append(p)
    return out


def import_files(store: Store, paths, *, snapshot_time: datetime | None = None) -> ImportResult:
    """Import AWS CLI JSON outputs, EventBridge task events and ip-ranges.json files.

    ``paths``: files or directories. Every file is recognised by content; the files that
    are not (or cannot be read) are left out and listed in ``refused`` with the reason,
    as ``ingest`` does, and the others imported.
    ``snapshot_time`` replaces each file's modification time as its observation time;
    times stated inside a document (an event's ``time``, ip-ranges ``createDate``) win
    over both. Files already imported (same sha256) are skipped.
    """
    files = expand_paths(paths)
    if not files:
        raise ValueError(f"no metadata files found in {', '.join(map(str, paths)) if not isinstance(paths, (str, os.PathLike)) else paths}")
    docs, refused = [], []
    for f in files:
        try:
            docs.append(load_file(f, snapshot_time))
        except ValueError as exc:
            refused.append([str(f), str(exc)])
    result = import_documents(store, docs) if docs else ImportResult(None)
    result.refused = refused
    return result
