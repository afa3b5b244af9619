"""``whois``: one answer per address or ENI, with the evidence behind it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from pipeline.metadata import import_files, register_views
from pipeline.metadata import whois
from pipeline.lake.storage import Store

FIXTURES = Path(__file__).parent / "fixtures" / "metadata"
SNAPSHOT = datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)
WORKER_TASK = "arn:aws:ecs:us-east-1:111122223333:task/prod/aa11bb22cc33dd44ee55ff6677889900"
WEB_TASK = "arn:aws:ecs:us-east-1:111122223333:task/prod/bb22cc33dd44ee55ff66778899001122"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store.open(tmp_path_factory.mktemp("lake"))
    import_files(s, [FIXTURES], snapshot_time=SNAPSHOT)
    return s


@pytest.fixture(scope="module")
def con(store):
    c = duckdb.connect()
    register_views(c, store)
    return c


def test_task_address_at_two_times(store):
    early = whois(store, "10.20.1.37", "2024-05-01T08:03:00Z")
    late = whois(store, "10.20.1.37", datetime(2024, 5, 1, 9, 40, tzinfo=timezone.utc))
    json.dumps(early), json.dumps(late)  # JSON-ready
    assert (early["owner"]["owner_kind"], early["owner"]["task_arn"], early["owner"]["service_name"]) == (
        "ecs_task", WORKER_TASK, "worker")
    assert (early["owner"]["assignment_valid_from"], early["owner"]["assignment_valid_to"]) == (
        "2024-05-01T08:00:00Z", "2024-05-01T08:05:30Z")
    assert (late["owner"]["task_arn"], late["owner"]["service_name"], late["owner"]["eni_id"]) == (
        WEB_TASK, "web", "eni-0a1b2c3d4e5f60102")
    assert early["ambiguous_without_time"] is True and early["tasks_ever_at_address"] == 2
    assert [(a["task_arn"], a["holds_at_time"]) for a in early["evidence"]["assignments"]] == [
        (WORKER_TASK, True), (WEB_TASK, False)]
    assert {e["source"] for e in early["evidence"]["assignment_evidence"]} == {"describe_tasks", "ecs_event", "eni_snapshot"}
    assert early["evidence"]["ecs_task"]["stopped_reason"].startswith("ResourceInitializationError")
    assert early["evidence"]["subnets"][0]["subnet_id"] == "subnet-0a1b2c3d4e5f6000a"


@pytest.mark.parametrize("address, kind, owner_id, aws_service, region", [
    ("10.20.1.41", "vpc_endpoint", "vpce-0a1b2c3d4e5f60041", "sqs", None),
    ("10.20.2.42", "vpc_endpoint", "vpce-0a1b2c3d4e5f60041", "sqs", None),
    ("10.20.1.43", "vpc_endpoint", "vpce-0a1b2c3d4e5f60043", "ecr.dkr", None),
    ("10.20.100.10", "nat_gateway", "nat-0a1b2c3d4e5f60031", None, None),
    ("54.210.10.20", "nat_gateway", "nat-0a1b2c3d4e5f60031", "EC2", "us-east-1"),
    ("10.20.100.51", "load_balancer", "app/web-alb/50dc6c495c0c9188", None, None),
    ("3.210.20.51", "load_balancer", "app/web-alb/50dc6c495c0c9188", "EC2", "us-east-1"),
    ("10.20.2.61", "lambda", "orders-handler-3f2a1b0c-1111-4222-8333-444455556666", None, None),
    ("10.20.2.72", "ec2_instance", "i-0a1b2c3d4e5f60171", None, None),
    ("10.20.2.81", "other", "eni-0a1b2c3d4e5f60181", None, None),
    ("52.216.1.1", "aws_service", None, "S3", "us-east-1"),  # S3 and AMAZON on one prefix: the service wins
    ("54.231.1.1", "aws_service", None, "S3", "us-east-1"),  # /17 S3 inside /16 AMAZON: longest prefix
    ("54.231.200.1", "aws_service", None, "AMAZON", "us-east-1"),
    ("2a05:d07a:a000::1", "aws_service", None, "S3", "eu-west-1"),
    ("2600:1f00::1", "aws_service", None, "AMAZON", "GLOBAL"),
    ("10.21.0.9", "vpc_internal", None, None, None),  # secondary VPC CIDR
    ("2600:1f18:4a2:b301::99", "vpc_internal", None, "EC2", "us-east-1"),  # a VPC's IPv6 is in AWS's ranges too
    ("172.31.5.5", "vpc_internal", None, None, None),
    ("192.168.1.1", "private", None, None, None),
    ("8.8.8.8", "internet", None, None, None),
])
def test_static_owners(store, con, address, kind, owner_id, aws_service, region):
    owner = whois(store, address, con=con)["owner"]
    assert (owner["owner_kind"], owner["owner_id"], owner["aws_service"], owner["aws_region"]) == (
        kind, owner_id, aws_service, region)


def test_endpoint_evidence(store):
    w = whois(store, "10.20.1.41")
    assert w["evidence"]["vpc_endpoint"]["service_name"] == "com.amazonaws.us-east-1.sqs"
    assert [n["eni_id"] for n in w["evidence"]["network_interfaces"]] == ["eni-0a1b2c3d4e5f60141"]
    assert w["ambiguous_without_time"] is False and w["evidence"]["assignments"] == []
    prefixes = whois(store, "54.231.1.1")["evidence"]["aws_ip_ranges"]
    assert [(p["prefix"], p["service"]) for p in prefixes] == [("54.231.0.0/17", "S3"), ("54.231.0.0/16", "AMAZON")]


def test_whois_an_eni(store):
    task = whois(store, "eni-0a1b2c3d4e5f60101")
    assert (task["owner"]["owner_kind"], task["owner"]["service_name"], task["owner"]["assignment_valid_to"]) == (
        "ecs_task", "web", None)
    assert task["addresses"] == ["10.20.1.25", "2600:1f18:4a2:b301::25"]
    old = whois(store, "eni-0a1b2c3d4e5f60103")  # deleted ENI: known only from the task's own record
    assert (old["owner"]["task_arn"], old["owner"]["assignment_valid_to"]) == (WORKER_TASK, "2024-05-01T08:05:30Z")
    assert old["evidence"]["network_interfaces"] == []
    nat = whois(store, "eni-0a1b2c3d4e5f60131")
    assert (nat["owner"]["owner_kind"], nat["owner"]["owner_id"], nat["addresses"]) == (
        "nat_gateway", "nat-0a1b2c3d4e5f60031", ["10.20.100.10", "54.210.10.20"])
    assert whois(store, "eni-0000000000000dead")["owner"]["owner_kind"] == "unknown"


def test_whois_rejects_other_text(store):
    with pytest.raises(ValueError, match="neither an IP address nor an ENI id"):
        whois(store, "vpce-123")


def test_whois_on_a_given_connection(store):
    con = duckdb.connect()
    register_views(con, store)
    assert whois(store, "10.20.1.25", con=con)["owner"]["task_id"] == "6b3f7d1e2a4c4b9f8e0d1c2b3a4f5e61"
    assert whois(store, "2600:1f18:4a2:b301:0::25", con=con)["owner"]["service_name"] == "web"  # any IPv6 spelling
