"""Every real flow-log sample in ../shared/real_samples, through the real ``flowlogs ingest``.

The expectations below were written by reading each file (see SOURCES.md next to them),
not from the parser's output: records per lake table, the quarantined lines and why,
and the typed values of chosen records. Files that are not a flow-log delivery format
(OCSF events, Logs Insights results, search-engine documents) are refused as a whole.
Header-less custom formats are also ingested with the ``--log-format`` a user would give.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import REAL_SAMPLES, shared_or_skip
from pipeline.cli import app

SAMPLES = REAL_SAMPLES


@pytest.fixture(autouse=True)
def _samples_beside_the_repository():
    shared_or_skip(SAMPLES)

V3_FLAGS_ORDER = (
    "${version} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${account-id} ${type} ${srcaddr} "
    "${dstaddr} ${srcport} ${dstport} ${pkt-srcaddr} ${pkt-dstaddr} ${protocol} ${bytes} ${packets} ${start} "
    "${end} ${action} ${tcp-flags} ${log-status}"
)
V3_TGW_17 = (
    "${version} ${interface-id} ${account-id} ${vpc-id} ${subnet-id} ${instance-id} ${srcaddr} ${dstaddr} "
    "${srcport} ${dstport} ${protocol} ${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr} ${action} ${log-status}"
)
V5_ALL = (  # every v2–v5 field, in the order of the AWS field table
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} "
    "${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${vpc-id} ${subnet-id} ${instance-id} "
    "${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr} ${region} ${az-id} ${sublocation-type} "
    "${sublocation-id} ${pkt-src-aws-service} ${pkt-dst-aws-service} ${flow-direction} ${traffic-path}"
)
V7_ECS = V5_ALL + (
    " ${ecs-cluster-arn} ${ecs-cluster-name} ${ecs-container-instance-arn} ${ecs-container-instance-id} "
    "${ecs-container-id} ${ecs-second-container-id} ${ecs-service-name} ${ecs-task-definition-arn} "
    "${ecs-task-arn} ${ecs-task-id}"
)
V8_ECS = V7_ECS + " ${reject-reason}"
TGW_DEFAULT = (
    "${version} ${resource-type} ${account-id} ${tgw-id} ${tgw-attachment-id} ${tgw-src-vpc-account-id} "
    "${tgw-dst-vpc-account-id} ${tgw-src-vpc-id} ${tgw-dst-vpc-id} ${tgw-src-subnet-id} ${tgw-dst-subnet-id} "
    "${tgw-src-eni} ${tgw-dst-eni} ${tgw-src-az-id} ${tgw-dst-az-id} ${tgw-pair-attachment-id} ${srcaddr} "
    "${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${log-status} ${type} "
    "${packets-lost-no-route} ${packets-lost-blackhole} ${packets-lost-mtu-exceeded} "
    "${packets-lost-ttl-expired} ${tcp-flags} ${region} ${flow-direction} ${pkt-src-aws-service} "
    "${pkt-dst-aws-service}"
)

NO_FORMAT = "no header line: pass the flow log's format with --log-format"
ECS_NULLS = dict.fromkeys(
    ["vpc_id", "subnet_id", "instance_id", "tcp_flags", "type", "pkt_srcaddr", "pkt_dstaddr", "region", "az_id",
     "sublocation_type", "sublocation_id", "pkt_src_aws_service", "pkt_dst_aws_service", "traffic_path"]
)
V2_NODATA_NULLS = dict.fromkeys(["srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "action"])


@dataclass
class Case:
    path: str
    tables: dict[str, int] = field(default_factory=dict)  # records per lake table
    quarantined: dict[int, str] = field(default_factory=dict)  # line -> part of the reason
    refused: str | None = None  # part of the reason the whole file is refused
    rows: dict[int, tuple[str, dict]] = field(default_factory=dict)  # line -> (table, column values)
    partitions: dict[int, str] = field(default_factory=dict)  # line -> aws_account=…/aws_region=…/dt=…
    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (table, column, value) -> rows
    log_format: str | None = None

    @property
    def id(self) -> str:
        return self.path + (" --log-format" if self.log_format else "")


CASES = [
    # --- aws-docs: the AWS user guide's example records ---------------------------------------------
    # Two v2 default records, no header: SSH accepted, RDP rejected.
    Case("aws-docs/accepted-rejected-default-v2.log", {"flows": 2}, rows={
        1: ("flows", dict(version=2, account_id="123456789010", interface_id="eni-1235b8ca123456789",
                          srcaddr="172.31.16.139", dstaddr="172.31.16.21", srcport=20641, dstport=22, protocol=6,
                          packets=20, bytes=4249, start=1418530010, end=1418530070, action="ACCEPT", log_status="OK")),
        2: ("flows", dict(srcaddr="172.31.9.69", dstaddr="172.31.9.12", srcport=49761, dstport=3389, action="REJECT")),
    }, partitions={1: "aws_account=123456789010/aws_region=unknown/dt=2014-12-14"}),
    # One IPv6 record.
    Case("aws-docs/ipv6-default-v2.log", {"flows": 1}, rows={
        1: ("flows", dict(srcaddr="2001:db8:1234:a100:8d6e:3477:df66:f105",
                          dstaddr="2001:db8:1234:a102:3304:8879:34cf:4071", srcport=34892, dstport=22,
                          packets=54, bytes=8855, start=1477913708, end=1477913820)),
    }),
    # Format line (6 fields, no version/times/status) + 4 NAT gateway ENI records, instance-id `-`.
    Case("aws-docs/nat-gateway-eni-custom.log", {"flows": 4}, rows={
        2: ("flows", dict(instance_id=None, interface_id="eni-1235b8ca123456789", srcaddr="10.0.1.5",
                          dstaddr="10.0.0.220", pkt_srcaddr="10.0.1.5", pkt_dstaddr="203.0.113.5", version=None,
                          account_id=None, start=None, log_status=None)),
        5: ("flows", dict(srcaddr="10.0.0.220", dstaddr="10.0.1.5", pkt_srcaddr="203.0.113.5", pkt_dstaddr="10.0.1.5")),
    }, partitions={2: "aws_account=unknown/aws_region=unknown/dt=unknown"}),
    # The docs' `#comment` annotations after the 6 fields: not flow-log data, so both lines are quarantined.
    Case("aws-docs/nat-private-instance-eni-custom-with-comments.log", {}, quarantined={
        2: "starting with '#' (an annotation, not flow-log data): #Traffic from the source instance",
        3: "starting with '#' (an annotation, not flow-log data): #Response traffic",
    }),
    # NODATA and SKIPDATA: `-` in seven fields and in action.
    Case("aws-docs/nodata-skipdata-default-v2.log", {"interface_status": 2}, rows={
        1: ("interface_status", dict(V2_NODATA_NULLS, interface_id="eni-1235b8ca123456789", start=1431280876,
                                     end=1431280934, log_status="NODATA")),
        2: ("interface_status", dict(interface_id="eni-11111111aaaaaaaaa", log_status="SKIPDATA")),
    }),
    # v5, 29 fields in the docs' order (not the field table's), region ap-southeast-2.
    Case("aws-docs/service-traffic-path-flow-direction-custom-v5.log", {"flows": 2}, rows={
        2: ("flows", dict(version=5, srcaddr="52.95.128.179", dstaddr="10.0.0.71", srcport=80, dstport=34210,
                          protocol=6, start=1616729292, end=1616729349, type="IPv4", packets=14, bytes=15044,
                          account_id="123456789012", vpc_id="vpc-abcdefab012345678",
                          subnet_id="subnet-aaaaaaaa012345678", instance_id="i-0c50d5961bcb2d47b",
                          interface_id="eni-1235b8ca123456789", region="ap-southeast-2", az_id="apse2-az3",
                          sublocation_type=None, sublocation_id=None, action="ACCEPT", tcp_flags=19,
                          pkt_srcaddr="52.95.128.179", pkt_dstaddr="10.0.0.71", pkt_src_aws_service="S3",
                          pkt_dst_aws_service=None, traffic_path=None, flow_direction="ingress", log_status="OK")),
        3: ("flows", dict(packets=7, bytes=471, tcp_flags=3, pkt_src_aws_service=None, pkt_dst_aws_service="S3",
                          traffic_path=8, flow_direction="egress")),
    }, partitions={2: "aws_account=123456789012/aws_region=ap-southeast-2/dt=2021-03-26"}),
    # ICMP ping: ACCEPT in, REJECT out (stateless NACL); ports 0.
    Case("aws-docs/sg-nacl-icmp-default-v2.log", {"flows": 2}, rows={
        1: ("flows", dict(srcaddr="203.0.113.12", dstaddr="172.31.16.139", srcport=0, dstport=0, protocol=1,
                          packets=4, bytes=336, start=1432917027, end=1432917142, action="ACCEPT")),
        2: ("flows", dict(srcaddr="172.31.16.139", start=1432917094, action="REJECT")),
    }),
    # 21-field v3 format line (bytes BEFORE packets) + 8 records; the last has a double space.
    Case("aws-docs/tcp-flag-sequence-custom-v3.log", {"flows": 8}, rows={
        2: ("flows", dict(version=3, vpc_id="vpc-abcdefab012345678", instance_id="i-01234567890123456",
                          account_id="123456789010", type="IPv4", srcaddr="52.213.180.42", dstaddr="10.0.0.62",
                          srcport=43416, dstport=5001, protocol=6, bytes=568, packets=8, tcp_flags=2,
                          log_status="OK")),
        3: ("flows", dict(bytes=376, packets=7, tcp_flags=18)),
        7: ("flows", dict(bytes=23294588, packets=15774, start=1566848933, end=1566849113, tcp_flags=1)),
        9: ("flows", dict(srcaddr="10.0.0.62", dstaddr="52.213.180.42", srcport=5001, dstport=43638,
                          pkt_srcaddr="10.0.0.62", pkt_dstaddr="52.213.180.42", protocol=6, bytes=967,
                          packets=14, start=1566933133, tcp_flags=19, action="ACCEPT", log_status="OK")),
    }),
    # 17-field transit gateway format line + 4 records; instance-id `-` on the TGW ENIs.
    Case("aws-docs/transit-gateway-vpc-custom-v3.log", {"flows": 4}, rows={
        2: ("flows", dict(version=3, interface_id="eni-33333333333333333", account_id="123456789010",
                          subnet_id="subnet-22222222bbbbbbbbb", instance_id="i-01234567890123456",
                          srcaddr="10.20.33.164", dstaddr="10.40.2.236", srcport=39812, dstport=80, protocol=6,
                          tcp_flags=3, type="IPv4", pkt_srcaddr="10.20.33.164", pkt_dstaddr="10.40.2.236")),
        4: ("flows", dict(interface_id="eni-11111111111111111", subnet_id="subnet-11111111aaaaaaaaa",
                          instance_id=None, srcaddr="10.40.1.175", pkt_srcaddr="10.20.33.164")),
    }),
    # --- awslabs-mcp: a Logs Insights query result, not a delivery format ---------------------------
    Case("awslabs-mcp/tgw-flowlog-cloudwatch-insights-query-results.json", refused="CloudWatch Logs Insights query results"),
    # --- elastic-beats ------------------------------------------------------------------------------
    # Header + 4 v2 records.
    Case("elastic-beats/accept-reject-traffic.log", {"flows": 4}, rows={
        2: ("flows", dict(srcaddr="78.24.182.42", dstaddr="158.109.0.1", srcport=20641, dstport=22, action="ACCEPT")),
        5: ("flows", dict(srcaddr="172.31.16.139", dstaddr="203.0.113.12", protocol=1, action="REJECT")),
    }),
    # One line of free text.
    Case("elastic-beats/bad.log", quarantined={1: "4 values for the 14 fields of the v2 default format"}),
    # Header (6 NAT fields) + 2 records.
    Case("elastic-beats/custom-nat-gateway.log", {"flows": 2}, rows={
        2: ("flows", dict(instance_id=None, interface_id="eni-1235b8ca123456789", pkt_dstaddr="203.0.113.5")),
        3: ("flows", dict(instance_id="i-01234567890123456", interface_id="eni-1111aaaa2222bbbb3",
                          dstaddr="203.0.113.5")),
    }),
    # Header-less 17-field TGW-path record: without its format, quarantined with the hint.
    Case("elastic-beats/custom-transit-gateway.log", quarantined={1: "17 values for the 14 fields of the v2 default format (the file has " + NO_FORMAT}),
    Case("elastic-beats/custom-transit-gateway.log", {"flows": 1}, log_format=V3_TGW_17, rows={
        1: ("flows", dict(version=3, interface_id="eni-33333333333333333", account_id="123456789010",
                          vpc_id="vpc-abcdefab012345678", instance_id="i-01234567890123456", srcport=39812,
                          dstport=80, protocol=6, tcp_flags=3, type="IPv4", pkt_dstaddr="10.40.2.236",
                          action="ACCEPT", log_status="OK", start=None)),
    }, partitions={1: "aws_account=123456789010/aws_region=unknown/dt=unknown"}),
    # The same record with its header line.
    Case("elastic-beats/custom-transit-gateway.with-header.log", {"flows": 1}, rows={
        2: ("flows", dict(version=3, interface_id="eni-33333333333333333", srcaddr="10.20.33.164", tcp_flags=3)),
    }),
    Case("elastic-beats/ipv6.log", {"flows": 1}, rows={
        1: ("flows", dict(srcaddr="2001:db8:1234:a100:8d6e:3477:df66:f105", dstport=22)),
    }),
    Case("elastic-beats/no-data-skip-data.log", {"interface_status": 2}, rows={
        1: ("interface_status", dict(V2_NODATA_NULLS, log_status="NODATA")),
        2: ("interface_status", dict(log_status="SKIPDATA", interface_id="eni-11111111aaaaaaaaa")),
    }),
    # Header, SKIPDATA, blank line, the header again, NODATA: the blank and repeated header are skipped.
    Case("elastic-beats/tcp-flag-sequence-skip-data.log", {"interface_status": 2}, rows={
        2: ("interface_status", dict(version=3, vpc_id="vpc-abcdefab012345678", instance_id="i-01234567890123456",
                                     type=None, srcaddr=None, bytes=None, packets=None, start=1566848875,
                                     end=1566848933, action=None, tcp_flags=None, log_status="SKIPDATA")),
        5: ("interface_status", dict(log_status="NODATA")),
    }),
    Case("elastic-beats/tcp-flag-sequence.log", {"flows": 3}, rows={
        2: ("flows", dict(srcaddr="216.160.83.57", bytes=568, packets=8, tcp_flags=2)),
        3: ("flows", dict(srcport=43638, bytes=1260, packets=17, tcp_flags=3)),
        4: ("flows", dict(srcaddr="10.0.0.62", bytes=967, packets=14, tcp_flags=19)),
    }),
    # --- elastic-integrations -----------------------------------------------------------------------
    # 7 v2 lines, then a 39-field ECS line and a 36-field TGW line (resource-type `-`): both quarantined.
    Case("elastic-integrations/deploy-tf-test-extra-samples.mixed.log", {"flows": 5, "interface_status": 2}, quarantined={
        8: "39 values for the 14 fields of the v2 default format (the file has " + NO_FORMAT,
        9: "36 values for the 14 fields of the v2 default format",
    }, rows={
        1: ("flows", dict(srcaddr="2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", dstport=22)),
        3: ("interface_status", dict(interface_id="eni-89.160.20.1561aaaaaaaaa", log_status="SKIPDATA")),
        7: ("flows", dict(srcaddr="172.31.16.139", dstaddr="89.160.20.156", action="REJECT")),
    }),
    # 10 header-less 39-field ECS records: quarantined without the format, typed with it.
    Case("elastic-integrations/test-ecs-samples.log",
         quarantined={n: "39 values for the 14 fields of the v2 default format (the file has " + NO_FORMAT for n in range(1, 11)}),
    Case("elastic-integrations/test-ecs-samples.log", {"flows": 4, "interface_status": 6}, log_format=V7_ECS, rows={
        1: ("flows", dict(ECS_NULLS, version=3, account_id="000000000000", interface_id=None, srcaddr="1.128.0.0",
                          dstaddr="2a02:cf40::", srcport=64072, dstport=22, protocol=17, packets=46, bytes=14927,
                          start=1755678619, end=1755678641, action="REJECT", log_status="OK",
                          flow_direction="ingress",
                          ecs_cluster_arn="arn:aws:ecs:us-east-1:000000000000:cluster/frontend-cluster",
                          ecs_cluster_name="frontend-cluster",
                          ecs_container_instance_arn="arn:aws:ecs:us-east-1:000000000000:container-instance/frontend-cluster/i-82bfd814a3c34e21a",
                          ecs_container_instance_id="i-82bfd814a3c34e21a", ecs_container_id="574fc0af-908",
                          ecs_second_container_id="816bc224-160", ecs_service_name="payments-service",
                          ecs_task_definition_arn="arn:aws:ecs:us-east-1:000000000000:task-definition/backend:3",
                          ecs_task_arn="arn:aws:ecs:us-east-1:000000000000:task/frontend-cluster/6adbd0d6-211",
                          ecs_task_id="6adbd0d6-211")),
        2: ("interface_status", dict(action="ACCEPT", log_status="NODATA", bytes=1515, dstport=3306,
                                     flow_direction="egress", ecs_service_name="orders-service")),
        10: ("interface_status", dict(srcaddr="2a02:cf40::", log_status="NODATA", ecs_task_id="e504f037-35c")),
    }, partitions={1: "aws_account=000000000000/aws_region=unknown/dt=2025-08-20"}),
    # v2 records, no trailing newline.
    Case("elastic-integrations/test-extra-samples.log", {"flows": 5, "interface_status": 2}, rows={
        1: ("flows", dict(srcaddr="2001:db8:1234:a100:8d6e:3477:df66:f105")),
        2: ("interface_status", dict(log_status="NODATA")),
        7: ("flows", dict(srcaddr="172.31.16.139", dstaddr="203.0.113.12", start=1432917094, action="REJECT",
                          log_status="OK")),
    }),
    # Header-less 21-field v3 records (no trailing newline).
    Case("elastic-integrations/test-tcp-flag-sequence.no-header.log",
         quarantined={n: "21 values for the 14 fields of the v2 default format (the file has " + NO_FORMAT for n in (1, 2, 3)}),
    Case("elastic-integrations/test-tcp-flag-sequence.no-header.log", {"flows": 1, "interface_status": 2},
         log_format=V3_FLAGS_ORDER, rows={
        1: ("flows", dict(version=3, srcaddr="89.160.20.156", dstaddr="10.0.0.62", srcport=43416, dstport=5001,
                          protocol=6, bytes=568, packets=8, tcp_flags=2, log_status="OK")),
        2: ("interface_status", dict(log_status="SKIPDATA", srcaddr=None, tcp_flags=None)),
        3: ("interface_status", dict(log_status="NODATA", start=1566848875, end=1566848933)),
    }),
    # A header line before every record.
    Case("elastic-integrations/test-tcp-flag-sequence.with-repeated-headers.log", {"flows": 1, "interface_status": 2}, rows={
        2: ("flows", dict(srcaddr="52.213.180.42", tcp_flags=2, bytes=568, packets=8)),
        4: ("interface_status", dict(log_status="SKIPDATA")),
        6: ("interface_status", dict(log_status="NODATA")),
    }),
    # 10 header-less TGW default (36-field) records, resource-type `-`.
    Case("elastic-integrations/test-tgw-samples.log",
         quarantined={n: "36 values for the 14 fields of the v2 default format (the file has " + NO_FORMAT for n in range(1, 11)}),
    Case("elastic-integrations/test-tgw-samples.log", {"tgw_flows": 10}, log_format=TGW_DEFAULT, rows={
        1: ("tgw_flows", dict(version=3, resource_type=None, account_id="748335378900", tgw_id="tgw-0a12bc34de56f7890",
                              tgw_attachment_id="tgw-attach-0789ijkl", tgw_src_vpc_account_id=None,
                              tgw_src_vpc_id="vpc-0jkl5678", tgw_dst_vpc_id="vpc-0ghi9012", tgw_src_subnet_id=None,
                              tgw_src_eni="eni-0cc3dd4ee5f66aa7b", tgw_dst_eni="eni-0cc3dd4ee5f66aa7b",
                              tgw_pair_attachment_id=None, srcaddr="1.128.0.0", dstaddr="2a02:cf40::",
                              srcport=39464, dstport=22, protocol=6, packets=49, bytes=8947, start=1755592533,
                              end=1755592558, log_status="SKIPDATA", type=None, packets_lost_no_route=None,
                              packets_lost_ttl_expired=None, tcp_flags=None, region=None, flow_direction="ingress",
                              pkt_src_aws_service=None, pkt_dst_aws_service=None)),
        3: ("tgw_flows", dict(tgw_attachment_id="tgw-attach-0123abcd", dstport=8080, protocol=17, log_status="OK")),
    }, partitions={1: "aws_account=748335378900/aws_region=unknown/dt=2025-08-19"}),
    # 29 v5 fields in the field table's order, one record, no trailing newline; 11-digit account, 9-digit start.
    Case("elastic-integrations/test-v5-all-fields.log",
         quarantined={1: "29 values for the 14 fields of the v2 default format (the file has " + NO_FORMAT}),
    Case("elastic-integrations/test-v5-all-fields.log", {"flows": 1}, log_format=V5_ALL, rows={
        1: ("flows", dict(version=5, account_id="64111117617", interface_id="eni-069xxxxxb7a490",
                          srcaddr="89.160.20.156", dstaddr="10.200.0.0", srcport=50041, dstport=33004, protocol=17,
                          packets=52, bytes=1, start=164000066, end=1640000297, action="REJECT", log_status="OK",
                          vpc_id="vpc-09676f97xxxxxb8a7", subnet_id="subnet-02d645xxxxxxxdbc0",
                          instance_id="i-0axxxxxx1ad77", tcp_flags=1, type="IPv4", pkt_srcaddr="89.160.20.156",
                          pkt_dstaddr="10.200.0.80", region="us-east-1", az_id="use1-az5", sublocation_type=None,
                          sublocation_id=None, pkt_src_aws_service="AMAZON", pkt_dst_aws_service="CLOUDFRONT",
                          flow_direction="ingress", traffic_path=1)),
    }, partitions={1: "aws_account=64111117617/aws_region=us-east-1/dt=1975-03-14"}),
    # 40 fields: ECS + reject-reason BPA.
    Case("elastic-integrations/test-v8-samples.log",
         quarantined={1: "40 values for the 14 fields of the v2 default format (the file has " + NO_FORMAT}),
    Case("elastic-integrations/test-v8-samples.log", {"interface_status": 1}, log_format=V8_ECS, rows={
        1: ("interface_status", dict(ECS_NULLS, srcaddr="2a02:cf40::", dstaddr="1.128.0.0", action="REJECT",
                                     log_status="NODATA", ecs_cluster_name="backend-cluster",
                                     ecs_task_id="e504f037-35c", reject_reason="BPA")),
    }),
    # JSON in a .log file: {"message": "<v2 NODATA record>"}.
    Case("elastic-integrations/test-with-message-field.log", {"interface_status": 1}, rows={
        1: ("interface_status", dict(V2_NODATA_NULLS, version=2, account_id="428961148399",
                                     interface_id="eni-0e0bf7be352692297", start=1671029698, end=1671029728,
                                     log_status="NODATA")),
    }),
    # --- elastic-integrations-security-lake: OCSF, already normalised -------------------------------
    Case("elastic-integrations-security-lake/ocsf-1.0.0-rc.2-network-activity-vpcflow.jsonl", refused="OCSF event"),
    # --- grafana: 18-field v5 custom format with a header -------------------------------------------
    Case("grafana-vpc-flow-logs-analyzer/aws-analyzer_sorting_test.log", {"flows": 3}, rows={
        2: ("flows", dict(version=5, account_id="123456789012", srcport=12345, dstport=443, packets=10, bytes=5000,
                          pkt_srcaddr="10.1.1.1", pkt_dstaddr="1.2.3.4", pkt_src_aws_service=None,
                          pkt_dst_aws_service=None)),
        4: ("flows", dict(srcport=12347, packets=5, bytes=2000, pkt_dstaddr="9.10.11.12")),  # no trailing newline
    }),
    Case("grafana-vpc-flow-logs-analyzer/aws-flow-logs-10.3.11.57-142.250.185.91.log", {"flows": 31}, rows={
        2: ("flows", dict(srcaddr="10.63.37.34", dstaddr="10.3.11.57", srcport=443, dstport=44160, packets=6,
                          bytes=737, start=1754322586, end=1754322617, pkt_srcaddr="142.250.185.91")),
        19: ("flows", dict(packets=778, bytes=119099, start=1754323158)),
        32: ("flows", dict(srcaddr="10.3.11.57", packets=17, bytes=2987, start=1754322545)),
    }, partitions={2: "aws_account=123456789012/aws_region=unknown/dt=2025-08-04"}),
    # NODATA and SKIPDATA inside a custom format (`-` in the trailing pkt fields); no trailing newline.
    Case("grafana-vpc-flow-logs-analyzer/aws-test_flow_logs.log", {"flows": 4, "interface_status": 2}, rows={
        2: ("flows", dict(pkt_dstaddr="3.75.6.195", pkt_src_aws_service=None, pkt_dst_aws_service="EC2")),
        3: ("interface_status", dict(log_status="NODATA", pkt_srcaddr=None, pkt_dst_aws_service=None,
                                     start=1754324989)),
        4: ("flows", dict(pkt_srcaddr="3.78.206.74", pkt_src_aws_service="AMAZON")),
        5: ("interface_status", dict(log_status="SKIPDATA")),
        7: ("flows", dict(srcaddr="85.214.204.244", srcport=443, dstport=58253, packets=11, bytes=4065)),
    }),
    # --- graylog ------------------------------------------------------------------------------------
    # A CloudWatch Logs subscription envelope with 2 identical events (numbered 1 and 2).
    Case("graylog-plugin-integrations/cloudwatch-subscription-data-message-flowlogs.json", {"flows": 2}, rows={
        1: ("flows", dict(account_id="423432432432", interface_id="eni-3244234", srcaddr="172.1.1.2", srcport=80,
                          dstport=2264, packets=1, bytes=52, start=1559738144, end=1559738204)),
        2: ("flows", dict(interface_id="eni-3244234", dstport=2264)),
    }, partitions={1: "aws_account=423432432432/aws_region=unknown/dt=2019-06-05"}),
    # 2 valid v2 lines; 15, 13 and 8 tokens; then 14-token lines with `-` and odd values (typed as written).
    Case("graylog-plugin-integrations/flowlog-detection-and-dash-numeric-edge-cases.log", {"flows": 4}, quarantined={
        3: "15 values for the 14 fields",
        4: "13 values for the 14 fields",
        5: "8 values for the 14 fields",
    }, rows={
        1: ("flows", dict(interface_id="eni-abc123de", action="ACCEPT")),
        6: ("flows", dict(version=None, account_id="foo", interface_id="eth0", srcport=None, dstport=None,
                          protocol=None, packets=100, bytes=100, start=0, end=0)),
        7: ("flows", dict(version=1, srcport=80, protocol=1, packets=None, bytes=None)),
    }, partitions={6: "aws_account=foo/aws_region=unknown/dt=1970-01-01"}),
    # --- obsrvbl flowlogs-reader --------------------------------------------------------------------
    # A version-6 record with TransitGateway in the account-id slot, among v2 records.
    Case("obsrvbl-flowlogs-reader/v2-cloudwatch-messages-mixed-tgw.log", {"flows": 2, "interface_status": 2}, quarantined={
        3: "a transit gateway record (resource type in the account-id field)",
    }),
    Case("obsrvbl-flowlogs-reader/v2-cloudwatch-messages.log", {"flows": 3, "interface_status": 2}, rows={
        3: ("flows", dict(interface_id="eni-102010cd", srcport=49152, dstport=443, action="REJECT")),
        5: ("interface_status", dict(interface_id="eni-4b118871", log_status="SKIPDATA")),
    }),
    # 13-digit millisecond start/end → seconds.
    Case("obsrvbl-flowlogs-reader/v2-millisecond-timestamps.log", {"interface_status": 1}, rows={
        1: ("interface_status", dict(start=1512564058, end=1512564059, log_status="SKIPDATA")),
    }, partitions={1: "aws_account=123456789010/aws_region=unknown/dt=2017-12-06"}),
    # Header in alphabetical order; account 000000000000 stays a string.
    Case("obsrvbl-flowlogs-reader/v3-s3-file-header-alpha-order.log", {"flows": 2}, rows={
        2: ("flows", dict(account_id="000000000000", bytes=6392, dstaddr="172.18.160.93", dstport=47460,
                          end=1568300425, instance_id="i-06f9249b", packets=10, pkt_dstaddr="172.18.160.93",
                          pkt_srcaddr="192.168.0.1", protocol=6, srcaddr="172.18.160.68", srcport=443,
                          start=1568300367, subnet_id="subnet-089e7569", tcp_flags=19, type="IPv4", version=3,
                          vpc_id="vpc-0461a061", interface_id=None, action=None, log_status=None)),
        3: ("flows", dict(bytes=1698, dstaddr="172.18.160.68", dstport=443, pkt_dstaddr="192.168.0.1",
                          pkt_srcaddr="172.18.160.9", srcaddr="172.18.160.93", srcport=8088, tcp_flags=3)),
    }, partitions={2: "aws_account=000000000000/aws_region=unknown/dt=2019-09-12"}),
    Case("obsrvbl-flowlogs-reader/v4-s3-file-header-alpha-order.log", {"flows": 2}, rows={
        2: ("flows", dict(version=4, region="us-east-1", az_id="use1-az4", sublocation_type="wavelength",
                          sublocation_id="wlid04", tcp_flags=19)),
        3: ("flows", dict(sublocation_type="outpost", sublocation_id="outpostid04")),
    }, partitions={2: "aws_account=000000000000/aws_region=us-east-1/dt=2019-09-12"}),
    # 29 v5 fields alphabetically, then `bogus line`.
    Case("obsrvbl-flowlogs-reader/v5-s3-file-header-alpha-order-with-bogus-line.log", {"flows": 2}, quarantined={
        4: "2 values for the 29 fields of the file's header line",
    }, rows={
        2: ("flows", dict(account_id="999999999999", action="ACCEPT", az_id="use2-az2", bytes=4895,
                          dstaddr="192.0.2.156", dstport=50318, end=1614866511, flow_direction="ingress",
                          instance_id="i-00123456789abcdef", interface_id="eni-00123456789abcdef", log_status="OK",
                          packets=15, pkt_dst_aws_service=None, pkt_dstaddr="192.0.2.156", pkt_src_aws_service="S3",
                          pkt_srcaddr="198.51.100.6", protocol=6, region="us-east-2", srcaddr="198.51.100.7",
                          srcport=443, start=1614866493, sublocation_id=None, sublocation_type=None,
                          subnet_id="subnet-0123456789abcdef", tcp_flags=19, traffic_path=None, type="IPv4",
                          version=5, vpc_id="vpc-04456ab739938ee3f")),
        3: ("flows", dict(bytes=3015, dstaddr="198.51.100.6", dstport=443, flow_direction="egress", packets=16,
                          pkt_dst_aws_service="S3", pkt_dstaddr="198.51.100.7", pkt_src_aws_service=None,
                          pkt_srcaddr="192.0.2.156", srcaddr="192.0.2.156", srcport=50318, tcp_flags=7,
                          traffic_path=7)),
    }, partitions={2: "aws_account=999999999999/aws_region=us-east-2/dt=2021-03-04"}),
    # 18 TGW-only fields; numeric-looking ids stay strings.
    Case("obsrvbl-flowlogs-reader/v6-tgw-fields-s3-file.log", {"tgw_flows": 1}, rows={
        2: ("tgw_flows", dict(resource_type="TransitGateway", tgw_id="00000000", tgw_attachment_id="00000001",
                              tgw_src_vpc_account_id="00000002", tgw_pair_attachment_id="00000012",
                              packets_lost_no_route=13, packets_lost_blackhole=14, packets_lost_mtu_exceeded=15,
                              packets_lost_ttl_expired=16)),
    }, partitions={2: "aws_account=unknown/aws_region=unknown/dt=unknown"}),
    # --- opensearch: normalised documents -----------------------------------------------------------
    Case("opensearch-dashboards-observability/aws_vpc_flow-sample.json", refused="search-engine document"),
    # --- panther ------------------------------------------------------------------------------------
    Case("panther-labs-panther/v2-default-header-extra-trailing-field.log", quarantined={
        2: "15 values for the 14 fields of the file's header line",
    }),
    Case("panther-labs-panther/v2-nodata-account-unknown.log", {"interface_status": 1}, rows={
        2: ("interface_status", dict(account_id="unknown", interface_id="eni-0608192d5c498fbcd", start=1538696170,
                                     end=1538696308, log_status="NODATA")),
    }, partitions={2: "aws_account=unknown/aws_region=unknown/dt=2018-10-04"}),
    # An unknown header column: its value is kept in _extra.
    Case("panther-labs-panther/v3-extended-header-unknown-column.log", {"flows": 1}, rows={
        2: ("flows", dict(account_id="348372346321", tcp_flags=0, instance_id="i-038407d32b0f38c60",
                          pkt_srcaddr="76.198.154.105", pkt_dstaddr="172.31.88.3",
                          _extra={"unknown-header-should-not-break": "extra-data-should-not-break"})),
    }),
    # --- sekoia -------------------------------------------------------------------------------------
    # JSON rows with underscore keys; floats like 25238.0; `-` and null inside JSON.
    Case("sekoia-intake-formats/aws-flow-logs-structured.jsonl", {"flows": 3}, rows={
        1: ("flows", dict(version=2, account_id="424805057484", srcport=4712, dstport=53205, protocol=6, packets=12,
                          bytes=2610, action="ACCEPT", vpc_id=None)),
        3: ("flows", dict(version=5, account_id="012345678901", srcport=25238, dstport=8080, protocol=6, packets=5,
                          bytes=412, tcp_flags=3, instance_id=None, traffic_path=None, sublocation_type=None,
                          vpc_id="vpc-0123456789abcdefg", region="eu-west-1", az_id="euw1-az3",
                          flow_direction="ingress")),
    }, partitions={3: "aws_account=012345678901/aws_region=eu-west-1/dt=2024-09-16"}),
    # 4 v2 lines, then 2 header-less 29-field v5 lines.
    Case("sekoia-intake-formats/aws-flow-logs-text-records.log", {"flows": 3, "interface_status": 1}, quarantined={
        5: "29 values for the 14 fields of the v2 default format (the file has " + NO_FORMAT,
        6: "29 values for the 14 fields of the v2 default format (the file has " + NO_FORMAT,
    }, rows={
        1: ("flows", dict(account_id="424805057484", srcport=123, dstport=123, protocol=17, packets=2, bytes=152)),
        2: ("flows", dict(dstport=20248, action="REJECT")),
    }),
    # --- splunk cloudfwd: real records --------------------------------------------------------------
    Case("splunk-cloudfwd/cloudwatchlogs_vpcflowlog_lambdaprocessed.5000-records.sample", {"flows": 5000}, rows={
        1: ("flows", dict(account_id="251620272209", interface_id="eni-b1578161", srcaddr="172.16.1.167",
                          dstaddr="172.16.1.32", srcport=53580, dstport=53, protocol=17, packets=1, bytes=86,
                          start=1506905806, end=1506905858, action="ACCEPT")),
        5000: ("flows", dict(interface_id="eni-63c18886", srcaddr="5.101.40.60", srcport=49331, dstport=3389,
                             packets=9, bytes=1516, start=1506905792, end=1506905852)),  # no trailing newline
    }, counts={("flows", "action", "ACCEPT"): 4860, ("flows", "action", "REJECT"): 140}),
    Case("splunk-cloudfwd/cloudwatchlogs_vpcflowlog_lambdaprocessed.sample", {"flows": 360}, rows={
        360: ("flows", dict(srcaddr="172.31.20.44", dstaddr="185.45.193.16", srcport=3389, dstport=62225)),
    }, counts={("flows", "action", "ACCEPT"): 350, ("flows", "action", "REJECT"): 10}),
    Case("splunk-cloudfwd/examples-kinesis-vpcFlowLogs.log", {"flows": 8}, rows={
        8: ("flows", dict(dstaddr="172.31.16.20", srcport=20641)),
    }),
    # Account with a leading zero; ICMP 1 packet / 99 bytes; no trailing newline.
    Case("splunk-cloudfwd/vpc-flow-log.sample", {"flows": 10}, rows={
        1: ("flows", dict(account_id="063605715280", interface_id="eni-94dc1fdd", srcaddr="218.74.52.79",
                          dstaddr="10.95.0.50", srcport=0, dstport=0, protocol=1, packets=1, bytes=99,
                          start=1505354012, end=1505354115)),
        10: ("flows", dict(srcaddr="113.161.184.147", srcport=51382, dstport=445)),
    }, partitions={1: "aws_account=063605715280/aws_region=unknown/dt=2017-09-14"}),
]


# CloudTrail, Resolver query logs and ECS events have test modules of their own.
OTHER_EVIDENCE = ("cloudtrail", "route53resolver", "ecs-events")


def test_every_sample_file_has_a_case():
    files = {str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*")
             if p.is_file() and p.name != "SOURCES.md" and p.relative_to(SAMPLES).parts[0] not in OTHER_EVIDENCE}
    assert files == {c.path for c in CASES}


def _ingest(tmp_path: Path, case: Case):
    lake = tmp_path / "lake"
    args = ["--lake", str(lake), "ingest", "--workers", "1", "--quiet", str(SAMPLES / case.path)]
    if case.log_format:
        args[3:3] = ["--log-format", case.log_format]
    result = CliRunner().invoke(app, args)
    info = CliRunner().invoke(app, ["--lake", str(lake), "lake", "info", "--json"])
    assert info.exit_code == 0, info.output
    return lake, result, json.loads(info.stdout)


def _records(lake: Path, tables=("flows", "interface_status", "tgw_flows")) -> dict[int, tuple[str, str, dict]]:
    """_line -> (table, partition, row) over the record tables (lines are unique per file)."""
    out = {}
    for table in tables:
        for path in sorted((lake / table).rglob("*.parquet")):
            partition = "/".join(path.relative_to(lake / table).parts[:3])
            for row in pq.read_table(path).to_pylist():
                assert row["_line"] not in out, f"line {row['_line']} stored twice"
                out[row["_line"]] = (table, partition, row)
    return out


def _quarantine(lake: Path) -> list[dict]:
    return [r for p in sorted((lake / "quarantine").rglob("*.parquet")) for r in pq.read_table(p).to_pylist()]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_real_sample(tmp_path, case: Case):
    lake, result, info = _ingest(tmp_path, case)
    clean = not case.quarantined and not case.refused
    assert result.exit_code == (0 if clean else 1), result.output

    counts = {name: t["records"] for name, t in info["tables"].items() if t["records"]}
    assert counts == case.tables
    quarantine = _quarantine(lake)
    if case.refused:
        assert len(info["refused"]) == 1
        assert case.refused in next(iter(info["refused"].values()))
        assert [(q["_line"], case.refused in q["reason"]) for q in quarantine] == [(None, True)]
        return
    assert info["refused"] == {}
    assert info["quarantined"] == len(case.quarantined)
    assert {q["_line"] for q in quarantine} == set(case.quarantined)
    for q in quarantine:
        assert case.quarantined[q["_line"]] in q["reason"]
        assert q["_source"] == str(SAMPLES / case.path)
        assert q["text"]

    records = _records(lake)
    for line, (table, expected) in case.rows.items():
        assert line in records, f"line {line} is not in the lake"
        got_table, _, row = records[line]
        assert got_table == table, f"line {line}"
        if "_extra" in expected:
            expected = dict(expected, _extra=json.dumps(expected["_extra"]))
        assert {k: row[k] for k in expected} == expected, f"line {line}"
        assert row["_source"] == str(SAMPLES / case.path)
    for line, partition in case.partitions.items():
        assert records[line][1] == partition, f"line {line}"
    for (table, column, value), n in case.counts.items():
        assert sum(1 for t, _, r in records.values() if t == table and r[column] == value) == n
