#!/usr/bin/env python3
"""Generate the bundled sample account: VPC Flow Logs, AWS metadata and ground truth.

The account (123456789012, eu-west-1) runs ECS cluster ``prod`` on Fargate in one VPC,
10.20.0.0/16, over two AZs. During the incident window, 2026-11-27 09:00-11:00 UTC, two
services are healthy (``web``, ``api``) and five each carry one injected fault:

  billing   security group has no egress rule for tcp/443 to the Secrets Manager endpoint
  orders    SQS endpoint security group does not let orders in (it lets api in)
  ledger    its subnet's network ACL (rule 90) drops the replies on ephemeral ports
  reports   its subnet's route table has no 0.0.0.0/0 route; it calls STS's public addresses
  notifier  publishes to SNS through the NAT gateway: the SNS endpoint has private DNS off

and six more (MoreServices, their own random streams) whose faults need other evidence:

  inventory  task role lacks ssm:GetParameter (CloudTrail AccessDeniedException)
  payouts    the KMS endpoint's policy denies its key (network activity events only)
  exporter   execution role may not read its secret: 20 tasks fail to start
  tracker    a private hosted zone shadows its API's name (NXDOMAIN in the query logs)
  mailer     HTTPS_PROXY points at a proxy whose security group rejects it
  indexer    the search host resets every connection (seen in a default-format flow log)

Written under ``--out`` (default: the folder of this script):

  s3/AWSLogs/...   the bucket as ``aws s3 sync`` copies it: flow logs in the default (v2) format
                   in the plain layout and a custom v7 format in the Hive-compatible hourly layout,
                   the CloudTrail trail (CloudTrail/, CloudTrail-NetworkActivity/, CloudTrail-Digest/)
                   and the Route 53 Resolver query logs (vpcdnsquerylogs/)
  metadata/        one AWS CLI output per command (a snapshot taken at 11:05 UTC), EventBridge
                   "ECS Task State Change" events, and a small ip-ranges.json
  faults.json      machine-readable ground truth

Everything derives from ``--seed`` (default 7): the same seed gives byte-identical files
(gzip members carry mtime 0 and no name; no wall-clock reads; no set iteration).
Standard library only.
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import hashlib
import ipaddress
import json
import math
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

# --------------------------------------------------------------------------- constants

ACCOUNT = "123456789012"
REGION = "eu-west-1"
CLUSTER = "prod"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
VPC_CIDR = "10.20.0.0/16"
BUCKET = "acme-prod-vpc-flow-logs"
ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
S3_PREFIX_LIST = "pl-6da54004"
DYNAMODB_PREFIX_LIST = "pl-6fa54006"

T0 = calendar.timegm((2026, 11, 27, 9, 0, 0))  # incident window start
T_END = T0 + 2 * 3600  # incident window end (exclusive)
SNAPSHOT = T_END + 5 * 60  # when the describe-* outputs were taken
BUILT = calendar.timegm((2025, 9, 16, 10, 42, 17))  # when the VPC was built
LEAD = 300  # traffic is simulated from T0 - LEAD so the first windows are full

AZS = {"a": ("eu-west-1a", "euw1-az1"), "b": ("eu-west-1b", "euw1-az2")}
FARGATE_OWNER = "578734482556"  # AWS-owned account that requests Fargate task ENIs
ENDPOINT_OWNER = "727180483921"  # AWS-owned account that requests endpoint ENIs
NAT_OWNER = "441285453451"  # AWS-owned account that requests NAT gateway ENIs

SYN, FIN, RST, SYN_ACK = 2, 1, 4, 18
HDR = 52  # IPv4 + TCP header with timestamps
MSS = 1448
SECRETS, SQS, SNS, LOGS = "secretsmanager", "sqs", "sns", "logs"

DEFAULT_FIELDS = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol "
    "packets bytes start end action log-status"
).split()
# The custom format: fields of v3, v4, v5 and v7, deliberately NOT in documentation order.
CUSTOM_FIELDS = (
    "version account-id interface-id az-id subnet-id vpc-id region instance-id flow-direction "
    "srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol type bytes packets start end "
    "tcp-flags action traffic-path pkt-src-aws-service pkt-dst-aws-service ecs-cluster-name "
    "ecs-cluster-arn ecs-container-instance-id ecs-service-name ecs-task-id ecs-task-arn "
    "ecs-task-definition-arn ecs-container-id ecs-second-container-id log-status"
).split()
FORMATS = {"default": (DEFAULT_FIELDS, "2"), "custom": (CUSTOM_FIELDS, "7")}

# name, CIDR, AZ, flow-log format of its flow log, route table
SUBNETS = (
    ("prod-public-a", "10.20.101.0/24", "a", "default", "public"),
    ("prod-public-b", "10.20.102.0/24", "b", "default", "public"),
    ("prod-app-a", "10.20.1.0/24", "a", "custom", "private-a"),
    ("prod-app-b", "10.20.2.0/24", "b", "custom", "private-b"),
    ("prod-endpoints-a", "10.20.201.0/24", "a", "default", "main"),
    ("prod-endpoints-b", "10.20.202.0/24", "b", "default", "main"),
    ("prod-ledger-b", "10.20.32.0/24", "b", "default", "private-b"),
    ("prod-reports-a", "10.20.41.0/24", "a", "default", "reports"),
)

# service -> task definition revision, cpu, memory, containers, subnets
SERVICES = {
    "web": (42, "512", "1024", ("web", "nginx"), ("prod-app-a", "prod-app-b")),
    "api": (17, "512", "1024", ("api",), ("prod-app-a", "prod-app-b")),
    "billing": (8, "256", "512", ("billing",), ("prod-app-a", "prod-app-b")),
    "orders": (23, "512", "1024", ("orders",), ("prod-app-a", "prod-app-b")),
    "ledger": (5, "256", "512", ("ledger",), ("prod-ledger-b",)),
    "reports": (12, "1024", "2048", ("reports",), ("prod-reports-a",)),
    "notifier": (9, "256", "512", ("notifier",), ("prod-app-a", "prod-app-b")),
}

# key, service, subnet, created (27 Nov, UTC), stopping, why it stops, takes the IP of
TASK_PLAN = (
    ("web-1", "web", "prod-app-a", "06:14:09", "09:36:10", "deployment", None),
    ("web-2", "web", "prod-app-b", "06:14:12", "09:38:41", "deployment", None),
    ("web-3", "web", "prod-app-a", "09:20:37", None, None, None),
    ("web-4", "web", "prod-app-b", "09:22:04", None, None, None),
    ("web-5", "web", "prod-app-b", "10:31:12", None, None, None),
    ("api-1", "api", "prod-app-a", "07:02:51", None, None, None),
    ("api-2", "api", "prod-app-b", "07:02:53", "10:18:22", "oom", None),
    ("api-3", "api", "prod-app-b", "10:18:57", None, None, None),
    ("billing-1", "billing", "prod-app-a", "08:41:06", None, None, None),
    ("billing-2", "billing", "prod-app-b", "08:41:09", None, None, None),
    ("orders-1", "orders", "prod-app-a", "08:47:30", "10:06:40", "health", None),
    ("orders-2", "orders", "prod-app-b", "08:47:33", None, None, None),
    ("orders-3", "orders", "prod-app-a", "10:07:31", None, None, "web-1"),
    ("ledger-1", "ledger", "prod-ledger-b", "07:30:14", None, None, None),
    ("ledger-2", "ledger", "prod-ledger-b", "07:30:18", None, None, None),
    ("reports-1", "reports", "prod-reports-a", "08:15:40", None, None, None),
    ("reports-2", "reports", "prod-reports-a", "08:15:44", None, None, None),
    ("notifier-1", "notifier", "prod-app-a", "07:45:02", None, None, None),
    ("notifier-2", "notifier", "prod-app-b", "07:45:05", None, None, None),
)
OLD_WEB_REVISION = 41  # web-1 and web-2 run the revision the 09:20 deployment replaced

# Six more services of the same cluster (see MoreServices): each one's fault shows in CloudTrail,
# the task state change events, the Resolver query logs or a flow log without tcp-flags.
NEW_SERVICES = {
    "inventory": (6, "256", "512", ("inventory",), ("prod-app-a", "prod-app-b")),
    "payouts": (14, "512", "1024", ("payouts",), ("prod-app-a", "prod-app-b")),
    "exporter": (3, "256", "512", ("exporter",), ("prod-app-a", "prod-app-b")),
    "tracker": (11, "256", "512", ("tracker",), ("prod-app-a", "prod-app-b")),
    "mailer": (4, "256", "512", ("mailer",), ("prod-app-a", "prod-app-b")),
    "indexer": (19, "1024", "2048", ("indexer",), ("prod-data-a", "prod-data-b")),
}
ALL_SERVICES = {**SERVICES, **NEW_SERVICES}
NO_CIRCUIT_BREAKER = ("exporter",)  # so ECS keeps retrying its failing tasks instead of rolling back

STOPS = {  # why -> stopCode, stoppedReason, container exit code, container reason
    "deployment": ("ServiceSchedulerInitiated", "Scaling activity initiated by (deployment {deployment})", 0, None),
    "oom": ("EssentialContainerExited", "Essential container in task exited", 137,
            "OutOfMemoryError: Container killed due to memory usage"),
    "health": ("ServiceSchedulerInitiated", "Task failed container health checks", 143, None),
    "secrets": ("TaskFailedToStart", None, None, None),  # the reason names the task: see failed_start_reason()
}

# Interface endpoints: service, security group key, private DNS name (None: private DNS off).
INTERFACE_ENDPOINTS = (
    ("ecr.api", "vpce-ecr", f"api.ecr.{REGION}.amazonaws.com"),
    ("ecr.dkr", "vpce-ecr", f"*.dkr.ecr.{REGION}.amazonaws.com"),
    (LOGS, "vpce-logs", f"logs.{REGION}.amazonaws.com"),
    (SECRETS, "vpce-secretsmanager", f"secretsmanager.{REGION}.amazonaws.com"),
    (SQS, "vpce-sqs", f"sqs.{REGION}.amazonaws.com"),
    (SNS, "vpce-sns", None),
)

# A handful of real-shaped ip-ranges.json entries: prefix, region, service (each one is
# also listed as AMAZON, as in the real file).
IP_RANGES = (
    ("52.218.0.0/17", REGION, "S3"),
    ("3.5.64.0/21", REGION, "S3"),
    ("3.5.72.0/23", REGION, "S3"),
    ("52.92.40.0/21", REGION, "S3"),
    ("52.94.216.0/21", REGION, "AMAZON"),  # sns.eu-west-1.amazonaws.com answers from here
    ("52.95.120.0/22", REGION, "AMAZON"),  # sts.eu-west-1.amazonaws.com answers from here
    ("54.72.0.0/15", REGION, "EC2"),
    ("34.240.0.0/13", REGION, "EC2"),
    ("52.48.0.0/14", REGION, "EC2"),
    ("3.80.0.0/12", "us-east-1", "EC2"),
    ("52.216.0.0/15", "us-east-1", "S3"),
    ("52.94.0.0/22", "us-east-1", "AMAZON"),
    ("3.64.0.0/12", "eu-central-1", "EC2"),
    ("52.219.168.0/24", "eu-central-1", "S3"),
    ("35.176.0.0/15", "eu-west-2", "EC2"),
    ("52.95.148.0/23", "eu-west-2", "AMAZON"),
    ("13.32.0.0/15", "GLOBAL", "CLOUDFRONT"),
)
IPV6_RANGES = (
    ("2a05:d018::/35", REGION, "EC2"),
    ("2a05:d07a:a000::/40", REGION, "S3"),
    ("2600:1f18::/33", "us-east-1", "EC2"),
    ("2a05:d014::/35", "eu-central-1", "EC2"),
    ("2600:9000::/28", "GLOBAL", "CLOUDFRONT"),
)
S3_RANGES = tuple(p for p, region, svc in IP_RANGES if svc == "S3" and region == REGION)
SNS_RANGE, STS_RANGE = "52.94.216.0/21", "52.95.120.0/22"
NAT_EIP_RANGE, ALB_EIP_RANGES = "54.72.0.0/15", ("34.240.0.0/13", "52.48.0.0/14")

CUSTOMER_NETS = ("81.2.69.0/24", "86.134.0.0/16", "92.40.0.0/16", "2.24.0.0/16", "78.16.0.0/16", "31.200.0.0/16")
SCANNER_NETS = ("45.148.10.0/24", "89.248.165.0/24", "185.224.128.0/24", "162.142.125.0/24", "71.6.135.0/24")
SCANNED_PORTS = (22, 23, 445, 1433, 2375, 3306, 3389, 5432, 5900, 6379, 8080, 8443, 9200)
NACL_DENIED_PORTS = (22, 23, 3389)  # public subnets' network ACL, rules 50-70
PARTNER_API = ("104.18.20.47", "104.18.21.47")  # a payment provider behind a CDN (not AWS)


# --------------------------------------------------------------------------- helpers

def hhmmss(text: str) -> int:
    """Epoch seconds of HH:MM:SS on the incident day."""
    h, m, s = map(int, text.split(":"))
    return T0 + (h - 9) * 3600 + m * 60 + s


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(round(t, 3), timezone.utc)


def cli_time(t: float) -> str:
    """A time as the AWS CLI v2 prints botocore datetimes (fraction only when non-zero)."""
    return utc(t).isoformat()


def event_time(t: float) -> str:
    """A time as ECS writes it inside EventBridge events (milliseconds, Z)."""
    return utc(t).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def z_time(t: float) -> str:
    return utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def private_dns(ip: str) -> str:
    return f"ip-{ip.replace('.', '-')}.{REGION}.compute.internal"


def aws_service_of(ip: str) -> str:
    """The pkt-*-aws-service value of an address: the specific service, else AMAZON, else '-'."""
    addr = ipaddress.ip_address(ip)
    if addr.is_private:
        return "-"
    found = [svc for prefix, _, svc in IP_RANGES if addr in ipaddress.ip_network(prefix)]
    specific = [svc for svc in found if svc != "AMAZON"]
    return (specific or found or ["-"])[0]


class Rand(random.Random):
    """The one source of randomness, with AWS-shaped identifiers."""

    def hexid(self, prefix: str) -> str:
        return f"{prefix}-0{self.getrandbits(64):016x}"  # 17 hex digits, as current AWS ids

    def hex(self, digits: int) -> str:
        return f"{self.getrandbits(4 * digits):0{digits}x}"

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.getrandbits(128), version=4))

    def mac(self) -> str:
        return ":".join([self.choice(("02", "06", "0a", "0e"))] + [f"{self.getrandbits(8):02x}" for _ in range(5)])

    def alnum(self, n: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789") -> str:
        return "".join(self.choice(alphabet) for _ in range(n))

    def host(self, cidr: str) -> str:
        net = ipaddress.ip_network(cidr)
        return str(net[self.randrange(1, net.num_addresses - 1)])


# --------------------------------------------------------------------------- the network

@dataclass
class Subnet:
    name: str
    cidr: str
    az: str
    fmt: str
    route_table: str
    id: str
    free: list[str]

    @property
    def az_name(self) -> str:
        return AZS[self.az][0]

    @property
    def az_id(self) -> str:
        return AZS[self.az][1]

    def take_ip(self, rng: Rand) -> str:
        return self.free.pop(rng.randrange(len(self.free)))


@dataclass
class SecurityGroup:
    key: str
    id: str
    name: str
    description: str
    ingress: list = field(default_factory=list)
    egress: list = field(default_factory=list)


@dataclass
class Eni:
    id: str
    ip: str
    subnet: Subnet
    kind: str  # interface (Fargate task), vpc_endpoint, nat_gateway, load_balancer
    description: str
    groups: list
    created: float
    deleted: float | None
    phase: int  # offset of this ENI's 60-second capture windows
    mac: str
    attachment_id: str
    public_ip: str | None = None
    task: Task | None = None
    instance_id: str | None = None  # an EC2 instance's own ENI

    def alive(self, t: float) -> bool:
        return self.created <= t and (self.deleted is None or t < self.deleted)

    def window(self, second: int) -> int:
        return (second - T0 - self.phase) // 60

    def window_start(self, k: int) -> int:
        return T0 + self.phase + 60 * k


@dataclass
class Endpoint:
    service: str
    id: str
    sg: SecurityGroup
    private_dns: str | None
    dns_suffix: str
    enis: list
    created: float

    @property
    def service_name(self) -> str:
        return f"com.amazonaws.{REGION}.{self.service}"


class Network:
    """Every VPC resource of the account, with the ids the flow logs and metadata share."""

    def __init__(self, rng: Rand):
        self.rng = rng
        self.vpc_id = rng.hexid("vpc")
        self.igw_id = rng.hexid("igw")
        self.dhcp_id = rng.hexid("dopt")
        self.subnets = {
            name: Subnet(name, cidr, az, fmt, rtb, rng.hexid("subnet"),
                         [str(h) for h in list(ipaddress.ip_network(cidr).hosts())[3:]])
            for name, cidr, az, fmt, rtb in SUBNETS
        }
        self.sgs = self._security_groups()
        self.endpoints = self._interface_endpoints()
        self.s3_gateway_id = rng.hexid("vpce")
        self.nat_id = rng.hexid("nat")
        self.nat_allocation = rng.hexid("eipalloc")
        self.nat_association = rng.hexid("eipassoc")
        self.nat_eni = self._infra_eni("prod-public-a", "nat_gateway", f"Interface for NAT Gateway {self.nat_id}", [],
                                       public_ip=rng.host(NAT_EIP_RANGE))
        self.alb_name = f"app/prod-web/{rng.hex(16)}"
        self.target_group_arn = (f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:"
                                 f"targetgroup/prod-web-8080/{rng.hex(16)}")
        self.alb_enis = [
            self._infra_eni(f"prod-public-{az}", "load_balancer", f"ELB {self.alb_name}", [self.sgs["alb"]],
                            public_ip=rng.host(ALB_EIP_RANGES[i]))
            for i, az in enumerate("ab")
        ]
        self.route_tables = {name: rng.hexid("rtb") for name in ("main", "public", "private-a", "private-b", "reports")}
        self.nacls = {name: rng.hexid("acl") for name in ("default", "public", "ledger")}
        self.flow_logs = {s.name: rng.hexid("fl") for s in self.subnets.values()}

    def _security_groups(self) -> dict[str, SecurityGroup]:
        plan = (
            ("default", "default", "default VPC security group"),
            ("alb", "prod-web-alb", "Internet-facing ALB for web"),
            ("web", "prod-web-tasks", "web service tasks"),
            ("api", "prod-api-tasks", "api service tasks"),
            ("billing", "prod-billing-tasks", "billing service tasks (egress restricted 2026-11-27)"),
            ("orders", "prod-orders-tasks", "orders service tasks"),
            ("ledger", "prod-ledger-tasks", "ledger service tasks"),
            ("reports", "prod-reports-tasks", "reports service tasks"),
            ("notifier", "prod-notifier-tasks", "notifier service tasks"),
            ("vpce-ecr", "prod-vpce-ecr", "ECR interface endpoints"),
            ("vpce-logs", "prod-vpce-logs", "CloudWatch Logs interface endpoint"),
            ("vpce-secretsmanager", "prod-vpce-secretsmanager", "Secrets Manager interface endpoint"),
            ("vpce-sqs", "prod-vpce-sqs", "SQS interface endpoint: api only"),
            ("vpce-sns", "prod-vpce-sns", "SNS interface endpoint"),
        )
        sgs = {key: SecurityGroup(key, self.rng.hexid("sg"), name, desc) for key, name, desc in plan}
        for sg in sgs.values():
            sg.ingress, sg.egress = sg_rules(sg.key, sgs)
        return sgs

    def _interface_endpoints(self) -> dict[str, Endpoint]:
        endpoints = {}
        for service, sg_key, dns in INTERFACE_ENDPOINTS:
            vpce = self.rng.hexid("vpce")
            enis = [self._infra_eni(f"prod-endpoints-{az}", "vpc_endpoint", f"VPC Endpoint Interface {vpce}",
                                    [self.sgs[sg_key]]) for az in "ab"]
            endpoints[service] = Endpoint(service, vpce, self.sgs[sg_key], dns, self.rng.alnum(8), enis,
                                          BUILT + self.rng.randint(3600, 40 * 86400))
        return endpoints

    def _infra_eni(self, subnet: str, kind: str, description: str, groups: list, public_ip: str | None = None) -> Eni:
        sub = self.subnets[subnet]
        return Eni(self.rng.hexid("eni"), sub.take_ip(self.rng), sub, kind, description, groups,
                   BUILT + self.rng.randint(600, 30 * 86400), None, self.rng.randrange(60), self.rng.mac(),
                   self.rng.hexid("eni-attach"), public_ip)

    def endpoint_enis(self) -> list[Eni]:
        return [e for ep in self.endpoints.values() for e in ep.enis]

    def infra_enis(self) -> list[Eni]:
        return [self.nat_eni, *self.alb_enis, *self.endpoint_enis()]


def permission(port: int | None, *, cidr=None, group=None, prefix_list=None, description=None) -> dict:
    """One IpPermissions entry (port None: all traffic)."""
    perm = {"IpProtocol": "-1"} if port is None else {"FromPort": port, "IpProtocol": "tcp"}
    perm.update({"IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": []})
    if port is not None:
        perm["ToPort"] = port
    perm["UserIdGroupPairs"] = []
    described = {"Description": description} if description else {}
    if cidr:
        perm["IpRanges"].append({"CidrIp": cidr, **described})
    if group:
        perm["UserIdGroupPairs"].append({**described, "GroupId": group.id, "UserId": ACCOUNT})
    if prefix_list:
        perm["PrefixListIds"].append({**described, "PrefixListId": prefix_list})
    return perm


def sg_rules(key: str, sgs: dict[str, SecurityGroup]) -> tuple[list, list]:
    """(ingress, egress) of one security group; billing's egress and vpce-sqs's ingress are faults."""
    everything_out = [permission(None, cidr="0.0.0.0/0")]
    from_vpc = [permission(443, cidr=VPC_CIDR, description="HTTPS from the VPC")]
    rules = {
        "default": ([permission(None, group=sgs["default"])], everything_out),
        "alb": ([permission(80, cidr="0.0.0.0/0"), permission(443, cidr="0.0.0.0/0")],
                [permission(8080, group=sgs["web"], description="to web tasks")]),
        "web": ([permission(8080, group=sgs["alb"], description="from the ALB")], everything_out),
        "api": ([permission(8080, group=sgs["web"], description="from web")], everything_out),
        "billing": ([permission(8080, group=sgs["api"], description="from api")], [
            permission(443, group=sgs["vpce-ecr"], description="ECR endpoints"),
            permission(443, group=sgs["vpce-logs"], description="CloudWatch Logs endpoint"),
            permission(443, prefix_list=S3_PREFIX_LIST, description="S3 (image layers)"),
            permission(5432, cidr="10.20.64.0/20", description="billing database"),
        ]),
        "vpce-sqs": ([permission(443, group=sgs["api"], description="api")], everything_out),
    }
    return rules.get(key, (from_vpc if key.startswith("vpce-") else [], everything_out))


# --------------------------------------------------------------------------- ECS tasks

@dataclass
class Container:
    name: str
    arn: str
    runtime_id: str
    image: str
    digest: str


@dataclass
class Task:
    key: str
    service: str
    revision: int
    subnet: Subnet
    id: str
    attachment_id: str
    started_by: str
    created: float
    pull_started: float
    pull_stopped: float
    started: float
    stopping: float | None
    execution_stopped: float | None
    stopped: float | None
    stop_why: str | None
    containers: list
    eni: Eni = None
    failure_request_id: str | None = None  # the denied call a failed start's stoppedReason quotes

    @property
    def arn(self) -> str:
        return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{self.id}"

    @property
    def task_definition_arn(self) -> str:
        return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{self.service}:{self.revision}"

    @property
    def ip(self) -> str:
        return self.eni.ip

    def running(self, t: float) -> bool:
        return self.started <= t and (self.stopping is None or t < self.stopping)


def build_tasks(net: Network, rng: Rand) -> list[Task]:
    deployments = {name: str(rng.randrange(10**18, 10**19)) for name in SERVICES}
    deployments["web-old"] = str(rng.randrange(10**18, 10**19))
    tasks: dict[str, Task] = {}
    for key, service, subnet, created, stopping, why, reuse in TASK_PLAN:
        task = new_task(rng, net.subnets[subnet], key, service, hhmmss(created),
                        hhmmss(stopping) + rng.random() if stopping else None, why, deployments)
        ip = tasks[reuse].ip if reuse else task.subnet.take_ip(rng)
        task.eni = Eni(rng.hexid("eni"), ip, task.subnet, "interface",
                       f"arn:aws:ecs:{REGION}:{ACCOUNT}:attachment/{task.attachment_id}", [net.sgs[service]],
                       task.created + rng.uniform(3, 6), task.stopped + rng.uniform(5, 15) if task.stopped else None,
                       rng.randrange(60), rng.mac(), rng.hexid("eni-attach"), task=task)
        tasks[key] = task
    return list(tasks.values())


def new_task(rng: Rand, subnet: Subnet, key: str, service: str, created: float, stopping: float | None,
             why: str | None, deployments: dict) -> Task:
    revision, _, _, names, _ = ALL_SERVICES[service]
    old_web = service == "web" and why == "deployment"
    task_id = rng.hex(32)
    created += rng.random()
    pull_started = created + rng.uniform(8, 12)
    pull_stopped = pull_started + rng.uniform(14, 30)
    execution_stopped = stopping + rng.uniform(8, 30) if stopping else None
    containers = [
        Container(name, f"arn:aws:ecs:{REGION}:{ACCOUNT}:container/{CLUSTER}/{task_id}/{rng.uuid4()}",
                  f"{task_id}-{rng.randrange(10**9, 2**32)}",
                  f"{ECR}/{name}:2026.11.{27 if not old_web else 20}" if name != "nginx" else f"{ECR}/nginx:1.27",
                  f"sha256:{rng.hex(64)}")
        for name in names
    ]
    return Task(key, service, OLD_WEB_REVISION if old_web else revision, subnet, task_id, rng.uuid4(),
                f"ecs-svc/{deployments['web-old' if old_web else service]}", created, pull_started, pull_stopped,
                pull_stopped + rng.uniform(3, 6), stopping, execution_stopped,
                execution_stopped + rng.uniform(15, 25) if stopping else None, why, containers)


# --------------------------------------------------------------------------- conversations

@dataclass
class Obs:
    """How one ENI logs one direction of a conversation."""

    eni: Eni
    rev: bool  # False: the client->server direction, True: server->client
    src: tuple
    dst: tuple
    direction: str  # ingress / egress, relative to the ENI
    action: str
    path: str  # traffic-path (egress only)
    pkt_src: str | None = None  # None: same as src (only a NAT gateway ENI differs)
    pkt_dst: str | None = None


def see(eni: Eni, client: tuple, server: tuple, out: str | None = "ACCEPT", back: str | None = "ACCEPT",
        path: str = "1") -> list[Obs]:
    """The records an ENI that owns the client or the server address keeps of a conversation.

    ``out``/``back``: the action on the request / reply direction at this ENI (None: never gets here).
    ``path``: the traffic-path of the request when this ENI is the client.
    """
    mine = eni.ip == client[0]
    obs = []
    if out:
        obs.append(Obs(eni, False, client, server, "egress" if mine else "ingress", out, path if mine else "-"))
    if back:
        obs.append(Obs(eni, True, server, client, "ingress" if mine else "egress", back, "-" if mine else "1"))
    return obs


def see_nat(nat: Eni, client: tuple, server: tuple, nat_port: int) -> list[Obs]:
    """The four records a NAT gateway ENI keeps: the private leg and the translated public leg."""
    public = (nat.ip, nat_port)
    return [
        Obs(nat, False, client, (nat.ip, server[1]), "ingress", "ACCEPT", "-", client[0], server[0]),
        Obs(nat, True, (nat.ip, server[1]), client, "egress", "ACCEPT", "1", server[0], client[0]),
        Obs(nat, False, public, server, "egress", "ACCEPT", "8"),
        Obs(nat, True, server, public, "ingress", "ACCEPT", "-"),
    ]


class Conn:
    """One TCP connection: timed bursts in each direction, and the ENIs that log them."""

    def __init__(self, obs: list[Obs], rtt: float):
        self.obs = obs
        self.rtt = rtt
        self.bursts: list[tuple] = []

    def add(self, t: float, rev: bool, packets: int, size: int, flags: int = 0) -> None:
        self.bursts.append((t, rev, packets, size, flags))

    def send(self, t: float, rev: bool, payload: int) -> None:
        """``payload`` bytes one way, and the delayed ACKs coming back."""
        packets = -(-payload // MSS)
        self.add(t, rev, packets, payload + packets * HDR)
        acks = -(-packets // 2)
        self.add(t + self.rtt / 2, not rev, acks, acks * HDR)

    def open(self, t: float, tls: bool = True) -> float:
        """Three-way handshake (and TLS); returns when the client can send its request."""
        r = self.rtt
        self.add(t, False, 1, 60, SYN)
        self.add(t + r / 2, True, 1, 60, SYN_ACK)
        if not tls:
            self.add(t + r, False, 1, HDR)
            return t + r
        self.add(t + r, False, 2, HDR + 569)  # ACK, ClientHello
        self.add(t + 1.5 * r, True, 4, 4 * HDR + 4630)  # ServerHello, certificate
        self.add(t + 2 * r, False, 2, 2 * HDR + 126)  # key exchange, Finished
        self.add(t + 2.5 * r, True, 1, HDR + 51)
        return t + 2 * r

    def exchange(self, t: float, request: int, response: int, think: float) -> float:
        """A request and its response; returns when the response has arrived."""
        self.send(t, False, request)
        self.send(t + self.rtt / 2 + think, True, response)
        return t + self.rtt + think

    def close(self, t: float, by_server: bool = False) -> None:
        self.add(t, by_server, 1, HDR, FIN)
        self.add(t + self.rtt / 2, not by_server, 1, HDR, FIN)
        self.add(t + self.rtt, by_server, 1, HDR)

    def syns(self, t: float, delays: tuple, size: int = 60, answered: bool = False) -> None:
        """A connection attempt: the SYN and its retransmissions (each answered by a SYN-ACK or not)."""
        for d in delays:
            self.add(t + d, False, 1, size, SYN)
            if answered:
                self.add(t + d + self.rtt / 2, True, 1, 60, SYN_ACK)


@dataclass(frozen=True)
class Dest:
    """A destination in the ground-truth vocabulary (see faults.json)."""

    type: str  # vpc_endpoint, nat_gateway, aws_service, internet, ecs_service
    id: str | None
    name: str
    aws_service: str | None
    port: int


PARTNER = Dest("internet", None, "api.payments-partner.example:443 via NAT gateway", None, 443)


class Traffic:
    """Builds every conversation of the window, service by service."""

    def __init__(self, net: Network, tasks: list[Task], rng: Rand):
        self.net, self.tasks, self.rng = net, tasks, rng
        self.endpoints = net.endpoints
        self.conns: list[Conn] = []
        self.used_ports: dict[str, set] = {}
        self.used: dict[tuple, dict] = {}  # (service, Dest) -> {address: None}, insertion-ordered
        self.late_replies: list[dict] = []
        self.sns_ips = [rng.host(SNS_RANGE) for _ in range(3)]
        self.sts_ips = [rng.host(STS_RANGE) for _ in range(2)]
        self.s3_ips = [rng.host(rng.choice(S3_RANGES)) for _ in range(12)]  # what DNS hands out this morning
        self.customers = [rng.host(rng.choice(CUSTOMER_NETS)) for _ in range(160)]
        self.scanners = [rng.host(rng.choice(SCANNER_NETS)) for _ in range(24)]

    # ---- plumbing

    def port(self, ip: str, lo: int = 32768, hi: int = 60999) -> int:
        used = self.used_ports.setdefault(ip, set())
        while True:
            p = self.rng.randint(lo, hi)
            if p not in used:
                used.add(p)
                return p

    def conn(self, obs: list[Obs], rtt: float) -> Conn:
        c = Conn(obs, rtt)
        self.conns.append(c)
        return c

    def ticks(self, start: float, end: float, period: float, jitter: float = 0.3):
        t = start + self.rng.uniform(0, period)
        while t < end:
            yield t
            t += period * self.rng.uniform(1 - jitter, 1 + jitter)

    def note(self, task: Task, dest: Dest, address: str) -> None:
        self.used.setdefault((task.service, dest), {})[address] = None

    @staticmethod
    def span(task: Task) -> tuple[float, float] | None:
        lo = max(task.started, T0 - LEAD)
        hi = min(task.stopping or math.inf, T_END + 60)
        return (lo, hi) if lo < hi else None

    def endpoint_eni(self, service: str, task: Task) -> Eni:
        enis = self.endpoints[service].enis
        same_az = [e for e in enis if e.subnet.az == task.subnet.az]
        return same_az[0] if self.rng.random() < 0.8 else self.rng.choice(enis)

    def endpoint_dest(self, service: str) -> Dest:
        ep = self.endpoints[service]
        return Dest("vpc_endpoint", ep.id, ep.service_name, service.split(".")[0], 443)

    def to_endpoint(self, task: Task, service: str, rtt: float = 0.0006, *, eni: Eni | None = None,
                    out="ACCEPT", arrive="ACCEPT", reply="ACCEPT", back="ACCEPT") -> Conn:
        """A connection from a task to an interface endpoint, logged at both ENIs."""
        ep = eni or self.endpoint_eni(service, task)
        self.note(task, self.endpoint_dest(service), ep.ip)
        client, server = (task.ip, self.port(task.ip)), (ep.ip, 443)
        return self.conn(see(task.eni, client, server, out, back) + see(ep, client, server, arrive, reply), rtt)

    def to_s3(self, task: Task) -> Conn:
        ip = self.rng.choice(self.s3_ips)
        self.note(task, Dest("aws_service", self.net.s3_gateway_id, f"s3.{REGION}.amazonaws.com via gateway endpoint",
                             "s3", 443), ip)
        return self.conn(see(task.eni, (task.ip, self.port(task.ip)), (ip, 443), path="7"), 0.0018)

    def via_nat(self, task: Task, ip: str, dest: Dest, rtt: float) -> Conn:
        self.note(task, dest, ip)
        client, server = (task.ip, self.port(task.ip)), (ip, 443)
        nat_port = self.port(f"{self.net.nat_eni.ip}>{ip}", 1024, 65535)
        return self.conn(see(task.eni, client, server) + see_nat(self.net.nat_eni, client, server, nat_port), rtt)

    def https(self, c: Conn, t: float, request: int, response: int, think: float, linger: float = 0.002) -> float:
        """Open, one request, close; returns the time of the close."""
        end = c.exchange(c.open(t), request, response, think) + linger
        c.close(end)
        return end

    # ---- everything

    def build(self) -> Traffic:
        for task in self.tasks:
            if task.pull_started >= T0 - LEAD:
                self.image_pull(task)
            span = self.span(task)
            if span:
                if task.service != "ledger":  # ledger's task definition has no logConfiguration
                    self.log_stream(task, *span)
                getattr(self, task.service)(task, *span)  # the method named after the service
        self.alb()
        self.internet_clients()
        self.scans()
        self.replies_in_next_window()
        return self

    def image_pull(self, task: Task) -> None:
        """ECR API, then the registry, then the layers from S3 (through the gateway endpoint)."""
        t = task.pull_started
        c = self.to_endpoint(task, "ecr.api")
        t = self.https(c, t, 1350, 3100, 0.04)
        c = self.to_endpoint(task, "ecr.dkr")
        t = c.exchange(c.open(t + 0.01), 900, 4600, 0.03)
        t = c.exchange(t, 870, 7200, 0.02)
        c.close(t + 0.01)
        seconds = max(2, int(task.pull_stopped - t) - 2)
        for _ in range(self.rng.randint(3, 6)):
            layer = self.to_s3(task)
            start = layer.open(t + self.rng.uniform(0, 0.2))
            layer.send(start, False, 1250)
            size = self.rng.choice((self.rng.randint(30_000, 900_000), self.rng.randint(2_000_000, 48_000_000)))
            for s in range(seconds):
                layer.send(start + 0.05 + s, True, size // seconds)
            layer.close(start + seconds + 0.1)

    def log_stream(self, task: Task, lo: float, hi: float) -> None:
        """The awslogs driver's one long HTTPS connection: PutLogEvents every ~5 s for the task's life."""
        c = self.to_endpoint(task, LOGS)
        t = c.open(lo) if task.started >= T0 - LEAD else lo + self.rng.uniform(0, 5)
        biggest = 5200 if task.service == "web" else 1400
        while t < hi:
            c.exchange(t, self.rng.randint(380, biggest), self.rng.randint(150, 190), self.rng.uniform(0.004, 0.02))
            t += self.rng.uniform(4.5, 5.5)
        if task.stopping and hi == task.stopping:
            c.close(hi)

    # ---- healthy services

    def web(self, task: Task, lo: float, hi: float) -> None:
        for t in self.ticks(lo, hi, 40):
            self.https(self.to_s3(task), t, self.rng.randint(380, 520),
                       self.rng.choice((self.rng.randint(900, 9000), self.rng.randint(40_000, 420_000))),
                       self.rng.uniform(0.01, 0.08))
        self.web_to_api(task, lo, hi)

    def web_to_api(self, task: Task, lo: float, hi: float) -> None:
        """A pooled HTTP connection to one api task at a time, recycled every 5-10 minutes."""
        t = lo + self.rng.uniform(0, 3)
        while t < hi - 10:
            api = [a for a in self.tasks if a.service == "api" and a.running(t) and a.running(t + 30)]
            target = self.rng.choice(api)
            end = min(t + self.rng.uniform(300, 600), hi, target.stopping or math.inf)
            self.note(task, Dest("ecs_service", "api", "api.prod.internal:8080", None, 8080), target.ip)
            client, server = (task.ip, self.port(task.ip)), (target.ip, 8080)
            c = self.conn(see(task.eni, client, server) + see(target.eni, client, server), 0.0004)
            s = c.open(t, tls=False)
            while s < end:
                c.exchange(s, self.rng.randint(600, 900), self.rng.randint(1500, 9000), self.rng.uniform(0.005, 0.06))
                s += self.rng.uniform(2, 6)
            c.close(end)
            t = end + self.rng.uniform(0.5, 2)

    def api(self, task: Task, lo: float, hi: float) -> None:
        self.sqs_long_poll(task, lo, hi)
        first = lo if task.started >= T0 - LEAD else lo + self.rng.uniform(0, 900)
        for t in [first, *self.ticks(first + 900, hi, 900, 0.05)]:
            self.https(self.to_endpoint(task, SECRETS), t, 940, 1830, 0.012)
        for t in self.ticks(lo, hi, 150):
            c = self.via_nat(task, self.rng.choice(PARTNER_API), PARTNER, self.rng.uniform(0.018, 0.03))
            self.https(c, t, self.rng.randint(1200, 1900), self.rng.randint(700, 1100), self.rng.uniform(0.2, 1.4))

    def sqs_long_poll(self, task: Task, lo: float, hi: float) -> None:
        """ReceiveMessage with WaitTimeSeconds=20 on one kept-alive connection, DeleteMessage after each message."""
        c = self.to_endpoint(task, SQS)
        t = c.open(lo) if task.started >= T0 - LEAD else lo + self.rng.uniform(0, 20)
        while t < hi:
            got = self.rng.random() < 0.35
            wait = self.rng.uniform(0.02, 12) if got else 20 + self.rng.uniform(0, 0.05)
            t = c.exchange(t, 640, self.rng.randint(1900, 4200) if got else 310, wait)
            if got:
                t = c.exchange(t + 0.01, 720, 330, 0.01)
            t += 0.005
        if task.stopping and hi == task.stopping:
            c.close(hi)

    def notifier(self, task: Task, lo: float, hi: float) -> None:
        """Fault 5: SNS Publish goes to SNS's public addresses through the NAT gateway (it works)."""
        dest = Dest("aws_service", None, f"sns.{REGION}.amazonaws.com via NAT gateway {self.net.nat_id}", SNS, 443)
        for t in self.ticks(lo, hi, 30):
            c = self.via_nat(task, self.rng.choice(self.sns_ips), dest, self.rng.uniform(0.0015, 0.003))
            s = c.open(t)
            for _ in range(self.rng.randint(1, 3)):
                s = c.exchange(s, self.rng.randint(1100, 2600), self.rng.randint(420, 480),
                               self.rng.uniform(0.01, 0.04))
                s += self.rng.uniform(0.2, 4)
            c.close(s, by_server=self.rng.random() < 0.3)

    # ---- faulty services: every call is tried 3 times (SDK retries), each try retransmits its SYN

    def failing_calls(self, lo: float, hi: float, period: float, attempt) -> None:
        for t in self.ticks(lo, hi, period):
            for n in range(3):
                attempt(t + n * 10.3)

    def billing(self, task: Task, lo: float, hi: float) -> None:
        """Fault 1: the task's security group rejects tcp/443 to the Secrets Manager endpoint on the way out."""
        def attempt(t):
            eni = self.rng.choice(self.net.endpoints[SECRETS].enis)
            c = self.to_endpoint(task, SECRETS, eni=eni, out="REJECT", arrive=None, reply=None, back=None)
            c.syns(t, (0, 1, 3, 7))
        self.failing_calls(lo, hi, 60, attempt)

    def orders(self, task: Task, lo: float, hi: float) -> None:
        """Fault 2: the SYN leaves the task and the SQS endpoint's security group rejects it."""
        def attempt(t):
            eni = self.rng.choice(self.net.endpoints[SQS].enis)
            self.to_endpoint(task, SQS, eni=eni, arrive="REJECT", reply=None, back=None).syns(t, (0, 1, 3, 7))
        self.failing_calls(lo, hi, 60, attempt)

    def ledger(self, task: Task, lo: float, hi: float) -> None:
        """Fault 3: the endpoint answers, the ledger subnet's network ACL drops the SYN-ACK coming back."""
        def attempt(t):
            eni = self.rng.choice(self.net.endpoints[SECRETS].enis)
            self.to_endpoint(task, SECRETS, eni=eni, back="REJECT").syns(t, (0, 1, 3, 7), answered=True)
        self.failing_calls(lo, hi, 90, attempt)

    def reports(self, task: Task, lo: float, hi: float) -> None:
        """Fault 4: STS has no endpoint and the subnet has no default route: SYNs leave, nothing returns."""
        dest = Dest("aws_service", None, f"sts.{REGION}.amazonaws.com", "sts", 443)

        def attempt(t):
            ip = self.rng.choice(self.sts_ips)
            self.note(task, dest, ip)
            client, server = (task.ip, self.port(task.ip)), (ip, 443)
            self.conn(see(task.eni, client, server, back=None, path="-"), 0.001).syns(t, (0, 1, 3, 7))
        self.failing_calls(lo, hi, 60, attempt)

    # ---- around the services

    def web_targets(self) -> list[tuple[Task, float, float]]:
        """(task, registered, deregistered) for each web task in the ALB target group."""
        out = []
        for task in self.tasks:
            if task.service == "web":
                lo, hi = max(task.started + 8, T0 - LEAD), min(task.stopping or math.inf, T_END + 60)
                if lo < hi:
                    out.append((task, lo, hi))
        return out

    def alb(self) -> None:
        """Health checks (GET /healthz every 30 s from each ALB node) and kept-alive request traffic."""
        for task, lo, hi in self.web_targets():
            for alb in self.net.alb_enis:
                for t in self.ticks(lo, hi, 30, 0.02):
                    client, server = (alb.ip, self.port(alb.ip, 1024, 65535)), (task.ip, 8080)
                    c = self.conn(see(alb, client, server) + see(task.eni, client, server), 0.0005)
                    c.exchange(c.open(t, tls=False), 163, 231, 0.002)
                    c.close(t + 0.004)
                    if self.rng.random() < 0.004:  # a straggler after the close: REJECTed
                        self.conn(see(task.eni, client, server, out="REJECT", back=None), 0.0005).add(
                            t + self.rng.uniform(65, 110), False, 1, 40, RST)
                client, server = (alb.ip, self.port(alb.ip, 1024, 65535)), (task.ip, 8080)
                c = self.conn(see(alb, client, server) + see(task.eni, client, server), 0.0005)
                s = c.open(lo, tls=False) if task.started + 8 >= T0 - LEAD else lo
                while s < hi:
                    c.exchange(s, self.rng.randint(700, 1400), self.rng.randint(1800, 36_000),
                               self.rng.uniform(0.01, 0.2))
                    s += self.rng.uniform(2.5, 7)
                if hi < T_END:
                    c.close(hi)

    def internet_clients(self) -> None:
        """Customers' browsers on the ALB's public side (only the ALB ENIs log these)."""
        for alb in self.net.alb_enis:
            for t in self.ticks(T0 - LEAD, T_END + 60, 15):
                client, server = (self.rng.choice(self.customers), self.rng.randint(1024, 65535)), (alb.ip, 443)
                c = self.conn(see(alb, client, server), self.rng.uniform(0.012, 0.06))
                s = c.open(t)
                for _ in range(self.rng.randint(1, 5)):
                    s = c.exchange(s, self.rng.randint(400, 1300), self.rng.randint(1800, 60_000),
                                   self.rng.uniform(0.02, 0.3))
                c.close(s + self.rng.uniform(0.5, 20))

    def scans(self) -> None:
        """Internet scanners: REJECTed by the ALB's security group, or at the NAT gateway by the public
        network ACL (22, 23, 3389); other ports reach the NAT gateway (ACCEPT) and are dropped silently."""
        for target in (*self.net.alb_enis, self.net.nat_eni):
            for t in self.ticks(T0 - LEAD, T_END + 60, 45):
                port = self.rng.choice(SCANNED_PORTS)
                allowed = target is self.net.nat_eni and port not in NACL_DENIED_PORTS
                client = (self.rng.choice(self.scanners), self.rng.randint(1024, 65535))
                c = self.conn(see(target, client, (target.ip, port), "ACCEPT" if allowed else "REJECT", None), 0.05)
                c.syns(t, (0,) if self.rng.random() < 0.7 else (0, 1.0), size=self.rng.choice((40, 44, 60)))

    def replies_in_next_window(self) -> None:
        """A few connections whose SYN ends one capture window of the task ENI and whose SYN-ACK opens the next."""
        web = next(t for t in self.tasks if t.key == "web-3")
        api = next(t for t in self.tasks if t.key == "api-1")
        for task, minute in ((web, 25), (web, 52), (web, 94), (api, 31), (api, 66), (api, 103)):
            boundary = task.eni.window_start(minute)
            if task is web:
                c = self.to_s3(task)
                c.rtt = 0.03
            else:
                c = self.via_nat(task, PARTNER_API[0], PARTNER, 0.03)
            self.https(c, boundary - 0.01, 450, 5200, 0.05)
            ob = c.obs[0]
            self.late_replies.append({"interface-id": task.eni.id, "service": task.service,
                                      "srcaddr": ob.src[0], "srcport": ob.src[1],
                                      "dstaddr": ob.dst[0], "dstport": ob.dst[1],
                                      "window_boundary": z_time(boundary)})


# --------------------------------------------------------------------------- flow-log records

@dataclass
class Flow:
    obs: Obs
    k: int
    first: int
    last: int
    packets: int = 0
    bytes: int = 0
    flags: int = 0


def aggregate(conns: list[Conn]) -> dict[tuple, list[Flow]]:
    """Per ENI capture window, one record per direction of each 5-tuple (and action), flags OR-ed."""
    flows: dict[tuple, Flow] = {}
    for conn in conns:
        for t, rev, packets, size, flags in conn.bursts:
            second = math.floor(t)
            for ob in conn.obs:
                if ob.rev != rev or not ob.eni.alive(t):
                    continue
                k = ob.eni.window(second)
                key = (ob.eni.id, k, ob.src, ob.dst, ob.action)
                flow = flows.get(key)
                if flow is None:
                    flow = flows[key] = Flow(ob, k, second, second)
                flow.first, flow.last = min(flow.first, second), max(flow.last, second)
                flow.packets += packets
                flow.bytes += size
                flow.flags |= flags
    windows: dict[tuple, list[Flow]] = defaultdict(list)
    for flow in flows.values():
        windows[(flow.obs.eni.id, flow.k)].append(flow)
    return windows


def eni_fields(eni: Eni, vpc_id: str) -> dict:
    return {"account-id": ACCOUNT, "interface-id": eni.id, "vpc-id": vpc_id, "subnet-id": eni.subnet.id,
            "region": REGION, "az-id": eni.subnet.az_id, "instance-id": eni.instance_id or "-"}


def ecs_fields(task: Task) -> dict:
    second = task.containers[1].runtime_id if len(task.containers) > 1 else "-"
    return {"ecs-cluster-name": CLUSTER, "ecs-cluster-arn": CLUSTER_ARN, "ecs-container-instance-id": "-",
            "ecs-service-name": task.service, "ecs-task-id": task.id, "ecs-task-arn": task.arn,
            "ecs-task-definition-arn": task.task_definition_arn, "ecs-container-id": task.containers[0].runtime_id,
            "ecs-second-container-id": second}


def flow_record(flow: Flow, vpc_id: str) -> dict:
    ob = flow.obs
    pkt_src, pkt_dst = ob.pkt_src or ob.src[0], ob.pkt_dst or ob.dst[0]
    rec = eni_fields(ob.eni, vpc_id)
    rec.update({
        "flow-direction": ob.direction, "srcaddr": ob.src[0], "dstaddr": ob.dst[0],
        "srcport": str(ob.src[1]), "dstport": str(ob.dst[1]), "pkt-srcaddr": pkt_src, "pkt-dstaddr": pkt_dst,
        "protocol": "6", "type": "IPv4", "bytes": str(flow.bytes), "packets": str(flow.packets),
        "start": str(flow.first), "end": str(flow.last), "tcp-flags": str(flow.flags), "action": ob.action,
        "traffic-path": ob.path if ob.direction == "egress" else "-",
        "pkt-src-aws-service": aws_service_of(pkt_src), "pkt-dst-aws-service": aws_service_of(pkt_dst),
        "log-status": "OK",
    })
    if ob.eni.task:
        rec.update(ecs_fields(ob.eni.task))
    return rec


def status_record(eni: Eni, k: int, status: str, vpc_id: str, rng: Rand) -> dict:
    start = eni.window_start(k)
    rec = eni_fields(eni, vpc_id)
    rec.update({"start": str(start), "end": str(start + rng.randint(56, 59)), "log-status": status})
    return rec


def build_records(net: Network, enis: list[Eni], windows: dict, rng: Rand, skipdata: list[tuple]) -> list[tuple]:
    """(eni, record) for every record delivered for the window: flows, NODATA and SKIPDATA."""
    out = []
    for eni in enis:
        for k in range(eni.window(T0 - 120), eni.window(T_END) + 1):
            start = eni.window_start(k)
            flows = windows.get((eni.id, k), [])
            if (eni.id, k) in skipdata:
                flows = [f for f in flows if rng.random() < 0.5]
                out.append((eni, status_record(eni, k, "SKIPDATA", net.vpc_id, rng)))
            elif not flows and eni.alive(start) and eni.alive(start + 60):
                out.append((eni, status_record(eni, k, "NODATA", net.vpc_id, rng)))
            out.extend((eni, flow_record(f, net.vpc_id)) for f in flows)
    return [(eni, rec) for eni, rec in out if T0 <= int(rec["end"]) < T_END]


def skipdata_windows(net: Network, tasks: list[Task]) -> list[tuple]:
    """Three capture windows in which AWS skipped some records (an internal capacity constraint)."""
    web3 = next(t for t in tasks if t.key == "web-3")
    picks = ((net.nat_eni, T0 + 72 * 60), (web3.eni, T0 + 47 * 60), (net.endpoints[LOGS].enis[0], T0 + 93 * 60))
    return [(eni.id, eni.window(t)) for eni, t in picks]


def file_slots(records: list[tuple]) -> dict[tuple, list]:
    """(subnet name, 5-minute slot of the record's end) -> records: one flow-log file each."""
    files: dict[tuple, list] = defaultdict(list)
    for eni, rec in records:
        end = int(rec["end"])
        files[(eni.subnet.name, end - end % 300)].append(rec)
    return files


def write_flow_logs(out: Path, net: Network, records: list[tuple], rng: Rand, more: MoreServices) -> dict[str, int]:
    """One gzip text file per flow log per 5 minutes (slot of the records' end), as S3 delivery does.

    The files the first seven services already had draw their name's suffix from ``rng`` in the order
    they always did; files that only the later services brought draw from their own stream."""
    files = file_slots(records)
    subnets, flow_logs = {**net.subnets, **more.subnets}, {**net.flow_logs, **more.flow_logs}
    for stale in sorted(out.glob(f"s3/AWSLogs/**/{ACCOUNT}_vpcflowlogs_*.log.gz")):  # from an earlier seed
        stale.unlink()
    counts = {"default": 0, "custom": 0}
    for (subnet_name, slot), recs in sorted(files.items()):
        subnet = subnets[subnet_name]
        fields, version = FORMATS[subnet.fmt]
        recs.sort(key=lambda r: (int(r["end"]), r["interface-id"], int(r["start"]), r.get("srcaddr", ""),
                                 int(r.get("srcport", 0)), r.get("dstaddr", ""), int(r.get("dstport", 0))))
        lines = [" ".join(fields)] + [" ".join([version] + [r.get(f) or "-" for f in fields[1:]]) for r in recs]
        suffix = (rng if (subnet_name, slot) in more.old_files else more.rng_files).hex(8)
        path = out / flow_log_key(flow_logs[subnet_name], subnet.fmt, slot, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=9, mtime=0))
        counts[subnet.fmt] += len(recs)
    return counts


def flow_log_key(flow_log_id: str, fmt: str, slot: int, suffix: str) -> str:
    t = utc(slot)
    name = f"{ACCOUNT}_vpcflowlogs_{REGION}_{flow_log_id}_{t:%Y%m%dT%H%M}Z_{suffix}.log.gz"
    if fmt == "default":
        return f"s3/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/{t:%Y/%m/%d}/{name}"
    return (f"s3/AWSLogs/aws-account-id={ACCOUNT}/aws-service=vpcflowlogs/aws-region={REGION}/"
            f"year={t:%Y}/month={t:%m}/day={t:%d}/hour={t:%H}/{name}")


# --------------------------------------------------------------------------- metadata: EC2

def tags(name: str) -> list:
    return [{"Key": "Name", "Value": name}]


def eni_json(net: Network, eni: Eni) -> dict:
    owner = {"interface": FARGATE_OWNER, "vpc_endpoint": ENDPOINT_OWNER, "nat_gateway": NAT_OWNER,
             "load_balancer": "amazon-elb"}[eni.kind]
    instance_owner = {"interface": FARGATE_OWNER, "load_balancer": "amazon-elb"}.get(eni.kind, "amazon-aws")
    doc = {}
    association = None
    if eni.public_ip:
        association = {"IpOwnerId": ACCOUNT if eni.kind == "nat_gateway" else "amazon",
                       "PublicDnsName": f"ec2-{eni.public_ip.replace('.', '-')}.{REGION}.compute.amazonaws.com",
                       "PublicIp": eni.public_ip}
        if eni.kind == "nat_gateway":
            association = {"AllocationId": net.nat_allocation, "AssociationId": net.nat_association, **association}
        doc["Association"] = association
    attachment = {"AttachTime": cli_time(int(eni.created) + 1), "AttachmentId": eni.attachment_id,
                  "DeleteOnTermination": False, "DeviceIndex": 1, "NetworkCardIndex": 0,
                  "InstanceOwnerId": instance_owner, "Status": "attached"}
    if eni.instance_id:  # an instance's primary interface: the account's own, deleted with the instance
        attachment = {"AttachTime": cli_time(int(eni.created)), "AttachmentId": eni.attachment_id,
                      "DeleteOnTermination": True, "DeviceIndex": 0, "NetworkCardIndex": 0,
                      "InstanceId": eni.instance_id, "InstanceOwnerId": ACCOUNT, "Status": "attached"}
    doc.update({
        "Attachment": attachment,
        "AvailabilityZone": eni.subnet.az_name,
        "Description": eni.description,
        "Groups": [{"GroupName": g.name, "GroupId": g.id} for g in eni.groups],
        "InterfaceType": eni.kind,
        "Ipv6Addresses": [],
        "MacAddress": eni.mac,
        "NetworkInterfaceId": eni.id,
        "OwnerId": ACCOUNT,
        "PrivateDnsName": private_dns(eni.ip),
        "PrivateIpAddress": eni.ip,
        "PrivateIpAddresses": [{**({"Association": association} if association else {}), "Primary": True,
                                "PrivateDnsName": private_dns(eni.ip), "PrivateIpAddress": eni.ip}],
        **({} if eni.instance_id else {"RequesterId": owner}),
        "RequesterManaged": not eni.instance_id,
        "SourceDestCheck": eni.kind != "nat_gateway",
        "Status": "in-use",
        "SubnetId": eni.subnet.id,
        "TagSet": [],
        "VpcId": net.vpc_id,
    })
    return doc


def describe_network_interfaces(net: Network, tasks: list[Task], more: MoreServices) -> dict:
    enis = net.infra_enis() + more.infra_enis() + [t.eni for t in tasks if t.eni.alive(SNAPSHOT)]
    return {"NetworkInterfaces": [eni_json(net, e) for e in sorted(enis, key=lambda e: e.id)]}


def describe_subnets(net: Network, tasks: list[Task], more: MoreServices) -> dict:
    in_use = defaultdict(int)
    for eni in net.infra_enis() + more.infra_enis() + [t.eni for t in tasks if t.eni.alive(SNAPSHOT)]:
        in_use[eni.subnet.name] += 1
    out = []
    for s in [*net.subnets.values(), *more.subnets.values()]:
        out.append({
            "AvailabilityZone": s.az_name, "AvailabilityZoneId": s.az_id,
            "AvailableIpAddressCount": ipaddress.ip_network(s.cidr).num_addresses - 5 - in_use[s.name],
            "CidrBlock": s.cidr, "DefaultForAz": False,
            "MapPublicIpOnLaunch": False, "State": "available", "SubnetId": s.id, "VpcId": net.vpc_id,
            "OwnerId": ACCOUNT, "AssignIpv6AddressOnCreation": False, "Ipv6CidrBlockAssociationSet": [],
            "Tags": tags(s.name), "SubnetArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{s.id}",
            "EnableDns64": False, "Ipv6Native": False,
            "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
                                              "EnableResourceNameDnsAAAARecord": False},
        })
    return {"Subnets": out}


def describe_vpcs(net: Network, rng: Rand) -> dict:
    return {"Vpcs": [{
        "CidrBlock": VPC_CIDR, "DhcpOptionsId": net.dhcp_id, "State": "available", "VpcId": net.vpc_id,
        "OwnerId": ACCOUNT, "InstanceTenancy": "default",
        "CidrBlockAssociationSet": [{"AssociationId": rng.hexid("vpc-cidr-assoc"), "CidrBlock": VPC_CIDR,
                                     "CidrBlockState": {"State": "associated"}}],
        "IsDefault": False, "Tags": tags("prod"),
    }]}


def describe_route_tables(net: Network, rng: Rand) -> dict:
    local = {"DestinationCidrBlock": VPC_CIDR, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}
    to_s3 = {"DestinationPrefixListId": S3_PREFIX_LIST, "GatewayId": net.s3_gateway_id, "Origin": "CreateRoute",
             "State": "active"}
    to_nat = {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": net.nat_id, "Origin": "CreateRoute",
              "State": "active"}
    routes = {
        "main": [local],
        "public": [local, {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": net.igw_id, "Origin": "CreateRoute",
                           "State": "active"}],
        "private-a": [to_nat, local, to_s3],
        "private-b": [to_nat, local, to_s3],
        "reports": [local, to_s3],  # fault 4: no 0.0.0.0/0 route
    }
    names = {"main": "prod-main", "public": "prod-public", "private-a": "prod-private-a",
             "private-b": "prod-private-b", "reports": "prod-reports-isolated"}
    tables = []
    for key, rtb in net.route_tables.items():
        assocs = [{"Main": True, "RouteTableAssociationId": rng.hexid("rtbassoc"), "RouteTableId": rtb,
                   "AssociationState": {"State": "associated"}}] if key == "main" else []
        # endpoint subnets have no explicit association: they use the main route table
        assocs += [{"Main": False, "RouteTableAssociationId": rng.hexid("rtbassoc"), "RouteTableId": rtb,
                    "SubnetId": s.id, "AssociationState": {"State": "associated"}}
                   for s in net.subnets.values() if s.route_table == key and key != "main"]
        tables.append({"Associations": assocs, "PropagatingVgws": [], "RouteTableId": rtb, "Routes": routes[key],
                       "Tags": tags(names[key]), "VpcId": net.vpc_id, "OwnerId": ACCOUNT})
    return {"RouteTables": tables}


def describe_security_groups(net: Network) -> dict:
    return {"SecurityGroups": [{
        "Description": sg.description, "GroupName": sg.name, "IpPermissions": sg.ingress, "OwnerId": ACCOUNT,
        "GroupId": sg.id, "IpPermissionsEgress": sg.egress, "Tags": [] if sg.key == "default" else tags(sg.name),
        "VpcId": net.vpc_id, "SecurityGroupArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{sg.id}",
    } for sg in net.sgs.values()]}


def acl_entry(number: int, egress: bool, action: str, port_range: tuple | None = None) -> dict:
    entry = {"CidrBlock": "0.0.0.0/0", "Egress": egress}
    if port_range:
        entry["PortRange"] = {"From": port_range[0], "To": port_range[1]}
    entry.update({"Protocol": "6" if port_range else "-1", "RuleAction": action, "RuleNumber": number})
    return entry


def describe_network_acls(net: Network, rng: Rand) -> dict:
    allow_all = [acl_entry(100, True, "allow"), acl_entry(32767, True, "deny")]
    inbound_tail = [acl_entry(100, False, "allow"), acl_entry(32767, False, "deny")]
    entries = {
        "default": allow_all + inbound_tail,
        "public": allow_all + [acl_entry(50 + 10 * i, False, "deny", (p, p)) for i, p in enumerate(NACL_DENIED_PORTS)]
        + inbound_tail,
        "ledger": allow_all + [acl_entry(90, False, "deny", (1024, 65535))] + inbound_tail,  # fault 3
    }
    members = {"default": ("prod-app-a", "prod-app-b", "prod-endpoints-a", "prod-endpoints-b", "prod-reports-a"),
               "public": ("prod-public-a", "prod-public-b"), "ledger": ("prod-ledger-b",)}
    names = {"default": None, "public": "prod-public", "ledger": "prod-ledger-pci"}
    return {"NetworkAcls": [{
        "Associations": [{"NetworkAclAssociationId": rng.hexid("aclassoc"), "NetworkAclId": acl,
                          "SubnetId": net.subnets[s].id} for s in members[key]],
        "Entries": entries[key], "IsDefault": key == "default", "NetworkAclId": acl,
        "Tags": tags(names[key]) if names[key] else [], "VpcId": net.vpc_id, "OwnerId": ACCOUNT,
    } for key, acl in net.nacls.items()]}


def full_access_policy() -> str:
    """The default endpoint policy, as the API returns it (a JSON string)."""
    policy = {"Statement": [{"Action": "*", "Effect": "Allow", "Principal": "*", "Resource": "*"}]}
    return json.dumps(policy, indent=2, separators=(", ", ": "))


def interface_endpoint_json(net: Network, ep: Endpoint, rng: Rand, policy: str) -> dict:
    """One interface endpoint as describe-vpc-endpoints prints it (``rng`` names its private hosted zone)."""
    label = ".".join(reversed(ep.service.split(".")))  # ecr.api -> api.ecr
    base = f"{ep.id}-{ep.dns_suffix}"
    dns = [{"DnsName": f"{base}.{label}.{REGION}.vpce.amazonaws.com", "HostedZoneId": "Z38GZ743OKFT7T"}]
    dns += [{"DnsName": f"{base}-{AZS[az][0]}.{label}.{REGION}.vpce.amazonaws.com",
             "HostedZoneId": "Z38GZ743OKFT7T"} for az in "ab"]
    if ep.private_dns:
        zone = "Z0" + rng.alnum(19, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")  # the private hosted zone
        dns.append({"DnsName": ep.private_dns, "HostedZoneId": zone})
    return {
        "VpcEndpointId": ep.id, "VpcEndpointType": "Interface", "VpcId": net.vpc_id,
        "ServiceName": ep.service_name, "State": "available", "PolicyDocument": policy,
        "RouteTableIds": [], "SubnetIds": [e.subnet.id for e in ep.enis],
        "Groups": [{"GroupId": ep.sg.id, "GroupName": ep.sg.name}], "IpAddressType": "ipv4",
        "DnsOptions": {"DnsRecordIpType": "ipv4"}, "PrivateDnsEnabled": ep.private_dns is not None,
        "RequesterManaged": False, "NetworkInterfaceIds": [e.id for e in ep.enis], "DnsEntries": dns,
        "CreationTimestamp": cli_time(ep.created), "Tags": tags(f"prod-{ep.service.replace('.', '-')}"),
        "OwnerId": ACCOUNT,
    }


def describe_vpc_endpoints(net: Network, rng: Rand) -> dict:
    out = [interface_endpoint_json(net, ep, rng, full_access_policy()) for ep in net.endpoints.values()]
    out.append({
        "VpcEndpointId": net.s3_gateway_id, "VpcEndpointType": "Gateway", "VpcId": net.vpc_id,
        "ServiceName": f"com.amazonaws.{REGION}.s3", "State": "available", "PolicyDocument": full_access_policy(),
        "RouteTableIds": [net.route_tables[k] for k in ("private-a", "private-b", "reports")], "SubnetIds": [],
        "Groups": [], "IpAddressType": "ipv4", "DnsOptions": {"DnsRecordIpType": "ipv4"},
        "PrivateDnsEnabled": False, "RequesterManaged": False, "NetworkInterfaceIds": [], "DnsEntries": [],
        "CreationTimestamp": cli_time(BUILT + 5400), "Tags": tags("prod-s3"), "OwnerId": ACCOUNT,
    })
    return {"VpcEndpoints": out}


def describe_nat_gateways(net: Network) -> dict:
    eni = net.nat_eni
    return {"NatGateways": [{
        "CreateTime": cli_time(eni.created - 40),
        "NatGatewayAddresses": [{"AllocationId": net.nat_allocation, "NetworkInterfaceId": eni.id,
                                 "PrivateIp": eni.ip, "PublicIp": eni.public_ip, "AssociationId": net.nat_association,
                                 "IsPrimary": True, "Status": "succeeded"}],
        "NatGatewayId": net.nat_id, "State": "available", "SubnetId": eni.subnet.id, "VpcId": net.vpc_id,
        "Tags": tags("prod-nat-a"), "ConnectivityType": "public",
    }]}


def flow_log_json(subnet: Subnet, flow_log_id: str, created: float) -> dict:
    hive = subnet.fmt == "custom"
    return {
        "CreationTime": cli_time(created),
        "DeliverLogsStatus": "SUCCESS", "FlowLogId": flow_log_id, "FlowLogStatus": "ACTIVE",
        "ResourceId": subnet.id, "TrafficType": "ALL", "LogDestinationType": "s3",
        "LogDestination": f"arn:aws:s3:::{BUCKET}",
        "LogFormat": " ".join(f"${{{f}}}" for f in FORMATS[subnet.fmt][0]),
        "Tags": tags(f"{subnet.name}-{'v7' if hive else 'default'}"), "MaxAggregationInterval": 60,
        "DestinationOptions": {"FileFormat": "plain-text", "HiveCompatiblePartitions": hive, "PerHourPartition": hive},
    }


def describe_flow_logs(net: Network, rng: Rand) -> dict:
    return {"FlowLogs": [flow_log_json(net.subnets[name], fl, BUILT + 86400 + rng.randint(0, 3600) + rng.random())
                         for name, fl in net.flow_logs.items()]}


def describe_managed_prefix_lists() -> dict:
    return {"PrefixLists": [{
        "PrefixListId": pl, "AddressFamily": "IPv4", "State": "create-complete",
        "PrefixListArn": f"arn:aws:ec2:{REGION}:aws:prefix-list/{pl}",
        "PrefixListName": f"com.amazonaws.{REGION}.{name}",
        "Tags": [], "OwnerId": "AWS",
    } for pl, name in ((S3_PREFIX_LIST, "s3"), (DYNAMODB_PREFIX_LIST, "dynamodb"))]}


def prefix_list_entries() -> dict:
    return {"Entries": [{"Cidr": cidr} for cidr in sorted(S3_RANGES)]}


def ip_ranges() -> dict:
    def entries(ranges, key):
        aws = [(p, r, "AMAZON") for p, r, s in ranges]
        specific = [(p, r, s) for p, r, s in ranges if s != "AMAZON"]
        return [{key: p, "region": r, "service": s, "network_border_group": r} for p, r, s in aws + specific]
    return {"syncToken": "1795733584", "createDate": "2026-11-26-21-33-04",
            "prefixes": entries(IP_RANGES, "ip_prefix"), "ipv6_prefixes": entries(IPV6_RANGES, "ipv6_prefix")}


# --------------------------------------------------------------------------- metadata: ECS

def task_json(task: Task, at: float, when, attachment_type: str) -> dict:
    """The ECS Task object as of ``at`` (RUNNING, PENDING or STOPPED), times printed by ``when``."""
    stopped = task.stopped is not None and at >= task.stopped
    status = "STOPPED" if stopped else ("RUNNING" if at >= task.started else "PENDING")
    _, cpu, memory, _, _ = ALL_SERVICES[task.service]
    why = STOPS[task.stop_why] if stopped else None
    failed = task.stop_why == "secrets"  # stopped before any container ran: no pull, no digest, no exit code
    containers = []
    for c in task.containers:
        cj = {"containerArn": c.arn, "taskArn": task.arn, "name": c.name, "image": c.image}
        if status != "PENDING" and not failed:
            cj.update({"imageDigest": c.digest, "runtimeId": c.runtime_id})
        cj["lastStatus"] = status
        if stopped and not failed:
            cj["exitCode"] = why[2]
            if why[3] and c is task.containers[0]:
                cj["reason"] = why[3]
        cj.update({"networkBindings": [], "networkInterfaces": [{"attachmentId": task.attachment_id,
                                                                 "privateIpv4Address": task.ip}],
                   "healthStatus": "UNKNOWN", "cpu": "0"})
        containers.append(cj)
    details = [("subnetId", task.subnet.id), ("networkInterfaceId", task.eni.id), ("macAddress", task.eni.mac),
               ("privateDnsName", private_dns(task.ip)), ("privateIPv4Address", task.ip)]
    doc = {
        "attachments": [{"id": task.attachment_id, "type": attachment_type,
                         "status": "DELETED" if stopped else "ATTACHED",
                         "details": [{"name": n, "value": v} for n, v in details]}],
        "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
        "availabilityZone": task.subnet.az_name, "capacityProviderName": "FARGATE", "clusterArn": CLUSTER_ARN,
        "connectivity": "CONNECTED", "connectivityAt": when(task.created + 2.1), "containers": containers,
        "cpu": cpu, "createdAt": when(task.created), "desiredStatus": "STOPPED" if stopped else "RUNNING",
        "enableExecuteCommand": False, "ephemeralStorage": {"sizeInGiB": 20},
    }
    if stopped:
        doc["executionStoppedAt"] = when(task.execution_stopped)
    doc.update({"group": f"service:{task.service}", "healthStatus": "UNKNOWN", "lastStatus": status,
                "launchType": "FARGATE", "memory": memory,
                "overrides": {"containerOverrides": [{"name": c.name} for c in task.containers],
                              "inferenceAcceleratorOverrides": []},
                "platformVersion": "1.4.0", "platformFamily": "Linux"})
    if not failed:
        doc["pullStartedAt"] = when(task.pull_started)
    if status != "PENDING" and not failed:
        doc.update({"pullStoppedAt": when(task.pull_stopped), "startedAt": when(task.started)})
    doc["startedBy"] = task.started_by
    if stopped:
        reason = failed_start_reason(task) if failed else why[1].format(deployment=task.started_by)
        doc.update({"stopCode": why[0], "stoppedAt": when(task.stopped),
                    "stoppedReason": reason, "stoppingAt": when(task.stopping)})
    doc.update({"tags": [], "taskArn": task.arn, "taskDefinitionArn": task.task_definition_arn,
                "version": {"PENDING": 2, "RUNNING": 3, "STOPPED": 6}[status]})
    return doc


def describe_tasks(tasks: list[Task]) -> dict:
    """Tasks that were running at 11:05, or stopped less than an hour before (ECS keeps those)."""
    shown = [t for t in tasks if t.created <= SNAPSHOT and (t.stopped is None or t.stopped > SNAPSHOT - 3600)]
    return {"tasks": [task_json(t, SNAPSHOT, cli_time, "ElasticNetworkInterface") for t in shown], "failures": []}


def task_events(tasks: list[Task], rng: Rand) -> list[dict]:
    """EventBridge "ECS Task State Change" events: PENDING, RUNNING and (if it stopped) STOPPED for every task."""
    moments = [(t.pull_started + 0.4, t) for t in tasks] + [(t.started + 0.6, t) for t in tasks]
    moments += [(t.stopped + 0.3, t) for t in tasks if t.stopped]
    moments.sort(key=lambda m: m[0])
    events = []
    for at, task in moments:
        if at > SNAPSHOT:
            continue
        detail = task_json(task, at, event_time, "eni")
        detail["updatedAt"] = event_time(at)
        events.append({"version": "0", "id": rng.uuid4(), "detail-type": "ECS Task State Change", "source": "aws.ecs",
                       "account": ACCOUNT, "time": z_time(at), "region": REGION, "resources": [task.arn],
                       "detail": detail})
    return events


def service_events(service: str, tasks: list[Task], net: Network, rng: Rand) -> list[dict]:
    """The newest-first service event messages ECS keeps (a few per service)."""
    target_group = f"(target-group {net.target_group_arn})"
    lines = []
    for t in tasks:
        if t.created > SNAPSHOT - 4 * 3600:
            lines.append((t.created + 0.5, f"(service {service}) has started 1 tasks: (task {t.id})."))
            if service == "web":
                lines.append((t.started + 9, f"(service {service}) registered 1 targets in {target_group}"))
        if t.stopping:
            if t.stop_why == "health":
                lines.append((t.stopping - 0.4, f"(service {service}) (task {t.id}) failed container health checks."))
            if service == "web":
                lines.append((t.stopping + 0.2, f"(service {service}) has begun draining connections on 1 tasks."))
                lines.append((t.stopping + 0.3, f"(service {service}) deregistered 1 targets in {target_group}"))
            lines.append((t.stopping + 0.5, f"(service {service}) has stopped 1 running tasks: (task {t.id})."))
    steady = max([t.started for t in tasks] + [t.stopped or 0 for t in tasks]) + 62
    lines.append((min(steady, SNAPSHOT - 30), f"(service {service}) has reached a steady state."))
    lines.sort(key=lambda line: line[0], reverse=True)
    return [{"id": rng.uuid4(), "createdAt": cli_time(at), "message": msg} for at, msg in lines[:8]]


def describe_services(net: Network, tasks: list[Task], rng: Rand, services: dict = SERVICES,
                      subnets: dict | None = None) -> dict:
    out = []
    subnets = subnets or net.subnets
    for name, (revision, _, _, containers, subnet_names) in services.items():
        mine = [t for t in tasks if t.service == name]
        running = sum(1 for t in mine if t.running(SNAPSHOT))
        created = min(t.created for t in mine) - 86400 * rng.randint(20, 300)
        network = {"awsvpcConfiguration": {"subnets": [subnets[s].id for s in subnet_names],
                                           "securityGroups": [net.sgs[name].id], "assignPublicIp": "DISABLED"}}
        deployment_id = next(t.started_by for t in mine if t.revision == revision).split("/")[1]
        deployed = max(t.created for t in mine if t.revision == revision) - 0.5
        task_def = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{name}:{revision}"
        service = {
            "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{name}", "serviceName": name,
            "clusterArn": CLUSTER_ARN,
            "loadBalancers": [{"targetGroupArn": net.target_group_arn, "containerName": "nginx", "containerPort": 8080}]
            if name == "web" else [],
            "serviceRegistries": [], "status": "ACTIVE", "desiredCount": running, "runningCount": running,
            "pendingCount": 0, "launchType": "FARGATE", "platformVersion": "LATEST", "platformFamily": "Linux",
            "taskDefinition": task_def,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": name not in NO_CIRCUIT_BREAKER,
                                                                     "rollback": name not in NO_CIRCUIT_BREAKER},
                                        "maximumPercent": 200, "minimumHealthyPercent": 100},
            "deployments": [{
                "id": f"ecs-svc/{deployment_id}", "status": "PRIMARY", "taskDefinition": task_def,
                "desiredCount": running, "pendingCount": 0, "runningCount": running, "failedTasks": 0,
                "createdAt": cli_time(deployed), "updatedAt": cli_time(deployed + 640), "launchType": "FARGATE",
                "platformVersion": "1.4.0", "platformFamily": "Linux", "networkConfiguration": network,
                "rolloutState": "COMPLETED", "rolloutStateReason": f"ECS deployment ecs-svc/{deployment_id} completed.",
            }],
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
            "events": service_events(name, mine, net, rng), "createdAt": cli_time(created),
            "placementConstraints": [], "placementStrategy": [], "networkConfiguration": network,
        }
        if name == "web":
            service["healthCheckGracePeriodSeconds"] = 60
        service.update({"schedulingStrategy": "REPLICA", "deploymentController": {"type": "ECS"},
                        "createdBy": f"arn:aws:iam::{ACCOUNT}:role/platform-deployer",
                        "enableECSManagedTags": True, "propagateTags": "NONE", "enableExecuteCommand": False})
        out.append(service)
    return {"services": out, "failures": []}


# --------------------------------------------------------------------------- ground truth

def match(where: str, **fields) -> dict:
    """A record pattern: each field (``_`` for ``-``) equals the value, or is one of the values of a list."""
    return {"where": where, "match": {k.replace("_", "-"): v for k, v in fields.items()}}


def dest_json(dest: Dest, addresses) -> dict:
    return {"type": dest.type, "id": dest.id, "name": dest.name, "aws_service": dest.aws_service,
            "region": REGION if dest.aws_service else None, "addresses": sorted(addresses),
            "port": dest.port, "protocol": 6}


class GroundTruth:
    """faults.json: what a correct diagnosis of this sample says, and what it must not say."""

    def __init__(self, net: Network, tasks: list[Task], traffic: Traffic):
        self.net, self.tasks, self.traffic = net, tasks, traffic

    def active(self, service: str) -> list[Task]:
        """The service's tasks that ran during the window."""
        return [t for t in self.tasks if t.service == service and Traffic.span(t)]

    def enis(self, service: str) -> list[str]:
        return [t.eni.id for t in self.active(service)]

    def ips(self, service: str) -> list[str]:
        return [t.ip for t in self.active(service)]

    def dest(self, service: str, aws_service: str) -> Dest:
        return next(d for s, d in self.traffic.used if s == service and d.aws_service == aws_service)

    def addresses(self, service: str, aws_service: str) -> list[str]:
        return sorted(self.traffic.used[(service, self.dest(service, aws_service))])

    def endpoint_enis(self, service: str) -> list[str]:
        return [e.id for e in self.net.endpoints[service].enis]

    def fault(self, fid: str, service: str, aws_service: str, verdict: tuple, resource: dict, expected: list,
              absent: list, story: str) -> dict:
        kind, state, observed_at, cause = verdict
        mine = self.active(service)
        dest = self.dest(service, aws_service)
        return {
            "id": fid, "service": service, "story": story,
            "task_ids": [t.id for t in mine], "task_arns": [t.arn for t in mine],
            "source": {"interface_ids": self.enis(service), "addresses": self.ips(service)},
            "destination": dest_json(dest, self.traffic.used[(service, dest)]),
            "expected": {"kind": kind, "state": state, "observed_at": observed_at, "top_cause": cause,
                         "resource": resource},
            "expected_records": expected, "absent_records": absent,
        }

    def billing(self) -> dict:
        sg = self.net.sgs
        endpoint = self.addresses("billing", SECRETS)
        return self.fault(
            "F1", "billing", SECRETS, ("reject", "blocked", "source_egress", "security_group_egress"),
            {"type": "security_group", "id": sg["billing"].id,
             "detail": f"egress allows tcp/443 only to {sg['vpce-ecr'].id}, {sg['vpce-logs'].id} and "
                       f"{S3_PREFIX_LIST}; none covers the Secrets Manager endpoint ({sg['vpce-secretsmanager'].id})"},
            [match("billing task ENI (custom format)", interface_id=self.enis("billing"), srcaddr=self.ips("billing"),
                   dstaddr=endpoint, dstport="443", action="REJECT", flow_direction="egress", tcp_flags=["2"])],
            [match("nothing from billing reaches the endpoint ENIs", interface_id=self.endpoint_enis(SECRETS),
                   srcaddr=self.ips("billing"))],
            "The 08:41 billing deploy came with a tightened security group that forgot Secrets Manager.")

    def orders(self) -> dict:
        sg = self.net.sgs
        endpoint, orders = self.addresses("orders", SQS), self.ips("orders")
        return self.fault(
            "F2", "orders", SQS, ("reject", "blocked", "destination_ingress", "security_group_ingress_destination"),
            {"type": "security_group", "id": sg["vpce-sqs"].id,
             "detail": f"ingress tcp/443 only from {sg['api'].id} (api); not from {sg['orders'].id} (orders)"},
            [match("orders task ENI (custom format)", interface_id=self.enis("orders"), srcaddr=orders,
                   dstaddr=endpoint, dstport="443", action="ACCEPT", flow_direction="egress", tcp_flags=["2"]),
             match("SQS endpoint ENI (default format)", interface_id=self.endpoint_enis(SQS), srcaddr=orders,
                   dstaddr=endpoint, dstport="443", action="REJECT")],
            [match("no reply to orders anywhere", srcaddr=endpoint, dstaddr=orders)],
            "The SQS endpoint's security group was narrowed to api's security group; orders was forgotten.")

    def ledger(self) -> dict:
        endpoint, ledger = self.addresses("ledger", SECRETS), self.ips("ledger")
        at_endpoint = self.endpoint_enis(SECRETS)
        return self.fault(
            "F3", "ledger", SECRETS, ("reject", "blocked", "source_ingress_return", "network_acl_return"),
            {"type": "network_acl", "id": self.net.nacls["ledger"], "rule_number": 90,
             "detail": "inbound rule 90 denies tcp 1024-65535 from 0.0.0.0/0 before rule 100 allows all"},
            [match("ledger task ENI, request out", interface_id=self.enis("ledger"), srcaddr=ledger, dstaddr=endpoint,
                   dstport="443", action="ACCEPT"),
             match("endpoint ENI, request in", interface_id=at_endpoint, srcaddr=ledger, dstaddr=endpoint,
                   dstport="443", action="ACCEPT"),
             match("endpoint ENI, reply out", interface_id=at_endpoint, srcaddr=endpoint, dstaddr=ledger,
                   srcport="443", action="ACCEPT"),
             match("ledger task ENI, reply dropped", interface_id=self.enis("ledger"), srcaddr=endpoint,
                   dstaddr=ledger, srcport="443", action="REJECT")],
            [match("no reply accepted at the ledger ENIs", interface_id=self.enis("ledger"), srcaddr=endpoint,
                   action="ACCEPT")],
            "A PCI hardening change put rule 90 in front of the ledger subnet's allow-all.")

    def reports(self) -> dict:
        sts = self.addresses("reports", "sts")
        return self.fault(
            "F4", "reports", "sts", ("no_return", "no_reply", "source_egress", "route_missing"),
            {"type": "route_table", "id": self.net.route_tables["reports"],
             "detail": f"routes: {VPC_CIDR} local and {S3_PREFIX_LIST} via {self.net.s3_gateway_id}; "
                       "no 0.0.0.0/0, no public IP, and no STS interface endpoint"},
            [match("reports task ENI (default format)", interface_id=self.enis("reports"),
                   srcaddr=self.ips("reports"), dstaddr=sts, dstport="443", action="ACCEPT")],
            [match("nothing comes back from STS", srcaddr=sts),
             match("nothing reaches the NAT gateway", interface_id=[self.net.nat_eni.id], srcaddr=self.ips("reports"))],
            "reports moved to an isolated subnet; its calls to the public STS endpoint never leave the VPC.")

    def notifier(self) -> dict:
        sns, notifier, nat = self.addresses("notifier", SNS), self.ips("notifier"), self.net.nat_eni
        endpoint = self.net.endpoints[SNS]
        return self.fault(
            "F5", "notifier", SNS,
            ("endpoint_bypassed", "established", "source_egress", "endpoint_private_dns_disabled"),
            {"type": "vpc_endpoint", "id": endpoint.id,
             "detail": f"{endpoint.service_name} exists with PrivateDnsEnabled=false, so "
                       f"sns.{REGION}.amazonaws.com resolves to public addresses"},
            [match("notifier task ENI, request (custom format)", interface_id=self.enis("notifier"), srcaddr=notifier,
                   dstaddr=sns, dstport="443", action="ACCEPT", flow_direction="egress",
                   pkt_dst_aws_service="AMAZON", traffic_path="1"),
             match("notifier task ENI, SYN-ACK back", interface_id=self.enis("notifier"), srcaddr=sns,
                   dstaddr=notifier, srcport="443", action="ACCEPT", flow_direction="ingress", tcp_flags=["18", "19"]),
             match("NAT ENI, private leg", interface_id=[nat.id], srcaddr=notifier, dstaddr=[nat.ip],
                   dstport="443", action="ACCEPT"),
             match("NAT ENI, public leg out", interface_id=[nat.id], srcaddr=[nat.ip], dstaddr=sns,
                   dstport="443", action="ACCEPT"),
             match("NAT ENI, public leg back", interface_id=[nat.id], srcaddr=sns, dstaddr=[nat.ip],
                   srcport="443", action="ACCEPT")],
            [match("the SNS endpoint ENIs carry no traffic", interface_id=self.endpoint_enis(SNS), log_status="OK")],
            "notifier's SNS endpoint was created without private DNS; Publish works, through the NAT gateway.")

    def document(self, counts: dict) -> dict:
        faults = [self.billing(), self.orders(), self.ledger(), self.reports(), self.notifier()]
        faulty = {(f["service"], f["destination"]["name"]) for f in faults}
        healthy = sorted(({"service": s, "destination": dest_json(d, addrs)}
                          for (s, d), addrs in self.traffic.used.items() if (s, d.name) not in faulty),
                         key=lambda h: (h["service"], h["destination"]["name"]))
        return {
            "account_id": ACCOUNT, "region": REGION, "cluster": CLUSTER,
            "window": {"start": z_time(T0), "end": z_time(T_END)}, "metadata_snapshot_at": z_time(SNAPSHOT),
            "flow_logs": {fmt: [self.net.flow_logs[s.name] for s in self.net.subnets.values() if s.fmt == fmt]
                          for fmt in ("default", "custom")},
            "record_counts": counts,
            "faults": faults,
            "healthy": healthy,
            "ip_reuse": ip_reuse(self.tasks),
            "reply_in_next_window": self.traffic.late_replies,
        }


def ip_reuse(tasks: list[Task]) -> list[dict]:
    def side(t: Task) -> dict:
        return {"service": t.service, "task_id": t.id, "task_arn": t.arn, "interface_id": t.eni.id,
                "from": z_time(t.started), "to": z_time(t.stopped) if t.stopped else None}
    cases = []
    for later in tasks:
        earlier = [t for t in tasks if t is not later and t.ip == later.ip and t.stopped and t.stopped < later.created]
        cases += [{"ip": later.ip, "earlier": side(e), "later": side(later)} for e in earlier]
    return cases


# --------------------------------------------------------------------------- six more services

# The same morning, six more services of cluster prod. Their faults do not show as a REJECT in
# the flow logs (or not only): a task role without an action, a VPC endpoint policy, an execution
# role that cannot read its secret, a private hosted zone that shadows a name, a proxy, a reset.
# Everything below draws from its own random streams (Rand(seed * 1000 + n)), so the first seven
# services, their records and the files they were in keep every value they had.

NEW_SUBNETS = (
    ("prod-data-a", "10.20.64.0/24", "a", "default", "private-a"),
    ("prod-data-b", "10.20.65.0/24", "b", "custom", "private-b"),
)
NEW_TASK_PLAN = (  # key, service, subnet, created (27 Nov, UTC)
    ("payouts-1", "payouts", "prod-app-b", "06:55:10"),
    ("payouts-2", "payouts", "prod-app-a", "06:55:13"),
    ("inventory-1", "inventory", "prod-app-a", "07:12:40"),
    ("inventory-2", "inventory", "prod-app-b", "07:12:44"),
    ("indexer-1", "indexer", "prod-data-a", "07:40:11"),
    ("indexer-2", "indexer", "prod-data-b", "07:40:15"),
    ("tracker-1", "tracker", "prod-app-a", "08:05:21"),
    ("mailer-1", "mailer", "prod-app-b", "08:58:30"),
    ("tracker-2", "tracker", "prod-app-b", "09:47:02"),
)
EXPORTER_FIRST, EXPORTER_TASKS = "09:01:12", 20  # the 08:59 deployment's tasks, one every 5-6.5 minutes
KMS, SSM = "kms", "ssm"
PROXY_PORT, SEARCH_PORT = 3128, 9200
TRAIL = "prod-trail"
WEB_BUCKET, SEARCH_BUCKET, INVENTORY_BUCKET = "acme-prod-web-assets", "acme-prod-search-corpus", "acme-prod-inventory"
LAYER_BUCKET = f"prod-{REGION}-starport-layer-bucket"  # where ECR keeps image layers (AWS-owned)
S3_CNAME = f"s3-r-w.{REGION}.amazonaws.com"
API_ID, PRIVATE_API_ID = "k7f2x9q4ma", "p3n8d1w6zt"
TRACKER_API = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
SHADOW_ZONE = f"execute-api.{REGION}.amazonaws.com"
INTERNAL_ZONE = "prod.internal"
SEARCH_NAME, SEARCH_HOST = f"search.{INTERNAL_ZONE}", f"search-legacy-1.{INTERNAL_ZONE}"
PARTNER_NAME, PARTNER_CNAME = "api.payments-partner.example", "api.payments-partner.example.cdn.cloudflare.net"
INVENTORY_PARAMETER = "/prod/inventory/config"
EXPORTER_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/exporter/grafana-cloud-token-Q7fK2m"
EXPORTER_OLD_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/exporter/datadog-api-key-*"
OFFICE_IP = "81.2.69.160"  # the engineer who collected the metadata at 11:05
EXEC_ROLE = "ecsTaskExecutionRole"
TTL = {"endpoint": 60, "aws": 60, "s3": 5, "partner": 300, "internal": 300, "negative": 60}
AGENT_UA = "aws-sdk-go/1.55.5 (go1.22.8; linux; amd64) exec-env/AWS_ECS_FARGATE"
APP_UA = {
    "api": "aws-sdk-java/2.29.6 Linux/5.10.226-214.880.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/21.0.5+11-LTS Java/21.0.5 "
           "vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/legacy",
    "payouts": "Boto3/1.35.54 md/Botocore#1.35.54 ua/2.0 os/linux#5.10.226-214.880.amzn2.x86_64 md/arch#x86_64 "
               "lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_ECS_FARGATE cfg/retry-mode#legacy Botocore/1.35.54",
    "inventory": "aws-sdk-go-v2/1.32.3 ua/2.1 os/linux lang/go#1.23.2 md/GOOS#linux md/GOARCH#amd64 api/ssm#1.55.3 "
                 "exec-env/AWS_ECS_FARGATE m/E",
}
CLI_UA = ("aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-49-generic md/arch#x86_64 lang/python#3.12.6 "
          "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.24 md/prompt#off md/command#{}")


def failed_start_reason(task: Task) -> str:
    """The stoppedReason of an exporter task: its execution role may not read the secret (iam_dns.md 3.2)."""
    return ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
            "failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch "
            f"secret {EXPORTER_SECRET} from secrets manager: AccessDeniedException: User: "
            f"arn:aws:sts::{ACCOUNT}:assumed-role/exporter-execution-role/{task.id} is not authorized to perform: "
            f"secretsmanager:GetSecretValue on resource: {EXPORTER_SECRET} because no identity-based policy allows "
            f"the secretsmanager:GetSecretValue action status code: 400, request id: {task.failure_request_id}")


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def task_role(service: str) -> str:
    return f"{service}-task-role"


def execution_role(service: str) -> str:
    return "exporter-execution-role" if service == "exporter" else EXEC_ROLE


def client_of(conn: Conn) -> tuple | None:
    """(task, server address, server port, first packet time) of a connection a task opened, else None."""
    for ob in conn.obs:
        if ob.eni.task and not ob.rev and ob.direction == "egress" and ob.eni.ip == ob.src[0] and conn.bursts:
            return ob.eni.task, ob.dst[0], ob.dst[1], conn.bursts[0][0]
    return None


def gz_json_lines(lines: list[str]) -> bytes:
    return gzip.compress(("".join(line + "\n" for line in lines)).encode(), compresslevel=9, mtime=0)


class MoreServices:
    """inventory, payouts, exporter, tracker, mailer and indexer: their network, tasks and traffic,
    and the evidence only they need (CloudTrail, Resolver query logs, IAM and DNS metadata)."""

    def __init__(self, net: Network, tasks: list[Task], traffic: Traffic, seed: int):
        self.net, self.old_tasks, self.old_traffic = net, tasks, traffic
        streams = [Rand(seed * 1000 + n) for n in range(1, 11)]
        (self.rng, self.rng_tasks, self.rng_traffic, self.rng_records, self.rng_files, self.rng_meta,
         self.rng_trail, self.rng_dns, self.rng_events, self.rng_services) = streams
        rng = self.rng
        self.subnets = {
            name: Subnet(name, cidr, az, fmt, rtb, rng.hexid("subnet"),
                         [str(h) for h in list(ipaddress.ip_network(cidr).hosts())[3:]])
            for name, cidr, az, fmt, rtb in NEW_SUBNETS
        }
        self.flow_logs = {name: rng.hexid("fl") for name in self.subnets}
        self.sgs = self._security_groups()
        net.sgs.update(self.sgs)  # describe-security-groups lists them after the first fourteen
        vpce = rng.hexid("vpce")
        kms_enis = [self._eni(f"prod-endpoints-{az}", "vpc_endpoint", f"VPC Endpoint Interface {vpce}",
                              [self.sgs["vpce-kms"]]) for az in "ab"]
        self.endpoints = {KMS: Endpoint(KMS, vpce, self.sgs["vpce-kms"], f"kms.{REGION}.amazonaws.com",
                                        rng.alnum(8), kms_enis, hhmmss("08:12:33") - 86400)}
        self.proxy_eni = self._eni("prod-app-a", "interface", "", [self.sgs["proxy"]], instance=True)
        self.search_eni = self._eni("prod-data-a", "interface", "", [self.sgs["search"]], instance=True)
        self.kms_keys = {"payouts": rng.uuid4(), "ledger": rng.uuid4()}
        self.tasks = self._tasks()
        self.traffic = MoreTraffic(self).build()
        self.old_files: set = set()

    # ---- network

    def _security_groups(self) -> dict[str, SecurityGroup]:
        plan = [(s, f"prod-{s}-tasks", f"{s} service tasks") for s in NEW_SERVICES] + [
            ("proxy", "prod-egress-proxy", "Squid forward proxy, tcp/3128, for the legacy batch hosts"),
            ("legacy-batch", "prod-legacy-batch", "legacy batch hosts (allowed through the egress proxy)"),
            ("search", "prod-search-legacy", "legacy Elasticsearch host"),
            ("vpce-kms", "prod-vpce-kms", "KMS interface endpoint"),
        ]
        sgs = {key: SecurityGroup(key, self.rng.hexid("sg"), name, desc) for key, name, desc in plan}
        everything_out = [permission(None, cidr="0.0.0.0/0")]
        rules = {
            "proxy": [permission(PROXY_PORT, group=sgs["legacy-batch"], description="legacy batch hosts")],
            "search": [permission(SEARCH_PORT, group=sgs["indexer"], description="from indexer")],
            "vpce-kms": [permission(443, cidr=VPC_CIDR, description="HTTPS from the VPC")],
        }
        for sg in sgs.values():
            sg.ingress, sg.egress = rules.get(sg.key, []), everything_out
        return sgs

    def _eni(self, subnet: str, kind: str, description: str, groups: list, instance: bool = False) -> Eni:
        sub = {**self.net.subnets, **self.subnets}[subnet]
        rng = self.rng
        eni = Eni(rng.hexid("eni"), sub.take_ip(rng), sub, kind, description, groups,
                  BUILT + rng.randint(40 * 86400, 300 * 86400), None, rng.randrange(60), rng.mac(),
                  rng.hexid("eni-attach"))
        if instance:
            eni.instance_id = rng.hexid("i")
        return eni

    def infra_enis(self) -> list[Eni]:
        return [*self.endpoints[KMS].enis, self.proxy_eni, self.search_eni]

    # ---- tasks

    def _tasks(self) -> list[Task]:
        rng = self.rng_tasks
        deployments = {name: str(rng.randrange(10**18, 10**19)) for name in NEW_SERVICES}
        subnets = {**self.net.subnets, **self.subnets}
        plan = [(key, service, subnet, hhmmss(created), None) for key, service, subnet, created in NEW_TASK_PLAN]
        t = hhmmss(EXPORTER_FIRST)
        for n in range(EXPORTER_TASKS):
            plan.append((f"exporter-{n + 1}", "exporter", ("prod-app-a", "prod-app-b")[n % 2], t, "secrets"))
            t += rng.uniform(300, 360)
        tasks = []
        for key, service, subnet, created, why in plan:
            task = new_task(rng, subnets[subnet], key, service, created, None, why, deployments)
            if why == "secrets":  # PENDING, the agent fails to fetch the secret, STOPPED: never RUNNING
                task.started = math.inf
                task.stopping = task.pull_started + rng.uniform(4, 6)
                task.execution_stopped = task.stopping + rng.uniform(1, 3)
                task.stopped = task.execution_stopped + rng.uniform(15, 25)
                task.stop_why = why
            task.eni = Eni(rng.hexid("eni"), task.subnet.take_ip(rng), task.subnet, "interface",
                           f"arn:aws:ecs:{REGION}:{ACCOUNT}:attachment/{task.attachment_id}", [self.net.sgs[service]],
                           task.created + rng.uniform(3, 6),
                           task.stopped + rng.uniform(5, 15) if task.stopped else None,
                           rng.randrange(60), rng.mac(), rng.hexid("eni-attach"), task=task)
            tasks.append(task)
        return tasks

    def service_tasks(self, service: str) -> list[Task]:
        return [t for t in self.tasks if t.service == service]

    # ---- flow-log records

    def merge_records(self, records: list[tuple], skipdata: list[tuple]) -> list[tuple]:
        """The first services' records, plus the new flows: on their own ENIs (with NODATA when idle) and on
        the ENIs they share (endpoints, the NAT gateway), where a window they use is no longer NODATA."""
        self.old_files = set(file_slots(records))
        windows = aggregate(self.traffic.conns)
        old_enis = {e.id for e, _ in records}
        touched = {key for key in windows if key[0] in old_enis}
        kept = [(eni, rec) for eni, rec in records
                if not (rec["log-status"] == "NODATA" and (eni.id, eni.window(int(rec["start"]))) in touched)]
        shared = {e.id: e for e, _ in records}
        added = []
        for (eni_id, k), flows in sorted(windows.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            if eni_id not in shared:
                continue
            if (eni_id, k) in skipdata:  # records lost: both directions of a conversation together
                lost = {}
                flows = [f for f in flows
                         if not lost.setdefault(tuple(sorted((f.obs.src, f.obs.dst))), self.rng_records.random() < 0.5)]
            added += [(shared[eni_id], flow_record(f, self.net.vpc_id)) for f in flows]
        own = self.infra_enis() + [t.eni for t in self.tasks]
        added += build_records(self.net, own, windows, self.rng_records, [])
        return kept + [(eni, rec) for eni, rec in added if T0 <= int(rec["end"]) < T_END]

    # ---- Route 53 Resolver query logs

    def names(self) -> dict[str, tuple]:
        """address -> (kind, name) for every destination a task looks up by name."""
        out = {}
        for service, ep in {**self.net.endpoints, **self.endpoints}.items():
            if ep.private_dns:
                name = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com" if service == "ecr.dkr" else ep.private_dns
                out.update({e.ip: ("endpoint", name) for e in ep.enis})
        t = self.traffic
        out.update({ip: ("aws", f"sns.{REGION}.amazonaws.com") for ip in t.sns_ips})
        out.update({ip: ("aws", f"sts.{REGION}.amazonaws.com") for ip in t.sts_ips})
        out.update({ip: ("aws", f"ssm.{REGION}.amazonaws.com") for ip in t.ssm_ips})
        out.update({ip: ("partner", PARTNER_NAME) for ip in PARTNER_API})
        out.update({ip: ("s3", None) for ip in t.s3_ips})
        out[self.search_eni.ip] = ("internal", SEARCH_NAME)
        return out

    def bucket(self, task: Task, t: float) -> str:
        if task.pull_started - 1 <= t <= task.pull_stopped + 10:
            return LAYER_BUCKET
        return {"web": WEB_BUCKET, "indexer": SEARCH_BUCKET, "inventory": INVENTORY_BUCKET}[task.service]

    def lookups(self) -> list[tuple]:
        """(task, name, kind, [(time, address)]): what each task connected to by name, in time order."""
        names = self.names()
        wanted: dict[tuple, list] = defaultdict(list)
        for conn in self.old_traffic.conns + self.traffic.conns:
            client = client_of(conn)
            if not client or client[1] not in names:
                continue
            task, ip, _, t = client
            kind, name = names[ip]
            if kind == "s3":
                name = f"{self.bucket(task, t)}.s3.{REGION}.amazonaws.com"
            wanted[(task.arn, name, kind)].append((t, ip, task))
        out = []
        for (_, name, kind), uses in wanted.items():
            uses.sort(key=lambda u: u[0])
            out.append((uses[0][2], name, kind, [(t, ip) for t, ip, _ in uses]))
        return out

    def answers(self, name: str, kind: str, pool: list[str]) -> list[dict]:
        a = [{"Rdata": ip, "Type": "A", "Class": "IN"} for ip in pool]
        cname = {"s3": S3_CNAME, "partner": PARTNER_CNAME, "internal": SEARCH_HOST}.get(kind)
        return ([{"Rdata": cname + ".", "Type": "CNAME", "Class": "IN"}] if cname else []) + a

    def dns_queries(self) -> list[tuple]:
        """(time, record) for every query the Resolver logged: a task asks again once its answer's TTL ran out
        (the Resolver logs unique queries only), A and AAAA from one socket; AAAA answers are empty (IPv4 only)."""
        rng = self.rng_dns
        pools: dict[str, list] = defaultdict(list)
        for ip, (kind, name) in self.names().items():
            if name:
                pools[name].append(ip)
        out = []
        for task, name, kind, uses in sorted(self.lookups(), key=lambda x: (x[0].arn, x[1])):
            expiry = -math.inf
            for i, (t, ip) in enumerate(uses):
                if t < expiry:
                    continue
                asked = t - rng.uniform(0.001, 0.03)
                expiry = asked + TTL[kind]
                if kind == "s3":  # S3 hands out a few addresses per answer, TTL 5 s
                    pool = sorted({u for s, u in uses[i:] if s < expiry}, key=ipaddress.ip_address)
                else:
                    pool = sorted(pools[name], key=ipaddress.ip_address)
                    if kind == "aws":
                        rng.shuffle(pool)  # the order rotates from answer to answer
                if T0 <= asked < T_END:
                    out += self.query_pair(asked, task.ip, name, "NOERROR", self.answers(name, kind, pool))
        expiry = defaultdict(lambda: -math.inf)
        for t, task in sorted(self.traffic.lookups_failed, key=lambda x: (x[1].arn, x[0])):
            if t >= expiry[task.arn]:  # the negative answer is cached for the zone's SOA TTL (60 s)
                asked = t - rng.uniform(0.001, 0.03)
                expiry[task.arn] = asked + TTL["negative"]
                if T0 <= asked < T_END:
                    out += self.query_pair(asked, task.ip, TRACKER_API, "NXDOMAIN", [])
        out.sort(key=lambda q: q[0])
        return out

    def query_pair(self, t: float, src: str, name: str, rcode: str, answers: list) -> list[tuple]:
        port = str(self.rng_dns.randint(32768, 60999))
        cnames = [a for a in answers if a["Type"] == "CNAME"]
        pair = []
        for qtype, ans in (("A", answers), ("AAAA", cnames)):
            pair.append((t, {
                "version": "1.100000", "account_id": ACCOUNT, "region": REGION, "vpc_id": self.net.vpc_id,
                "query_timestamp": z_time(t), "query_name": name + ".", "query_type": qtype, "query_class": "IN",
                "rcode": rcode, "answers": ans, "srcaddr": src, "srcport": port, "transport": "UDP", "srcids": {},
            }))
        return pair

    def write_dns_logs(self, out: Path, queries: list) -> int:
        """Resolver query logs as delivered to S3: one gzip JSON-lines file per 5 minutes."""
        for stale in sorted(out.glob(f"s3/AWSLogs/{ACCOUNT}/vpcdnsquerylogs/**/*.log.gz")):
            stale.unlink()
        files: dict[int, list] = defaultdict(list)
        for t, rec in queries:
            files[int(t) - int(t) % 300].append(json.dumps(rec, separators=(",", ":")))
        vpc = self.net.vpc_id
        for slot, lines in sorted(files.items()):
            stamp = utc(slot + 300)
            path = (out / f"s3/AWSLogs/{ACCOUNT}/vpcdnsquerylogs/{vpc}/{stamp:%Y/%m/%d}/"
                    f"{ACCOUNT}_vpcdnsquerylogs_{vpc}_{stamp:%Y%m%dT%H%M}Z_{self.rng_dns.hex(8)}.log.gz")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gz_json_lines(lines))
        return len(queries)

    # ---- CloudTrail

    def role_ids(self) -> dict[str, str]:
        if not hasattr(self, "_role_ids"):
            rng = Rand(self.rng_meta.getrandbits(32))
            names = [task_role(s) for s in ALL_SERVICES] + [EXEC_ROLE, "exporter-execution-role",
                                                             "platform-deployer", "AWSServiceRoleForECS",
                                                             "AWSReservedSSO_AdministratorAccess_4f2a9c1e7b3d8a65"]
            self._role_ids = {n: "AROA" + rng.alnum(17, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for n in names}
        return self._role_ids

    def access_key(self, role: str, session: str) -> str:
        keys = self.__dict__.setdefault("_keys", {})
        if (role, session) not in keys:
            keys[(role, session)] = "ASIA" + self.rng_trail.alnum(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        return keys[(role, session)]

    def assumed(self, role: str, session: str, since: float, path: str = "/") -> dict:
        rid = self.role_ids()[role]
        arn = f"arn:aws:iam::{ACCOUNT}:role{path}{role}"
        return {"type": "AssumedRole", "principalId": f"{rid}:{session}",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}", "accountId": ACCOUNT,
                "accessKeyId": self.access_key(role, session),
                "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": rid, "arn": arn,
                                                     "accountId": ACCOUNT, "userName": role},
                                   "attributes": {"creationDate": z_time(since), "mfaAuthenticated": "false"}}}

    def record(self, t: float, source: str, name: str, identity: dict, src_ip: str, agent: str, params,
               response=None, error: tuple | None = None, vpce: str | None = None, host: str | None = None,
               resources: list | None = None, read_only: bool = True, region: str = REGION) -> dict:
        """One management event, its keys in the order CloudTrail writes them."""
        rng = self.rng_trail
        rec = {"eventVersion": "1.11", "userIdentity": identity, "eventTime": z_time(t),
               "eventSource": f"{source}.amazonaws.com", "eventName": name, "awsRegion": region,
               "sourceIPAddress": src_ip, "userAgent": agent}
        if error:
            rec["errorCode"], rec["errorMessage"] = error
        rec.update({"requestParameters": params, "responseElements": response, "requestID": rng.uuid4(),
                    "eventID": rng.uuid4(), "readOnly": read_only})
        if resources:
            rec["resources"] = resources
        rec.update({"eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT})
        if vpce:
            rec.update({"vpcEndpointId": vpce, "vpcEndpointAccountId": ACCOUNT})
        rec["eventCategory"] = "Management"
        if host:
            rec["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                                 "clientProvidedHostHeader": host}
        return rec

    def denial(self, role: str, task: Task, action: str, resource: str) -> str:
        return (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{task.id} is not authorized to perform: {action} "
                f"on resource: {resource} because no identity-based policy allows the {action} action")

    def endpoint_of(self, ip: str) -> Endpoint | None:
        return next((ep for ep in [*self.net.endpoints.values(), *self.endpoints.values()]
                     if ip in [e.ip for e in ep.enis]), None)

    def trail(self) -> tuple[list, list]:
        """(management events, network activity events) of the window, each with its time."""
        mgmt, network = [], []
        for conn in self.old_traffic.conns + self.traffic.conns:
            client = client_of(conn)
            if client:
                mgmt += self.calls_on(conn, *client, network)
        for task in self.old_tasks + self.tasks:
            mgmt += self.assume_roles(task)
        mgmt += self.metadata_collection()
        return sorted(mgmt, key=lambda r: r[0]), sorted(network, key=lambda r: r[0])

    def calls_on(self, conn: Conn, task: Task, ip: str, port: int, t: float, network: list) -> list[tuple]:
        """The API calls a task's connection carried that the trail (or the endpoint's network log) records."""
        ep = self.endpoint_of(ip)
        times = getattr(conn, "calls", None) or [t + 2 * conn.rtt]
        svc, out = task.service, []
        if ep and ep.service == "ecr.api":
            role = execution_role(svc)
            out.append((times[0], self.record(times[0], "ecr", "GetAuthorizationToken",
                                              self.assumed(role, task.id, task.created + 5), task.ip, AGENT_UA,
                                              {"registryIds": [ACCOUNT]}, vpce=ep.id,
                                              host=f"api.ecr.{REGION}.amazonaws.com")))
        elif ep and ep.service == "ecr.dkr":
            role, repo = execution_role(svc), task.containers[0].image.split("/", 1)[1]
            name, tag = repo.split(":")
            identity = self.assumed(role, task.id, task.created + 5)
            resource = [{"accountId": ACCOUNT, "ARN": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"}]
            out.append((times[0], self.record(
                times[0], "ecr", "BatchGetImage", identity, task.ip, AGENT_UA,
                {"imageIds": [{"imageTag": tag}], "acceptedMediaTypes": [
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"],
                 "repositoryName": name, "registryId": ACCOUNT}, vpce=ep.id, resources=resource,
                host=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com")))
            for n in range(3):
                at = times[0] + 0.05 + n * 0.01
                out.append((at, self.record(at, "ecr", "GetDownloadUrlForLayer", identity, task.ip, AGENT_UA,
                                            {"registryId": ACCOUNT, "repositoryName": name,
                                             "layerDigest": f"sha256:{self.rng_trail.hex(64)}"},
                                            vpce=ep.id, resources=resource,
                                            host=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com")))
        elif ep and ep.service == SECRETS and svc in ("api", "payouts"):
            secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/{svc}/database-{'Hk2v9Q' if svc == 'api' else 'p8Wm3z'}"
            out.append((times[0], self.record(times[0], SECRETS, "GetSecretValue",
                                              self.assumed(task_role(svc), task.id, task.created + 5), task.ip,
                                              APP_UA[svc], {"secretId": secret}, vpce=ep.id,
                                              host=f"secretsmanager.{REGION}.amazonaws.com")))
        elif ep and ep.service == SECRETS and svc == "exporter":
            role = execution_role(svc)
            for at in times:
                rec = self.record(at, SECRETS, "GetSecretValue", self.assumed(role, task.id, task.created + 5),
                                  task.ip, AGENT_UA, {"secretId": EXPORTER_SECRET},
                                  error=("AccessDenied", self.denial(role, task, "secretsmanager:GetSecretValue",
                                                                     EXPORTER_SECRET)),
                                  vpce=ep.id, host=f"secretsmanager.{REGION}.amazonaws.com")
                task.failure_request_id = rec["requestID"]
                out.append((at, rec))
        elif ep and ep.service == KMS:
            rng = self.rng_trail
            at = times[0]
            network.append((at, {
                "eventVersion": "1.11", "userIdentity": self.assumed(task_role(svc), task.id, task.created + 5),
                "eventTime": z_time(at), "eventSource": "kms.amazonaws.com", "eventName": "Decrypt",
                "awsRegion": REGION, "sourceIPAddress": task.ip, "errorCode": "VpceAccessDenied",
                "errorMessage": "The request was denied due to a VPC endpoint policy", "requestID": rng.uuid4(),
                "eventID": rng.uuid4(), "eventType": "AwsVpceEvent", "recipientAccountId": ACCOUNT,
                "sharedEventID": rng.uuid4(), "vpcEndpointId": ep.id, "vpcEndpointAccountId": ACCOUNT,
                "eventCategory": "NetworkActivity"}))
        elif ip in self.traffic.ssm_ips:
            resource = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{INVENTORY_PARAMETER}"
            role = task_role(svc)
            out.append((times[0], self.record(
                times[0], SSM, "GetParameter", self.assumed(role, task.id, task.created + 5), self.net.nat_eni.public_ip,
                APP_UA[svc], {"name": INVENTORY_PARAMETER, "withDecryption": True},
                error=("AccessDeniedException", self.denial(role, task, "ssm:GetParameter", resource)),
                host=f"ssm.{REGION}.amazonaws.com")))
        return [o for o in out if T0 <= o[0] < T_END]

    def assume_roles(self, task: Task) -> list[tuple]:
        """ECS assumes the task's roles when it starts it (session name: the task id)."""
        out = []
        roles = [execution_role(task.service)] + ([] if task.stop_why == "secrets" else [task_role(task.service)])
        for n, role in enumerate(roles):
            at = task.created + 4 + n * 0.3
            if not T0 <= at < T_END:
                continue
            rng = self.rng_trail
            rid = self.role_ids()[role]
            rec = self.record(at, "sts", "AssumeRole", {"type": "AWSService", "invokedBy": "ecs-tasks.amazonaws.com"},
                              "ecs-tasks.amazonaws.com", "ecs-tasks.amazonaws.com",
                              {"roleArn": role_arn(role), "roleSessionName": task.id},
                              {"credentials": {"accessKeyId": self.access_key(role, task.id),
                                               "sessionToken": "IQoJb3JpZ2luX2VjE" + rng.alnum(80, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
                                               "expiration": utc(at + 6 * 3600).strftime("%b %-d, %Y, %-I:%M:%S %p")},
                               "assumedRoleUser": {"assumedRoleId": f"{rid}:{task.id}",
                                                   "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{task.id}"}},
                              resources=[{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": role_arn(role)}])
            rec.pop("tlsDetails", None)
            rec = {**{k: v for k, v in rec.items() if k != "eventCategory"}, "sharedEventID": rng.uuid4(),
                   "eventCategory": "Management"}
            out.append((at, rec))
        return out

    def metadata_collection(self) -> list[tuple]:
        """The engineer's AWS CLI calls at 11:05 that produced metadata/ (read-only, from the office)."""
        role, session = "AWSReservedSSO_AdministratorAccess_4f2a9c1e7b3d8a65", "alice@example.com"
        identity = self.assumed(role, session, SNAPSHOT - 1800, "/aws-reserved/sso.amazonaws.com/eu-west-1/")
        calls = [("ec2", n, c) for n, c in (
            ("DescribeNetworkInterfaces", "ec2.describe-network-interfaces"), ("DescribeSubnets", "ec2.describe-subnets"),
            ("DescribeVpcs", "ec2.describe-vpcs"), ("DescribeRouteTables", "ec2.describe-route-tables"),
            ("DescribeSecurityGroups", "ec2.describe-security-groups"), ("DescribeNetworkAcls", "ec2.describe-network-acls"),
            ("DescribeVpcEndpoints", "ec2.describe-vpc-endpoints"), ("DescribeNatGateways", "ec2.describe-nat-gateways"),
            ("DescribeFlowLogs", "ec2.describe-flow-logs"), ("DescribeVpcAttribute", "ec2.describe-vpc-attribute"),
            ("DescribeDhcpOptions", "ec2.describe-dhcp-options"))]
        calls += [("ecs", "DescribeTasks", "ecs.describe-tasks"), ("ecs", "DescribeServices", "ecs.describe-services"),
                  ("ecs", "DescribeTaskDefinition", "ecs.describe-task-definition"),
                  ("cloudtrail", "DescribeTrails", "cloudtrail.describe-trails"),
                  ("cloudtrail", "GetEventSelectors", "cloudtrail.get-event-selectors")]
        out, at = [], SNAPSHOT
        for source, name, command in calls:
            at += self.rng_trail.uniform(1.5, 6)
            out.append((at, self.record(at, source, name, identity, OFFICE_IP, CLI_UA.format(command), None,
                                        host=f"{source}.{REGION}.amazonaws.com")))
        return out

    def write_trail(self, out: Path, mgmt: list, network: list) -> dict:
        """The trail's S3 objects: 5-minute files, records out of order, one event delivered twice, digests."""
        rng = self.rng_trail
        for stale in sorted(out.glob(f"s3/AWSLogs/{ACCOUNT}/CloudTrail*/**/*.json.gz")):
            stale.unlink()
        written: dict[str, list] = {"CloudTrail": [], "CloudTrail-NetworkActivity": []}
        duplicate = None
        for folder, events in (("CloudTrail", mgmt), ("CloudTrail-NetworkActivity", network)):
            files: dict[int, list] = defaultdict(list)
            for at, rec in events:
                delivered = at + rng.uniform(90, 600)
                files[int(delivered) - int(delivered) % 300 + 300].append(rec)
            slots = sorted(files)
            if folder == "CloudTrail":  # CloudTrail delivers an event twice now and then (same eventID)
                victim = next(r for r in files[slots[3]] if r["eventName"] == "GetSecretValue" or r is files[slots[3]][-1])
                files[slots[4]].append(victim)
                duplicate = victim["eventID"]
            for slot in slots:
                records = files[slot]
                rng.shuffle(records)
                stamp = utc(slot)
                key = (f"s3/AWSLogs/{ACCOUNT}/{folder}/{REGION}/{stamp:%Y/%m/%d}/"
                       f"{ACCOUNT}_CloudTrail_{REGION}_{stamp:%Y%m%dT%H%M}Z_"
                       f"{rng.alnum(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}.json.gz")
                body = json.dumps({"Records": records}, separators=(",", ":")).encode()
                (out / key).parent.mkdir(parents=True, exist_ok=True)
                (out / key).write_bytes(gzip.compress(body, compresslevel=9, mtime=0))
                times = [r["eventTime"] for r in records]
                written[folder].append({"key": key[3:], "slot": slot, "sha256": hashlib.sha256(body).hexdigest(),
                                        "oldest": min(times), "newest": max(times), "records": len(records)})
        digests = self.write_digests(out, written["CloudTrail"])
        return {"duplicate_event_id": duplicate, "files": {k: len(v) for k, v in written.items()},
                "events": {"CloudTrail": len(mgmt), "CloudTrail-NetworkActivity": len(network)},
                "digest_files": digests}

    def write_digests(self, out: Path, files: list[dict]) -> list[str]:
        """Hourly digest files (CloudTrail-Digest/) listing the log files delivered in the hour before."""
        rng, keys, previous = self.rng_trail, [], None
        for end in (T0 + 3600, T0 + 7200):
            mine = [f for f in files if end - 3600 <= f["slot"] < end]
            stamp = utc(end + rng.randint(20, 50))
            key = (f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/{stamp:%Y/%m/%d}/"
                   f"{ACCOUNT}_CloudTrail-Digest_{REGION}_{TRAIL}_{REGION}_{stamp:%Y%m%dT%H%M%S}Z.json.gz")
            doc = {"awsAccountId": ACCOUNT, "digestStartTime": z_time(end - 3600), "digestEndTime": z_time(end),
                   "digestS3Bucket": BUCKET, "digestS3Object": key,
                   "digestPublicKeyFingerprint": rng.hex(32), "digestSignatureAlgorithm": "SHA256withRSA",
                   "newestEventTime": max(f["newest"] for f in mine), "oldestEventTime": min(f["oldest"] for f in mine),
                   "previousDigestS3Bucket": BUCKET if previous else None,
                   "previousDigestS3Object": previous[0] if previous else None,
                   "previousDigestHashValue": previous[1] if previous else None,
                   "previousDigestHashAlgorithm": "SHA-256" if previous else None,
                   "previousDigestSignature": rng.hex(512) if previous else None,
                   "logFiles": [{"s3Bucket": BUCKET, "s3Object": f["key"], "hashValue": f["sha256"],
                                 "hashAlgorithm": "SHA-256", "newestEventTime": f["newest"],
                                 "oldestEventTime": f["oldest"]} for f in mine]}
            body = json.dumps(doc, separators=(",", ":")).encode()
            (out / "s3" / key).parent.mkdir(parents=True, exist_ok=True)
            (out / "s3" / key).write_bytes(gzip.compress(body, compresslevel=9, mtime=0))
            previous = (key, hashlib.sha256(body).hexdigest())
            keys.append(key)
        return keys

    # ---- metadata: what the first documents gain

    def extend_route_tables(self, doc: dict) -> dict:
        for table in doc["RouteTables"]:
            for s in self.subnets.values():
                if table["RouteTableId"] == self.net.route_tables[s.route_table]:
                    table["Associations"].append({"Main": False, "RouteTableAssociationId": self.rng_meta.hexid("rtbassoc"),
                                                  "RouteTableId": table["RouteTableId"], "SubnetId": s.id,
                                                  "AssociationState": {"State": "associated"}})
        return doc

    def extend_network_acls(self, doc: dict) -> dict:
        default = next(a for a in doc["NetworkAcls"] if a["IsDefault"])
        default["Associations"] += [{"NetworkAclAssociationId": self.rng_meta.hexid("aclassoc"),
                                     "NetworkAclId": default["NetworkAclId"], "SubnetId": s.id}
                                    for s in self.subnets.values()]
        return doc

    def kms_endpoint_policy(self) -> dict:
        """F7: created for ledger's key; its second statement denies every other key, payouts' included."""
        ledger = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{self.kms_keys['ledger']}"
        return {"Version": "2012-10-17", "Statement": [
            {"Sid": "AllowThisAccount", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*",
             "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}},
            {"Sid": "OnlyTheLedgerKey", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "NotResource": ledger},
        ]}

    def extend_vpc_endpoints(self, doc: dict) -> dict:
        policy = json.dumps(self.kms_endpoint_policy(), indent=2, separators=(", ", ": "))
        doc["VpcEndpoints"].append(interface_endpoint_json(self.net, self.endpoints[KMS], self.rng_meta, policy))
        return doc

    def extend_flow_logs(self, doc: dict) -> dict:
        doc["FlowLogs"] += [flow_log_json(self.subnets[name], fl, hhmmss("08:20:00") - 30 * 86400 + self.rng_meta.random())
                            for name, fl in self.flow_logs.items()]
        return doc

    def extend_services(self, doc: dict) -> dict:
        more = describe_services(self.net, self.tasks, self.rng_services, NEW_SERVICES,
                                 {**self.net.subnets, **self.subnets})["services"]
        for service in more:
            if service["serviceName"] == "exporter":  # desired 1, running 0: ECS keeps trying
                failed = len(self.service_tasks("exporter"))
                service.update({"desiredCount": 1, "runningCount": 0})
                service["deployments"][0].update({"desiredCount": 1, "runningCount": 0, "failedTasks": failed,
                                                  "rolloutState": "IN_PROGRESS",
                                                  "rolloutStateReason": "ECS deployment "
                                                  f"{service['deployments'][0]['id']} in progress."})
                last = max(t.stopped for t in self.service_tasks("exporter"))
                events = [e for e in service["events"] if "steady state" not in e["message"]]
                events.insert(0, {"id": self.rng_services.uuid4(), "createdAt": cli_time(last + 40),
                                  "message": "(service exporter) is unable to consistently start tasks successfully. "
                                             "For more information, see the Troubleshooting section of the Amazon "
                                             "ECS Developer Guide."})
                service["events"] = events[:8]
        doc["services"] += more
        return doc

    # ---- metadata: new documents

    def proxy_url(self) -> str:
        return f"http://{self.proxy_eni.ip}:{PROXY_PORT}"

    def task_definition(self, service: str, revision: int) -> dict:
        """``aws ecs describe-task-definition --task-definition FAMILY:REVISION --include-tags``."""
        _, cpu, memory, names, _ = ALL_SERVICES[service]
        environment = {
            "web": [("UPSTREAM", "http://api.prod.internal:8080")],
            "api": [("DB_SECRET_ID", "prod/api/database"), ("QUEUE_URL", self.queue_url())],
            "orders": [("QUEUE_URL", self.queue_url())],
            "notifier": [("TOPIC_ARN", f"arn:aws:sns:{REGION}:{ACCOUNT}:prod-notifications")],
            "inventory": [("CONFIG_PARAMETER", INVENTORY_PARAMETER), ("EXPORT_BUCKET", INVENTORY_BUCKET)],
            "payouts": [("KMS_KEY_ID", self.kms_keys["payouts"]), ("DB_SECRET_ID", "prod/payouts/database")],
            "tracker": [("EVENTS_URL", f"https://{TRACKER_API}/prod/events")],
            "mailer": [("HTTPS_PROXY", self.proxy_url()), ("HTTP_PROXY", self.proxy_url()),
                       ("NO_PROXY", "localhost,127.0.0.1,169.254.169.254,.prod.internal")],
            "indexer": [("ELASTICSEARCH_URL", f"http://{SEARCH_NAME}:{SEARCH_PORT}"), ("CORPUS_BUCKET", SEARCH_BUCKET)],
        }.get(service, [])
        secrets = [{"name": "GRAFANA_CLOUD_TOKEN", "valueFrom": EXPORTER_SECRET}] if service == "exporter" else []
        containers = []
        for name in names:
            image = f"{ECR}/nginx:1.27" if name == "nginx" else \
                f"{ECR}/{name}:2026.11.{20 if (service, revision) == ('web', OLD_WEB_REVISION) else 27}"
            c = {"name": name, "image": image, "cpu": 0,
                 "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp", "name": f"{name}-8080-tcp",
                                   "appProtocol": "http"}] if name in ("nginx", "api") else [],
                 "essential": True,
                 "environment": [{"name": k, "value": v} for k, v in sorted(environment) if name != "nginx"],
                 "mountPoints": [], "volumesFrom": []}
            if secrets:
                c["secrets"] = secrets
            if service != "ledger":
                c["logConfiguration"] = {"logDriver": "awslogs", "options": {
                    "awslogs-group": f"/ecs/prod/{service}", "awslogs-region": REGION, "awslogs-stream-prefix": "ecs"}}
            c["systemControls"] = []
            containers.append(c)
        registered = min(t.created for t in self.old_tasks + self.tasks
                         if t.service == service and t.revision == revision) - 600
        requires = [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"},
                    {"name": "ecs.capability.execution-role-awslogs"},
                    {"name": "com.amazonaws.ecs.capability.ecr-auth"},
                    {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.19"},
                    {"name": "com.amazonaws.ecs.capability.task-iam-role"},
                    {"name": "ecs.capability.execution-role-ecr-pull"},
                    {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"},
                    {"name": "ecs.capability.task-eni"}]
        if secrets:
            requires.append({"name": "ecs.capability.secrets.asm.environment-variables"})
        return {"taskDefinition": {
            "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{service}:{revision}",
            "containerDefinitions": containers, "family": service, "taskRoleArn": role_arn(task_role(service)),
            "executionRoleArn": role_arn(execution_role(service)), "networkMode": "awsvpc", "revision": revision,
            "volumes": [], "status": "ACTIVE", "requiresAttributes": requires, "placementConstraints": [],
            "compatibilities": ["EC2", "FARGATE"], "requiresCompatibilities": ["FARGATE"], "cpu": cpu,
            "memory": memory, "registeredAt": cli_time(registered),
            "registeredBy": f"arn:aws:sts::{ACCOUNT}:assumed-role/platform-deployer/deploy-{service}-{revision}",
        }, "tags": [{"key": "team", "value": "payments" if service in ("billing", "ledger", "payouts") else "platform"}]}

    def queue_url(self) -> str:
        return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/prod-orders"

    def task_definitions(self) -> list[dict]:
        pairs = sorted({(t.service, t.revision) for t in self.old_tasks + self.tasks},
                       key=lambda p: (list(ALL_SERVICES).index(p[0]), p[1]))
        return [self.task_definition(s, r) for s, r in pairs]

    def role_policies(self, service: str) -> list[dict]:
        """The inline policy of each task role: what the application may do."""
        a = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/{service}/*"
        queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:prod-orders"
        allow = {
            "web": [(["s3:GetObject"], f"arn:aws:s3:::{WEB_BUCKET}/*")],
            "api": [(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], queue),
                    (["secretsmanager:GetSecretValue"], a)],
            "billing": [(["secretsmanager:GetSecretValue"], a)],
            "orders": [(["sqs:SendMessage", "sqs:GetQueueUrl"], queue)],
            "ledger": [(["secretsmanager:GetSecretValue"], a),
                       (["kms:Decrypt"], f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{self.kms_keys['ledger']}")],
            "reports": [(["sts:AssumeRole"], "arn:aws:iam::210987654321:role/reports-export")],
            "notifier": [(["sns:Publish"], f"arn:aws:sns:{REGION}:{ACCOUNT}:prod-notifications")],
            "inventory": [(["ssm:GetParameters"], f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/prod/inventory/*"),
                          (["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{INVENTORY_BUCKET}/*")],
            "payouts": [(["kms:Decrypt", "kms:GenerateDataKey"],
                         f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{self.kms_keys['payouts']}"),
                        (["secretsmanager:GetSecretValue"], a)],
            "exporter": [(["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"], "*")],
            "tracker": [(["execute-api:Invoke"], f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/prod/POST/events")],
            "mailer": [(["ses:SendEmail", "ses:SendRawEmail"], f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/acme.example")],
            "indexer": [(["s3:GetObject", "s3:ListBucket"], [f"arn:aws:s3:::{SEARCH_BUCKET}", f"arn:aws:s3:::{SEARCH_BUCKET}/*"])],
        }[service]
        return [{"PolicyName": f"{service}-app", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Sid": f"S{n}", "Effect": "Allow", "Action": actions, "Resource": resource}
            for n, (actions, resource) in enumerate(allow)]}}]

    def authorization_details(self) -> dict:
        """``aws iam get-account-authorization-details`` (roles and the managed policies attached to them)."""
        ids = self.role_ids()
        trust = {"Version": "2012-10-17", "Statement": [{"Sid": "", "Effect": "Allow",
                                                          "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                                          "Action": "sts:AssumeRole"}]}
        execution_policy = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
        created = lambda n: cli_time(BUILT + 86400 * (3 + n) + 3600 * n)  # noqa: E731

        def role(name, n, inline, managed, last_used, path="/", trust_doc=trust, boundary=None):
            doc = {"Path": path, "RoleName": name, "RoleId": ids[name], "Arn": f"arn:aws:iam::{ACCOUNT}:role{path}{name}",
                   "CreateDate": created(n), "AssumeRolePolicyDocument": trust_doc, "InstanceProfileList": [],
                   "RolePolicyList": inline, "AttachedManagedPolicies": managed}
            if boundary:
                doc["PermissionsBoundary"] = boundary
            doc.update({"Tags": [], "RoleLastUsed": {"LastUsedDate": cli_time(last_used), "Region": REGION}})
            return doc

        roles = []
        for n, service in enumerate(ALL_SERVICES):
            roles.append(role(task_role(service), n, self.role_policies(service), [], SNAPSHOT - 60 - n))
        roles.append(role(EXEC_ROLE, 20, [], [{"PolicyName": "AmazonECSTaskExecutionRolePolicy",
                                               "PolicyArn": execution_policy}], SNAPSHOT - 40))
        roles.append(role("exporter-execution-role", 21, [{"PolicyName": "exporter-secrets", "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Sid": "ReadTheApiKey", "Effect": "Allow",
                                                    "Action": "secretsmanager:GetSecretValue",
                                                    "Resource": EXPORTER_OLD_SECRET}]}}],
            [{"PolicyName": "AmazonECSTaskExecutionRolePolicy", "PolicyArn": execution_policy}], SNAPSHOT - 300))
        roles.append(role("platform-deployer", 22, [{"PolicyName": "deploy", "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["ecs:*", "ec2:Describe*", "elasticloadbalancing:Describe*"], "Resource": "*"},
                {"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/*",
                 "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}}]}}], [],
            hhmmss("08:59:00"), trust_doc={"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:role/ci-runner"},
                 "Action": "sts:AssumeRole"}]}))
        roles.append(role("AWSServiceRoleForECS", 23, [], [{"PolicyName": "AmazonECSServiceRolePolicy",
                                                             "PolicyArn": "arn:aws:iam::aws:policy/aws-service-role/AmazonECSServiceRolePolicy"}],
                          SNAPSHOT - 20, path="/aws-service-role/ecs.amazonaws.com/",
                          trust_doc={"Version": "2012-10-17", "Statement": [
                              {"Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"},
                               "Action": "sts:AssumeRole"}]}))
        policies = [{
            "PolicyName": "AmazonECSTaskExecutionRolePolicy", "PolicyId": "ANPAJG4T4G4PV56DE72PY",
            "Arn": execution_policy, "Path": "/service-role/", "DefaultVersionId": "v1", "AttachmentCount": 2,
            "PermissionsBoundaryUsageCount": 0, "IsAttachable": True, "Description":
            "Provides access to other AWS service resources that are required to run Amazon ECS tasks",
            "CreateDate": "2017-11-16T18:48:22+00:00", "UpdateDate": "2017-11-16T18:48:22+00:00",
            "PolicyVersionList": [{"Document": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
                                              "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage",
                                              "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*"}]}, "VersionId": "v1", "IsDefaultVersion": True,
                "CreateDate": "2017-11-16T18:48:22+00:00"}]}]
        return {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": roles, "Policies": policies}

    def resource_policies(self) -> dict[str, dict]:
        """Resource policies as the set-policy commands' get counterparts print them (file name -> output)."""
        queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:prod-orders"
        sqs = {"Version": "2012-10-17", "Id": f"{queue}/SQSDefaultPolicy", "Statement": [{
            "Sid": "ApiAndOrders", "Effect": "Allow",
            "Principal": {"AWS": [role_arn(task_role("api")), role_arn(task_role("orders"))]},
            "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": queue}]}
        secret = {"Version": "2012-10-17", "Statement": [{
            "Sid": "OnlyThroughTheVpcEndpoint", "Effect": "Deny", "Principal": "*",
            "Action": "secretsmanager:GetSecretValue", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:SourceVpce": self.net.endpoints[SECRETS].id}}}]}
        key = {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "PayoutsDecrypt", "Effect": "Allow", "Principal": {"AWS": role_arn(task_role("payouts"))},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"}]}
        pretty = lambda d: json.dumps(d, separators=(",", ":"))  # noqa: E731
        return {
            "get-queue-attributes.prod-orders.json": {"Attributes": {"Policy": pretty(sqs)}},
            "get-resource-policy.prod-exporter-grafana-cloud-token.json": {
                "ARN": EXPORTER_SECRET, "Name": "prod/exporter/grafana-cloud-token", "ResourcePolicy": pretty(secret)},
            f"get-key-policy.{self.kms_keys['payouts']}.json": {"Policy": json.dumps(key, indent=4),
                                                                "PolicyName": "default"},
        }

    def trail_config(self) -> tuple[dict, dict]:
        arn = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{TRAIL}"
        trail = {"trailList": [{
            "Name": TRAIL, "S3BucketName": BUCKET, "IncludeGlobalServiceEvents": True, "IsMultiRegionTrail": True,
            "HomeRegion": REGION, "TrailARN": arn, "LogFileValidationEnabled": True,
            "HasCustomEventSelectors": True, "HasInsightSelectors": False, "IsOrganizationTrail": False}]}
        selectors = {"TrailARN": arn, "AdvancedEventSelectors": [
            {"Name": "Management events", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
            {"Name": "Log KMS access denied network activity events", "FieldSelectors": [
                {"Field": "eventCategory", "Equals": ["NetworkActivity"]},
                {"Field": "eventSource", "Equals": ["kms.amazonaws.com"]},
                {"Field": "errorCode", "Equals": ["VpceAccessDenied"]}]},
            {"Name": "Log Secrets Manager access denied network activity events", "FieldSelectors": [
                {"Field": "eventCategory", "Equals": ["NetworkActivity"]},
                {"Field": "eventSource", "Equals": ["secretsmanager.amazonaws.com"]},
                {"Field": "errorCode", "Equals": ["VpceAccessDenied"]}]}]}
        return trail, selectors

    def zone_ids(self) -> dict[str, str]:
        if not hasattr(self, "_zones"):
            rng = Rand(self.rng_meta.getrandbits(32))
            self._zones = {z: "Z0" + rng.alnum(19, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for z in (SHADOW_ZONE, INTERNAL_ZONE)}
        return self._zones

    def dns_documents(self) -> dict[str, dict]:
        vpc, rng = self.net.vpc_id, self.rng_meta
        zones = self.zone_ids()
        ns = ["ns-1536.awsdns-00.co.uk.", "ns-0.awsdns-00.com.", "ns-1024.awsdns-00.org.", "ns-512.awsdns-00.net."]

        def records(zone: str, soa_ttl: int, extra: list) -> dict:
            apex = zone + "."
            return {"ResourceRecordSets": [
                {"Name": apex, "Type": "NS", "TTL": 172800, "ResourceRecords": [{"Value": v} for v in ns]},
                {"Name": apex, "Type": "SOA", "TTL": soa_ttl, "ResourceRecords": [
                    {"Value": f"ns-1536.awsdns-00.co.uk. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 {soa_ttl}"}]},
                *extra]}
        config = "rqlc-" + rng.hex(16)
        docs = {
            "describe-vpc-attribute.enableDnsSupport.json": {"VpcId": vpc, "EnableDnsSupport": {"Value": True}},
            "describe-vpc-attribute.enableDnsHostnames.json": {"VpcId": vpc, "EnableDnsHostnames": {"Value": True}},
            "describe-dhcp-options.json": {"DhcpOptions": [{
                "OwnerId": ACCOUNT, "Tags": [], "DhcpOptionsId": self.net.dhcp_id, "DhcpConfigurations": [
                    {"Key": "domain-name", "Values": [{"Value": f"{REGION}.compute.internal"}]},
                    {"Key": "domain-name-servers", "Values": [{"Value": "AmazonProvidedDNS"}]}]}]},
            f"list-hosted-zones-by-vpc.{vpc}.json": {"HostedZoneSummaries": [
                {"HostedZoneId": zones[z], "Name": z + ".", "Owner": {"OwningAccount": ACCOUNT}}
                for z in (SHADOW_ZONE, INTERNAL_ZONE)], "MaxItems": "100"},
            f"list-resource-record-sets.{zones[SHADOW_ZONE]}.json": records(SHADOW_ZONE, TTL["negative"], [
                {"Name": f"{PRIVATE_API_ID}.{SHADOW_ZONE}.", "Type": "CNAME", "TTL": 300, "ResourceRecords": [
                    {"Value": f"vpce-0{rng.hex(16)}-{rng.alnum(8)}.execute-api.{REGION}.vpce.amazonaws.com"}]}]),
            f"list-resource-record-sets.{zones[INTERNAL_ZONE]}.json": records(INTERNAL_ZONE, 900, [
                {"Name": f"{SEARCH_NAME}.", "Type": "CNAME", "TTL": TTL["internal"],
                 "ResourceRecords": [{"Value": f"{SEARCH_HOST}."}]},
                {"Name": f"{SEARCH_HOST}.", "Type": "A", "TTL": TTL["internal"],
                 "ResourceRecords": [{"Value": self.search_eni.ip}]}]),
            "list-resolver-query-log-configs.json": {"TotalCount": 1, "TotalFilteredCount": 1, "ResolverQueryLogConfigs": [{
                "Id": config, "OwnerId": ACCOUNT, "Status": "CREATED", "ShareStatus": "NOT_SHARED", "AssociationCount": 1,
                "Arn": f"arn:aws:route53resolver:{REGION}:{ACCOUNT}:resolver-query-log-config/{config}",
                "Name": "prod-vpc-dns", "DestinationArn": f"arn:aws:s3:::{BUCKET}", "CreatorRequestId": rng.uuid4(),
                "CreationTime": z_time(BUILT + 86400 * 40)}]},
            "list-resolver-query-log-config-associations.json": {"TotalCount": 1, "TotalFilteredCount": 1,
                                                                 "ResolverQueryLogConfigAssociations": [{
                "Id": "rqlca-" + rng.hex(16), "ResolverQueryLogConfigId": config, "ResourceId": vpc, "Status": "ACTIVE",
                "Error": "NONE", "ErrorMessage": "", "CreationTime": z_time(BUILT + 86400 * 40 + 95)}]},
        }
        return docs

    def write_metadata(self, meta: Path) -> None:
        write_json(meta / "get-account-authorization-details.json", self.authorization_details())
        write_json(meta / "describe-task-definition.json", self.task_definitions())
        for name, doc in {**self.resource_policies(), **self.dns_documents()}.items():
            write_json(meta / name, doc)
        trail, selectors = self.trail_config()
        write_json(meta / "describe-trails.json", trail)
        write_json(meta / f"get-event-selectors.{TRAIL}.json", selectors)

    # ---- ground truth

    def active(self, service: str) -> list[Task]:
        return [t for t in self.tasks if t.service == service and (Traffic.span(t) or t.stop_why)]

    def dest(self, service: str, dest_type: str, aws_service: str | None = None) -> tuple[Dest, list]:
        dest, addresses = next((d, a) for (s, d), a in self.traffic.used.items() if s == service and d.type == dest_type
                               and (aws_service is None or d.aws_service == aws_service))
        return dest, sorted(addresses)

    def fault(self, fid: str, service: str, story: str, dest: tuple | None, expected: dict, from_flows: dict | None,
              evidence: list, records: list, absent: list, **extra) -> dict:
        mine = self.active(service)
        return {
            "id": fid, "service": service, "story": story,
            "task_ids": [t.id for t in mine], "task_arns": [t.arn for t in mine],
            "source": {"interface_ids": [t.eni.id for t in mine], "addresses": [t.ip for t in mine]},
            "destination": dest_json(*dest) if dest else None,
            "expected": expected, "expected_from_flows": from_flows, "evidence": evidence,
            "expected_records": records, "absent_records": absent, **extra,
        }

    def api(self, events: list, **fields) -> dict:
        first = events[0]
        return {"event_source": first["eventSource"], "event_name": first["eventName"],
                "error_code": first.get("errorCode"), "error_message": first.get("errorMessage"),
                "principal_arns": sorted({e["userIdentity"]["arn"] for e in events}),
                "role_arn": first["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"],
                "vpc_endpoint_id": first.get("vpcEndpointId"), "events": len(events),
                "first": min(e["eventTime"] for e in events), "last": max(e["eventTime"] for e in events), **fields}

    def faults(self, mgmt: list, network: list, queries: list) -> list[dict]:
        def denied(events, name):
            return [e for _, e in events if e["eventName"] == name and e.get("errorCode")]
        ips = lambda s: [t.ip for t in self.active(s)]  # noqa: E731
        enis = lambda s: [t.eni.id for t in self.active(s)]  # noqa: E731
        ssm, ssm_ips = self.dest("inventory", "aws_service")
        kms, kms_ips = self.dest("payouts", "vpc_endpoint", KMS)
        secrets, secret_ips = self.dest("exporter", "vpc_endpoint", SECRETS)
        proxy, proxy_ips = self.dest("mailer", "proxy")
        search, search_ips = self.dest("indexer", "ec2_instance")
        kms_ep, proxy_eni, search_eni = self.endpoints[KMS], self.proxy_eni, self.search_eni
        exporter = self.service_tasks("exporter")
        nx = [q for _, q in queries if q["rcode"] == "NXDOMAIN"]
        v2 = [t for t in self.active("indexer") if t.subnet.fmt == "default"]
        flagged = [t for t in self.active("indexer") if t.subnet.fmt == "custom"]
        mailer_td = f"mailer:{NEW_SERVICES['mailer'][0]}"
        return [
            self.fault(
                "F6", "inventory", "inventory's task role allows ssm:GetParameters; the 07:12 release calls "
                "ssm:GetParameter. Every call is denied, over an established connection through the NAT gateway.",
                (ssm, ssm_ips),
                {"kind": "access_denied", "state": "established", "observed_at": "api_call",
                 "top_cause": "identity_policy",
                 "resource": {"type": "iam_role", "id": role_arn(task_role("inventory")),
                              "detail": "inline policy inventory-app allows ssm:GetParameters on "
                                        "parameter/prod/inventory/*, not ssm:GetParameter"}},
                None, ["cloudtrail"],
                [match("inventory ENIs to SSM's public addresses", interface_id=enis("inventory"),
                       srcaddr=ips("inventory"), dstaddr=ssm_ips, dstport="443", action="ACCEPT")],
                [], api=self.api(denied(mgmt, "GetParameter"), role="task", action="ssm:GetParameter",
                                 resource=f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{INVENTORY_PARAMETER}",
                                 source_ip=self.net.nat_eni.public_ip)),
            self.fault(
                "F7", "payouts", "The KMS endpoint was created on Thursday for ledger's key; its policy denies every "
                "other key. payouts' kms:Decrypt of its own key goes through it and is denied: the network lets it "
                "through, the endpoint policy says no. KMS does not record such denials in the management events; "
                "the trail's network activity events do.",
                (kms, kms_ips),
                {"kind": "access_denied", "state": "established", "observed_at": "api_call",
                 "top_cause": "endpoint_policy",
                 "resource": {"type": "vpc_endpoint", "id": kms_ep.id, "statement": "OnlyTheLedgerKey",
                              "detail": "statement OnlyTheLedgerKey denies kms:* on every resource but "
                                        f"key/{self.kms_keys['ledger']}"}},
                None, ["cloudtrail_network_activity"],
                [match("payouts ENIs, request to the KMS endpoint", interface_id=enis("payouts"), srcaddr=ips("payouts"),
                       dstaddr=kms_ips, dstport="443", action="ACCEPT", flow_direction="egress"),
                 match("payouts ENIs, SYN-ACK back: established", interface_id=enis("payouts"), srcaddr=kms_ips,
                       srcport="443", action="ACCEPT", flow_direction="ingress", tcp_flags=["18", "19"])],
                [], api=self.api(denied(network, "Decrypt"), role="task", action="kms:Decrypt",
                                 resource=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{self.kms_keys['payouts']}",
                                 management_events=0)),
            self.fault(
                "F8", "exporter", "The 08:59 deployment of exporter:3 reads a new secret (grafana-cloud-token); the "
                "execution role's policy still names the old one. Every task stops before it runs, and ECS starts "
                "another (no circuit breaker).",
                (secrets, secret_ips),
                {"kind": "task_start_failed", "state": None, "observed_at": "task_event", "top_cause": "identity_policy",
                 "resource": {"type": "iam_role", "id": role_arn("exporter-execution-role"),
                              "detail": "inline policy exporter-secrets allows secretsmanager:GetSecretValue on "
                                        f"{EXPORTER_OLD_SECRET} only"}},
                None, ["task_events", "describe_tasks", "cloudtrail"],
                [match("exporter ENIs reach the Secrets Manager endpoint", interface_id=[t.eni.id for t in exporter],
                       srcaddr=[t.ip for t in exporter], dstaddr=secret_ips, dstport="443", action="ACCEPT")],
                [], failing_task_ids=[t.id for t in exporter], stop_code="TaskFailedToStart",
                stopped_reason_example=failed_start_reason(exporter[0]),
                first=z_time(exporter[0].stopped), last=z_time(exporter[-1].stopped),
                api=self.api(denied(mgmt, "GetSecretValue"), role="execution", action="secretsmanager:GetSecretValue",
                             resource=EXPORTER_SECRET)),
            self.fault(
                "F9", "tracker", f"A private hosted zone {SHADOW_ZONE} (made for the platform team's private API) is "
                "associated with the prod VPC and shadows the public name of tracker's API: NXDOMAIN, and no flow "
                "to the API at all.",
                (Dest("aws_service", None, TRACKER_API, "execute-api", 443), []),
                {"kind": "dns_failure", "state": None, "observed_at": "dns_query", "top_cause": "dns_nxdomain",
                 "resource": {"type": "hosted_zone", "id": self.zone_ids()[SHADOW_ZONE], "name": SHADOW_ZONE + ".",
                              "detail": f"private zone {SHADOW_ZONE} associated with {self.net.vpc_id} has no record "
                                        f"for {TRACKER_API}"}},
                None, ["resolver_query_logs"], [], [],
                dns={"query_name": TRACKER_API + ".", "rcode": "NXDOMAIN", "query_types": ["A", "AAAA"],
                     "queries": len(nx), "answers": []}),
            self.fault(
                "F10", "mailer", f"mailer:{NEW_SERVICES['mailer'][0]} sends its AWS calls to the egress proxy "
                "(HTTPS_PROXY); the proxy's security group allows tcp/3128 from the legacy batch hosts only.",
                (proxy, proxy_ips),
                {"kind": "reject", "state": "blocked", "observed_at": "destination_ingress", "top_cause": "proxy",
                 "resource": {"type": "task_definition", "id": mailer_td, "variable": "HTTPS_PROXY",
                              "detail": f"HTTPS_PROXY={self.proxy_url()}"},
                 "network_cause": {"cause": "security_group_ingress_destination", "resource": self.sgs["proxy"].id}},
                {"kind": "reject", "state": "blocked", "observed_at": "destination_ingress",
                 "top_cause": "security_group_ingress_destination", "confirmed": True,
                 "resource": {"type": "security_group", "id": self.sgs["proxy"].id},
                 "destination_type": "vpc_internal", "destination_id": proxy_eni.ip,
                 "task_ids": [t.id for t in self.active("mailer")]},
                ["flow_logs", "task_definition"],
                [match("mailer ENI, SYN out (custom format)", interface_id=enis("mailer"), srcaddr=ips("mailer"),
                       dstaddr=proxy_ips, dstport=str(PROXY_PORT), action="ACCEPT", flow_direction="egress",
                       tcp_flags=["2"]),
                 match("proxy ENI, rejected inbound", interface_id=[proxy_eni.id], srcaddr=ips("mailer"),
                       dstaddr=proxy_ips, dstport=str(PROXY_PORT), action="REJECT", flow_direction="ingress",
                       instance_id=[proxy_eni.instance_id])],
                [match("no reply from the proxy", srcaddr=proxy_ips, dstaddr=ips("mailer"))],
                proxy={"address": proxy_eni.ip, "port": PROXY_PORT, "instance_id": proxy_eni.instance_id,
                       "interface_id": proxy_eni.id, "security_group": self.sgs["proxy"].id,
                       "task_definition": mailer_td, "variables": ["HTTPS_PROXY", "HTTP_PROXY"],
                       "no_proxy": "localhost,127.0.0.1,169.254.169.254,.prod.internal",
                       "no_proxy_missing": ["169.254.170.2"]}),
            self.fault(
                "F11", "indexer", "The legacy search host's Elasticsearch did not come back after Thursday's patching: "
                "nothing listens on tcp/9200 and the kernel answers every SYN with a reset. indexer-1 and the host "
                "are in a subnet with a default-format (v2) flow log, indexer-2's subnet has the custom format.",
                (search, search_ips),
                {"kind": "refused", "state": "refused", "observed_at": "source_egress",
                 "top_cause": "destination_unresponsive",
                 "resource": {"type": "ec2_instance", "id": search_eni.instance_id,
                              "detail": f"nothing listens on tcp/{SEARCH_PORT} at {search_eni.ip}"}},
                {"kind": "refused", "state": "refused", "observed_at": "source_egress",
                 "top_cause": "destination_unresponsive", "confirmed": False, "resource": None,
                 "destination_type": "vpc_internal", "destination_id": search_eni.ip, "task_ids": [t.id for t in flagged],
                 "by_flags": [t.id for t in flagged], "by_sizes": [t.id for t in v2],
                 "note": "by_sizes: v2 records have no tcp-flags; found once refusals are inferred from sizes "
                         "(issue 13), then task_ids is both lists"},
                ["flow_logs"],
                [match("indexer-1 (v2): 1-packet 60-byte SYNs out", interface_id=[t.eni.id for t in v2],
                       srcaddr=[t.ip for t in v2], dstaddr=search_ips, dstport=str(SEARCH_PORT), packets="1",
                       bytes="60", action="ACCEPT"),
                 match("indexer-1 (v2): 1-packet 40-byte resets back", interface_id=[t.eni.id for t in v2],
                       srcaddr=search_ips, srcport=str(SEARCH_PORT), packets="1", bytes="40", action="ACCEPT"),
                 match("search host (v2): the resets leave", interface_id=[search_eni.id], srcaddr=search_ips,
                       srcport=str(SEARCH_PORT), packets="1", bytes="40", action="ACCEPT"),
                 match("indexer-2 (custom): RST, tcp-flags 4", interface_id=[t.eni.id for t in flagged],
                       srcaddr=search_ips, srcport=str(SEARCH_PORT), tcp_flags=["4"], action="ACCEPT",
                       flow_direction="ingress")],
                [match("never a SYN-ACK from the search host", srcaddr=search_ips, tcp_flags=["18", "19"])],
                flow_log_formats={"default": [t.eni.id for t in v2] + [search_eni.id],
                                  "custom": [t.eni.id for t in flagged]}),
        ]

    def public_addresses(self, queries: list) -> list[dict]:
        """Each public address a task connected to, the name (and AWS service) behind it, and whether a query
        of the window answered it (lookups made before 09:00, e.g. for a connection that ends after it, are not)."""
        names, seen = self.names(), {}
        answered = {(q["srcaddr"], a["Rdata"]) for _, q in queries for a in q["answers"] if a["Type"] == "A"}
        gateway = self.net.s3_gateway_id
        for conn in self.old_traffic.conns + self.traffic.conns:
            client = client_of(conn)
            if not client or not ipaddress.ip_address(client[1]).is_global:
                continue
            task, ip, port, t = client
            kind, name = names[ip]
            if kind == "s3":
                name = f"{self.bucket(task, t)}.s3.{REGION}.amazonaws.com"
            service = {"s3": "s3", "partner": None}.get(kind, name.split(".")[0])
            replied = any(ob.rev and ob.action == "ACCEPT" for ob in conn.obs) and any(b[1] for b in conn.bursts)
            via = (f"gateway endpoint {gateway}" if kind == "s3" else
                   "no route (reports-isolated)" if task.service == "reports" else f"NAT gateway {self.net.nat_id}")
            entry = seen.setdefault((task.id, ip), {"service": task.service, "task_id": task.id, "address": ip,
                                                    "port": port, "names": [], "aws_service": service, "via": via,
                                                    "replied": False,
                                                    "in_query_log": (task.ip, ip) in answered})
            if name not in entry["names"]:
                entry["names"].append(name)
            entry["replied"] |= replied
        return sorted(seen.values(), key=lambda e: (e["service"], e["task_id"], ipaddress.ip_address(e["address"])))

    def document(self, doc: dict, trail: dict, mgmt: list, network: list, queries: list) -> dict:
        new = self.faults(mgmt, network, queries)
        faulty = {(f["service"], f["destination"]["name"]) for f in new}
        healthy = [{"service": s, "destination": dest_json(d, a)} for (s, d), a in self.traffic.used.items()
                   if (s, d.name) not in faulty]
        denied_services = {"inventory", "payouts", "exporter"}
        doc["faults"] += new
        doc["healthy"] = sorted(doc["healthy"] + healthy, key=lambda h: (h["service"], h["destination"]["name"]))
        doc.update({
            "flow_logs": {fmt: doc["flow_logs"][fmt] + [fl for n, fl in self.flow_logs.items() if self.subnets[n].fmt == fmt]
                          for fmt in ("default", "custom")},
            "healthy_services": ["api", "web"],
            "no_access_denied": sorted(s for s in ALL_SERVICES if s not in denied_services),
            "public_addresses": self.public_addresses(queries),
            "cloudtrail": {"trail": TRAIL, "bucket": BUCKET, **trail,
                           "management_event_names": sorted({e["eventName"] for _, e in mgmt}),
                           "denied_management_events": sum(1 for _, e in mgmt if e.get("errorCode")),
                           "not_in_trail": {"sqs:SendMessage, sqs:ReceiveMessage": "data events, not selected",
                                            "sns:Publish": "data event, not selected",
                                            "kms:Decrypt denied by the endpoint policy": "KMS does not record it; "
                                            "the network activity events do"}},
            "dns": {"query_log_config_vpcs": [self.net.vpc_id], "queries": len(queries),
                    "nxdomain": sum(1 for _, q in queries if q["rcode"] == "NXDOMAIN"),
                    "ttls": {"interface endpoint names": TTL["endpoint"], "public AWS service names": TTL["aws"],
                             "S3 bucket names": TTL["s3"], PARTNER_NAME: TTL["partner"],
                             f"*.{INTERNAL_ZONE}": TTL["internal"], f"negative answers in {SHADOW_ZONE}": TTL["negative"]},
                    "cname_chains": [f"{{bucket}}.s3.{REGION}.amazonaws.com -> {S3_CNAME}",
                                     f"{PARTNER_NAME} -> {PARTNER_CNAME}", f"{SEARCH_NAME} -> {SEARCH_HOST}"],
                    "private_hosted_zones": {z + ".": i for z, i in self.zone_ids().items()}},
        })
        return doc


class MoreTraffic(Traffic):
    """The conversations of the six later services (their own random stream, the first services' ports)."""

    def __init__(self, more: MoreServices):
        old = more.old_traffic
        self.net, self.more, self.rng, self.tasks = more.net, more, more.rng_traffic, more.tasks
        self.conns, self.used_ports, self.used, self.late_replies = [], old.used_ports, {}, []
        self.sns_ips, self.sts_ips, self.s3_ips = old.sns_ips, old.sts_ips, old.s3_ips
        self.ssm_ips: list[str] = []
        while len(self.ssm_ips) < 3:  # SSM answers from the same AMAZON range as STS: only names tell them apart
            ip = self.rng.host(STS_RANGE)
            if ip not in self.sts_ips + self.ssm_ips:
                self.ssm_ips.append(ip)
        self.endpoints = {**self.net.endpoints, **more.endpoints}
        self.lookups_failed: list[tuple] = []  # (time, task): tracker's NXDOMAIN lookups

    def build(self) -> MoreTraffic:
        for task in self.tasks:
            if task.stop_why == "secrets":
                self.exporter_attempt(task)
                continue
            if task.pull_started >= T0 - LEAD:
                self.image_pull(task)
            span = self.span(task)
            if span:
                self.log_stream(task, *span)
                getattr(self, task.service)(task, *span)
        return self

    def calls(self, c: Conn, *times: float) -> Conn:
        """Remember when the API requests on a connection were made (for the trail)."""
        c.calls = list(times)
        return c

    def inventory(self, task: Task, lo: float, hi: float) -> None:
        """F6: ssm:GetParameter every minute through the NAT gateway; the task role allows only GetParameters."""
        dest = Dest("aws_service", None, f"ssm.{REGION}.amazonaws.com via NAT gateway {self.net.nat_id}", SSM, 443)
        for t in self.ticks(lo, hi, 60, 0.1):
            c = self.via_nat(task, self.rng.choice(self.ssm_ips), dest, self.rng.uniform(0.0015, 0.003))
            self.https(c, t, self.rng.randint(610, 680), self.rng.randint(520, 560), self.rng.uniform(0.004, 0.01))
            self.calls(c, t + 2 * c.rtt)
        for t in self.ticks(lo, hi, 180):
            self.https(self.to_s3(task), t, 430, self.rng.randint(3_000, 90_000), self.rng.uniform(0.01, 0.05))

    def payouts(self, task: Task, lo: float, hi: float) -> None:
        """F7: kms:Decrypt through the KMS endpoint, whose policy denies every key but ledger's (HTTP 400 back)."""
        for t in self.ticks(lo, hi, 45):
            c = self.to_endpoint(task, KMS, 0.0007)
            self.https(c, t, self.rng.randint(900, 1100), self.rng.randint(290, 330), self.rng.uniform(0.002, 0.005))
            self.calls(c, t + 2 * c.rtt)
        first = lo + self.rng.uniform(0, 600)
        for t in [first, *self.ticks(first + 600, hi, 600, 0.05)]:
            c = self.to_endpoint(task, SECRETS)
            self.https(c, t, 940, 1790, 0.012)
            self.calls(c, t + 2 * c.rtt)

    def exporter_attempt(self, task: Task) -> None:
        """F8: the agent gets the registry auth, then Secrets Manager refuses the execution role, twice."""
        t = task.pull_started + self.rng.uniform(0.3, 0.8)
        c = self.to_endpoint(task, "ecr.api")
        end = self.https(c, t, 1350, 3100, 0.04)
        self.calls(c, t + 2 * c.rtt)
        c = self.to_endpoint(task, SECRETS)
        s = c.open(end + 0.05)
        first = s
        s = c.exchange(s, 980, 420, 0.011)
        second = s + self.rng.uniform(0.6, 1.2)  # "service call has been retried 1 time(s)"
        s = c.exchange(second, 980, 420, 0.011)
        c.close(s + 0.002)
        self.calls(c, first, second)

    def tracker(self, task: Task, lo: float, hi: float) -> None:
        """F9: the API's name does not resolve in this VPC: the lookups fail, there is no flow to it at all."""
        self.lookups_failed += [(t, task) for t in self.ticks(lo, hi, 30, 0.2)]

    def mailer(self, task: Task, lo: float, hi: float) -> None:
        """F10: every call goes to the proxy of HTTPS_PROXY, whose security group does not let mailer in."""
        proxy = self.more.proxy_eni
        dest = Dest("proxy", proxy.instance_id, f"{proxy.ip}:{PROXY_PORT} (HTTPS_PROXY)", None, PROXY_PORT)

        def attempt(t):
            self.note(task, dest, proxy.ip)
            client, server = (task.ip, self.port(task.ip)), (proxy.ip, PROXY_PORT)
            self.conn(see(task.eni, client, server, back=None) + see(proxy, client, server, "REJECT", None),
                      0.0004).syns(t, (0, 1, 3, 7))
        self.failing_calls(lo, hi, 60, attempt)

    def indexer(self, task: Task, lo: float, hi: float) -> None:
        """F11: nothing listens on the legacy search host's 9200: each SYN gets a 40-byte RST back."""
        search = self.more.search_eni
        dest = Dest("ec2_instance", search.instance_id, f"{SEARCH_NAME}:{SEARCH_PORT}", None, SEARCH_PORT)
        for t in self.ticks(lo, hi, 20):
            s = t
            for _ in range(3):  # the client library tries each request on three connections
                self.note(task, dest, search.ip)
                client, server = (task.ip, self.port(task.ip)), (search.ip, SEARCH_PORT)
                c = self.conn(see(task.eni, client, server) + see(search, client, server), 0.0004)
                c.add(s, False, 1, 60, SYN)
                c.add(s + 0.0002, True, 1, 40, RST)
                s += self.rng.uniform(0.1, 0.4)
        for t in self.ticks(lo, hi, 300):
            self.https(self.to_s3(task), t, 450, self.rng.randint(200_000, 2_400_000), self.rng.uniform(0.02, 0.1))


# --------------------------------------------------------------------------- main

def write_json(path: Path, doc, indent: int = 4) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")


def generate(out: Path, seed: int) -> dict:
    rng = Rand(seed)
    net = Network(rng)
    tasks = build_tasks(net, rng)
    traffic = Traffic(net, tasks, rng).build()
    more = MoreServices(net, tasks, traffic, seed)  # its own random streams: rng's draws stay as they were
    windows = aggregate(traffic.conns)
    enis = net.infra_enis() + [t.eni for t in tasks]
    skipdata = skipdata_windows(net, tasks)
    records = more.merge_records(build_records(net, enis, windows, rng, skipdata), skipdata)
    counts = write_flow_logs(out, net, records, rng, more)
    mgmt, network = more.trail()  # before the task documents: the exporter's stoppedReason quotes a request id
    trail = more.write_trail(out, mgmt, network)
    queries = more.dns_queries()
    more.write_dns_logs(out, queries)
    meta = out / "metadata"
    write_json(meta / "describe-network-interfaces.json", describe_network_interfaces(net, tasks, more))
    write_json(meta / "describe-subnets.json", describe_subnets(net, tasks, more))
    write_json(meta / "describe-vpcs.json", describe_vpcs(net, rng))
    write_json(meta / "describe-route-tables.json", more.extend_route_tables(describe_route_tables(net, rng)))
    write_json(meta / "describe-security-groups.json", describe_security_groups(net))
    write_json(meta / "describe-network-acls.json", more.extend_network_acls(describe_network_acls(net, rng)))
    write_json(meta / "describe-vpc-endpoints.json", more.extend_vpc_endpoints(describe_vpc_endpoints(net, rng)))
    write_json(meta / "describe-nat-gateways.json", describe_nat_gateways(net))
    write_json(meta / "describe-flow-logs.json", more.extend_flow_logs(describe_flow_logs(net, rng)))
    write_json(meta / "describe-managed-prefix-lists.json", describe_managed_prefix_lists())
    write_json(meta / f"get-managed-prefix-list-entries.{S3_PREFIX_LIST}.json", prefix_list_entries())
    write_json(meta / "describe-tasks.json", describe_tasks(tasks + more.tasks))
    write_json(meta / "describe-services.json", more.extend_services(describe_services(net, tasks, rng)))
    write_json(meta / "ip-ranges.json", ip_ranges(), indent=2)
    events = sorted(task_events(tasks, rng) + task_events(more.tasks, more.rng_events), key=lambda e: e["detail"]["updatedAt"])
    (meta / "ecs-task-state-change-events.jsonl").write_text(
        "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events), encoding="utf-8")
    more.write_metadata(meta)
    truth = GroundTruth(net, tasks, traffic).document(counts)
    write_json(out / "faults.json", more.document(truth, trail, mgmt, network, queries), indent=2)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to write s3/, metadata/ and faults.json into (default: next to this script)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args()
    counts = generate(args.out, args.seed)
    print(f"wrote {counts['default']} default-format and {counts['custom']} custom-format records under {args.out}")


if __name__ == "__main__":
    main()
