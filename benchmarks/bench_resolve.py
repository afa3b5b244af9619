"""Benchmark: name the owner of both addresses of 10 million flow records.

    python benchmarks/bench_resolve.py [--records 10000000] [--prefixes 10000] [--tasks 50000] [--keep DIR]

1. Generates, deterministically (seed 1), an account as AWS-CLI-shaped files: an ip-ranges.json
   of ~10,000 prefixes (IPv4 and IPv6, nested ranges, AMAZON ties), a VPC with subnets, 12
   interface endpoints (24 ENIs), a NAT gateway, and ECS "Task State Change" events for
   50,000 tasks on 40,000 task IPs (10,000 IPs reused by a second task after the first
   stopped). They are imported with ``import_files`` (the real import path).
2. Generates the flow records with DuckDB into one Parquet file (lake schema column names;
   the v7 ECS fields are empty, as in a default-format flow log).
3. In a fresh process (so peak RSS is the resolution's own): registers the views with
   ``materialize=True``; (a) computes ``flows_with_owners`` (owner kind/id/name/AWS
   service/region of srcaddr and dstaddr for every record) and counts it by owner kinds;
   (b) writes it to Parquet (the enrichment output); prints wall and CPU time, the peak RSS
   and the method, then cross-checks 2,000 random records against the ``resolve`` view. A second process does the same with the plain views
   (``materialize=False``) for comparison. Wall times depend on other load on the machine;
   CPU times less so.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DAY = datetime(2026, 11, 27, tzinfo=timezone.utc)
N_TASK_IPS_SHARE = 0.8  # 40,000 of 50,000 tasks have an IP of their own; the rest reuse one
SERVICES = ["AMAZON", "EC2", "S3", "DYNAMODB", "CLOUDFRONT", "ROUTE53", "API_GATEWAY", "CODEBUILD", "EBS"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"]
ENDPOINT_SERVICES = ["sqs", "sns", "ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts", "kms", "ssm",
                     "ssmmessages", "ec2messages", "monitoring"]
METHOD = """\
method: the DISTINCT srcaddr/dstaddr of the flows are classified once: ip_key (16 bytes, IPv4 as
::ffff:a.b.c.d) by an Arrow-vectorised Python UDF called once per distinct address; the longest
ip-ranges prefix by masking the key's two 64-bit halves to each distinct prefix length and
hash-joining on (length, network) - IPv4 and IPv6 in one pass, no BLOB range join; VPC/subnet
CIDRs by BETWEEN on the keys (a few rows); ENI/endpoint/NAT owners by key equality. Each address
gets an integer addr_id, and the task intervals of those addresses (eni_assignment_intervals:
never overlapping per address) are tagged with it. Then every record joins the address table on
the address text (hash join) and the intervals on (addr_id AND start BETWEEN from AND to): an
integer hash join with a range residual, at most one match. No Python per record."""


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def gen_ip_ranges(rng: random.Random, n: int) -> tuple[dict, list[str]]:
    v4, v6, samples = [], [], []
    seen = set()

    def add(prefix: str, service: str, region: str, version: int) -> None:
        if (prefix, service) in seen:
            return
        seen.add((prefix, service))
        entry = {"region": region, "service": service, "network_border_group": region}
        if version == 4:
            v4.append({"ip_prefix": prefix, **entry})
        else:
            v6.append({"ipv6_prefix": prefix, **entry})

    while len(v4) + len(v6) < n:
        region = rng.choice(REGIONS)
        service = rng.choice(SERVICES)
        if rng.random() < 0.8:
            first = rng.choice([3, 13, 15, 18, 34, 35, 43, 44, 46, 50, 52, 54, 57, 63, 99, 107, 108, 150, 176])
            addr = ipaddress.IPv4Address((first << 24) | rng.getrandbits(24))
            length = rng.randint(14, 28)
            net = ipaddress.ip_network(f"{addr}/{length}", strict=False)
            version = 4
        else:
            addr = ipaddress.IPv6Address((0x2600_1F00 << 96) | rng.getrandbits(104))
            length = rng.randint(36, 64)
            net = ipaddress.ip_network(f"{addr}/{length}", strict=False)
            version = 6
        add(str(net), service, region, version)
        if rng.random() < 0.25:  # an AMAZON parent range
            add(str(net.supernet(prefixlen_diff=min(4, net.prefixlen - 8))), "AMAZON", region, version)
        if service != "AMAZON" and rng.random() < 0.1:  # the same prefix also listed as AMAZON (a tie)
            add(str(net), "AMAZON", region, version)
        if len(samples) < 20_000:
            host = net.network_address + rng.randrange(max(1, net.num_addresses))
            samples.append(str(host))
    return {"syncToken": "1795737600", "createDate": "2026-11-27-00-00-00", "prefixes": v4, "ipv6_prefixes": v6}, samples


def task_ip(k: int) -> str:
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.0.1.0")) + k))


def gen_account(rng: random.Random, out: Path, n_tasks: int, n_prefixes: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    ranges, aws_samples = gen_ip_ranges(rng, n_prefixes)
    (out / "ip-ranges.json").write_text(json.dumps(ranges))
    vpc = "vpc-0be0c4b0e0c4b0001"
    subnets = [{"SubnetId": f"subnet-0be0c4b0e0c4b{i:04x}", "VpcId": vpc, "CidrBlock": f"10.0.{i * 16}.0/20",
                "AvailabilityZone": "us-east-1" + "abc"[i % 3]} for i in range(16)]
    (out / "describe-subnets.json").write_text(json.dumps({"Subnets": subnets}))
    (out / "describe-vpcs.json").write_text(json.dumps({"Vpcs": [{"VpcId": vpc, "CidrBlock": "10.0.0.0/16",
                                                                  "IsDefault": False}]}))
    enis, endpoints, endpoint_ips = [], [], []
    for i, svc in enumerate(ENDPOINT_SERVICES):
        ep = f"vpce-0be0c4b0e0c4b{i:04x}"
        ids = []
        for j in range(2):
            eni = f"eni-0e0d0{i:04x}{j:04x}0000"
            ip = f"10.0.250.{i * 2 + j + 10}"
            ids.append(eni)
            endpoint_ips.append(ip)
            enis.append({"NetworkInterfaceId": eni, "InterfaceType": "vpc_endpoint", "VpcId": vpc,
                         "Description": f"VPC Endpoint Interface {ep}", "PrivateIpAddress": ip,
                         "PrivateIpAddresses": [{"PrivateIpAddress": ip, "Primary": True}], "RequesterManaged": True,
                         "SubnetId": subnets[15]["SubnetId"], "Status": "in-use"})
        endpoints.append({"VpcEndpointId": ep, "VpcEndpointType": "Interface", "VpcId": vpc,
                          "ServiceName": f"com.amazonaws.us-east-1.{svc}", "State": "available",
                          "PrivateDnsEnabled": True, "NetworkInterfaceIds": ids})
    nat_ip, nat_public = "10.0.251.10", "54.210.10.20"
    enis.append({"NetworkInterfaceId": "eni-0aa7aa7aa7aa7aa70", "InterfaceType": "nat_gateway", "VpcId": vpc,
                 "Description": "Interface for NAT Gateway nat-0aa7aa7aa7aa7aa70", "PrivateIpAddress": nat_ip,
                 "PrivateIpAddresses": [{"PrivateIpAddress": nat_ip, "Primary": True}],
                 "Association": {"PublicIp": nat_public}, "SubnetId": subnets[15]["SubnetId"]})
    (out / "describe-network-interfaces.json").write_text(json.dumps({"NetworkInterfaces": enis}))
    (out / "describe-vpc-endpoints.json").write_text(json.dumps({"VpcEndpoints": endpoints}))
    (out / "describe-nat-gateways.json").write_text(json.dumps({"NatGateways": [{
        "NatGatewayId": "nat-0aa7aa7aa7aa7aa70", "VpcId": vpc, "SubnetId": subnets[15]["SubnetId"], "State": "available",
        "ConnectivityType": "public", "NatGatewayAddresses": [{"NetworkInterfaceId": "eni-0aa7aa7aa7aa7aa70",
                                                               "PrivateIp": nat_ip, "PublicIp": nat_public}]}]}))

    n_ips = int(n_tasks * N_TASK_IPS_SHARE)
    n_reused = n_tasks - n_ips
    state: dict[int, datetime] = {}  # IP index -> when its first holder stopped
    with open(out / "ecs-task-events.ndjson", "w") as f:
        for t in range(n_tasks):
            k = t if t < n_ips else t - n_ips  # the second holder of IP k
            if t < n_reused:  # first holder of a reused IP: runs 00:00-06:00 .. stops 06:00-12:00
                created = DAY + timedelta(seconds=rng.randrange(0, 6 * 3600))
                stopped = DAY + timedelta(seconds=rng.randrange(6 * 3600, 12 * 3600))
            elif t >= n_ips:  # second holder: starts a little after the first stopped (its time is in state)
                created = state[k] + timedelta(seconds=rng.randrange(60, 600))
                stopped = None
            else:
                created = DAY + timedelta(seconds=rng.randrange(0, 6 * 3600))
                stopped = None
            if stopped is not None:
                state[k] = stopped
            service = f"svc-{t % 50:02d}"
            detail = {
                "taskArn": f"arn:aws:ecs:us-east-1:123456789012:task/prod/{t:032x}",
                "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod", "group": f"service:{service}",
                "taskDefinitionArn": f"arn:aws:ecs:us-east-1:123456789012:task-definition/{service}:1",
                "lastStatus": "RUNNING", "desiredStatus": "RUNNING", "createdAt": iso(created),
                "startedAt": iso(created + timedelta(seconds=30)), "launchType": "FARGATE",
                "attachments": [{"id": f"att-{t}", "type": "eni", "status": "ATTACHED", "details": [
                    {"name": "subnetId", "value": subnets[(k + 256) // 4096]["SubnetId"]},
                    {"name": "networkInterfaceId", "value": f"eni-0{t:016x}"},
                    {"name": "privateIPv4Address", "value": task_ip(k)}]}],
                "containers": [{"name": service}],
            }
            event = {"detail-type": "ECS Task State Change", "source": "aws.ecs",
                     "time": iso(created + timedelta(seconds=31)), "detail": detail}
            f.write(json.dumps(event) + "\n")
            if stopped is not None:
                stop = {**detail, "lastStatus": "STOPPED", "desiredStatus": "STOPPED", "stoppedAt": iso(stopped)}
                f.write(json.dumps({**event, "time": iso(stopped), "detail": stop}) + "\n")
    internet = [str(ipaddress.IPv4Address(rng.choice([8, 9, 23, 31, 45, 62, 77, 81, 91, 104, 142, 151, 185, 203]) << 24
                                          | rng.getrandbits(24))) for _ in range(10_000)]
    return {"n_ips": n_ips, "endpoint_ips": endpoint_ips, "nat": [nat_ip, nat_public], "aws": aws_samples,
            "internet": internet}


def gen_flows(path: Path, pools: dict, n_records: int) -> None:
    import duckdb
    import pyarrow as pa

    from pipeline.ingest.conform import SCHEMA

    con = duckdb.connect()
    remote = (pools["endpoint_ips"] * 400 + pools["nat"] * 500 + pools["aws"] + pools["internet"]
              + [task_ip(k) for k in range(0, pools["n_ips"], 4)])
    con.register("remote_pool", pa.table({"i": pa.array(range(len(remote)), pa.int64()), "addr": remote}))
    con.execute(f"CREATE TABLE task_pool AS SELECT k AS i, "
                f"'10.0.' || ((256 + k) // 256) || '.' || ((256 + k) % 256) AS addr FROM range({pools['n_ips']}) t(k)")
    other = {f.name: f"CAST(NULL AS {'BIGINT' if pa.types.is_integer(f.type) else 'VARCHAR'}) AS \"{f.name}\""
             for f in SCHEMA}
    start = int(DAY.timestamp())
    other.update({
        "version": "5 AS version",
        "interface_id": "'eni-0' || lpad(CAST(hash(g.i) % 60000 AS VARCHAR), 16, '0') AS interface_id",
        "srcaddr": "t.addr AS srcaddr",
        "dstaddr": "r.addr AS dstaddr",
        "srcport": "CAST(32768 + hash(g.i * 3) % 28000 AS INTEGER) AS srcport",
        "dstport": "443 AS dstport",
        "protocol": "6 AS protocol",
        "start": f"CAST({start} + hash(g.i * 7) % 86400 AS BIGINT) AS start",
        "end": f"CAST({start} + hash(g.i * 7) % 86400 + hash(g.i) % 60 AS BIGINT) AS \"end\"",
        "action": "'ACCEPT' AS action",
        "flow_direction": "'egress' AS flow_direction",
    })
    con.execute(f"""
        COPY (
            SELECT {', '.join(other[f.name] for f in SCHEMA)}
            FROM range({n_records}) g(i)
            JOIN task_pool t ON t.i = hash(g.i) % {pools['n_ips']}
            JOIN remote_pool r ON r.i = hash(g.i * 31) % {len(remote)}
        ) TO '{path}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)""")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(lake: Path, flows: Path, materialize: bool, check: bool) -> None:
    import duckdb

    from pipeline.metadata import register_views
    from pipeline.lake.storage import Store

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"CREATE VIEW flows AS SELECT * FROM read_parquet('{flows}')")
    c0, t0 = _cpu(), time.perf_counter()
    register_views(con, Store.open(lake), materialize=materialize)
    c1, t1 = _cpu(), time.perf_counter()
    # (a) resolution only: every record's two owners computed, then counted
    kinds = con.execute("""
        SELECT src_owner_kind, dst_owner_kind, count(*), count(src_owner_id), count(dst_owner_id),
               count(dst_aws_service)
        FROM flows_with_owners GROUP BY ALL ORDER BY 3 DESC""").fetchall()
    c2, t2 = _cpu(), time.perf_counter()
    # (b) enrichment written out: every record with its owners, streamed to Parquet
    out = flows.with_name("flows_with_owners.parquet")
    con.execute(f"""
        COPY (SELECT srcaddr, dstaddr, "start",
                     src_owner_kind, src_owner_id, src_owner_name, src_aws_service, src_aws_region,
                     dst_owner_kind, dst_owner_id, dst_owner_name, dst_aws_service, dst_aws_region
              FROM flows_with_owners) TO '{out}' (FORMAT parquet, COMPRESSION zstd)""")
    c3, t3 = _cpu(), time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = sum(k[2] for k in kinds)
    label = "materialize=True " if materialize else "materialize=False"
    print(f"[{label}] register_views {t1 - t0:5.2f} s wall / {c1 - c0:5.2f} s CPU")
    print(f"[{label}] resolve {n:,} records (owners of src and dst, counted): {t2 - t1:5.2f} s wall / "
          f"{c2 - c1:5.2f} s CPU -> {n / (t2 - t0) / 1e6:.2f} M records/s including register_views")
    print(f"[{label}] resolve and write them to Parquet ({out.stat().st_size / 2**20:.0f} MiB): {t3 - t2:5.2f} s wall / "
          f"{c3 - c2:5.2f} s CPU")
    print(f"[{label}] peak RSS of this process {rss_mb:,.0f} MiB")
    if not check:
        return
    distinct = con.execute("SELECT count(*) FROM flow_address_owners").fetchall()[0][0]
    prefixes = con.execute("SELECT count(*) FROM current_aws_ip_ranges").fetchall()[0][0]
    lengths = con.execute("SELECT count(DISTINCT key_length) FROM aws_ip_range_keys").fetchall()[0][0]
    assignments = con.execute("SELECT count(*), count(DISTINCT ip) FROM eni_assignments").fetchall()[0]
    print(f"distinct addresses {distinct:,}; ip-ranges prefixes {prefixes:,} ({lengths} distinct prefix lengths); "
          f"ENI assignments {assignments[0]:,} on {assignments[1]:,} IPs")
    print(METHOD)
    for row in kinds:
        print(f"  {row[0]:>13} -> {row[1]:<13} {row[2]:>11,}")
    # Cross-check 2,000 random records against the resolve view (a separate code path).
    con.execute(f"CREATE TEMP TABLE sample AS SELECT * FROM read_parquet('{out}') USING SAMPLE 2000 ROWS (reservoir, 7)")
    con.execute("INSERT INTO resolve_input SELECT DISTINCT srcaddr, to_timestamp(start), NULL FROM sample "
                "UNION SELECT DISTINCT dstaddr, to_timestamp(start), NULL FROM sample")
    bad = con.execute("""
        SELECT count(*) FROM sample s
        JOIN resolve a ON a.address = s.srcaddr AND a.at_time = to_timestamp(s.start)
        JOIN resolve b ON b.address = s.dstaddr AND b.at_time = to_timestamp(s.start)
        WHERE a.owner_kind IS DISTINCT FROM s.src_owner_kind OR a.owner_id IS DISTINCT FROM s.src_owner_id
           OR b.owner_kind IS DISTINCT FROM s.dst_owner_kind OR b.owner_id IS DISTINCT FROM s.dst_owner_id
           OR b.aws_service IS DISTINCT FROM s.dst_aws_service""").fetchall()[0][0]
    print(f"cross-check against the resolve view: {2000 - bad}/2000 sampled records agree")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--prefixes", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--keep", type=Path, help="work directory to keep (default: a temporary one)")
    parser.add_argument("--measure", nargs=3, metavar=("LAKE", "FLOWS", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        lake, flows, mode = args.measure
        measure(Path(lake), Path(flows), materialize=mode.startswith("mat"), check=mode.endswith("check"))
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_resolve_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        from pipeline.metadata import import_files
        from pipeline.lake.storage import Store

        t = time.perf_counter()
        pools = gen_account(random.Random(1), work / "metadata", args.tasks, args.prefixes)
        result = import_files(Store.open(work / "lake"), [work / "metadata"],
                              snapshot_time=DAY + timedelta(hours=23))
        t_meta = time.perf_counter() - t
        t = time.perf_counter()
        gen_flows(work / "flows.parquet", pools, args.records)
        t_flows = time.perf_counter() - t
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
              f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
              f"python {platform.python_version()}, duckdb {__import__('duckdb').__version__}, "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"setup: metadata generated + imported in {t_meta:.1f} s ({result.counts}), "
              f"{args.records:,} flow records generated in {t_flows:.1f} s "
              f"({(work / 'flows.parquet').stat().st_size / 2**20:.0f} MiB Parquet)")
        sys.stdout.flush()
        # each measurement in a fresh process: its peak RSS is the resolution's own
        for mode in ("mat+check", "view"):
            subprocess.run([sys.executable, __file__, "--measure", str(work / "lake"), str(work / "flows.parquet"), mode],
                           check=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
