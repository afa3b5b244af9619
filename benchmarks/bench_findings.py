"""Benchmark: findings over 10 and 50 million flow records, next to plain DuckDB scans of the same files.

    python benchmarks/bench_findings.py [--records 10000000 50000000] [--cache DIR] [--profile]
                                        [--steps scan groupby conversations findings] [--setting NAME=VALUE]

1. Generates, once per size (seed 1, cached in ``--cache``, default /tmp/flowlogs-bench-lake-N),
   a lake written directly as Parquet in the lake schema (``pipeline.conform.SCHEMA``) under
   flows/aws_account=…/aws_region=…/dt=…/, files of 2.5M rows in time order: one account and
   region, 24 hours (12:00 to 12:00 UTC, so two dt partitions), 2,000 Fargate tasks on 700 task
   IPs (an IP is reused when its task stops), 10 interface endpoints with 2 ENIs each, one NAT
   gateway. Each conversation is logged at the task ENI and at the endpoint ENI (or the NAT ENI:
   its private and its public leg), both directions, with SYN / SYN-ACK / FIN flags, in 60-second
   windows; 70% fit in one window, 5% last 10 to 120 windows. About 4.5% of the conversations
   fail: three misconfigured (service, endpoint) pairs (REJECT at the source's egress, REJECT at
   the endpoint's ingress, no reply) and a few scattered ones without a reply. A metadata
   snapshot (task ENI assignments, endpoint and NAT ENIs, VPC endpoints, the VPC, subnets,
   security groups and rules, routes, ACL, ip-ranges of the public destinations) lets the
   findings name tasks and endpoints.
2. Measures each step in a fresh process, so that its peak RSS is its own:
   - ``scan``: ``SELECT count(*), sum(bytes) FROM flows`` (reading every record once);
   - ``groupby``: a one-pass GROUP BY of the 5-tuple into a temp table;
   - ``conversations``: ``analysis.connect`` + ``findings.build_conversations`` (the heavy query);
   - ``findings``: ``analysis.connect`` (as the reports connect) + ``load_network`` + ``findings.find``, with the time of
     each phase of ``find`` (conversations, destinations, the findings query with its
     per-finding samples, evidence, timeline) and what it found;
   - ``findings_named``: the same with Route 53 Resolver query logs for the day (generated once
     in a sibling lake, ``<lake>-named/``: every task IP asks every 10 minutes for the S3 and DynamoDB
     names, 8 public addresses each, and for one endpoint's name; ~300k queries, 2.4M answered
     addresses) in the lake (a sibling lake of hard links, ``<lake>-named/``), so ``destinations``
     includes the name join (issue 12: it may add at most 30%);
   and prints wall time, CPU time (user + system, all threads) and peak RSS. ``--profile`` also
   runs ``EXPLAIN ANALYZE`` on the conversations query and prints the operators that took the
   most time. ``--setting`` applies a DuckDB setting to the plain connection of ``scan`` and
   ``groupby`` (e.g. ``memory_limit=3GB``); the analysis's connections are locked once made, and
   take their memory limit from ``$FLOWLOGS_MEMORY_LIMIT`` as the CLI does (``--memory-limit``), e.g.
   ``FLOWLOGS_MEMORY_LIMIT=3GB python benchmarks/bench_findings.py --records 50000000 --steps findings``.
   Wall times depend on other load on the machine; CPU times less so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.analysis import connection as analysis
from pipeline.analysis import findings
from pipeline.lake import store as lake
from pipeline.lake import views as lakeviews
from pipeline import queries, tables
from pipeline.addresses import cidr_bounds
from pipeline.ingest.conform import SCHEMA
from pipeline.metadata import schema as meta_schema
from pipeline.metadata import store as meta_store

ACCOUNT, REGION, VPC = "123456789012", "eu-west-1", "vpc-0be0c4000000000001"
T0 = 1795780800  # 2026-11-27T12:00:00Z
SPAN = 24 * 3600
FILE_ROWS = 2_500_000
ROW_GROUP = 1 << 17  # as pipeline.ingest writes
LOG_FORMAT = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
              "action log-status vpc-id subnet-id tcp-flags flow-direction pkt-srcaddr pkt-dstaddr az-id")
N_TASKS, N_TASK_IPS = 2000, 700
SERVICES = ["orders", "billing", "reports", "ingest", "catalog", "search", "checkout", "payments", "shipping",
            "inventory", "users", "auth", "notify", "pricing", "reviews", "media", "feeds", "audit", "export", "admin"]
ENDPOINTS = ["logs", "ecr.api", "ecr.dkr", "sqs", "sns", "secretsmanager", "kms", "sts", "ssm", "monitoring"]
ENDPOINT_WEIGHTS = [30, 3, 8, 15, 5, 6, 6, 4, 3, 5]  # of the 85% of conversations that go to an endpoint
NAT_SHARE = 0.15  # to S3 / DynamoDB public addresses through the NAT gateway
PUBLIC = [("52.218.0.0/17", "S3", 48), ("52.119.240.0/21", "DYNAMODB", 16)]  # prefix, service, addresses used
AZS = ["euw1-az1", "euw1-az2"]
SUBNETS = [("subnet-0task0000000000a", "10.0.16.0/20"), ("subnet-0task0000000000b", "10.0.32.0/20"),  # tasks
           ("subnet-0vpce0000000000a", "10.0.2.0/24"), ("subnet-0vpce0000000000b", "10.0.3.0/24"),  # endpoints
           ("subnet-0public000000000a", "10.0.0.0/24")]  # NAT gateway
SUBNET_IDS = [subnet for subnet, _ in SUBNETS]

# Conversation kinds and, for each, the records of one 60-s window ("legs"): the ENI that logs
# the record, its flow-direction, request (1) or reply (0), REJECT (1) and NAT public leg (1).
TASK, ENDPOINT, NAT = 0, 1, 2
DIRECTIONS = ["egress", "ingress"]
OUT, IN = 0, 1
OK_ENDPOINT, OK_NAT, REJECT_SOURCE, REJECT_DESTINATION, NO_REPLY, NO_REPLY_NAT = range(6)
LEGS = [
    [(TASK, OUT, 1, 0, 0), (TASK, IN, 0, 0, 0), (ENDPOINT, IN, 1, 0, 0), (ENDPOINT, OUT, 0, 0, 0)],  # OK_ENDPOINT
    [(TASK, OUT, 1, 0, 0), (TASK, IN, 0, 0, 0), (NAT, IN, 1, 0, 0), (NAT, OUT, 0, 0, 0),  # OK_NAT: private leg,
     (NAT, OUT, 1, 0, 1), (NAT, IN, 0, 0, 1)],  # then public leg
    [(TASK, OUT, 1, 1, 0)],  # REJECT_SOURCE
    [(TASK, OUT, 1, 0, 0), (ENDPOINT, IN, 1, 1, 0)],  # REJECT_DESTINATION
    [(TASK, OUT, 1, 0, 0), (ENDPOINT, IN, 1, 0, 0)],  # NO_REPLY
    [(TASK, OUT, 1, 0, 0), (NAT, IN, 1, 0, 0), (NAT, OUT, 1, 0, 1)],  # NO_REPLY_NAT
]
N_LEGS = np.array([len(legs) for legs in LEGS])
LEG = {name: np.array([[legs[min(j, len(legs) - 1)][field] for j in range(N_LEGS.max())] for legs in LEGS])
       for field, name in enumerate(("eni", "direction", "request", "reject", "public"))}  # [kind, leg] -> value
# Misconfigured (service, endpoint) pairs; a quarter of such a service's calls go there (SDK retries).
FAULTS = {("billing", "kms"): REJECT_SOURCE, ("reports", "secretsmanager"): REJECT_DESTINATION,
          ("ingest", "sts"): NO_REPLY}
FAULT_SHARE = 0.25
SCATTERED_NO_REPLY = 0.0001
RECORDS_PER_CONVERSATION = 20  # about: 4 records a window, 5.3 windows on average


# --- the account ---------------------------------------------------------------------------------

@dataclass
class Account:
    """Everything the records refer to, as pools of strings and integer arrays indexing them."""

    addresses: list[str]
    enis: list[str]
    task_eni: np.ndarray      # per task: index into enis
    task_ip: np.ndarray       # per task: index into addresses
    task_subnet: np.ndarray   # per task: index into SUBNETS (0: AZ 1, 1: AZ 2)
    task_service: np.ndarray  # per task: index into SERVICES
    task_from: np.ndarray     # per task: epoch seconds
    task_to: np.ndarray       # per task: epoch seconds, inf while running
    task_slot_keys: np.ndarray  # slot * 2**40 + task_from, sorted: which task holds a slot at a time
    task_ids: list[str]
    endpoint_eni: np.ndarray  # [endpoint, az] -> index into enis
    endpoint_ip: np.ndarray   # [endpoint, az] -> index into addresses
    nat_eni: int
    nat_ip: int
    public_ip: np.ndarray     # indexes into addresses of the S3 / DynamoDB addresses


def make_account(rng: np.random.Generator) -> Account:
    """2,000 tasks on 700 task IPs (each IP held by a sequence of tasks), endpoints, NAT, public IPs."""
    slots = np.concatenate([np.arange(N_TASK_IPS), rng.integers(0, N_TASK_IPS, N_TASKS - N_TASK_IPS)])
    starts = rng.integers(T0, T0 + SPAN, N_TASKS).astype(np.float64)
    starts[:N_TASK_IPS] = T0 - rng.integers(600, 6 * 3600, N_TASK_IPS)  # each IP's first task started earlier
    order = np.lexsort((starts, slots))
    slots, starts = slots[order], starts[order]
    same_slot_next = np.append(slots[1:] == slots[:-1], False)
    ends = np.where(same_slot_next, np.append(starts[1:], 0) - 30, np.inf)  # stopped 30 s before the next

    addresses = [f"10.0.{16 + 16 * (s % 2) + (10 + s // 2) // 256}.{(10 + s // 2) % 256}" for s in range(N_TASK_IPS)]
    endpoint_ip = np.array([[len(addresses) + 2 * e + az for az in range(2)] for e in range(len(ENDPOINTS))])
    addresses += [f"10.0.{2 + az}.{10 + e}" for e in range(len(ENDPOINTS)) for az in range(2)]
    nat_ip = len(addresses)
    addresses.append("10.0.0.5")
    public_ip = np.arange(len(addresses), len(addresses) + sum(n for _, _, n in PUBLIC))
    for prefix, _, n in PUBLIC:
        a, b, c, _ = (int(x) for x in prefix.split("/")[0].split("."))
        addresses += [f"{a}.{b}.{c + i // 200}.{10 + i % 200}" for i in range(n)]

    enis = [f"eni-0a{i:015x}" for i in range(N_TASKS)]
    endpoint_eni = np.arange(N_TASKS, N_TASKS + 2 * len(ENDPOINTS)).reshape(len(ENDPOINTS), 2)
    enis += [f"eni-0e{e:013x}{az:02x}" for e in range(len(ENDPOINTS)) for az in range(2)]
    enis.append("eni-0a7000000000000001")
    return Account(
        addresses=addresses, enis=enis,
        task_eni=np.arange(N_TASKS), task_ip=slots, task_subnet=slots % 2,
        task_service=rng.integers(0, len(SERVICES), N_TASKS), task_from=starts, task_to=ends,
        task_slot_keys=slots * 2**40 + starts.astype(np.int64),
        task_ids=[f"{rng.integers(0, 2**63):016x}{rng.integers(0, 2**63):016x}" for _ in range(N_TASKS)],
        endpoint_eni=endpoint_eni, endpoint_ip=endpoint_ip, nat_eni=len(enis) - 1, nat_ip=nat_ip,
        public_ip=public_ip,
    )


# --- conversations and their records -------------------------------------------------------------

def destination_weights() -> np.ndarray:
    """[service, choice] probabilities; choices are the endpoints, then 'through the NAT'."""
    base = np.array(ENDPOINT_WEIGHTS + [0], dtype=float)
    base = base / base.sum() * (1 - NAT_SHARE)
    base[-1] = NAT_SHARE
    weights = np.tile(base, (len(SERVICES), 1))
    for service, endpoint in FAULTS:
        row = weights[SERVICES.index(service)] * (1 - FAULT_SHARE)
        row[ENDPOINTS.index(endpoint)] += FAULT_SHARE
        weights[SERVICES.index(service)] = row
    return weights


def fault_table() -> np.ndarray:
    """[service, choice] -> conversation kind."""
    kinds = np.full((len(SERVICES), len(ENDPOINTS) + 1), OK_ENDPOINT)
    kinds[:, -1] = OK_NAT
    for (service, endpoint), kind in FAULTS.items():
        kinds[SERVICES.index(service), ENDPOINTS.index(endpoint)] = kind
    return kinds


def conversations(rng: np.random.Generator, acct: Account, n: int, lo: int, hi: int) -> dict[str, np.ndarray]:
    """``n`` conversations starting in [lo, hi): task, destination, ports, kind, duration in windows."""
    start = rng.integers(lo, hi, n)
    slot = rng.integers(0, N_TASK_IPS, n)
    task = np.searchsorted(acct.task_slot_keys, slot * 2**40 + start, side="right") - 1
    service = acct.task_service[task]
    cumulative = destination_weights().cumsum(axis=1)
    choice = (rng.random(n)[:, None] > cumulative[service]).sum(axis=1)
    choice = np.minimum(choice, len(ENDPOINTS))
    kind = fault_table()[service, choice]
    scattered = rng.random(n) < SCATTERED_NO_REPLY
    kind = np.where(scattered, np.where(kind == OK_NAT, NO_REPLY_NAT, NO_REPLY), kind)

    via_nat = choice == len(ENDPOINTS)
    az = np.where(rng.random(n) < 0.9, acct.task_subnet[task], 1 - acct.task_subnet[task])
    endpoint = np.minimum(choice, len(ENDPOINTS) - 1)
    public = acct.public_ip[rng.integers(0, len(acct.public_ip), n)]
    length = rng.random(n)  # 70% within one window, 25% 2-9 windows, 5% 10-120 windows
    windows = np.select([length < 0.70, length < 0.95], [1, rng.integers(2, 10, n)], rng.integers(10, 121, n))
    windows = np.where(kind >= REJECT_SOURCE, 1, windows)
    left = np.floor((acct.task_to[task] - start) / 60).clip(1, None)  # the task stops: so does the connection
    return {
        "start": start,
        "task": task,
        "dest_ip": np.where(via_nat, public, acct.endpoint_ip[endpoint, az]),
        "dest_eni": np.where(via_nat, acct.nat_eni, acct.endpoint_eni[endpoint, az]),
        "dest_subnet": np.where(via_nat, 4, 2 + az),  # index into SUBNETS
        "client_port": rng.integers(32768, 61000, n),
        "nat_port": rng.integers(1024, 65536, n),
        "kind": kind,
        "windows": np.minimum(windows, left).astype(np.int64),
    }


def expand(conv: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One row per record: conversation index, window number and leg."""
    per_window = N_LEGS[conv["kind"]]
    count = conv["windows"] * per_window
    index = np.repeat(np.arange(len(count)), count)
    offset = np.arange(len(index)) - np.repeat(np.cumsum(count) - count, count)
    return {"conv": index, "window": offset // per_window[index], "leg": offset % per_window[index]}


def tcp_flags(request: np.ndarray, window: np.ndarray, windows: np.ndarray, failing: np.ndarray) -> np.ndarray:
    """SYN (+FIN when it all fits in one window) / SYN-ACK in the first window, FIN in the last, 0 between."""
    first, last = window == 0, window == windows - 1
    opening = np.where(request, 2, 18) + np.where(last & ~failing, 1, 0)
    return np.where(first, opening, np.where(last, 1, 0)).astype(np.int32)


def in_time_order(rng: np.random.Generator, conv: dict, rec: dict) -> dict[str, np.ndarray]:
    """The records with their start time, sorted by it (as a delivered log file roughly is)."""
    start = conv["start"][rec["conv"]] + 60 * rec["window"] + rng.integers(0, 5, len(rec["conv"]))
    order = np.argsort(start, kind="stable")
    return {"start": start[order], **{k: v[order] for k, v in rec.items()}}


def record_table(rng: np.random.Generator, acct: Account, conv: dict, rec: dict, source: str,
                 first_line: int) -> pa.Table:
    """The records as a table of the lake schema (the fields a v5 custom format lacks are null)."""
    start, c, window, leg = rec["start"], rec["conv"], rec["window"], rec["leg"]
    kind = conv["kind"][c]
    eni_role, request = LEG["eni"][kind, leg], LEG["request"][kind, leg].astype(bool)
    public_leg = LEG["public"][kind, leg].astype(bool)
    task = conv["task"][c]
    task_ip, dest_ip = acct.task_ip[task], conv["dest_ip"][c]
    client_ip = np.where(public_leg, acct.nat_ip, task_ip)
    client_port = np.where(public_leg, conv["nat_port"][c], conv["client_port"][c])
    # the NAT ENI's private leg shows the NAT's own address in srcaddr/dstaddr, the endpoints in pkt-*
    server_ip = np.where((eni_role == NAT) & ~public_leg, acct.nat_ip, dest_ip)
    subnet = np.where(eni_role == TASK, acct.task_subnet[task], conv["dest_subnet"][c])
    packets = rng.integers(1, 40, len(c))
    n = len(c)
    columns = {
        "version": pa.array(np.full(n, 5, np.int32)),
        "account_id": pa.repeat(ACCOUNT, n),
        "interface_id": take(acct.enis, np.where(eni_role == TASK, acct.task_eni[task], conv["dest_eni"][c])),
        "srcaddr": take(acct.addresses, np.where(request, client_ip, server_ip)),
        "dstaddr": take(acct.addresses, np.where(request, server_ip, client_ip)),
        "srcport": pa.array(np.where(request, client_port, 443).astype(np.int32)),
        "dstport": pa.array(np.where(request, 443, client_port).astype(np.int32)),
        "protocol": pa.array(np.full(n, 6, np.int32)),
        "packets": pa.array(packets),
        "bytes": pa.array(packets * rng.integers(60, 1400, n)),
        "start": pa.array(start),
        "end": pa.array(start + 59 - rng.integers(0, 5, n)),
        "action": take(["ACCEPT", "REJECT"], LEG["reject"][kind, leg]),
        "log_status": pa.repeat("OK", n),
        "vpc_id": pa.repeat(VPC, n),
        "subnet_id": take(SUBNET_IDS, subnet),
        "tcp_flags": pa.array(tcp_flags(request, window, conv["windows"][c], kind >= REJECT_SOURCE)),
        "flow_direction": take(DIRECTIONS, LEG["direction"][kind, leg]),
        "pkt_srcaddr": take(acct.addresses, np.where(request, client_ip, dest_ip)),
        "pkt_dstaddr": take(acct.addresses, np.where(request, dest_ip, client_ip)),
        "az_id": take(AZS, subnet % 2),
        "_source": pa.repeat(source, n),
        "_line": pa.array(np.arange(first_line, first_line + n)),
        "_format": pa.repeat(LOG_FORMAT, n),
        "_ingest_id": pa.repeat(source.rsplit("/", 1)[-1], n),
    }
    return pa.table([columns.get(f.name, pa.nulls(n, f.type)).cast(f.type) for f in SCHEMA], schema=SCHEMA)


def take(pool: list[str], index: np.ndarray) -> pa.Array:
    return pa.array(pool, pa.string()).take(pa.array(np.asarray(index, np.int64)))


# --- the lake --------------------------------------------------------------------------------------

def generate(path: Path, n_records: int, seed: int = 1) -> None:
    """Write ``n_records`` flow records and the metadata snapshot into a new lake at ``path``."""
    rng = np.random.default_rng(seed)
    store = lake.open_lake(path)
    acct = make_account(rng)
    chunks = max(1, round(n_records / FILE_ROWS))
    written = 0
    for i in range(chunks):
        lo, hi = T0 + SPAN * i // chunks, T0 + SPAN * (i + 1) // chunks
        target = n_records * (i + 1) // chunks - written
        conv = conversations(rng, acct, target // RECORDS_PER_CONVERSATION + 1000, lo, hi)
        rec = expand(conv)
        while len(rec["conv"]) < target:  # too few: more conversations in the same slice
            more = conversations(rng, acct, (target - len(rec["conv"])) // RECORDS_PER_CONVERSATION + 1000, lo, hi)
            conv = {k: np.concatenate([conv[k], more[k]]) for k in conv}
            rec = expand(conv)
        rec = {k: v[:target] for k, v in rec.items()}
        write_records(path, rng, acct, conv, rec, f"bench-{i:04d}")
        written += target
    write_metadata(store, acct)
    (path / "bench.json").write_text(json.dumps({"records": n_records, "seed": seed}))


def write_records(path: Path, rng: np.random.Generator, acct: Account, conv: dict, rec: dict, stem: str) -> None:
    """Write the records, in time order, into their dt partitions: one file each, built a few row groups
    at a time (a whole file's constant text columns would take gigabytes)."""
    rec = in_time_order(rng, conv, rec)
    source = f"s3://flowlogs-bench/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/{stem}.log.gz"
    days = rec["start"] // 86400
    bounds = np.flatnonzero(np.diff(days)) + 1
    for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(days)]]), strict=True):
        dt = time.strftime("%Y-%m-%d", time.gmtime(int(days[lo]) * 86400))
        directory = path / "flows" / f"aws_account={ACCOUNT}" / f"aws_region={REGION}" / f"dt={dt}"
        directory.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(directory / f"{stem}.parquet", SCHEMA, compression="zstd") as writer:
            for part in range(lo, hi, 4 * ROW_GROUP):
                piece = {k: v[part:min(hi, part + 4 * ROW_GROUP)] for k, v in rec.items()}
                writer.write_table(record_table(rng, acct, conv, piece, source, part - lo + 1),
                                   row_group_size=ROW_GROUP)


def write_metadata(store, acct: Account) -> None:
    """One committed snapshot, taken at the end of the day, as ``pipeline.metadata.store`` writes them."""
    when = datetime.fromtimestamp(T0 + SPAN, UTC)
    tables = {**task_assignments(acct), **interfaces_and_endpoints(acct), **network_configuration()}
    data = {name: meta_schema.to_table(name, [{"snapshot_id": "bench", "snapshot_time": when, "source": "bench", **r}
                                               for r in rows]) for name, rows in tables.items()}
    meta_store.write_snapshot(store, "bench", data, {"snapshot_id": "bench", "documents": []})


def utc(seconds: float) -> datetime | None:
    return datetime.fromtimestamp(float(seconds), UTC) if np.isfinite(seconds) else None


def task_assignments(acct: Account) -> dict[str, list[dict]]:
    """Which task held which ENI and IP, and when (as ECS task state change events say)."""
    groups = {"billing": "sg-0billing"}  # the others have sg-0task
    return {"eni_assignments": [
        dict(eni_id=acct.enis[acct.task_eni[t]], ip=acct.addresses[acct.task_ip[t]], ip_version=4,
             task_id=acct.task_ids[t], task_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/{acct.task_ids[t]}",
             cluster_name="prod", service_name=SERVICES[acct.task_service[t]],
             subnet_id=SUBNET_IDS[acct.task_subnet[t]], vpc_id=VPC, availability_zone=AZS[acct.task_subnet[t]],
             security_group_ids=[groups.get(SERVICES[acct.task_service[t]], "sg-0task")],
             valid_from=utc(acct.task_from[t]), valid_to=utc(acct.task_to[t]), source="ecs_event",
             source_file="bench", snapshot_id="bench")
        for t in range(N_TASKS)]}


def endpoint_group(name: str) -> str:
    return "sg-0vpce-secrets" if name == "secretsmanager" else "sg-0vpce"


def interfaces_and_endpoints(acct: Account) -> dict[str, list[dict]]:
    """The endpoint and NAT ENIs, the interface endpoints, the NAT gateway."""
    endpoint_enis = [
        dict(eni_id=acct.enis[acct.endpoint_eni[e, az]], kind="vpc_endpoint", interface_type="vpc_endpoint",
             vpc_id=VPC, subnet_id=SUBNET_IDS[2 + az], private_ip=acct.addresses[acct.endpoint_ip[e, az]],
             private_ips=[acct.addresses[acct.endpoint_ip[e, az]]], resource_id=f"vpce-0{e:016x}",
             security_group_ids=[endpoint_group(name)])
        for e, name in enumerate(ENDPOINTS) for az in range(2)]
    nat = dict(subnet_id=SUBNET_IDS[4], private_ip=acct.addresses[acct.nat_ip], public_ip="34.240.0.1")
    return {
        "network_interfaces": endpoint_enis + [
            dict(eni_id=acct.enis[acct.nat_eni], kind="nat_gateway", interface_type="nat_gateway", vpc_id=VPC,
                 private_ips=[nat["private_ip"]], resource_id="nat-0bench", **nat)],
        "vpc_endpoints": [
            dict(endpoint_id=f"vpce-0{e:016x}", vpc_id=VPC, service_name=f"com.amazonaws.{REGION}.{name}",
                 aws_service=name, endpoint_type="Interface", state="available", private_dns_enabled=True,
                 network_interface_ids=[acct.enis[i] for i in acct.endpoint_eni[e]], subnet_ids=SUBNET_IDS[2:4],
                 security_group_ids=[endpoint_group(name)])
            for e, name in enumerate(ENDPOINTS)],
        "nat_gateways": [dict(nat_gateway_id="nat-0bench", vpc_id=VPC, state="available",
                              eni_id=acct.enis[acct.nat_eni], **nat)],
    }


def network_configuration() -> dict[str, list[dict]]:
    """The VPC, subnets, security groups and rules (the faults' causes among them), ACL, routes, ip-ranges."""
    allow_all_out = dict(direction="egress", protocol=-1, peer_type="cidr_ipv4", peer="0.0.0.0/0")
    https_in = dict(direction="ingress", protocol=6, from_port=443, to_port=443)
    return {
        "vpcs": [dict(vpc_id=VPC, cidr_blocks=["10.0.0.0/16"])],
        "subnets": [dict(subnet_id=s, vpc_id=VPC, cidr_block=c, availability_zone_id=AZS[i % 2])
                    for i, (s, c) in enumerate(SUBNETS)],
        "security_groups": [dict(group_id=g, vpc_id=VPC, group_name=g[5:])
                            for g in ("sg-0task", "sg-0billing", "sg-0vpce", "sg-0vpce-secrets")],
        "security_group_rules": [
            dict(group_id="sg-0task", **allow_all_out),
            dict(group_id="sg-0billing", direction="egress", protocol=6, from_port=5432, to_port=5432,
                 peer_type="cidr_ipv4", peer="10.0.0.0/16"),  # no 443: billing -> kms is rejected on the way out
            dict(group_id="sg-0vpce", peer_type="cidr_ipv4", peer="10.0.0.0/16", **https_in),
            dict(group_id="sg-0vpce-secrets", peer_type="security_group", peer="sg-0billing", **https_in),
            dict(group_id="sg-0vpce", **allow_all_out),
            dict(group_id="sg-0vpce-secrets", **allow_all_out),
        ],
        "network_acls": [dict(network_acl_id="acl-0default", vpc_id=VPC, is_default=True, subnet_ids=SUBNET_IDS,
                              rule_number=n, egress=e, protocol=-1, rule_action=a, cidr_block="0.0.0.0/0")
                         for e in (True, False) for n, a in ((100, "allow"), (32767, "deny"))],
        "route_tables": [dict(route_table_id="rtb-0tasks", vpc_id=VPC, is_main=False, subnet_ids=SUBNET_IDS[:2],
                              destination=d, destination_type="ipv4", target_type=t, target_id=i, state="active")
                         for d, t, i in (("10.0.0.0/16", "local", "local"),
                                         ("0.0.0.0/0", "nat_gateway", "nat-0bench"))],
        "aws_ip_ranges": [dict(prefix=p, ip_version=4, service=s, region=REGION, network_border_group=REGION,
                               prefix_length=int(p.split("/")[1]), range_start=cidr_bounds(p)[0],
                               range_end=cidr_bounds(p)[1]) for p, s, _ in PUBLIC],
    }


def ensure_lake(path: Path, n_records: int) -> None:
    """Generate the lake at ``path`` unless it is there already."""
    marker = path / "bench.json"
    if marker.exists() and json.loads(marker.read_text())["records"] == n_records:
        return
    if path.exists() and any(path.iterdir()):
        raise SystemExit(f"{path} exists and is not a benchmark lake of {n_records:,} records: remove it first")
    started = time.perf_counter()
    generate(path, n_records)
    print(f"generated {n_records:,} records in {path} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)


# --- measurements (each in its own process) ---------------------------------------------------------

def usage() -> tuple[float, float]:
    """(CPU seconds, peak RSS in MB) of this process so far.

    The peak is ``ru_maxrss`` unless /proc says VmHWM: on Linux ``ru_maxrss`` survives
    fork + exec, so a child would report its parent's RSS when that was larger.
    """
    r = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = r.ru_maxrss
    status = Path("/proc/self/status")
    if status.exists():
        peak_kb = next((int(line.split()[1]) for line in status.read_text().splitlines()
                        if line.startswith("VmHWM:")), peak_kb)
    return r.ru_utime + r.ru_stime, peak_kb / 1024


def plain_connection(store, settings: list[str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    lakeviews.register_record_views(con, store)
    apply(con, settings)
    return con


def apply(con, settings: list[str]) -> None:
    for setting in settings:
        name, value = setting.split("=", 1)
        con.execute(f"SET {name} = '{value}'")


def step_scan(store, settings: list[str]) -> dict:
    count, _ = plain_connection(store, settings).execute("SELECT count(*), sum(bytes) FROM flows").fetchone()
    return {"rows": count}


def step_groupby(store, settings: list[str]) -> dict:
    con = plain_connection(store, settings)
    con.execute("""CREATE TEMP TABLE tuples AS
                   SELECT srcaddr, dstaddr, srcport, dstport, protocol, count(*) AS records, sum(packets) AS packets,
                          sum(bytes) AS bytes, min("start") AS first_seen, max("end") AS last_seen
                   FROM flows GROUP BY srcaddr, dstaddr, srcport, dstport, protocol""")
    return {"rows": con.execute("SELECT count(*) FROM tuples").fetchone()[0]}


def step_conversations(store, settings: list[str]) -> dict:
    """connect + build_conversations only: the heavy query on its own."""
    con = analysis.connect(store)
    findings.build_conversations(con, findings.Window())
    return {"conversations": con.execute("SELECT count(*) FROM conversations").fetchone()[0]}


def named_lake(path: Path) -> Path:
    """The lake at ``path`` plus the day's Resolver query logs (table ``dns_queries``), as a sibling lake of
    hard links (cached): the analysis opens nothing outside its lake."""
    out = Path(f"{path}-named")
    marker = out / "named.json"
    if marker.exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    for f in path.rglob("*"):
        if f.is_file():
            (out / f.relative_to(path)).parent.mkdir(parents=True, exist_ok=True)
            os.link(f, out / f.relative_to(path))
    table = dns_queries()
    days = pc.strftime(table["query_time"], "%Y-%m-%d")
    for day in sorted(set(days.to_pylist())):
        directory = out / "dns_queries" / f"aws_account={ACCOUNT}" / f"aws_region={REGION}" / f"dt={day}"
        directory.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.filter(pc.equal(days, day)), directory / "bench.parquet", compression="zstd")
    marker.write_text(json.dumps({"dns_queries": table.num_rows}))
    return out


def dns_queries() -> pa.Table:
    """The day's Resolver query logs of the benchmark account, in the lake's schema."""
    rng = np.random.default_rng(1)
    acct = make_account(rng)
    rng = np.random.default_rng(2)
    s3, ddb = acct.public_ip[:PUBLIC[0][2]], acct.public_ip[PUBLIC[0][2]:]
    rows: dict[str, list] = {k: [] for k in ("query_time", "srcaddr", "name", "answer_addresses")}
    for slot in range(N_TASK_IPS):
        for t in range(T0 - 3600 + int(rng.integers(0, 600)), T0 + SPAN, 600):
            endpoint = int(rng.integers(0, len(ENDPOINTS)))
            for name, answer in ((f"s3.{REGION}.amazonaws.com", rng.choice(s3, 8, replace=False)),
                                 (f"dynamodb.{REGION}.amazonaws.com", rng.choice(ddb, 8, replace=False)),
                                 (f"{endpoint_hostname(endpoint)}", acct.endpoint_ip[endpoint])):
                rows["query_time"].append(datetime.fromtimestamp(t + int(rng.integers(0, 60)), UTC))
                rows["srcaddr"].append(acct.addresses[slot])
                rows["name"].append(name)
                rows["answer_addresses"].append([acct.addresses[i] for i in answer])
    n = len(rows["name"])
    columns = {
        "query_time": pa.array(rows["query_time"], pa.timestamp("ms", tz="UTC")),
        "account_id": pa.array([ACCOUNT] * n), "region": pa.array([REGION] * n), "vpc_id": pa.array([VPC] * n),
        "query_name": pa.array([x + "." for x in rows["name"]]), "name": pa.array(rows["name"]),
        "query_type": pa.array(["A"] * n), "query_class": pa.array(["IN"] * n), "rcode": pa.array(["NOERROR"] * n),
        "answers": pa.array([[{"rdata": a, "type": "A", "class": "IN"} for a in addrs]
                             for addrs in rows["answer_addresses"]], tables.DNS_QUERIES.schema.field("answers").type),
        "answer_addresses": pa.array(rows["answer_addresses"], pa.list_(pa.string())),
        "srcaddr": pa.array(rows["srcaddr"]), "srcport": pa.array([53000] * n, pa.int32()),
        "transport": pa.array(["UDP"] * n),
    }
    schema = tables.DNS_QUERIES.schema
    return pa.table([columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema],
                    schema=schema)


def endpoint_hostname(endpoint: int) -> str:
    first, _, rest = ENDPOINTS[endpoint].partition(".")
    return f"{rest}.{first}.{REGION}.amazonaws.com" if rest else f"{first}.{REGION}.amazonaws.com"


def step_findings_named(store, settings: list[str]) -> dict:
    """``findings`` over the same lake with the day's query logs in it: the name join's cost."""
    return step_findings(lake.open_lake(named_lake(Path(store.root))), settings)


def step_findings(store, settings: list[str]) -> dict:
    """connect + load_network + find, with the time of each phase of ``find``."""
    phases: dict[str, float] = {}

    def timed(name, fn):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0) + time.perf_counter() - started
        return run

    for name in ("build_conversations", "build_destinations", "evidence", "timeline"):
        setattr(findings, name, timed(name, getattr(findings, name)))
    con = timed("connect", analysis.connect)(store, reports=True)  # as `report findings` connects
    network = timed("load_network", analysis.load_network)(con)
    doc = timed("find", findings.find)(con, network, lake=store.uri)
    phases["findings_query_and_samples"] = phases["find"] - sum(
        phases[n] for n in ("build_conversations", "build_destinations", "evidence", "timeline"))
    kinds: dict[str, int] = {}
    for f in doc["findings"]:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    return {
        "phases": {k: round(v, 2) for k, v in phases.items()},
        "conversations": dict(con.execute("SELECT state, count(*) FROM conversations GROUP BY state").fetchall()),
        "findings": kinds,
        "named_conversations": con.execute("SELECT count(*) FROM conversation_names").fetchone()[0],
    }


def step_profile(store, settings: list[str]) -> dict:
    """EXPLAIN ANALYZE of the conversations query: the operators that took the most time."""
    con = analysis.connect(store)
    first, last = findings.lake_bounds(con)
    params = {"since": first, "until": last + 1, "as_of": last, "settle": findings.DEFAULT_SETTLE, "addrs": None,
              "port": None}
    con.execute(queries.get("flow_reduction").sql)  # the table macro conversations.sql reads, as build_conversations
    plan = json.loads(con.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {queries.get('conversations').sql}",
                                  params).fetchone()[1])
    operators = []

    def walk(node):
        info = node.get("extra_info") or {}
        detail = info.get("Groups") or info.get("Conditions") or info.get("Join Type") or info.get("Projections") or ""
        operators.append({"operator": node["name"], "seconds": round(node.get("timing", 0), 2),
                          "rows": node.get("intermediate_rows", 0), "detail": str(detail)[:90]})
        for child in node.get("children", []):
            walk(child)

    for root in plan["operator"]:
        walk(root)
    top = sorted(operators, key=lambda o: -o["seconds"])[:12]
    return {"query_seconds": round(plan["query"]["total_time"], 2), "cpu_seconds": round(plan["query"]["cpu_time"], 2),
            "peak_buffer_mb": round(plan["system"]["peak_buffer_memory"] / 2**20),
            "spilled_mb": round(plan["system"]["total_bytes_spilled"] / 2**20), "top_operators": top}


STEPS = {"scan": step_scan, "groupby": step_groupby, "conversations": step_conversations, "findings": step_findings,
         "findings_named": step_findings_named, "profile": step_profile}


def child(step: str, lake_path: str, settings: list[str]) -> None:
    """Run one step in this (fresh) process and print its measures as JSON."""
    from pipeline.lake import limits

    limits.set_memory_limit(os.environ.get("FLOWLOGS_MEMORY_LIMIT"))  # as the CLI's --memory-limit
    cpu0, _ = usage()
    started = time.perf_counter()
    result = STEPS[step](lake.open_lake(lake_path), settings)
    wall = time.perf_counter() - started
    cpu, rss = usage()
    print(json.dumps({"step": step, "wall_s": round(wall, 2), "cpu_s": round(cpu - cpu0, 2),
                      "peak_rss_mb": round(rss), **result}))


def run_step(step: str, lake_path: Path, settings: list[str]) -> dict:
    args = [sys.executable, __file__, "--child", step, "--lake", str(lake_path)]
    for setting in settings:
        args += ["--setting", setting]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# --- report ----------------------------------------------------------------------------------------

def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?")
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    return (f"{os.cpu_count()} CPUs ({model}), {memory_kb / 2**20:.0f} GiB RAM, "
            f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}, Python {sys.version.split()[0]}")


def print_table(results: list[tuple[int, dict]]) -> None:
    print(f"\n{'records':>12}  {'step':<10} {'wall s':>8} {'cpu s':>8} {'peak RSS MB':>12}  details")
    for n, r in results:
        details = {k: v for k, v in r.items() if k not in ("step", "wall_s", "cpu_s", "peak_rss_mb", "top_operators")}
        print(f"{n:>12,}  {r['step']:<10} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {r['peak_rss_mb']:>12,}  "
              f"{json.dumps(details)}")


def print_profile(n: int, profile: dict) -> None:
    print(f"\nEXPLAIN ANALYZE conversations, {n:,} records: {profile['query_seconds']} s "
          f"(CPU {profile['cpu_seconds']} s), peak buffer {profile['peak_buffer_mb']} MB, "
          f"spilled {profile['spilled_mb']} MB")
    for op in profile["top_operators"]:
        print(f"  {op['seconds']:>7.2f} s {op['rows']:>12,} rows  {op['operator']:<22} {op['detail']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10_000_000, 50_000_000])
    parser.add_argument("--cache", help="lake directory (one size only; default /tmp/flowlogs-bench-lake-N)")
    parser.add_argument("--steps", nargs="+", default=["scan", "groupby", "conversations", "findings"],
                        choices=sorted(STEPS))
    parser.add_argument("--profile", action="store_true", help="also EXPLAIN ANALYZE the conversations query")
    parser.add_argument("--setting", action="append", default=[], help="DuckDB setting NAME=VALUE for every step")
    parser.add_argument("--child", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.lake, args.setting)
    if args.cache and len(args.records) > 1:
        parser.error("--cache names the lake of one size: give one --records")

    print(machine())
    results = []
    for n in args.records:
        path = Path(args.cache or f"/tmp/flowlogs-bench-lake-{n}")
        ensure_lake(path, n)
        for step in args.steps + (["profile"] if args.profile else []):
            result = run_step(step, path, args.setting)
            if step == "profile":
                print_profile(n, result)
            else:
                results.append((n, result))
                print_table(results[-1:])
            sys.stdout.flush()
    print_table(results)


if __name__ == "__main__":
    main()
