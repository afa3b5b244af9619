"""Realistic CloudTrail events and Route 53 Resolver query-log records, for tests and benchmarks.

A Fargate task's calls: the task role (session = the 32-hex task id) calling SQS, SNS,
Secrets Manager, KMS, ECR and STS through interface endpoints or the NAT, some denied;
about 1.5 KB per event as CloudTrail writes them. Query logs: the same tasks resolving
service names (private endpoint addresses, or public ones through the NAT), some NXDOMAIN.
Keys follow the S3 delivery layouts.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from datetime import datetime, timedelta

ACCOUNT = "123456789012"
REGION = "eu-west-1"
VPC = "vpc-0a1b2c3d4e5f60718"
SERVICES = [  # (event source, action, request parameters, resource ARN)
    ("sqs", "SendMessage", {"queueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/orders",
                            "messageBody": "HIDDEN_DUE_TO_SECURITY_REASONS", "delaySeconds": 0},
     f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"),
    ("sns", "Publish", {"topicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:events", "message": "HIDDEN_DUE_TO_SECURITY_REASONS"},
     f"arn:aws:sns:{REGION}:{ACCOUNT}:events"),
    ("secretsmanager", "GetSecretValue", {"secretId": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf"},
     f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf"),
    ("kms", "Decrypt", {"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                        "encryptionContext": {"SecretARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf",
                                              "SecretVersionId": "3a2b6f1e-95a7-4a5e-8f0c-2a1d6c0e9b11"}},
     f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    ("ecr", "GetAuthorizationToken", {}, None),
    ("sts", "GetCallerIdentity", {}, None),
]
ROLES = ["orders-task-role", "billing-task-role", "ingest-task-role"]


def task_id(k: int) -> str:
    return hashlib.md5(f"task{k}".encode()).hexdigest()


def trail_event(k: int, at: datetime, *, denied: bool | None = None, event_id: str | None = None) -> dict:
    """One CloudTrail event of a task (``k`` picks the task, service and path)."""
    source, action, params, resource = SERVICES[k % len(SERVICES)]
    role = ROLES[k % len(ROLES)]
    task = task_id(k % 40)
    via_endpoint = k % 3 != 0
    denied = k % 17 == 0 if denied is None else denied
    event = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROA4EXAMPLE{k % len(ROLES)}XYZ:{task}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{task}",
            "accountId": ACCOUNT,
            "accessKeyId": f"ASIA{hashlib.md5(task.encode()).hexdigest()[:16].upper()}",
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": f"AROA4EXAMPLE{k % len(ROLES)}XYZ",
                                  "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "accountId": ACCOUNT, "userName": role},
                "attributes": {"creationDate": (at - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "mfaAuthenticated": "false"},
                "ec2RoleDelivery": "2.0",
            },
        },
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": f"{source}.amazonaws.com",
        "eventName": action,
        "awsRegion": REGION,
        "sourceIPAddress": f"10.0.{k % 4}.{10 + k % 200}" if via_endpoint else "52.212.7.19",
        "userAgent": "aws-sdk-java/2.25.60 Linux/5.10.219-208.866.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS "
                     "Java/17.0.11 vendor/Amazon.com_Inc. md/internal exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/legacy",
        "requestParameters": params or None,
        "responseElements": None,
        "requestID": str(uuid.UUID(int=k * 7919 + 1)),
        "eventID": event_id or str(uuid.UUID(int=k * 104729 + 2)),
        "readOnly": action in ("GetSecretValue", "GetAuthorizationToken", "GetCallerIdentity", "Decrypt"),
        "resources": [{"accountId": ACCOUNT, "type": f"AWS::{source.upper()}::Resource", "ARN": resource}] if resource else [],
        "eventType": "AwsApiCall",
        "managementEvent": source not in ("sqs", "sns"),
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management" if source not in ("sqs", "sns") else "Data",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"{source}.{REGION}.amazonaws.com"},
    }
    if via_endpoint:
        event["vpcEndpointId"] = f"vpce-0{k % len(SERVICES)}a1b2c3d4e5f6078"
        event["vpcEndpointAccountId"] = ACCOUNT
    if denied:
        event["errorCode"] = "AccessDenied"
        event["errorMessage"] = (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{task} is not authorized to perform: "
                                 f"{source}:{action} on resource: {resource or '*'} because no identity-based policy "
                                 f"allows the {source}:{action} action")
    return event


def network_activity_denial(k: int, at: datetime) -> dict:
    """A VPC endpoint network activity event: the endpoint policy denied the call."""
    event = trail_event(k, at, denied=False, event_id=str(uuid.UUID(int=k * 104729 + 3)))
    event.update(eventType="AwsVpceEvent", eventCategory="NetworkActivity", errorCode="VpceAccessDenied",
                 errorMessage="The request was denied due to a VPC endpoint policy", managementEvent=False,
                 vpcEndpointId="vpce-0aa11bb22cc33dd44", vpcEndpointAccountId=ACCOUNT,
                 sourceIPAddress=f"10.0.1.{10 + k % 200}")
    for key in ("requestParameters", "responseElements", "tlsDetails", "readOnly"):
        event.pop(key, None)
    return event


def trail_file(events: list[dict]) -> bytes:
    """A trail's S3 object: one ``{"Records": […]}`` line, gzipped, as CloudTrail writes it."""
    return gzip.compress(json.dumps({"Records": events}, separators=(",", ":")).encode())


def trail_key(at: datetime, *, folder: str = "CloudTrail", account: str = ACCOUNT, region: str = REGION,
              org: str | None = None, tag: str = "") -> str:
    unique = hashlib.sha256(f"{at}{folder}{account}{tag}".encode()).hexdigest()[:16]
    root = f"AWSLogs/{org + '/' if org else ''}{account}/{folder}/{region}/{at:%Y/%m/%d}/"
    if folder == "CloudTrail-Digest":
        return f"{root}{account}_CloudTrail-Digest_{region}_trail_{region}_{at:%Y%m%dT%H%M%SZ}.json.gz"
    return f"{root}{account}_CloudTrail_{region}_{at:%Y%m%dT%H%MZ}_{unique}.json.gz"


def digest_file(at: datetime, account: str = ACCOUNT) -> bytes:
    doc = {"awsAccountId": account, "digestStartTime": (at - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "digestEndTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "digestS3Bucket": "trail-bucket",
           "digestS3Object": trail_key(at, folder="CloudTrail-Digest", account=account),
           "digestSignatureAlgorithm": "SHA256withRSA", "logFiles": []}
    return gzip.compress(json.dumps(doc).encode())


def query_record(k: int, at: datetime, *, vpc: str = VPC, nxdomain: bool | None = None) -> dict:
    """One Resolver query-log record: a task resolving a service name."""
    source = SERVICES[k % len(SERVICES)][0]
    name = f"{source}.{REGION}.amazonaws.com."
    nxdomain = k % 23 == 0 if nxdomain is None else nxdomain
    qtype = "AAAA" if k % 5 == 0 else "A"
    if nxdomain:
        answers, rcode = [], "NXDOMAIN"
    elif qtype == "AAAA":
        answers, rcode = [], "NOERROR"
    elif k % 3:  # the interface endpoint's private addresses
        answers = [{"Rdata": f"10.0.{i}.{100 + k % 50}", "Type": "A", "Class": "IN"} for i in range(2)]
        rcode = "NOERROR"
    else:  # public, through a CNAME
        answers = [{"Rdata": f"{source}.{REGION}.amazonaws.com.cdn.aws.", "Type": "CNAME", "Class": "IN"},
                   {"Rdata": f"52.94.{k % 7}.{k % 250}", "Type": "A", "Class": "IN"}]
        rcode = "NOERROR"
    return {"version": "1.100000", "account_id": ACCOUNT, "region": REGION, "vpc_id": vpc,
            "query_timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "query_name": name, "query_type": qtype,
            "query_class": "IN", "rcode": rcode, "answers": answers, "srcaddr": f"10.0.{k % 4}.{10 + k % 200}",
            "srcport": str(32768 + k % 28000), "transport": "UDP", "srcids": {}}


def query_log_file(records: list[dict]) -> bytes:
    return gzip.compress(("\n".join(json.dumps(r, separators=(",", ":")) for r in records) + "\n").encode())


def query_log_key(at: datetime, *, vpc: str = VPC, account: str = ACCOUNT, tag: str = "") -> str:
    unique = hashlib.sha256(f"{at}{vpc}{tag}".encode()).hexdigest()[:8]
    return (f"AWSLogs/{account}/vpcdnsquerylogs/{vpc}/{at:%Y/%m/%d}/"
            f"{vpc}_vpcdnsquerylogs_{account}_{at:%Y%m%dT%H%MZ}_{unique}.log.gz")
