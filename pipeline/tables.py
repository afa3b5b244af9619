"""The lake's record tables, defined once: name, columns, partitioning and identity.

Every evidence table is stored the same way (Hive partitions ``aws_account=/aws_region=/dt=``,
zstd Parquet, one manifest): what differs is said here, and ingest, the lake views, ``lake
info`` and the schema documentation read it from here. A new source is one more entry.

- ``time``: the columns whose first non-NULL value places a row in its ``dt`` day (UTC);
  integer columns are Unix seconds, the others timestamps.
- ``account``/``region``: the record columns naming the partition's account and region.
- ``unique``: the columns that identify one event when the source may deliver it twice
  (CloudTrail does, with the same eventID): the table's view keeps one row per value,
  rows whose first column is NULL all kept. The id alone is not trusted: test data and
  some tools reuse ids across different events.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from pipeline.fields import EXTRA_COLUMNS, FIELDS, lake_schema

TIME = pa.timestamp("ms", tz="UTC")

# Provenance columns of the event tables: the same names and meanings as the flow tables'.
_PROVENANCE = tuple(c for c in EXTRA_COLUMNS if c[0] != "_extra")


@dataclass(frozen=True)
class Table:
    name: str
    meaning: str
    columns: tuple[tuple[str, pa.DataType, str], ...]  # (name, type, meaning)
    time: tuple[str, ...]
    account: str = "account_id"
    region: str = "region"
    unique: tuple[str, ...] = ()
    dictionary: tuple[str, ...] = ()  # low-cardinality columns: dictionary pages pay
    statistics: tuple[str, ...] = ()  # columns queries filter on: min/max statistics pay
    row_group: int = 1 << 17  # rows per Parquet row group (and per write buffer): smaller for wide rows

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(name, type_) for name, type_, _ in self.columns],
                         metadata={"table": self.name})

    @property
    def categorical(self) -> list[str]:
        """The string columns of ``dictionary``: compaction reads and writes them as Arrow dictionaries
        instead of decoding every value to a string and hashing it again."""
        types = {name: type_ for name, type_, _ in self.columns}
        return [c for c in self.dictionary if pa.types.is_string(types[c])]

    def markdown(self) -> str:
        """The table's columns as a Markdown table (Athena types), for the README."""
        lines = ["| column | type | meaning |", "|---|---|---|"]
        lines += [f"| `{name}` | {athena_type(type_)} | {meaning} |" for name, type_, meaning in self.columns]
        return "\n".join(lines)


def athena_type(type_: pa.DataType) -> str:
    """The Athena (Hive DDL) name of an Arrow type of the lake."""
    if pa.types.is_list(type_):
        return f"array<{athena_type(type_.value_type)}>"
    if pa.types.is_struct(type_):
        return "struct<" + ",".join(f"{f.name}:{athena_type(f.type)}" for f in type_) + ">"
    if pa.types.is_timestamp(type_):
        return "timestamp"
    return {pa.string(): "string", pa.int32(): "int", pa.int64(): "bigint", pa.bool_(): "boolean",
            pa.float64(): "double", pa.binary(): "binary"}[type_]


_FLOW_COLUMNS = tuple((f.column, f.arrow_type, f.meaning) for f in FIELDS) + EXTRA_COLUMNS
_FLOW_UNTYPED = ("srcport", "dstport", "packets", "bytes", "start", "end", "_line", "_extra")
# Addresses are nearly all distinct in a flow-log file: a dictionary page costs a hash per value and
# outgrows its page limit, and zstd compresses the plain values smaller (13.2 against 15.6 MB, and 12 %
# less CPU, for 400,000 records of bench_ingest.py's data).
_FLOW_PLAIN = _FLOW_UNTYPED + tuple(f.column for f in FIELDS if f.address)


def _flow_table(name: str, meaning: str) -> Table:
    assert [c[0] for c in _FLOW_COLUMNS] == lake_schema().names
    return Table(name, meaning, _FLOW_COLUMNS, time=("start", "end"),
                 dictionary=tuple(c[0] for c in _FLOW_COLUMNS if c[0] not in _FLOW_PLAIN),
                 statistics=("start", "end", "srcaddr", "dstaddr", "srcport", "dstport", "interface_id", "action",
                             "_line"))


S = pa.string()
RESOURCE = pa.struct([("arn", S), ("account_id", S), ("type", S)])
API_CALLS = Table(
    "api_calls",
    "CloudTrail events (management, data, network activity), one row per eventID.",
    (
        ("event_time", TIME, "eventTime, UTC."),
        ("event_source", S, "The service's endpoint name, e.g. `sqs.amazonaws.com`."),
        ("event_name", S, "The API action, e.g. `SendMessage`."),
        ("region", S, "awsRegion: the Region the request was made to."),
        ("error_code", S, "errorCode (`AccessDenied`, `VpceAccessDenied`…); NULL when the call succeeded."),
        ("error_message", S, "errorMessage, as the service wrote it (at most 1 KB)."),
        ("principal_arn", S, "userIdentity.arn: for a task, `arn:aws:sts::ACCOUNT:assumed-role/ROLE/TASK_ID`."),
        ("principal_type", S, "userIdentity.type: AssumedRole, IAMUser, AWSService, AWSAccount, Root…"),
        ("principal_account_id", S, "userIdentity.accountId: the caller's account."),
        ("role_arn", S, "The role of an assumed-role session: `arn:aws:iam::ACCOUNT:role/[PATH/]NAME`."),
        ("session_name", S, "The session of an assumed-role principal: the task id for ECS task and execution roles."),
        ("account_id", S, "recipientAccountId: the account this copy of the event was delivered to."),
        ("source_ip", S, "sourceIPAddress: the caller's address (private through an endpoint, else public), or a service name."),
        ("vpc_endpoint_id", S, "vpcEndpointId: the endpoint the request came through; NULL: NAT gateway or public IP."),
        ("vpc_endpoint_account_id", S, "vpcEndpointAccountId: the endpoint owner's account."),
        ("user_agent", S, "userAgent; SDKs on Fargate append `exec-env/AWS_ECS_FARGATE`."),
        ("tls_host", S, "tlsDetails.clientProvidedHostHeader: the hostname the client connected to."),
        ("event_category", S, "eventCategory: Management, Data, NetworkActivity or Insight."),
        ("event_type", S, "eventType: AwsApiCall, AwsServiceEvent, AwsConsoleSignIn, AwsVpceEvent…"),
        ("read_only", pa.bool_(), "readOnly."),
        ("management_event", pa.bool_(), "managementEvent."),
        ("request_id", S, "requestID."),
        ("event_id", S, "eventID: the same event delivered twice has the same id (the view keeps one row)."),
        ("event_version", S, "eventVersion of the record format."),
        ("resources", pa.list_(RESOURCE), "resources: the ARNs the call named, with their account and type."),
        ("record", S, "The whole CloudTrail record, as JSON text (json_extract_string(record, '$.requestParameters…'))."),
        *_PROVENANCE,
    ),
    time=("event_time",),
    unique=("event_id", "event_time", "event_source", "event_name"),
    dictionary=("event_source", "event_name", "region", "error_code", "principal_type", "role_arn", "account_id",
                "vpc_endpoint_id", "vpc_endpoint_account_id", "event_category", "event_type", "event_version",
                "_source", "_format", "_ingest_id"),
    statistics=("event_time", "event_source", "event_name", "error_code", "source_ip", "session_name", "_line"),
    row_group=1 << 14,  # ~1.5 KB a row with the record
)

ANSWER = pa.struct([("rdata", S), ("type", S), ("class", S)])
DNS_QUERIES = Table(
    "dns_queries",
    "Route 53 Resolver query logs: one row per query the VPC's resolver answered (cached answers are not logged).",
    (
        ("query_time", TIME, "query_timestamp, UTC."),
        ("account_id", S, "account_id: the account of the VPC."),
        ("region", S, "region of the VPC."),
        ("vpc_id", S, "vpc_id: the VPC the query came from."),
        ("query_name", S, "query_name as logged (normally with the trailing dot)."),
        ("name", S, "query_name lowercased, without the trailing dot: what to join on."),
        ("query_type", S, "query_type: A, AAAA, CNAME, PTR…"),
        ("query_class", S, "query_class: IN."),
        ("rcode", S, "rcode: NOERROR, NXDOMAIN, SERVFAIL…"),
        ("answers", pa.list_(ANSWER), "answers as a list of {rdata, type, class}, in the logged order (a CNAME "
         "chain first); empty when there was none (the logged JSON is in `record`)."),
        ("answer_addresses", pa.list_(S), "The A and AAAA answers' addresses."),
        ("srcaddr", S, "srcaddr: the address that asked (a task's ENI address)."),
        ("srcport", pa.int32(), "srcport."),
        ("transport", S, "transport: UDP or TCP."),
        ("srcids_instance", S, "srcids.instance: the EC2 instance that asked, when there is one."),
        ("srcids_resolver_endpoint", S, "srcids.resolver_endpoint: the inbound/outbound Resolver endpoint."),
        ("firewall_rule_action", S, "DNS Firewall action (ALERT, BLOCK) when a rule matched."),
        ("firewall_rule_group_id", S, "DNS Firewall rule group."),
        ("firewall_domain_list_id", S, "DNS Firewall domain list."),
        ("version", S, "The log format version (`1.100000`)."),
        ("record", S, "The whole log record, as JSON text."),
        *_PROVENANCE,
    ),
    time=("query_time",),
    dictionary=("account_id", "region", "vpc_id", "query_type", "query_class", "rcode", "transport",
                "srcids_instance", "srcids_resolver_endpoint", "firewall_rule_action", "firewall_rule_group_id",
                "firewall_domain_list_id", "version", "_source", "_format", "_ingest_id"),
    statistics=("query_time", "name", "srcaddr", "rcode", "_line"),
    row_group=1 << 16,
)

PROBES = Table(
    "probes",
    "What `flowlogs probe` saw from inside a task's network: one row per step of one target (DNS, TCP, TLS, "
    "a signed call), with the exact error.",
    (
        ("probe_time", TIME, "time: when the probe took the step, UTC (to the second)."),
        ("account_id", S, "account: the account of the credentials the probe ran with (sts get-caller-identity)."),
        ("region", S, "region: AWS_REGION where the probe ran."),
        ("run_id", S, "run: the probe task's id (or the host name where the script ran)."),
        ("task_arn", S, "task_arn: the task the probe ran in, from the task metadata endpoint."),
        ("source_ip", S, "source_ip: the task's address: the srcaddr of the probe's flows."),
        ("cluster", S, "cluster: the cluster of the service whose network the probe ran in."),
        ("service", S, "service: that service (a probe task on its network, or one of its tasks through ECS Exec)."),
        ("step", S, "step: identity, dns, tcp, tls, call or done (the probe steps)."),
        ("target", S, "target: the name given to --target (sqs, secretsmanager…) or host:port."),
        ("host", S, "host: the name resolved and connected to."),
        ("port", pa.int32(), "port: the port connected to."),
        ("address", S, "address: the resolved address this tcp or tls step connected to."),
        ("addresses", pa.list_(S), "addresses: every address the name resolved to (dns)."),
        ("ok", pa.bool_(), "ok: the step succeeded."),
        ("seconds", pa.float64(), "seconds: the TCP connect or TLS handshake time, when curl measured it."),
        ("principal_arn", S, "principal: who the calls were made as (identity)."),
        ("call", S, "call: the read-only AWS CLI call made (call)."),
        ("proxy", S, "proxy: HTTPS_PROXY when the call went through a proxy."),
        ("error", S, "error: the exact error text (curl's, the resolver's or the AWS CLI's)."),
        ("record", S, "The whole probe line, as JSON text."),
        *_PROVENANCE,
    ),
    time=("probe_time",),
    dictionary=("account_id", "region", "run_id", "task_arn", "source_ip", "cluster", "service", "step", "target", "host", "_source",
                "_format", "_ingest_id"),
    statistics=("probe_time", "run_id", "target", "_line"),
    row_group=1 << 14,
)

FLOWS = _flow_table("flows", "VPC Flow Log records (log-status OK).")
INTERFACE_STATUS = _flow_table("interface_status", "NODATA and SKIPDATA flow-log records.")
TGW_FLOWS = _flow_table("tgw_flows", "Transit gateway flow-log records met in the input.")

TABLES: dict[str, Table] = {t.name: t for t in (FLOWS, INTERFACE_STATUS, TGW_FLOWS, API_CALLS, DNS_QUERIES, PROBES)}


def table_of(schema: pa.Schema) -> Table | None:
    """The event table a batch's schema belongs to (None: the flow schema, routed by record)."""
    name = (schema.metadata or {}).get(b"table")
    return TABLES[name.decode()] if name else None
