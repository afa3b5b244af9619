"""The field catalog: every VPC Flow Logs field, defined once.

This one table drives parsing (names in headers and ``${…}`` log formats), typing
(the Parquet/Arrow type of each lake column), and the schema documentation in the
README (``python -m pipeline.fields`` prints it). Nothing about a field is written
anywhere else.

Sources: AWS VPC user guide "Flow log records" (v2–v5, v7, v8), the transit gateway
flow log page (v6); later fields from secondary sources, marked as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TYPES = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64()}


@dataclass(frozen=True)
class Field:
    name: str  # as AWS writes it in a header or a ${…} format
    type: str  # "string", "int32" or "int64" (AWS Parquet types)
    version: int  # the flow-log version that introduced it
    meaning: str
    # The values AWS writes (a record with another value is quarantined, the reason naming the field):
    range: tuple[int, int] | None = None  # lowest and highest number
    values: tuple[str, ...] | None = None  # the words
    address: bool = False  # an IPv4 or IPv6 address

    @property
    def column(self) -> str:
        """The lake column: the field name with ``-`` as ``_`` (as AWS Parquet and Athena)."""
        return self.name.replace("-", "_")

    @property
    def arrow_type(self) -> pa.DataType:
        return TYPES[self.type]


def _f(name: str, type_: str, version: int, meaning: str, **domain) -> Field:
    return Field(name, type_, version, meaning, **domain)


PORT = (0, 65535)


FIELDS: tuple[Field, ...] = (
    # v2: the default format, in its order
    _f("version", "int32", 2, "Flow log version: 2 for the default format, else the highest version among the fields."),
    _f("account-id", "string", 2, "Account that owns the source ENI; AWS writes `unknown` for some service-created ENIs (kept as is)."),
    _f("interface-id", "string", 2, "ENI on which the traffic was recorded."),
    _f("srcaddr", "string", 2, "Source address of incoming traffic, or the ENI's primary private address for outgoing traffic.", address=True),
    _f("dstaddr", "string", 2, "Destination address of outgoing traffic, or the ENI's primary private address for incoming traffic.", address=True),
    _f("srcport", "int32", 2, "Source port.", range=PORT),
    _f("dstport", "int32", 2, "Destination port.", range=PORT),
    _f("protocol", "int32", 2, "IANA protocol number (6 TCP, 17 UDP, 1 ICMP).", range=(0, 255)),
    _f("packets", "int64", 2, "Packets in the flow during the aggregation interval."),
    _f("bytes", "int64", 2, "Bytes in the flow during the aggregation interval."),
    _f("start", "int64", 2, "Unix seconds of the first packet in the interval (millisecond values are converted)."),
    _f("end", "int64", 2, "Unix seconds of the last packet in the interval (millisecond values are converted)."),
    _f("action", "string", 2, "ACCEPT or REJECT (security group, network ACL, or a packet after the connection closed).",
       values=("ACCEPT", "REJECT")),
    _f("log-status", "string", 2, "OK, NODATA (no traffic in the interval) or SKIPDATA (records were skipped).",
       values=("OK", "NODATA", "SKIPDATA")),
    # v3
    _f("vpc-id", "string", 3, "VPC of the ENI."),
    _f("subnet-id", "string", 3, "Subnet of the ENI."),
    _f("instance-id", "string", 3, "Instance of the ENI if you own it; NULL for requester-managed ENIs (NAT, endpoints, Fargate)."),
    _f("tcp-flags", "int32", 3, "TCP flags OR-ed over the interval: FIN 1, SYN 2, RST 4, SYN-ACK 18.", range=(0, 255)),
    _f("type", "string", 3, "IPv4, IPv6 or EFA."),
    _f("pkt-srcaddr", "string", 3, "Packet-level (original) source address, e.g. behind a NAT gateway.", address=True),
    _f("pkt-dstaddr", "string", 3, "Packet-level (original) destination address.", address=True),
    # v4
    _f("region", "string", 4, "Region of the ENI."),
    _f("az-id", "string", 4, "Availability Zone ID of the ENI (e.g. euw1-az1)."),
    _f("sublocation-type", "string", 4, "wavelength, outpost or localzone; NULL otherwise."),
    _f("sublocation-id", "string", 4, "ID of the sublocation; NULL otherwise."),
    # v5
    _f("pkt-src-aws-service", "string", 5, "ip-ranges.json service of pkt-srcaddr when it is a public AWS address (S3, AMAZON…)."),
    _f("pkt-dst-aws-service", "string", 5, "ip-ranges.json service of pkt-dstaddr when it is a public AWS address."),
    _f("flow-direction", "string", 5, "ingress or egress, relative to the ENI.", values=("ingress", "egress")),
    _f("traffic-path", "int32", 5, "Egress path: 1 in-VPC, 2 IGW or gateway endpoint, 3 VGW, 4/5 peering, 6 local gateway, 7 gateway endpoint, 8 IGW."),
    # v6: transit gateway flow logs
    _f("resource-type", "string", 6, "TransitGateway or TransitGatewayAttachment (transit gateway flow logs)."),
    _f("tgw-id", "string", 6, "Transit gateway ID."),
    _f("tgw-attachment-id", "string", 6, "Transit gateway attachment ID."),
    _f("tgw-src-vpc-account-id", "string", 6, "Account of the source VPC."),
    _f("tgw-dst-vpc-account-id", "string", 6, "Account of the destination VPC."),
    _f("tgw-src-vpc-id", "string", 6, "Source VPC."),
    _f("tgw-dst-vpc-id", "string", 6, "Destination VPC."),
    _f("tgw-src-subnet-id", "string", 6, "Source subnet."),
    _f("tgw-dst-subnet-id", "string", 6, "Destination subnet."),
    _f("tgw-src-eni", "string", 6, "Source attachment ENI."),
    _f("tgw-dst-eni", "string", 6, "Destination attachment ENI."),
    _f("tgw-src-az-id", "string", 6, "Source Availability Zone ID."),
    _f("tgw-dst-az-id", "string", 6, "Destination Availability Zone ID."),
    _f("tgw-pair-attachment-id", "string", 6, "The attachment of the other direction."),
    _f("packets-lost-no-route", "int64", 6, "Packets lost: no route."),
    _f("packets-lost-blackhole", "int64", 6, "Packets lost: blackhole route."),
    _f("packets-lost-mtu-exceeded", "int64", 6, "Packets lost: MTU exceeded."),
    _f("packets-lost-ttl-expired", "int64", 6, "Packets lost: TTL expired."),
    # v7: ECS
    _f("ecs-cluster-arn", "string", 7, "ECS cluster ARN, if the traffic is from a running ECS task."),
    _f("ecs-cluster-name", "string", 7, "ECS cluster name."),
    _f("ecs-container-instance-arn", "string", 7, "Container instance ARN (NULL on Fargate)."),
    _f("ecs-container-instance-id", "string", 7, "Container instance ID (NULL on Fargate)."),
    _f("ecs-container-id", "string", 7, "Runtime ID of the task's first container."),
    _f("ecs-second-container-id", "string", 7, "Runtime ID of the task's second container."),
    _f("ecs-service-name", "string", 7, "ECS service name, if a service started the task."),
    _f("ecs-task-definition-arn", "string", 7, "Task definition ARN."),
    _f("ecs-task-arn", "string", 7, "Task ARN."),
    _f("ecs-task-id", "string", 7, "Task ID."),
    # v8
    _f("reject-reason", "string", 8, "Why traffic was rejected: BPA (VPC Block Public Access); NULL for other reasons."),
    # v9+: secondary sources only (the AWS text was not confirmed)
    _f("resource-id", "string", 9, "Resource behind the ENI, e.g. a regional NAT gateway ID (secondary sources)."),
    _f("encryption-status", "int32", 10, "0 unencrypted, 1 Nitro, 2 application, 3 both (VPC Encryption Controls; secondary sources)."),
    _f("interface-type", "string", 11, "Type of the ENI (secondary sources)."),
    _f("next-hop-interface-id", "string", 11, "ENI of the next hop (secondary sources)."),
    _f("next-hop-subnet-id", "string", 11, "Subnet of the next hop (secondary sources)."),
    _f("next-hop-az-id", "string", 11, "AZ ID of the next hop (secondary sources)."),
    _f("next-hop-vpc-id", "string", 11, "VPC of the next hop (secondary sources)."),
    _f("next-hop-interface-type", "string", 11, "Type of the next hop, e.g. nat_gateway (secondary sources)."),
    _f("instance-tag", "string", 11, "A percent-encoded instance tag value (secondary sources)."),
    _f("interface-tag", "string", 11, "A percent-encoded ENI tag value (secondary sources)."),
    _f("asg-tag", "string", 11, "A percent-encoded Auto Scaling group tag value (secondary sources)."),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
BY_COLUMN: dict[str, Field] = {f.column: f for f in FIELDS}

DEFAULT_FORMAT: tuple[str, ...] = tuple(f.name for f in FIELDS if f.version == 2)
"""The v2 default format, which is also what CloudWatch Logs streams carry unless told otherwise."""

TGW_DEFAULT_FORMAT: tuple[str, ...] = (
    "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id "
    "tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id "
    "tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
    "log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded "
    "packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service"
).split()
"""The transit gateway flow log default format (36 fields)."""

ORDERED: tuple[tuple[str, str], ...] = (("start", "end"),)
"""Pairs of fields whose first is never after its second in a record."""

RECORD_IDENTITY: tuple[str, ...] = (
    "interface-id", "tgw-attachment-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes",
    "start", "end", "action", "log-status")
"""The fields that tell one record from another: the same values twice is the same record delivered twice
(fields a source may fill in from its file name, like the region, are left out)."""

# Columns every lake record carries besides the catalog's (provenance and unknown fields).
EXTRA_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("_extra", pa.string(), "Fields the catalog does not know, as a JSON object of name to text."),
    ("_source", pa.string(), "The file or object the record came from."),
    ("_line", pa.int64(), "Line (or event) number of the record in its source, 1-based."),
    ("_format", pa.string(), "The record format: its field names joined by spaces."),
    ("_ingest_id", pa.string(), "Content digest of the source: what the manifest is keyed by."),
)

NULL_TOKEN = "-"


def normalise(name: str) -> str:
    """Header/format token → catalog name: ``${pkt-srcaddr}``, ``pkt_srcaddr`` → ``pkt-srcaddr``."""
    token = name.strip()
    if token.startswith("${") and token.endswith("}"):
        token = token[2:-1]
    token = token.lower()
    return BY_COLUMN[token].name if token in BY_COLUMN else token


def lake_schema() -> pa.Schema:
    """The one typed schema of every flow record table in the lake."""
    return pa.schema(
        [pa.field(f.column, f.arrow_type) for f in FIELDS]
        + [pa.field(name, type_) for name, type_, _ in EXTRA_COLUMNS]
    )


def schema_markdown() -> str:
    """The lake schema as a Markdown table, for the README."""
    lines = ["| column | type | version | meaning |", "|---|---|---|---|"]
    lines += [f"| `{f.column}` | {f.type} | {f.version} | {f.meaning} |" for f in FIELDS]
    lines += [f"| `{name}` | {type_} | – | {meaning} |" for name, type_, meaning in EXTRA_COLUMNS]
    return "\n".join(lines)


if __name__ == "__main__":
    print(schema_markdown())
