"""Collect the metadata live with boto3, as the same documents the AWS CLI would print.

Each API answer is gathered with its paginator (every page merged, ``NextToken`` and
``ResponseMetadata`` dropped, times as ISO 8601 text), which is the JSON that
``aws ec2 describe-...`` / ``aws ecs describe-...`` prints. Those documents then go
through exactly the import code path, so collecting and importing the CLI's files give
the same tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pipeline.metadata import iam
from pipeline.metadata.importer import ImportResult, import_documents
from pipeline.metadata.recognise import Document, make_document
from pipeline.times import utcnow
from pipeline.lake.storage import Store

# (operation, result key, CLI command) for the EC2 describes, in this order.
EC2_OPERATIONS = (
    ("describe_network_interfaces", "NetworkInterfaces", "DescribeNetworkInterfaces"),
    ("describe_vpc_endpoints", "VpcEndpoints", "DescribeVpcEndpoints"),
    ("describe_nat_gateways", "NatGateways", "DescribeNatGateways"),
    ("describe_subnets", "Subnets", "DescribeSubnets"),
    ("describe_vpcs", "Vpcs", "DescribeVpcs"),
    ("describe_route_tables", "RouteTables", "DescribeRouteTables"),
    ("describe_security_groups", "SecurityGroups", "DescribeSecurityGroups"),
    ("describe_network_acls", "NetworkAcls", "DescribeNetworkAcls"),
    ("describe_flow_logs", "FlowLogs", "DescribeFlowLogs"),
    ("describe_managed_prefix_lists", "PrefixLists", "DescribeManagedPrefixLists"),
    ("describe_dhcp_options", "DhcpOptions", "DescribeDhcpOptions"),
)
RESOLVER_OPERATIONS = (
    ("list_resolver_query_log_configs", "ResolverQueryLogConfigs", "ListResolverQueryLogConfigs"),
    ("list_resolver_query_log_config_associations", "ResolverQueryLogConfigAssociations",
     "ListResolverQueryLogConfigAssociations"),
)
DESCRIBE_TASKS_BATCH = 100
DESCRIBE_SERVICES_BATCH = 10


def cli_json(value: Any) -> Any:
    """A response as the CLI prints it: datetimes as ISO 8601, ResponseMetadata/NextToken dropped."""
    if isinstance(value, dict):
        return {k: cli_json(v) for k, v in value.items() if k not in ("ResponseMetadata", "NextToken", "nextToken")}
    if isinstance(value, list):
        return [cli_json(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def fetch_all(client, operation: str, result_keys: Iterable[str], **params) -> dict:
    """Every page of ``operation`` merged into one dict (the CLI's auto-pagination)."""
    keys = list(result_keys)
    if client.can_paginate(operation):
        pages = client.get_paginator(operation).paginate(**params)
        merged: dict = {k: [] for k in keys}
        for page in pages:
            for k in keys:
                merged[k].extend(page.get(k) or [])
        return cli_json(merged)
    response = getattr(client, operation)(**params)
    return cli_json({k: response.get(k) or [] for k in keys})


def _batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


class _Collector:
    def __init__(self, observed_at: datetime):
        self.observed_at = observed_at
        self.docs: list[Document] = []
        self.warnings: list[str] = []

    def add(self, payload: dict, source: str, context: dict | None = None) -> None:
        self.docs.append(make_document(payload, source, self.observed_at, context))

    def attempt(self, what: str, fn, *args, absent: frozenset = frozenset(), **kwargs):
        """``fn(...)``, or None with a warning; error codes in ``absent`` mean "nothing there" (no warning)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as e:
            err = e.response.get("Error", {})
            if err.get("Code") not in absent:
                self.warnings.append(f"{what}: {err.get('Code', 'error')}: {err.get('Message', e)}")
        except BotoCoreError as e:
            self.warnings.append(f"{what}: {e}")
        return None


def _collect_ec2(c: _Collector, ec2, region: str) -> list[str]:
    """The EC2 documents; returns the ids of the VPCs described."""
    vpc_ids: list[str] = []
    for operation, key, name in EC2_OPERATIONS:
        doc = c.attempt(f"{region} ec2:{name}", fetch_all, ec2, operation, [key])
        if doc is None:
            continue
        c.add(doc, f"api:{region}:ec2:{name}")
        if key == "Vpcs":
            vpc_ids = [v["VpcId"] for v in doc["Vpcs"] if v.get("VpcId")]
        if key == "PrefixLists":
            for pl in doc["PrefixLists"]:
                pl_id = pl.get("PrefixListId")
                entries = c.attempt(f"{region} ec2:GetManagedPrefixListEntries {pl_id}", fetch_all, ec2,
                                    "get_managed_prefix_list_entries", ["Entries"], PrefixListId=pl_id)
                if entries is not None:
                    c.add(entries, f"api:{region}:ec2:GetManagedPrefixListEntries:{pl_id}",
                          {"prefix_list_id": pl_id})
    for vpc_id in vpc_ids:
        for attribute in ("enableDnsSupport", "enableDnsHostnames"):
            answer = c.attempt(f"{region} ec2:DescribeVpcAttribute {vpc_id} {attribute}", ec2.describe_vpc_attribute,
                               VpcId=vpc_id, Attribute=attribute)
            if answer is not None:
                c.add(cli_json(answer), f"api:{region}:ec2:DescribeVpcAttribute:{vpc_id}:{attribute}")
    return vpc_ids


def _collect_dns(c: _Collector, route53, resolver, region: str, vpc_ids: list[str]) -> None:
    """Private hosted zones of each VPC (and their records), and which VPCs log their DNS queries."""
    zones: set[str] = set()
    for vpc_id in vpc_ids:
        doc = c.attempt(f"{region} route53:ListHostedZonesByVPC {vpc_id}", fetch_all, route53,
                        "list_hosted_zones_by_vpc", ["HostedZoneSummaries"], VPCId=vpc_id, VPCRegion=region)
        if doc is None:
            continue
        c.add(doc, f"api:{region}:route53:ListHostedZonesByVPC:{vpc_id}", {"vpc_id": vpc_id})
        zones |= {z["HostedZoneId"].rsplit("/", 1)[-1] for z in doc["HostedZoneSummaries"] if z.get("HostedZoneId")}
    for zone in sorted(zones):
        doc = c.attempt(f"route53:ListResourceRecordSets {zone}", fetch_all, route53, "list_resource_record_sets",
                        ["ResourceRecordSets"], HostedZoneId=zone)
        if doc is not None:
            c.add(doc, f"api:route53:ListResourceRecordSets:{zone}", {"hosted_zone_id": zone})
    for operation, key, name in RESOLVER_OPERATIONS:
        doc = c.attempt(f"{region} route53resolver:{name}", fetch_all, resolver, operation, [key])
        if doc is not None:
            c.add(doc, f"api:{region}:route53resolver:{name}")


def _list_task_arns(ecs, cluster: str) -> list[str]:
    arns: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, desiredStatus=status):
            arns += [a for a in page.get("taskArns") or [] if a not in arns]
    return arns


def _describe(ecs, operation: str, key: str, batch_key: str, items: list[str], size: int, **params) -> dict:
    merged: dict = {key: [], "failures": []}
    for batch in _batches(items, size):
        response = getattr(ecs, operation)(**params, **{batch_key: batch})
        merged[key] += response.get(key) or []
        merged["failures"] += response.get("failures") or []
    return cli_json(merged)


def _collect_task_definitions(c: _Collector, ecs, region: str, arns: set[str]) -> None:
    for arn in sorted(arns):
        doc = c.attempt(f"{region} ecs:DescribeTaskDefinition {arn}", ecs.describe_task_definition, taskDefinition=arn)
        if doc is not None:
            c.add(cli_json(doc), f"api:{region}:ecs:DescribeTaskDefinition:{arn.rsplit('/', 1)[-1]}")


def _collect_ecs(c: _Collector, ecs, region: str, clusters: list[str] | None) -> None:
    if clusters is None:
        listed = c.attempt(f"{region} ecs:ListClusters", fetch_all, ecs, "list_clusters", ["clusterArns"])
        clusters = (listed or {}).get("clusterArns", [])
    definitions: set[str] = set()
    if clusters:
        doc = c.attempt(f"{region} ecs:DescribeClusters", ecs.describe_clusters, clusters=list(clusters),
                        include=["CONFIGURATIONS"])
        if doc is not None:
            c.add(cli_json({"clusters": doc.get("clusters", [])}), f"api:{region}:ecs:DescribeClusters")
    for cluster in clusters:
        name = cluster.rsplit("/", 1)[-1]
        services = c.attempt(f"{region} ecs:ListServices {name}", fetch_all, ecs, "list_services",
                             ["serviceArns"], cluster=cluster)
        if services and services["serviceArns"]:
            doc = c.attempt(f"{region} ecs:DescribeServices {name}", _describe, ecs, "describe_services",
                            "services", "services", services["serviceArns"], DESCRIBE_SERVICES_BATCH,
                            cluster=cluster)
            if doc is not None:
                c.add(doc, f"api:{region}:ecs:DescribeServices:{name}")
                definitions.update(s["taskDefinition"] for s in doc["services"] if s.get("taskDefinition"))
        arns = c.attempt(f"{region} ecs:ListTasks {name}", _list_task_arns, ecs, cluster)
        if arns:
            doc = c.attempt(f"{region} ecs:DescribeTasks {name}", _describe, ecs, "describe_tasks", "tasks",
                            "tasks", arns, DESCRIBE_TASKS_BATCH, cluster=cluster)
            if doc is not None:
                c.add(doc, f"api:{region}:ecs:DescribeTasks:{name}")
                definitions.update(t["taskDefinitionArn"] for t in doc["tasks"] if t.get("taskDefinitionArn"))
    _collect_task_definitions(c, ecs, region, definitions)


def _collect_iam(c: _Collector, iam) -> None:
    keys = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
    doc = c.attempt("iam:GetAccountAuthorizationDetails", fetch_all, iam, "get_account_authorization_details", keys,
                    Filter=["Role", "LocalManagedPolicy", "AWSManagedPolicy"])
    if doc is not None:
        c.add(doc, "api:iam:GetAccountAuthorizationDetails")


# error codes that mean "this resource has no policy", not a failure
NO_POLICY = frozenset({"NoSuchBucketPolicy", "ResourceNotFoundException", "NotFoundException"})


def _collect_resource_policies(c: _Collector, client, region: str, service: str) -> None:
    """The resource policies of one service's resources in ``region``, as the CLI prints them."""
    if service == "sqs":
        listed = c.attempt(f"{region} sqs:ListQueues", fetch_all, client, "list_queues", ["QueueUrls"]) or {}
        calls = [(url, {"QueueUrl": url, "AttributeNames": ["Policy", "QueueArn"]}, {})
                 for url in listed.get("QueueUrls", [])]
        fn = client.get_queue_attributes
    elif service == "sns":
        listed = c.attempt(f"{region} sns:ListTopics", fetch_all, client, "list_topics", ["Topics"]) or {}
        calls = [(t["TopicArn"], {"TopicArn": t["TopicArn"]}, {}) for t in listed.get("Topics", [])]
        fn = client.get_topic_attributes
    elif service == "secretsmanager":
        listed = c.attempt(f"{region} secretsmanager:ListSecrets", fetch_all, client, "list_secrets", ["SecretList"]) or {}
        calls = [(s["ARN"], {"SecretId": s["ARN"]}, {}) for s in listed.get("SecretList", [])]
        fn = client.get_resource_policy
    elif service == "kms":
        listed = c.attempt(f"{region} kms:ListKeys", fetch_all, client, "list_keys", ["Keys"]) or {}
        calls = [(k["KeyId"], {"KeyId": k["KeyId"], "PolicyName": "default"}, {"resource_name": k["KeyId"]})
                 for k in listed.get("Keys", [])]
        fn = client.get_key_policy
    else:  # s3: buckets are global; listed once
        listed = c.attempt("s3:ListBuckets", client.list_buckets) or {}
        calls = [(b["Name"], {"Bucket": b["Name"]}, {"resource_arn": f"arn:aws:s3:::{b['Name']}"})
                 for b in listed.get("Buckets", [])]
        fn = client.get_bucket_policy
    for name, params, context in calls:
        doc = c.attempt(f"{region} {service} policy of {name}", fn, absent=NO_POLICY, **params)
        if doc is not None and iam.normalise_resource_policy(cli_json(doc), service, context)["resource_policies"]:
            c.add(cli_json(doc), f"api:{region}:{service}:policy:{name}", context)


def _collect_trails(c: _Collector, cloudtrail, region: str) -> None:
    trails = c.attempt(f"{region} cloudtrail:DescribeTrails", cloudtrail.describe_trails)
    if trails is None:
        return
    trails = cli_json(trails)
    c.add(trails, f"api:{region}:cloudtrail:DescribeTrails")
    for t in trails.get("trailList") or []:
        if t.get("HomeRegion") not in (None, region):
            continue  # a shadow of a trail whose home is another region: its selectors are read there
        selectors = c.attempt(f"{region} cloudtrail:GetEventSelectors {t['Name']}", cloudtrail.get_event_selectors,
                              TrailName=t["TrailARN"])
        if selectors is not None:
            c.add(cli_json(selectors), f"api:{region}:cloudtrail:GetEventSelectors:{t['Name']}")


def collect(store: Store, session, clusters: list[str] | None = None, regions: list[str] | None = None, *,
            snapshot_time: datetime | None = None, endpoint_url: str | None = None) -> ImportResult:
    """Describe the account's network and ECS state through ``session`` (a boto3 Session) and import it.

    ``clusters``: ECS cluster names or ARNs (default: every cluster ListClusters returns).
    ``regions``: default the session's region. ``snapshot_time``: the observation time
    recorded (default now). ``endpoint_url``: for a test endpoint. An API call that fails
    (e.g. AccessDenied) is skipped and reported in ``ImportResult.warnings``; if nothing at
    all could be collected, ``RuntimeError`` is raised with those messages.
    """
    if regions:
        regions = list(regions)
    elif session.region_name:
        regions = [session.region_name]
    else:
        raise ValueError("collect: no region given and the AWS session has no default region")
    c = _Collector(snapshot_time or utcnow())
    for region in regions:
        kwargs = {"region_name": region, **({"endpoint_url": endpoint_url} if endpoint_url else {})}
        vpc_ids = _collect_ec2(c, session.client("ec2", **kwargs), region)
        _collect_dns(c, session.client("route53", **kwargs), session.client("route53resolver", **kwargs), region,
                     vpc_ids)
        _collect_ecs(c, session.client("ecs", **kwargs), region, list(clusters) if clusters else None)
        for service in ("sqs", "sns", "secretsmanager", "kms") + (("s3",) if region == regions[0] else ()):
            _collect_resource_policies(c, session.client(service, **kwargs), region, service)
        _collect_trails(c, session.client("cloudtrail", **kwargs), region)
        if region == regions[0]:
            _collect_iam(c, session.client("iam", **kwargs))
    if not c.docs:
        raise RuntimeError("collect: nothing could be collected: " + "; ".join(c.warnings[:5]))
    result = import_documents(store, c.docs, warnings=c.warnings)
    result.snapshot_time = c.observed_at
    return result
