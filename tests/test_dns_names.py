"""Names behind addresses (Resolver query logs), exact endpoint_bypassed, dns_failure and its causes.

The network is the one of ``test_findings_scenarios`` (task 10.0.1.10 in vpc-1, the SQS
interface endpoint vpce-sqs, NAT nat-1); the query-log records are written as the Resolver
writes them (``builders.dns_query``).
"""

from __future__ import annotations

import json

from builders import T0, dns_query, make_lake, rec, run_findings, trail_call
from test_findings_scenarios import NAT_IP, SQS_PUBLIC, TASK_IP, handshake, network

from pipeline import queries
from pipeline.analysis import findings
from pipeline.analysis.document import destination_label

SNS_PUBLIC = "52.119.161.20"  # in the same AMAZON range as SQS_PUBLIC: the address alone cannot tell them apart
SQS = "sqs.eu-west-1.amazonaws.com."
SNS = "sns.eu-west-1.amazonaws.com."


def names(con) -> dict:
    """(client, server, first_seen) -> (name, named_by) of every named conversation."""
    return {(c, s, t): (n, by) for c, s, t, n, by in con.execute(
        "SELECT client_addr, server_addr, first_seen, name, named_by FROM conversation_names").fetchall()}


def test_a_resolved_service_with_an_endpoint_reached_at_public_addresses_is_a_confirmed_bypass(tmp_path):
    dns = [dns_query(T0 - 30, TASK_IP, SQS, [SQS_PUBLIC, "52.119.160.11"])]
    lines = handshake(T0, dst=SQS_PUBLIC, at_endpoint=False)
    _, doc = run_findings(make_lake(tmp_path, lines, network(private_dns=False), dns=dns))
    [f] = doc["findings"]
    assert f["kind"] == "endpoint_bypassed"
    d = f["destination"]
    assert (d["type"], d["name"], d["aws_service"], d["region"], d["via"], d["named_by"]) == (
        "aws_service", "sqs.eu-west-1.amazonaws.com", "sqs", "eu-west-1", "nat-1", "dns_query")
    assert destination_label(f) == "sqs.eu-west-1.amazonaws.com (public, via nat-1)"
    assert f["dns"] == {"query_name": SQS, "rcode": "NOERROR", "queries": 1, "answers": [
        {"rdata": SQS_PUBLIC, "type": "A", "class": "IN"}, {"rdata": "52.119.160.11", "type": "A", "class": "IN"}]}
    top = f["likely_causes"][0]
    assert (top["cause"], top["confirmed"], top["resource"]) == ("endpoint_private_dns_disabled", True, "vpce-sqs")
    assert "resolved sqs.eu-west-1.amazonaws.com" in top["explanation"] and "nat-1" in top["explanation"]


def test_with_names_known_a_service_without_an_endpoint_is_not_a_bypass(tmp_path):
    """SNS has no endpoint in vpc-1: its public traffic is how it should be, even while vpce-sqs has private DNS off."""
    dns = [dns_query(T0 - 30, TASK_IP, SNS, [SNS_PUBLIC])]
    lines = handshake(T0, dst=SNS_PUBLIC, at_endpoint=False)
    store = make_lake(tmp_path, lines, network(private_dns=False), dns=dns)
    con, doc = run_findings(store)
    assert doc["findings"] == []
    assert names(con) == {(TASK_IP, SNS_PUBLIC, T0): ("sns.eu-west-1.amazonaws.com", "dns_query")}
    # the same traffic without the query log: a warning, unconfirmed
    _, doc = run_findings(make_lake(tmp_path / "unnamed", lines, network(private_dns=False)))
    assert [(f["kind"], f["likely_causes"][0]["confirmed"]) for f in doc["findings"]] == [("endpoint_bypassed", False)]


def test_without_names_one_unconfirmed_warning_per_task_and_endpoint_saying_which_log_settles_it(tmp_path):
    lines = handshake(T0, dst=SQS_PUBLIC, at_endpoint=False, sport=40010)
    lines += handshake(T0 + 60, dst=SNS_PUBLIC, at_endpoint=False, sport=40011)
    lines += handshake(T0 + 120, dst="52.119.162.30", at_endpoint=False, sport=40012)
    _, doc = run_findings(make_lake(tmp_path, lines, network(private_dns=False)))
    [f] = doc["findings"]
    assert f["kind"] == "endpoint_bypassed" and f["dest_addrs"] == sorted([SQS_PUBLIC, SNS_PUBLIC, "52.119.162.30"])
    assert "dns" not in f and f["destination"]["named_by"] is None
    top = f["likely_causes"][0]
    assert (top["cause"], top["confirmed"], top["resource"]) == ("endpoint_private_dns_disabled", False, "vpce-sqs")
    assert "vpc-1 has no Resolver query logging, so the names cannot be known" in top["explanation"]
    assert "associate-resolver-query-log-config --resource-id vpc-1" in top["explanation"]
    # with query logging on for the VPC (but no answer for these addresses) the explanation says so instead
    tables = network(private_dns=False)
    tables["query_log_associations"] = [dict(association_id="rqlca-1", config_id="rqlc-1", vpc_id="vpc-1",
                                             status="ACTIVE")]
    _, doc = run_findings(make_lake(tmp_path / "logged", lines, tables))
    assert "query logging is on for vpc-1" in doc["findings"][0]["likely_causes"][0]["explanation"]


def test_an_answer_names_the_address_ten_minutes_later_and_a_reused_address_takes_the_latest_name(tmp_path):
    """Cached answers are not logged: the answer of T0-600 still names the conversation of T0. The address
    SNS_PUBLIC answered for SNS at T0-1800 and for SQS at T0+300: before T0+300 it is SNS, after it SQS."""
    dns = [dns_query(T0 - 600, TASK_IP, SQS, [SQS_PUBLIC]),
           dns_query(T0 - 1800, TASK_IP, SNS, [SNS_PUBLIC]),
           dns_query(T0 + 300, TASK_IP, SQS, [SNS_PUBLIC])]
    lines = (handshake(T0, dst=SQS_PUBLIC, at_endpoint=False, sport=40020)
             + handshake(T0 + 60, dst=SNS_PUBLIC, at_endpoint=False, sport=40021)
             + handshake(T0 + 360, dst=SNS_PUBLIC, at_endpoint=False, sport=40022))
    con, doc = run_findings(make_lake(tmp_path, lines, network(), dns=dns))
    got = names(con)
    assert got[(TASK_IP, SQS_PUBLIC, T0)][0] == "sqs.eu-west-1.amazonaws.com"
    assert got[(TASK_IP, SNS_PUBLIC, T0 + 60)][0] == "sns.eu-west-1.amazonaws.com"
    assert got[(TASK_IP, SNS_PUBLIC, T0 + 360)][0] == "sqs.eu-west-1.amazonaws.com"
    # the task resolved SQS, which has an endpoint, and got public addresses: a bypass although private DNS is
    # on (so that cause is ruled out and the DNS settings, unknown here, stay open); SNS has no endpoint
    [f] = doc["findings"]
    assert (f["kind"], f["destination"]["name"], f["dest_addrs"]) == (
        "endpoint_bypassed", "sqs.eu-west-1.amazonaws.com", [SQS_PUBLIC, SNS_PUBLIC])
    assert [(c["cause"], c["confirmed"]) for c in f["likely_causes"]] == [
        ("vpc_dns_disabled", False), ("custom_dns_servers", False)]
    # talkers and endpoints show the names
    endpoints = {r["name"]: r for r in findings.rows(con, queries.get("endpoints").sql, {"port": None})}
    assert endpoints["sqs.eu-west-1.amazonaws.com"]["conversations"] == 2
    assert endpoints["sqs.eu-west-1.amazonaws.com"]["aws_service"] == "sqs"
    assert endpoints["sns.eu-west-1.amazonaws.com"]["conversations"] == 1
    talkers = {(r["server_addr"], r["destination"]) for r in findings.rows(con, queries.get("talkers").sql, {"port": None})}
    assert talkers == {(SQS_PUBLIC, "sqs.eu-west-1.amazonaws.com"), (SNS_PUBLIC, "sns.eu-west-1.amazonaws.com"),
                       (SNS_PUBLIC, "sqs.eu-west-1.amazonaws.com")}


def test_an_old_answer_or_one_after_the_conversation_does_not_name_it_and_another_clients_answer_does(tmp_path):
    other = "10.0.1.77"
    dns = [dns_query(T0 - 4000, TASK_IP, SQS, [SQS_PUBLIC]),  # older than MAX_AGE (3600 s)
           dns_query(T0 + 900, TASK_IP, SNS, [SNS_PUBLIC]),  # after the conversation (beyond the skew)
           dns_query(T0 - 60, other, SQS, ["52.119.160.12"])]  # another client; the task got the cached answer
    lines = (handshake(T0, dst=SQS_PUBLIC, at_endpoint=False, sport=40030)
             + handshake(T0, dst=SNS_PUBLIC, at_endpoint=False, sport=40031)
             + handshake(T0, dst="52.119.160.12", at_endpoint=False, sport=40032))
    con, _ = run_findings(make_lake(tmp_path, lines, network(), dns=dns))
    assert names(con) == {(TASK_IP, "52.119.160.12", T0): ("sqs.eu-west-1.amazonaws.com", "dns_query")}


def test_cname_chains_aaaa_and_names_with_or_without_the_trailing_dot(tmp_path):
    v6 = "2a05:d018:0:8000::10"
    dns = [dns_query(T0 - 10, TASK_IP, "SQS.eu-west-1.amazonaws.com", [SQS_PUBLIC],
                     cnames=["eu-west-1.queue.amazonaws.com."]),  # no trailing dot, upper case, CNAME first
           dns_query(T0 - 10, TASK_IP, SNS, [v6], qtype="AAAA"),
           dns_query(T0 - 5, TASK_IP, SNS, [], qtype="AAAA"),  # an IPv4-only name: empty AAAA is no failure
           dns_query(T0 - 4, TASK_IP, SNS, [], qtype="AAAA")]
    lines = handshake(T0, dst=SQS_PUBLIC, at_endpoint=False, sport=40040)
    lines += [rec("eni-task1", TASK_IP, v6, 40041, 443, T0, flags=3, direction="egress", subnet="subnet-a")]
    con, doc = run_findings(make_lake(tmp_path, lines, network(), dns=dns), settle=0)
    got = names(con)
    assert got[(TASK_IP, SQS_PUBLIC, T0)] == ("sqs.eu-west-1.amazonaws.com", "dns_query")  # the name asked, not the CNAME
    assert got[(TASK_IP, v6, T0)] == ("sns.eu-west-1.amazonaws.com", "dns_query")
    # the unanswered IPv6 call, and SQS reached publicly although it has an endpoint; no dns_failure
    by_kind = {f["kind"]: f for f in doc["findings"]}
    assert set(by_kind) == {"no_return", "endpoint_bypassed"}
    assert by_kind["no_return"]["destination"]["name"] == "sns.eu-west-1.amazonaws.com"
    assert by_kind["endpoint_bypassed"]["dns"]["answers"][0] == {
        "rdata": "eu-west-1.queue.amazonaws.com.", "type": "CNAME", "class": "IN"}


def test_nxdomain_from_a_private_zone_shadowing_the_name_is_a_confirmed_dns_failure(tmp_path):
    tables = network()
    tables["hosted_zone_vpcs"] = [dict(vpc_id="vpc-1", hosted_zone_id="Z0SHADOW1234", zone_name="eu-west-1.amazonaws.com")]
    tables["dns_records"] = [dict(hosted_zone_id="Z0SHADOW1234", name="sqs.eu-west-1.amazonaws.com", type="A",
                                  values=["10.0.2.20"])]
    dns = [dns_query(T0 + 60 * i, TASK_IP, SNS, rcode="NXDOMAIN") for i in range(3)]
    dns += [dns_query(T0, TASK_IP, "sns.eu-west-1.amazonaws.com.eu-west-1.compute.internal.", rcode="NXDOMAIN")] * 2
    dns += [dns_query(T0, TASK_IP, "once.example.com.", rcode="SERVFAIL")]  # not repeated
    _, doc = run_findings(make_lake(tmp_path, handshake(T0), tables, dns=dns))
    [f] = doc["findings"]
    assert (f["kind"], f["state"], f["observed_at"], f["task_id"], f["service"]) == (
        "dns_failure", None, "dns_query", "task-a", "orders")  # not a conversation: no state
    assert (f["destination"]["name"], f["destination"]["aws_service"]) == ("sns.eu-west-1.amazonaws.com", "sns")
    assert f["dns"] == {"query_name": SNS, "rcode": "NXDOMAIN", "answers": [], "queries": 3}
    top = f["likely_causes"][0]
    assert (top["cause"], top["confirmed"], top["resource"]) == ("dns_nxdomain", True, "Z0SHADOW1234")
    assert "disassociate-vpc-from-hosted-zone --hosted-zone-id Z0SHADOW1234 --vpc VPCRegion=eu-west-1,VPCId=vpc-1" in top["fix"]
    assert len(f["evidence"]) == 3 and all(e["rcode"] == "NXDOMAIN" for e in f["evidence"])
    # without the zone in the metadata the cause cannot be confirmed
    _, doc = run_findings(make_lake(tmp_path / "nozone", handshake(T0), network(), dns=dns))
    assert [c["confirmed"] for c in doc["findings"][0]["likely_causes"]] == [False, False, False]


def test_unanswered_dns_to_custom_servers_and_a_bypass_with_dns_hostnames_off(tmp_path):
    tables = network(private_dns=True)
    tables["vpcs"] = [dict(vpc_id="vpc-1", cidr_blocks=["10.0.0.0/16"], dhcp_options_id="dopt-1")]
    tables["dhcp_options"] = [dict(dhcp_options_id="dopt-1", domain_name_servers=["10.0.9.53"])]
    tables["vpc_dns_attributes"] = [dict(vpc_id="vpc-1", attribute="enableDnsSupport", enabled=True),
                                    dict(vpc_id="vpc-1", attribute="enableDnsHostnames", enabled=False)]
    lines = [rec("eni-task1", TASK_IP, "10.0.9.53", 50000 + i, 53, T0 + 60 * i, proto=17, direction="egress",
                 subnet="subnet-a") for i in range(3)]
    dns = [dns_query(T0 - 30, TASK_IP, SQS, [SQS_PUBLIC])]
    lines += handshake(T0, dst=SQS_PUBLIC, at_endpoint=False)
    _, doc = run_findings(make_lake(tmp_path, lines, tables, dns=dns), settle=0)
    by_kind = {f["kind"]: f for f in doc["findings"]}
    assert set(by_kind) == {"no_return", "endpoint_bypassed"}
    top = by_kind["no_return"]["likely_causes"][0]
    assert (top["cause"], top["confirmed"], top["resource"], top["rule"]) == (
        "custom_dns_servers", True, "dopt-1", "domain-name-servers=10.0.9.53")
    bypass = [(c["cause"], c["confirmed"]) for c in by_kind["endpoint_bypassed"]["likely_causes"]]
    # private DNS is on, so that cause is ruled out: hostnames off and the custom servers are why
    assert bypass == [("vpc_dns_disabled", True), ("custom_dns_servers", True)]
    assert by_kind["endpoint_bypassed"]["likely_causes"][0]["rule"] == "enableDnsHostnames=false"
    # each settings fix, made on a copy of the configuration, removes its cause (the same check rules it out)
    for cause in [top, *by_kind["endpoint_bypassed"]["likely_causes"]]:
        assert (cause["fix_verified"], cause["fix_scope"]) == (True, None)
        assert "with the fix, the cause no longer holds" in cause["explanation"]


PROXY_IP = "10.0.1.11"


def proxied(no_proxy="localhost", variable="https_proxy"):
    """The network with a proxy instance (sg-proxy: no ingress rule) and task-a running mailer:4 behind it."""
    tables = network()
    tables["network_interfaces"].append(dict(
        eni_id="eni-proxy", kind="ec2_instance", interface_type="interface", vpc_id="vpc-1", subnet_id="subnet-a",
        private_ip=PROXY_IP, private_ips=[PROXY_IP], security_group_ids=["sg-proxy"], resource_id="i-proxy",
        instance_id="i-proxy"))
    tables["security_groups"].append(dict(group_id="sg-proxy", vpc_id="vpc-1", group_name="proxy"))
    arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/mailer:4"
    tables["eni_assignments"][0]["task_definition_arn"] = arn
    env = {variable: f"http://{PROXY_IP}:3128", **({"NO_PROXY": no_proxy} if no_proxy is not None else {})}
    tables["task_definitions"] = [dict(task_definition_arn=arn, family="mailer", revision=4, container_name="mailer",
                                       environment=json.dumps(env), https_proxy=f"http://{PROXY_IP}:3128",
                                       no_proxy=no_proxy)]
    return tables


def test_a_task_behind_an_unreachable_proxy_gets_the_proxy_first_and_the_network_cause_under_it(tmp_path):
    lines = []
    for i in range(3):
        sport = 46000 + i
        lines += [rec("eni-task1", TASK_IP, PROXY_IP, sport, 3128, T0 + 60 * i, flags=2, direction="egress", subnet="subnet-a"),
                  rec("eni-proxy", TASK_IP, PROXY_IP, sport, 3128, T0 + 60 * i, action="REJECT", flags=2,
                      direction="ingress", subnet="subnet-a")]
    _, doc = run_findings(make_lake(tmp_path, lines, proxied()))
    [f] = doc["findings"]
    assert (f["kind"], f["observed_at"]) == ("reject", "destination_ingress")
    d = f["destination"]
    assert (d["type"], d["id"], d["name"]) == ("proxy", "i-proxy", "10.0.1.11:3128 (HTTPS_PROXY)")
    proxy, network_cause = f["likely_causes"][:2]
    assert (proxy["cause"], proxy["confirmed"], proxy["resource"], proxy["rule"]) == (
        "proxy", True, "mailer:4", "HTTPS_PROXY=http://10.0.1.11:3128")
    assert (network_cause["cause"], network_cause["confirmed"], network_cause["resource"]) == (
        "security_group_ingress_destination", True, "sg-proxy")


def test_no_proxy_without_the_credentials_address_or_the_endpoint_names_is_a_warning_with_the_fix(tmp_path):
    lines = handshake(T0, dst=PROXY_IP, at_endpoint=False)
    lines = [line.replace(" 443 ", " 3128 ") for line in lines]  # the same healthy call, to the proxy's port
    _, doc = run_findings(make_lake(tmp_path, lines, proxied(no_proxy="localhost")))
    [f] = doc["findings"]
    assert (f["kind"], f["destination"]["type"]) == ("endpoint_bypassed", "proxy")
    [c] = f["likely_causes"]
    assert (c["cause"], c["confirmed"], c["resource"], c["rule"]) == (
        "proxy_bypass_missing", True, "mailer:4", "NO_PROXY=localhost")
    assert "NO_PROXY=localhost,169.254.170.2,sqs.eu-west-1.amazonaws.com" in c["fix"]
    # NO_PROXY with both: nothing to say
    _, doc = run_findings(make_lake(tmp_path / "ok", lines, proxied(no_proxy="169.254.170.2,.amazonaws.com")))
    assert doc["findings"] == []


def test_cloudtrail_calls_from_the_nat_without_an_endpoint_name_the_public_conversations(tmp_path):
    """No query log: CloudTrail says the task's calls during the conversation went to SQS from the NAT's address
    without vpcEndpointId. That names the public address, confirms the bypass of vpce-sqs; calls through the
    endpoint (vpcEndpointId set) name nothing."""
    nat_public = "34.240.0.1"
    lines = handshake(T0, dst=SQS_PUBLIC, at_endpoint=False)
    trail = [trail_call(T0 + 20, "sqs.amazonaws.com", nat_public, tls_host="sqs.eu-west-1.amazonaws.com"),
             trail_call(T0 + 30, "sns.amazonaws.com", "10.0.1.10", vpc_endpoint_id="vpce-sns")]
    con, doc = run_findings(make_lake(tmp_path, lines, network(private_dns=False), trail=trail))
    assert names(con) == {(TASK_IP, SQS_PUBLIC, T0): ("sqs.eu-west-1.amazonaws.com", "cloudtrail")}
    [f] = doc["findings"]
    assert (f["destination"]["name"], f["destination"]["aws_service"], f["destination"]["named_by"]) == (
        "sqs.eu-west-1.amazonaws.com", "sqs", "cloudtrail")
    assert "dns" not in f
    top = f["likely_causes"][0]
    assert (top["cause"], top["confirmed"]) == ("endpoint_private_dns_disabled", True)
    assert "CloudTrail" in top["explanation"]
    # two services called from the NAT in that minute: CloudTrail cannot say which one this address was
    trail.append(trail_call(T0 + 25, "sns.amazonaws.com", nat_public))
    con, _ = run_findings(make_lake(tmp_path / "two", lines, network(private_dns=False), trail=trail))
    assert names(con) == {}
