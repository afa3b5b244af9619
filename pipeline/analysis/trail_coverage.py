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


def gaps(con) -> list[dict]:
    """``[{"service", "vpc_endpoint_id", "gap", "sentence"}]``: what the trails cannot show."""
    trails = con.execute("SELECT coalesce(t.name, t.trail_arn), s.data_resource_types, s.network_activity_sources "
                         "FROM current_trails AS t "
                         "LEFT JOIN current_trail_event_selectors AS s ON s.trail_arn = t.trail_arn").fetchall()
    if not trails:
        return []
    names = ", ".join(sorted(name for name, _, _ in trails))
    data_types = {d for _, types, _ in trails for d in types or []}
    sources = {s for _, _, selected in trails for s in selected or []}
    endpoints = con.execute("SELECT endpoint_id, aws_service FROM current_vpc_endpoints "
                            "WHERE aws_service IS NOT NULL ORDER BY aws_service, endpoint_id").fetchall()
    out = []
    for service in sorted({svc for _, svc in endpoints} & set(DATA_EVENTS)):
        resource_type, calls = DATA_EVENTS[service]
        if resource_type not in data_types:
            out.append({"service": service, "vpc_endpoint_id": None, "gap": "data_events",
                        "sentence": f"{service} {calls} calls are data events and no trail selects {resource_type} "
                                    f"({names}): their denials are not in CloudTrail."})
    for endpoint, service in endpoints:
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
