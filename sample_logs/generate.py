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

Written under ``--out`` (default: the folder of this script):

  s3/AWSLogs/...   the flow-log bucket as ``aws s3 sync`` copies it: the default (v2) format
                   in the plain layout, a custom v7 format in the Hive-compatible hourly layout
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

STOPS = {  # why -> stopCode, stoppedReason, container exit code, container reason
    "deployment": ("ServiceSchedulerInitiated", "Scaling activity initiated by (deployment {deployment})", 0, None),
    "oom": ("EssentialContainerExited", "Essential container in task exited", 137,
            "OutOfMemoryError: Container killed due to memory usage"),
    "health": ("ServiceSchedulerInitiated", "Task failed container health checks", 143, None),
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
    revision, _, _, names, _ = SERVICES[service]
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
        enis = self.net.endpoints[service].enis
        same_az = [e for e in enis if e.subnet.az == task.subnet.az]
        return same_az[0] if self.rng.random() < 0.8 else self.rng.choice(enis)

    def endpoint_dest(self, service: str) -> Dest:
        ep = self.net.endpoints[service]
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
            "region": REGION, "az-id": eni.subnet.az_id, "instance-id": "-"}


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


def write_flow_logs(out: Path, net: Network, records: list[tuple], rng: Rand) -> dict[str, int]:
    """One gzip text file per flow log per 5 minutes (slot of the records' end), as S3 delivery does."""
    files: dict[tuple, list] = defaultdict(list)
    for eni, rec in records:
        end = int(rec["end"])
        files[(eni.subnet.name, end - end % 300)].append(rec)
    for stale in sorted(out.glob(f"s3/AWSLogs/**/{ACCOUNT}_vpcflowlogs_*.log.gz")):  # from an earlier seed
        stale.unlink()
    counts = {"default": 0, "custom": 0}
    for (subnet_name, slot), recs in sorted(files.items()):
        subnet = net.subnets[subnet_name]
        fields, version = FORMATS[subnet.fmt]
        recs.sort(key=lambda r: (int(r["end"]), r["interface-id"], int(r["start"]), r.get("srcaddr", ""),
                                 int(r.get("srcport", 0)), r.get("dstaddr", ""), int(r.get("dstport", 0))))
        lines = [" ".join(fields)] + [" ".join([version] + [r.get(f) or "-" for f in fields[1:]]) for r in recs]
        path = out / flow_log_key(net.flow_logs[subnet_name], subnet.fmt, slot, rng.hex(8))
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
    doc.update({
        "Attachment": {"AttachTime": cli_time(int(eni.created) + 1), "AttachmentId": eni.attachment_id,
                       "DeleteOnTermination": False, "DeviceIndex": 1, "NetworkCardIndex": 0,
                       "InstanceOwnerId": instance_owner, "Status": "attached"},
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
        "RequesterId": owner,
        "RequesterManaged": True,
        "SourceDestCheck": eni.kind != "nat_gateway",
        "Status": "in-use",
        "SubnetId": eni.subnet.id,
        "TagSet": [],
        "VpcId": net.vpc_id,
    })
    return doc


def describe_network_interfaces(net: Network, tasks: list[Task]) -> dict:
    enis = net.infra_enis() + [t.eni for t in tasks if t.eni.alive(SNAPSHOT)]
    return {"NetworkInterfaces": [eni_json(net, e) for e in sorted(enis, key=lambda e: e.id)]}


def describe_subnets(net: Network, tasks: list[Task]) -> dict:
    in_use = defaultdict(int)
    for eni in net.infra_enis() + [t.eni for t in tasks if t.eni.alive(SNAPSHOT)]:
        in_use[eni.subnet.name] += 1
    out = []
    for s in net.subnets.values():
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


def describe_vpc_endpoints(net: Network, rng: Rand) -> dict:
    out = []
    for ep in net.endpoints.values():
        label = ".".join(reversed(ep.service.split(".")))  # ecr.api -> api.ecr
        base = f"{ep.id}-{ep.dns_suffix}"
        dns = [{"DnsName": f"{base}.{label}.{REGION}.vpce.amazonaws.com", "HostedZoneId": "Z38GZ743OKFT7T"}]
        dns += [{"DnsName": f"{base}-{AZS[az][0]}.{label}.{REGION}.vpce.amazonaws.com",
                 "HostedZoneId": "Z38GZ743OKFT7T"} for az in "ab"]
        if ep.private_dns:
            zone = "Z0" + rng.alnum(19, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")  # the private hosted zone
            dns.append({"DnsName": ep.private_dns, "HostedZoneId": zone})
        out.append({
            "VpcEndpointId": ep.id, "VpcEndpointType": "Interface", "VpcId": net.vpc_id,
            "ServiceName": ep.service_name, "State": "available", "PolicyDocument": full_access_policy(),
            "RouteTableIds": [], "SubnetIds": [e.subnet.id for e in ep.enis],
            "Groups": [{"GroupId": ep.sg.id, "GroupName": ep.sg.name}], "IpAddressType": "ipv4",
            "DnsOptions": {"DnsRecordIpType": "ipv4"}, "PrivateDnsEnabled": ep.private_dns is not None,
            "RequesterManaged": False, "NetworkInterfaceIds": [e.id for e in ep.enis], "DnsEntries": dns,
            "CreationTimestamp": cli_time(ep.created), "Tags": tags(f"prod-{ep.service.replace('.', '-')}"),
            "OwnerId": ACCOUNT,
        })
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


def describe_flow_logs(net: Network, rng: Rand) -> dict:
    out = []
    for name, fl in net.flow_logs.items():
        fmt = net.subnets[name].fmt
        hive = fmt == "custom"
        out.append({
            "CreationTime": cli_time(BUILT + 86400 + rng.randint(0, 3600) + rng.random()),
            "DeliverLogsStatus": "SUCCESS", "FlowLogId": fl, "FlowLogStatus": "ACTIVE",
            "ResourceId": net.subnets[name].id, "TrafficType": "ALL", "LogDestinationType": "s3",
            "LogDestination": f"arn:aws:s3:::{BUCKET}",
            "LogFormat": " ".join(f"${{{f}}}" for f in FORMATS[fmt][0]),
            "Tags": tags(f"{name}-{'v7' if hive else 'default'}"), "MaxAggregationInterval": 60,
            "DestinationOptions": {"FileFormat": "plain-text", "HiveCompatiblePartitions": hive,
                                   "PerHourPartition": hive},
        })
    return {"FlowLogs": out}


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
    _, cpu, memory, _, _ = SERVICES[task.service]
    why = STOPS[task.stop_why] if stopped else None
    containers = []
    for c in task.containers:
        cj = {"containerArn": c.arn, "taskArn": task.arn, "name": c.name, "image": c.image}
        if status != "PENDING":
            cj.update({"imageDigest": c.digest, "runtimeId": c.runtime_id})
        cj["lastStatus"] = status
        if stopped:
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
                "platformVersion": "1.4.0", "platformFamily": "Linux", "pullStartedAt": when(task.pull_started)})
    if status != "PENDING":
        doc.update({"pullStoppedAt": when(task.pull_stopped), "startedAt": when(task.started)})
    doc["startedBy"] = task.started_by
    if stopped:
        doc.update({"stopCode": why[0], "stoppedAt": when(task.stopped),
                    "stoppedReason": why[1].format(deployment=task.started_by), "stoppingAt": when(task.stopping)})
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


def describe_services(net: Network, tasks: list[Task], rng: Rand) -> dict:
    out = []
    for name, (revision, _, _, containers, subnet_names) in SERVICES.items():
        mine = [t for t in tasks if t.service == name]
        running = sum(1 for t in mine if t.running(SNAPSHOT))
        created = min(t.created for t in mine) - 86400 * rng.randint(20, 300)
        network = {"awsvpcConfiguration": {"subnets": [net.subnets[s].id for s in subnet_names],
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
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True},
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


# --------------------------------------------------------------------------- main

def write_json(path: Path, doc, indent: int = 4) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")


def generate(out: Path, seed: int) -> dict:
    rng = Rand(seed)
    net = Network(rng)
    tasks = build_tasks(net, rng)
    traffic = Traffic(net, tasks, rng).build()
    windows = aggregate(traffic.conns)
    enis = net.infra_enis() + [t.eni for t in tasks]
    records = build_records(net, enis, windows, rng, skipdata_windows(net, tasks))
    counts = write_flow_logs(out, net, records, rng)
    meta = out / "metadata"
    write_json(meta / "describe-network-interfaces.json", describe_network_interfaces(net, tasks))
    write_json(meta / "describe-subnets.json", describe_subnets(net, tasks))
    write_json(meta / "describe-vpcs.json", describe_vpcs(net, rng))
    write_json(meta / "describe-route-tables.json", describe_route_tables(net, rng))
    write_json(meta / "describe-security-groups.json", describe_security_groups(net))
    write_json(meta / "describe-network-acls.json", describe_network_acls(net, rng))
    write_json(meta / "describe-vpc-endpoints.json", describe_vpc_endpoints(net, rng))
    write_json(meta / "describe-nat-gateways.json", describe_nat_gateways(net))
    write_json(meta / "describe-flow-logs.json", describe_flow_logs(net, rng))
    write_json(meta / "describe-managed-prefix-lists.json", describe_managed_prefix_lists())
    write_json(meta / f"get-managed-prefix-list-entries.{S3_PREFIX_LIST}.json", prefix_list_entries())
    write_json(meta / "describe-tasks.json", describe_tasks(tasks))
    write_json(meta / "describe-services.json", describe_services(net, tasks, rng))
    write_json(meta / "ip-ranges.json", ip_ranges(), indent=2)
    (meta / "ecs-task-state-change-events.jsonl").write_text(
        "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in task_events(tasks, rng)), encoding="utf-8")
    write_json(out / "faults.json", GroundTruth(net, tasks, traffic).document(counts), indent=2)
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
