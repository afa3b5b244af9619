"""``collect`` against a real moto server subprocess on 127.0.0.1.

The account is built through the API (VPC, subnets, SGs, NACL entries, route tables,
endpoints, NAT gateway, flow logs, prefix list, ECS cluster, Fargate services and awsvpc
tasks). ``collect`` must give exactly the tables that importing the AWS CLI's JSON of the
same account gives (compared without snapshot_id/snapshot_time/source).

moto 5.2.5 gaps met here, and the honest workarounds:
- services never start tasks in moto, so each service's tasks are started with RunTask
  and ``group="service:<name>"`` (what ECS sets on a service's tasks);
- RunTask with awsvpc fails (500, ``private_dns_name``) unless the VPC has DNS hostnames
  enabled: it is enabled, as a Fargate VPC with private-DNS endpoints needs anyway;
- a flow log to ``arn:aws:s3:::bucket/prefix`` is refused (moto looks up a bucket named
  ``bucket/prefix``): the bucket ARN has no prefix;
- moto's tasks list only their first container;
- moto gives task ENIs the description "moto ECS" (not ``arn:aws:ecs:...:attachment/...``),
  random IPs outside the subnet and no task timestamps; the comparison does not care,
  and the per-table checks below state what moto returns;
- moto drops the Description of a security-group rule's prefix-list peer, and
  DescribeNetworkAcls returns no IcmpTypeCode (the fixture import tests cover both);
- DescribeTasks advances a task's state in moto (the default "immediate" progression
  makes every task STOPPED on first read): the ``ecs::task`` transition is set to manual.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from datetime import datetime, timezone

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import running_moto_server

from pipeline.metadata import SCHEMAS, import_files
from pipeline.metadata import collect
from pipeline.metadata.store import committed_files
from pipeline.lake.storage import Store

REGION = "us-east-1"
T = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


def _post(url: str, body: dict) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5)


def _build_account(session: boto3.Session, url: str) -> dict:
    ec2 = session.client("ec2", endpoint_url=url)
    ecs = session.client("ecs", endpoint_url=url)
    s3 = session.client("s3", endpoint_url=url)
    logs = session.client("logs", endpoint_url=url)
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.31.0.0/16")
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    sa = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    sb = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.2.0/24", AvailabilityZone=f"{REGION}b")["Subnet"]["SubnetId"]
    sp = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.100.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=sp, MapPublicIpOnLaunch={"Value": True})
    task_sg = ec2.create_security_group(GroupName="web-task", Description="web tasks", VpcId=vpc)["GroupId"]
    ep_sg = ec2.create_security_group(GroupName="vpce", Description="interface endpoints", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=ep_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "10.30.0.0/16", "Description": "VPC"}], "UserIdGroupPairs": [{"GroupId": task_sg}]},
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.30.0.0/16"}]},
    ])
    s3_pl = next(p["PrefixListId"] for p in ec2.describe_managed_prefix_lists()["PrefixLists"]
                 if p["PrefixListName"] == f"com.amazonaws.{REGION}.s3")
    ec2.authorize_security_group_egress(GroupId=task_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "PrefixListIds": [{"PrefixListId": s3_pl, "Description": "S3"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
    ])
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    for entry in (
        dict(RuleNumber=100, Protocol="6", RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0",
             PortRange={"From": 1024, "To": 65535}),
        dict(RuleNumber=90, Protocol="6", RuleAction="deny", Egress=True, CidrBlock="10.99.0.0/16",
             PortRange={"From": 443, "To": 443}),
        dict(RuleNumber=100, Protocol="-1", RuleAction="allow", Egress=True, CidrBlock="0.0.0.0/0"),
        dict(RuleNumber=120, Protocol="1", RuleAction="allow", Egress=False, CidrBlock="10.30.0.0/16",
             IcmpTypeCode={"Type": 3, "Code": 4}),
    ):
        ec2.create_network_acl_entry(NetworkAclId=acl, **entry)
    acls = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [sa]}])["NetworkAcls"]
    assoc = next(a for a in acls[0]["Associations"] if a["SubnetId"] == sa)
    ec2.replace_network_acl_association(AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl)
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=sp, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    public_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rt, SubnetId=sp)
    private_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    ec2.associate_route_table(RouteTableId=private_rt, SubnetId=sa)
    ec2.associate_route_table(RouteTableId=private_rt, SubnetId=sb)
    ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway",
                            RouteTableIds=[private_rt])
    sqs = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.sqs", VpcEndpointType="Interface",
                                  SubnetIds=[sa, sb], SecurityGroupIds=[ep_sg], PrivateDnsEnabled=True)
    ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.ecr.dkr", VpcEndpointType="Interface",
                            SubnetIds=[sa], SecurityGroupIds=[ep_sg], PrivateDnsEnabled=False)
    dns = _build_dns(session, url, ec2, vpc)
    s3.create_bucket(Bucket="flowlogs-bucket")
    ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL", LogDestinationType="s3",
                         LogDestination="arn:aws:s3:::flowlogs-bucket", MaxAggregationInterval=60,
                         LogFormat="${version} ${interface-id} ${srcaddr} ${dstaddr} ${flow-direction} ${ecs-task-arn}")
    logs.create_log_group(logGroupName="/vpc/flowlogs")
    ec2.create_flow_logs(ResourceIds=[sa], ResourceType="Subnet", TrafficType="REJECT", LogGroupName="/vpc/flowlogs",
                         DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flowlogs")
    corp_pl = ec2.create_managed_prefix_list(PrefixListName="corp-ranges", MaxEntries=5, AddressFamily="IPv4",
                                             Entries=[{"Cidr": "192.0.2.0/24", "Description": "office"}]
                                             )["PrefixList"]["PrefixListId"]
    ecs.create_cluster(clusterName="prod")
    web_td = ecs.register_task_definition(
        family="web", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "web", "image": "nginx", "essential": True, "cpu": 128, "memory": 256,
                               "environment": [{"name": "https_proxy", "value": "http://10.30.1.11:3128"},
                                               {"name": "NO_PROXY", "value": "localhost"}]},
                              {"name": "envoy", "image": "envoy", "essential": False, "cpu": 128, "memory": 256}],
    )["taskDefinition"]["taskDefinitionArn"]
    worker_td = ecs.register_task_definition(
        family="worker", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "worker", "image": "worker", "essential": True, "cpu": 256, "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    net = {"awsvpcConfiguration": {"subnets": [sa], "securityGroups": [task_sg], "assignPublicIp": "DISABLED"}}
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=web_td, desiredCount=2,
                       launchType="FARGATE", networkConfiguration=net)
    ecs.create_service(cluster="prod", serviceName="worker", taskDefinition=worker_td, desiredCount=1,
                       launchType="FARGATE", networkConfiguration=net)
    web = ecs.run_task(cluster="prod", taskDefinition=web_td, count=2, launchType="FARGATE", group="service:web",
                       networkConfiguration=net)["tasks"]
    worker = ecs.run_task(cluster="prod", taskDefinition=worker_td, count=1, launchType="FARGATE",
                          group="service:worker", networkConfiguration=net)["tasks"]
    ecs.stop_task(cluster="prod", task=worker[0]["taskArn"],
                  reason="ResourceInitializationError: unable to pull secrets or registry auth")
    return {"vpc": vpc, "subnets": [sa, sb, sp], "task_sg": task_sg, "ep_sg": ep_sg, "acl": acl, "nat": nat,
            "igw": igw, "public_rt": public_rt, "private_rt": private_rt, "s3_pl": s3_pl, "corp_pl": corp_pl,
            "sqs_endpoint": sqs["VpcEndpoint"]["VpcEndpointId"],
            "web_tasks": sorted(t["taskArn"] for t in web), "worker_task": worker[0]["taskArn"], **dns}


def _build_dns(session: boto3.Session, url: str, ec2, vpc: str) -> dict:
    """Custom DHCP options, a private zone shadowing one service's name, and query logging for the VPC."""
    dhcp = ec2.create_dhcp_options(DhcpConfigurations=[
        {"Key": "domain-name-servers", "Values": ["10.30.0.2", "192.0.2.53"]},
        {"Key": "domain-name", "Values": ["corp.example"]}])["DhcpOptions"]["DhcpOptionsId"]
    ec2.associate_dhcp_options(DhcpOptionsId=dhcp, VpcId=vpc)
    route53 = session.client("route53", endpoint_url=url)
    zone = route53.create_hosted_zone(Name=f"sns.{REGION}.amazonaws.com", CallerReference="shadow",
                                      HostedZoneConfig={"Comment": "shadow", "PrivateZone": True},
                                      VPC={"VPCRegion": REGION, "VPCId": vpc})["HostedZone"]["Id"].rsplit("/", 1)[-1]
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": f"internal.sns.{REGION}.amazonaws.com.", "Type": "A", "TTL": 60,
        "ResourceRecords": [{"Value": "10.30.1.99"}]}}]})
    resolver = session.client("route53resolver", endpoint_url=url)
    config = resolver.create_resolver_query_log_config(
        Name="vpc-dns", DestinationArn="arn:aws:s3:::flowlogs-bucket", CreatorRequestId="qlc")["ResolverQueryLogConfig"]["Id"]
    resolver.associate_resolver_query_log_config(ResolverQueryLogConfigId=config, ResourceId=vpc)
    return {"dhcp": dhcp, "zone": zone, "query_log_config": config}


@pytest.fixture(scope="module")
def moto_account():
    """A moto server of this module's own (the account must survive the other tests' resets)."""
    with running_moto_server() as url:
        _post(f"{url}/moto-api/state-manager/set-transition",
              {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1_000_000}})
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        ids = _build_account(session, url)
        yield {"url": url, "session": session, "ids": ids}


def _rows(store: Store, table: str) -> list[dict]:
    files = committed_files(store, table)
    if not files:
        return []
    data = pa.concat_tables([pq.read_table(store.path(f)) for f in files])
    drop = [c for c in ("snapshot_id", "snapshot_time", "source", "source_file") if c in data.column_names]
    if table == "eni_assignments":
        drop.remove("source")  # the evidence kind, not the file
    rows = data.drop_columns(drop).to_pylist()
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


@pytest.fixture(scope="module")
def collected(moto_account, tmp_path_factory):
    store = Store.open(tmp_path_factory.mktemp("collected"))
    result = collect(store, moto_account["session"], snapshot_time=T, endpoint_url=moto_account["url"])
    return store, result


def test_collect_reads_the_account(collected, moto_account):
    store, result = collected
    ids = moto_account["ids"]
    assert result.warnings == []
    assert result.snapshot_time == T
    vpc = next(r for r in _rows(store, "vpcs") if r["vpc_id"] == ids["vpc"])
    assert vpc["cidr_blocks"] == ["10.30.0.0/16", "10.31.0.0/16"] and len(vpc["ipv6_cidr_blocks"]) == 1
    subnets = {r["subnet_id"]: r for r in _rows(store, "subnets")}
    assert subnets[ids["subnets"][0]]["cidr_block"] == "10.30.1.0/24"
    assert subnets[ids["subnets"][2]]["map_public_ip_on_launch"] is True
    rules = _rows(store, "security_group_rules")
    assert {"group_id": ids["ep_sg"], "direction": "ingress", "protocol": 6, "from_port": 443, "to_port": 443,
            "peer_type": "security_group", "peer": ids["task_sg"], "description": None} in rules
    assert {"group_id": ids["ep_sg"], "direction": "ingress", "protocol": 1, "from_port": None, "to_port": None,
            "peer_type": "cidr_ipv4", "peer": "10.30.0.0/16", "description": None} in rules
    # (moto drops the description of a prefix-list peer)
    assert {"group_id": ids["task_sg"], "direction": "egress", "protocol": 6, "from_port": 443, "to_port": 443,
            "peer_type": "prefix_list", "peer": ids["s3_pl"], "description": None} in rules
    acl = [r for r in _rows(store, "network_acls") if r["network_acl_id"] == ids["acl"]]
    # (moto keeps an entry's ICMP type/code but DescribeNetworkAcls does not return IcmpTypeCode)
    assert {(r["rule_number"], r["egress"], r["protocol"], r["rule_action"], r["from_port"], r["to_port"],
             r["icmp_type"], r["icmp_code"]) for r in acl} == {
        (90, True, 6, "deny", 443, 443, None, None), (100, True, -1, "allow", None, None, None, None),
        (100, False, 6, "allow", 1024, 65535, None, None), (120, False, 1, "allow", None, None, None, None)}
    assert all(r["subnet_ids"] == [ids["subnets"][0]] for r in acl)
    routes = [r for r in _rows(store, "route_tables") if r["route_table_id"] == ids["private_rt"]]
    assert {(r["destination"], r["destination_type"], r["target_type"]) for r in routes} >= {
        ("10.30.0.0/16", "ipv4", "local"), ("0.0.0.0/0", "ipv4", "nat_gateway"), (ids["s3_pl"], "prefix_list", "vpc_endpoint")}
    assert all(sorted(r["subnet_ids"]) == sorted(ids["subnets"][:2]) for r in routes)
    endpoints = {r["aws_service"]: r for r in _rows(store, "vpc_endpoints")}
    assert set(endpoints) == {"s3", "sqs", "ecr.dkr"}
    assert endpoints["sqs"]["endpoint_type"] == "interface" and len(endpoints["sqs"]["network_interface_ids"]) == 2
    assert endpoints["s3"]["route_table_ids"] == [ids["private_rt"]]
    nat = _rows(store, "nat_gateways")
    assert [r["nat_gateway_id"] for r in nat] == [ids["nat"]] and nat[0]["public_ip"] and nat[0]["eni_id"]
    flow_logs = {r["destination_type"]: r for r in _rows(store, "flow_logs")}
    assert flow_logs["s3"]["max_aggregation_interval"] == 60 and "${ecs-task-arn}" in flow_logs["s3"]["log_format"]
    assert flow_logs["cloud-watch-logs"]["log_group_name"] == "/vpc/flowlogs"
    prefix = _rows(store, "prefix_lists")
    assert {"prefix_list_id": ids["corp_pl"], "prefix_list_name": None, "cidr": "192.0.2.0/24"} in prefix
    assert {"prefix_list_id": ids["corp_pl"], "prefix_list_name": "corp-ranges", "cidr": None} in prefix
    services = {r["service_name"]: r for r in _rows(store, "ecs_services")}
    assert set(services) == {"web", "worker"} and services["web"]["security_group_ids"] == [ids["task_sg"]]
    tasks = {r["task_arn"]: r for r in _rows(store, "ecs_tasks")}
    assert set(tasks) == set(ids["web_tasks"]) | {ids["worker_task"]}
    assert tasks[ids["worker_task"]]["last_status"] == "STOPPED"
    assert tasks[ids["worker_task"]]["stopped_reason"].startswith("ResourceInitializationError")
    assert vpc["dhcp_options_id"] == ids["dhcp"]
    dhcp = {r["dhcp_options_id"]: r for r in _rows(store, "dhcp_options")}
    assert dhcp[ids["dhcp"]]["domain_name_servers"] == ["10.30.0.2", "192.0.2.53"]
    assert {(r["attribute"], r["enabled"]) for r in _rows(store, "vpc_dns_attributes") if r["vpc_id"] == ids["vpc"]} == {
        ("enableDnsSupport", True), ("enableDnsHostnames", True)}
    zones = [r for r in _rows(store, "hosted_zone_vpcs") if r["vpc_id"] == ids["vpc"]]
    assert [(r["hosted_zone_id"], r["zone_name"]) for r in zones] == [(ids["zone"], f"sns.{REGION}.amazonaws.com")]
    records = {(r["name"], r["type"]): r for r in _rows(store, "dns_records") if r["hosted_zone_id"] == ids["zone"]}
    assert records[(f"internal.sns.{REGION}.amazonaws.com", "A")]["values"] == ["10.30.1.99"]
    assert [(r["config_id"], r["vpc_id"]) for r in _rows(store, "query_log_associations")] == [(ids["query_log_config"], ids["vpc"])]
    assert [r["destination_arn"] for r in _rows(store, "query_log_configs")] == ["arn:aws:s3:::flowlogs-bucket"]
    web = {r["container_name"]: r for r in _rows(store, "task_definitions") if r["family"] == "web"}
    assert (web["web"]["https_proxy"], web["web"]["no_proxy"], web["envoy"]["https_proxy"]) == (
        "http://10.30.1.11:3128", "localhost", None)
    assignments = {r["task_arn"]: r for r in _rows(store, "eni_assignments")}
    assert set(assignments) == set(tasks)
    # moto gives tasks no timestamps: validity falls back to the observation time.
    assert assignments[ids["worker_task"]]["valid_from"] == T and assignments[ids["worker_task"]]["valid_to"] == T
    for arn in ids["web_tasks"]:
        a = assignments[arn]
        assert (a["service_name"], a["valid_from"], a["valid_to"], a["source"]) == ("web", T, None, "describe_tasks")
        assert a["eni_id"] == tasks[arn]["eni_id"] and a["ip"] == tasks[arn]["private_ip"]
        # (moto's Task holds one Container, named after the first container definition)
        assert a["container_names"] == ["web"] and a["subnet_id"] == ids["subnets"][0]


def test_collect_twice_at_the_same_time_adds_nothing(collected, moto_account):
    store, first = collected
    again = collect(store, moto_account["session"], snapshot_time=T, endpoint_url=moto_account["url"])
    assert again.snapshot_id is None and again.counts == {} and len(again.skipped) == len(first.sources)


def test_collect_reports_a_failing_call_and_keeps_the_rest(moto_account, tmp_path):
    store = Store.open(tmp_path / "lake")
    result = collect(store, moto_account["session"], clusters=["no-such-cluster"], snapshot_time=T,
                     endpoint_url=moto_account["url"])
    assert any("no-such-cluster" in w for w in result.warnings)
    assert result.counts["vpcs"] >= 1 and "ecs_tasks" not in result.counts


AWS_CLI = shutil.which("aws")


def _cli_works() -> bool:
    if not AWS_CLI:
        return False
    try:
        return subprocess.run([AWS_CLI, "--version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _cli(url: str, *args: str, region: str = REGION) -> dict:
    env = {**os.environ, **CREDS, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": ""}
    env.pop("AWS_PROFILE", None)
    out = subprocess.run([AWS_CLI, "--endpoint-url", url, "--region", region, "--output", "json", *args],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout or "{}")


@pytest.mark.skipif(not _cli_works(), reason="the AWS CLI (aws) is not installed")
def test_collect_equals_importing_the_cli_json(collected, moto_account, tmp_path):
    """Save what the real AWS CLI prints for the same account, import it, compare every table."""
    url = moto_account["url"]
    out = tmp_path / "cli"
    out.mkdir()

    def save(name: str, doc: dict) -> None:
        (out / f"{name}.json").write_text(json.dumps(doc, indent=4))

    for command in ("describe-network-interfaces", "describe-vpc-endpoints", "describe-nat-gateways",
                    "describe-subnets", "describe-vpcs", "describe-route-tables", "describe-security-groups",
                    "describe-network-acls", "describe-flow-logs", "describe-managed-prefix-lists",
                    "describe-dhcp-options"):
        save(command, _cli(url, "ec2", command))
    zones = set()
    for vpc in json.loads((out / "describe-vpcs.json").read_text())["Vpcs"]:
        vpc_id = vpc["VpcId"]
        for attribute in ("enableDnsSupport", "enableDnsHostnames"):
            save(f"vpc-attribute-{vpc_id}-{attribute}",
                 _cli(url, "ec2", "describe-vpc-attribute", "--vpc-id", vpc_id, "--attribute", attribute))
        by_vpc = _cli(url, "route53", "list-hosted-zones-by-vpc", "--vpc-id", vpc_id, "--vpc-region", REGION)
        save(f"hosted-zones-by-vpc-{vpc_id}", by_vpc)
        zones |= {z["HostedZoneId"].rsplit("/", 1)[-1] for z in by_vpc["HostedZoneSummaries"]}
    for zone in zones:
        save(f"record-sets-{zone}", _cli(url, "route53", "list-resource-record-sets", "--hosted-zone-id", zone))
    save("query-log-configs", _cli(url, "route53resolver", "list-resolver-query-log-configs"))
    save("query-log-associations", _cli(url, "route53resolver", "list-resolver-query-log-config-associations"))
    for pl in json.loads((out / "describe-managed-prefix-lists.json").read_text())["PrefixLists"]:
        pl_id = pl["PrefixListId"]
        save(f"get-managed-prefix-list-entries-{pl_id}",
             _cli(url, "ec2", "get-managed-prefix-list-entries", "--prefix-list-id", pl_id))
    clusters = _cli(url, "ecs", "list-clusters")["clusterArns"]
    save("ecs-describe-clusters", _cli(url, "ecs", "describe-clusters", "--clusters", *clusters,
                                       "--include", "CONFIGURATIONS"))
    for cluster in clusters:
        name = cluster.rsplit("/", 1)[-1]
        services = _cli(url, "ecs", "list-services", "--cluster", cluster)["serviceArns"]
        save(f"ecs-describe-services-{name}",
             _cli(url, "ecs", "describe-services", "--cluster", cluster, "--services", *services))
        arns = []
        for status in ("RUNNING", "STOPPED"):
            arns += _cli(url, "ecs", "list-tasks", "--cluster", cluster, "--desired-status", status)["taskArns"]
        save(f"ecs-describe-tasks-{name}", _cli(url, "ecs", "describe-tasks", "--cluster", cluster, "--tasks", *arns))
        definitions = {t["taskDefinitionArn"] for t in json.loads((out / f"ecs-describe-tasks-{name}.json").read_text())["tasks"]}
        for arn in sorted(definitions):
            save(f"task-definition-{arn.rsplit('/', 1)[-1]}", _cli(url, "ecs", "describe-task-definition", "--task-definition", arn))

    imported = Store.open(tmp_path / "imported")
    import_files(imported, [out], snapshot_time=T)
    collected_store, _ = collected
    compared = 0
    for table in SCHEMAS:
        want, got = _rows(imported, table), _rows(collected_store, table)
        assert got == want, f"{table} differs between collect and the CLI import"
        compared += bool(want)
    # every table this account has content for was compared (ip-ranges and events are not API data;
    # IAM, resource policies and trails: tests/test_metadata_iam_collect.py)
    assert compared == len(SCHEMAS) - 1 - 5
