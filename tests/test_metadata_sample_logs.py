"""Every file of sample_logs/metadata imports, and who-is-who agrees with sample_logs/faults.json."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from pipeline.metadata import import_files, register_views
from pipeline.metadata import whois
from pipeline.times import parse_time
from pipeline.lake.storage import Store

from conftest import sample_metadata as readable

SAMPLE_LOGS = Path(__file__).resolve().parents[1] / "sample_logs"
METADATA = SAMPLE_LOGS / "metadata"
FAULTS = SAMPLE_LOGS / "faults.json"

pytestmark = pytest.mark.skipif(not (METADATA.is_dir() and FAULTS.is_file()), reason="no sample_logs/metadata")


@pytest.fixture(scope="module")
def faults() -> dict:
    return json.loads(FAULTS.read_text())


@pytest.fixture(scope="module")
def lake(tmp_path_factory, faults):
    store = Store.open(tmp_path_factory.mktemp("lake"))
    # The README says the metadata was collected at 11:05; the files' mtimes say when they were written.
    result = import_files(store, readable(), snapshot_time=parse_time(faults["metadata_snapshot_at"]))
    con = duckdb.connect()
    register_views(con, store)
    return store, result, con


def test_every_file_imports(lake):
    _, result, _ = lake
    assert sorted(result.sources) == sorted(p.name for p in readable())
    assert len(readable()) == 30
    assert result.warnings == [] and result.skipped == []
    for table in ("vpcs", "subnets", "route_tables", "security_groups", "security_group_rules", "network_acls",
                  "vpc_endpoints", "nat_gateways", "network_interfaces", "flow_logs", "prefix_lists", "ecs_tasks",
                  "ecs_services", "aws_ip_ranges", "eni_assignments", "iam_roles", "iam_policies", "task_definitions",
                  "resource_policies", "trails", "trail_event_selectors", "vpc_dns_attributes", "dhcp_options",
                  "hosted_zone_vpcs", "dns_records", "query_log_configs", "query_log_associations"):
        assert result.counts.get(table, 0) > 0, table


def test_ip_reuse_from_faults(lake, faults):
    store, _, con = lake
    assert faults["ip_reuse"]
    for reuse in faults["ip_reuse"]:
        for side, at in (("earlier", parse_time(reuse["earlier"]["to"]) - timedelta(minutes=1)),
                         ("later", parse_time(reuse["later"]["from"]) + timedelta(minutes=1))):
            owner = whois(store, reuse["ip"], at, con=con)["owner"]
            want = reuse[side]
            assert (owner["owner_kind"], owner["task_arn"], owner["service_name"], owner["eni_id"]) == (
                "ecs_task", want["task_arn"], want["service"], want["interface_id"]), (reuse["ip"], side)
        between = parse_time(reuse["earlier"]["to"]) + (parse_time(reuse["later"]["from"]) - parse_time(reuse["earlier"]["to"])) / 2
        assert whois(store, reuse["ip"], between, con=con)["owner"]["owner_kind"] == "vpc_internal"


def test_fault_and_healthy_destinations(lake, faults):
    store, _, con = lake
    for item in faults["faults"] + faults["healthy"]:
        d = item["destination"]
        for address in d["addresses"]:
            owner = whois(store, address, con=con)["owner"]
            if d["type"] == "vpc_endpoint":
                assert (owner["owner_kind"], owner["owner_id"]) == ("vpc_endpoint", d["id"]), address
                assert owner["aws_service"].split(".")[0] == d["aws_service"]
            elif d["type"] == "aws_service":
                assert (owner["owner_kind"], owner["aws_region"]) == ("aws_service", d["region"]), address
            elif d["type"] == "internet":
                assert owner["owner_kind"] == "internet", address
            elif d["type"] == "ecs_service":
                held = con.execute("SELECT DISTINCT service_name FROM eni_assignments WHERE ip = ?", [address]).fetchall()
                assert held == [(d["id"],)], address


def test_fault_sources_are_their_services_tasks(lake, faults):
    _, _, con = lake
    for fault in faults["faults"]:
        got = con.execute("SELECT task_arn, service_name, ip, eni_id FROM eni_assignments WHERE list_contains(?, task_arn)",
                          [fault["task_arns"]]).fetchall()
        assert {t for t, *_ in got} == set(fault["task_arns"]), fault["id"]
        assert {s for _, s, *_ in got} == {fault["service"]}, fault["id"]
        assert {ip for *_, ip, _ in got} <= set(fault["source"]["addresses"]), fault["id"]
        assert set(fault["source"]["interface_ids"]) <= {e for *_, e in got}, fault["id"]
