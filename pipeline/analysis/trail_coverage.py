"""Which denials the account's trails cannot show, from their imported configuration.

A denied call that CloudTrail never records leaves no ``access_denied`` finding, so the
report says where that silence means nothing: data events (``sqs:SendMessage``,
``sns:Publish``, S3 object calls) that no trail selects, and endpoint-policy denials at a
VPC endpoint whose service has no network activity events selected (or has none at all:
ECR, STS, CloudWatch Logs). Without any imported trail configuration nothing is said.
"""

from __future__ import annotations

# data-event resource types (CloudTrail UG, "Logging data events") of the services tasks call
DATA_EVENTS = {
    "sqs": ("AWS::SQS::Queue", "SendMessage and ReceiveMessage"),
    "sns": ("AWS::SNS::Topic", "Publish"),
    "s3": ("AWS::S3::Object", "GetObject and PutObject"),
    "dynamodb": ("AWS::DynamoDB::Table", "GetItem and PutItem"),
    "lambda": ("AWS::Lambda::Function", "Invoke"),
}
# services with network activity events (CloudTrail UG, "Logging network activity events"), endpoint names
NETWORK_ACTIVITY = {"cloudtrail", "ec2", "ecs", "kms", "s3", "secretsmanager", "sns", "sqs", "dynamodb", "lambda",
                    "events", "elasticfilesystem", "monitoring", "ssm", "rds", "athena", "glue", "bedrock"}
EVENT_SOURCES = {"ecr.api": "ecr", "ecr.dkr": "ecr", "monitoring": "monitoring"}


def _rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def gaps(con) -> list[dict]:
    """``[{"service", "vpc_endpoint_id", "gap", "sentence"}]``: what the trails cannot show."""
    trails = _rows(con, "SELECT t.trail_arn, t.name, s.management_events, s.data_resource_types, "
                        "s.network_activity_sources FROM current_trails AS t "
                        "LEFT JOIN current_trail_event_selectors AS s ON s.trail_arn = t.trail_arn")
    if not trails:
        return []
    names = ", ".join(sorted(t["name"] or t["trail_arn"] for t in trails))
    data_types = {d for t in trails for d in t["data_resource_types"] or []}
    sources = {s for t in trails for s in t["network_activity_sources"] or []}
    endpoints = _rows(con, "SELECT endpoint_id, aws_service FROM current_vpc_endpoints "
                           "WHERE aws_service IS NOT NULL ORDER BY aws_service, endpoint_id")
    out = []
    for service in sorted({e["aws_service"] for e in endpoints} & set(DATA_EVENTS)):
        resource_type, calls = DATA_EVENTS[service]
        if resource_type not in data_types:
            out.append({"service": service, "vpc_endpoint_id": None, "gap": "data_events",
                        "sentence": f"{service} {calls} are data events and no trail selects {resource_type} "
                                    f"({names}): their denials are not in CloudTrail."})
    for e in endpoints:
        service, endpoint = e["aws_service"], e["endpoint_id"]
        source = f"{EVENT_SOURCES.get(service, service)}.amazonaws.com"
        if EVENT_SOURCES.get(service, service) not in NETWORK_ACTIVITY:
            out.append({"service": service, "vpc_endpoint_id": endpoint, "gap": "network_activity_unsupported",
                        "sentence": f"Denials by the policy of {endpoint} ({service}) cannot be logged: CloudTrail "
                                    "has no network activity events for this service."})
        elif source not in sources:
            extra = " (KMS never records them in the endpoint owner's trail otherwise)" if service == "kms" else ""
            out.append({"service": service, "vpc_endpoint_id": endpoint, "gap": "network_activity_off",
                        "sentence": f"Denials by the policy of {endpoint} ({service}) are not logged: no trail selects "
                                    f"network activity events for {source}{extra}."})
    return out
