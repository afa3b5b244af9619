"""Recognising AWS CLI outputs by content, and the errors for everything else."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline.metadata import import_files
from pipeline.metadata.recognise import load_file, recognise
from pipeline.metadata.store import read_manifests
from pipeline.times import parse_time
from pipeline.lake.storage import Store

FIXTURES = Path(__file__).parent / "fixtures" / "metadata"


@pytest.mark.parametrize("name, kind", [
    ("describe-network-interfaces.json", "ec2_network_interfaces"),
    ("describe-vpc-endpoints.json", "ec2_vpc_endpoints"),
    ("describe-nat-gateways.json", "ec2_nat_gateways"),
    ("describe-subnets.json", "ec2_subnets"),
    ("describe-vpcs.json", "ec2_vpcs"),
    ("describe-route-tables.json", "ec2_route_tables"),
    ("describe-security-groups.json", "ec2_security_groups"),
    ("describe-network-acls.json", "ec2_network_acls"),
    ("describe-flow-logs.json", "ec2_flow_logs"),
    ("describe-managed-prefix-lists.json", "ec2_managed_prefix_lists"),
    ("get-managed-prefix-list-entries.pl-63a5400a.json", "ec2_prefix_list_entries"),
    ("describe-tasks.json", "ecs_tasks"),
    ("describe-services.json", "ecs_services"),
    ("ecs-task-events.ndjson", "ecs_events"),
    ("ecs-task-events-array.json", "ecs_events"),
    ("ip-ranges.json", "aws_ip_ranges"),
])
def test_fixture_kinds(name, kind):
    doc = load_file(FIXTURES / name)
    assert doc.kind == kind
    if kind == "ec2_prefix_list_entries":
        assert doc.context == {"prefix_list_id": "pl-63a5400a"}


def test_recognition_is_by_content_not_name(tmp_path):
    odd = tmp_path / "whatever.txt"
    odd.write_bytes((FIXTURES / "describe-subnets.json").read_bytes())
    assert load_file(odd).kind == "ec2_subnets"
    single_event = tmp_path / "event.json"
    single_event.write_text((FIXTURES / "ecs-task-events.ndjson").read_text().splitlines()[0])
    assert load_file(single_event).kind == "ecs_events"


def test_unrecognised_json_names_the_file_and_what_was_expected(tmp_path):
    instances = tmp_path / "describe-instances.json"
    instances.write_text(json.dumps({"Reservations": []}))
    store = Store.open(tmp_path / "lake")
    result = import_files(store, [FIXTURES / "describe-vpcs.json", instances])
    [(name, message)] = result.refused
    assert name == str(instances)
    assert message.startswith(f"{instances}: not a recognised AWS CLI output (top-level keys: Reservations)")
    assert "aws ec2 describe-network-interfaces" in message and "ip-ranges.json" in message
    assert '"ECS Task State Change"' in message
    assert result.sources == ["describe-vpcs.json"]  # the recognised file is imported
    assert len(read_manifests(store)) == 1


@pytest.mark.parametrize("content, fragment", [
    ("not json at all\n", "not JSON (Expecting value at line 1) and not JSON lines (line 1 is not JSON)"),
    ("", "empty file"),
    ("[1, 2]", "a JSON array/lines that are not all EventBridge events"),
    ('"text"', "top-level JSON is a str"),
    ('{"Subnets": [], "Vpcs": []}', "ambiguous, holds the keys of several outputs (Subnets, Vpcs)"),
    ('{"detail-type": "x"}', "not a recognised AWS CLI output (top-level keys: detail-type)"),
])
def test_other_bad_inputs(tmp_path, content, fragment):
    path = tmp_path / "input.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=None) as e:
        load_file(path)
    assert str(e.value).startswith(str(path)) and fragment in str(e.value)


def test_prefix_list_entries_need_the_id_in_the_file_name(tmp_path):
    path = tmp_path / "entries.json"
    path.write_text(json.dumps({"Entries": [{"Cidr": "10.0.0.0/8"}]}))
    with pytest.raises(ValueError) as e:
        load_file(path)
    assert "get-managed-prefix-list-entries" in str(e.value) and "put the prefix-list id in the file name" in str(e.value)


def test_missing_file_and_empty_directory(tmp_path):
    store = Store.open(tmp_path / "lake")
    with pytest.raises(ValueError, match="cannot read"):
        import_files(store, [tmp_path / "nope.json"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no metadata files found"):
        import_files(store, [tmp_path / "empty"])


def test_ndjson_with_a_bad_line_names_the_line(tmp_path):
    lines = (FIXTURES / "ecs-task-events.ndjson").read_text().splitlines()
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join([lines[0], "{broken", lines[1]]))
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        load_file(path)


def test_recognise_accepts_parsed_documents():
    assert recognise({"syncToken": "1", "prefixes": []}, "x")[0] == "aws_ip_ranges"
    assert recognise({"tasks": [], "failures": []}, "x")[0] == "ecs_tasks"


@pytest.mark.parametrize("value, expected", [
    ("2024-05-01T09:05:20.500000+00:00", datetime(2024, 5, 1, 9, 5, 20, 500000, tzinfo=timezone.utc)),
    ("2024-05-01T11:05:20.5+02:00", datetime(2024, 5, 1, 9, 5, 20, 500000, tzinfo=timezone.utc)),
    ("2024-05-01T09:05:20Z", datetime(2024, 5, 1, 9, 5, 20, tzinfo=timezone.utc)),
    ("2024-05-01T09:05:20.123456789Z", datetime(2024, 5, 1, 9, 5, 20, 123456, tzinfo=timezone.utc)),
    ("2024-05-01T09:05:20", datetime(2024, 5, 1, 9, 5, 20, tzinfo=timezone.utc)),
    (1714550415.123, datetime(2024, 5, 1, 8, 0, 15, 123000, tzinfo=timezone.utc)),
    (1714550415123, datetime(2024, 5, 1, 8, 0, 15, 123000, tzinfo=timezone.utc)),
    ("1714550415", datetime(2024, 5, 1, 8, 0, 15, tzinfo=timezone.utc)),
    ("2024-05-01-06-12-03", datetime(2024, 5, 1, 6, 12, 3, tzinfo=timezone.utc)),
    (None, None),
])
def test_parse_time(value, expected):
    assert parse_time(value) == expected


def test_parse_time_rejects_garbage():
    with pytest.raises(ValueError):
        parse_time("yesterday")
