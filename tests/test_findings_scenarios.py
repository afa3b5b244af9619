"""Each conversation state and each cause, on small hand-written record sets.

The network: VPC 10.0.0.0/16; a task subnet 10.0.1.0/24 (task ENIs, sg-task); an endpoint
subnet 10.0.2.0/24 (the SQS interface endpoint vpce-sqs, ENI 10.0.2.20, sg-vpce); a public
subnet with NAT gateway nat-1 (10.0.3.5). Records are written in a custom v5 format and go
through the real ingest; metadata through the real metadata store.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from builders import T0, V2_FORMAT, make_lake, rec, rec_v2, run_findings

TASK_IP, VPCE_IP, NAT_IP, SQS_PUBLIC = "10.0.1.10", "10.0.2.20", "10.0.3.5", "52.119.160.10"
UTC = timezone.utc


def ts(seconds):
    return datetime.fromtimestamp(seconds, UTC)


def network(sg_task_egress=True, sg_vpce_ingress=True, acl_deny_return=False, default_route=True,
            private_dns=True, eni_logged=True):
    rules = []
    if sg_task_egress:
        rules.append(dict(group_id="sg-task", direction="egress", protocol=-1, from_port=None, to_port=None,
                          peer_type="cidr_ipv4", peer="0.0.0.0/0"))
    if sg_vpce_ingress:
        rules.append(dict(group_id="sg-vpce", direction="ingress", protocol=6, from_port=443, to_port=443,
                          peer_type="security_group", peer="sg-task"))
    rules.append(dict(group_id="sg-vpce", direction="egress", protocol=-1, from_port=None, to_port=None,
                      peer_type="cidr_ipv4", peer="0.0.0.0/0"))
    acl = [dict(network_acl_id="acl-default", vpc_id="vpc-1", is_default=True, subnet_ids=["subnet-e", "subnet-p"],
                rule_number=n, egress=e, protocol=-1, rule_action=a, cidr_block="0.0.0.0/0")
           for e in (True, False) for n, a in ((100, "allow"), (32767, "deny"))]
    task_acl = [dict(network_acl_id="acl-task", vpc_id="vpc-1", is_default=False, subnet_ids=["subnet-a"],
                     rule_number=n, egress=e, protocol=-1, rule_action=a, cidr_block="0.0.0.0/0")
                for e in (True, False) for n, a in ((100, "allow"), (32767, "deny"))]
    if acl_deny_return:
        task_acl.append(dict(network_acl_id="acl-task", vpc_id="vpc-1", is_default=False, subnet_ids=["subnet-a"],
                             rule_number=90, egress=False, protocol=6, rule_action="deny", cidr_block="0.0.0.0/0",
                             from_port=1024, to_port=65535))
    routes = [dict(route_table_id="rtb-task", vpc_id="vpc-1", is_main=False, subnet_ids=["subnet-a"],
                   destination="10.0.0.0/16", destination_type="ipv4", target_type="local", target_id="local",
                   state="active")]
    if default_route:
        routes.append(dict(route_table_id="rtb-task", vpc_id="vpc-1", is_main=False, subnet_ids=["subnet-a"],
                           destination="0.0.0.0/0", destination_type="ipv4", target_type="nat_gateway",
                           target_id="nat-1", state="active"))
    interfaces = [
        dict(eni_id="eni-vpce", kind="vpc_endpoint", interface_type="vpc_endpoint", vpc_id="vpc-1", subnet_id="subnet-e",
             private_ip=VPCE_IP, private_ips=[VPCE_IP], security_group_ids=["sg-vpce"], resource_id="vpce-sqs"),
        dict(eni_id="eni-nat", kind="nat_gateway", interface_type="nat_gateway", vpc_id="vpc-1", subnet_id="subnet-p",
             private_ip=NAT_IP, private_ips=[NAT_IP], public_ip="34.240.0.1", resource_id="nat-1"),
    ]
    if eni_logged:
        interfaces.append(dict(eni_id="eni-task1", kind="fargate_task", interface_type="interface", vpc_id="vpc-1",
                               subnet_id="subnet-a", private_ip=TASK_IP, private_ips=[TASK_IP],
                               security_group_ids=["sg-task"]))
    return {
        "vpcs": [dict(vpc_id="vpc-1", cidr_blocks=["10.0.0.0/16"])],
        "subnets": [dict(subnet_id=s, vpc_id="vpc-1", cidr_block=c) for s, c in
                    (("subnet-a", "10.0.1.0/24"), ("subnet-e", "10.0.2.0/24"), ("subnet-p", "10.0.3.0/24"))],
        "security_groups": [dict(group_id=g, vpc_id="vpc-1", group_name=g) for g in ("sg-task", "sg-vpce")],
        "security_group_rules": rules,
        "network_acls": acl + task_acl,
        "route_tables": routes,
        "network_interfaces": interfaces,
        "vpc_endpoints": [dict(endpoint_id="vpce-sqs", vpc_id="vpc-1", service_name="com.amazonaws.eu-west-1.sqs",
                               aws_service="sqs", endpoint_type="Interface", state="available",
                               private_dns_enabled=private_dns, network_interface_ids=["eni-vpce"],
                               security_group_ids=["sg-vpce"], subnet_ids=["subnet-e"])],
        "nat_gateways": [dict(nat_gateway_id="nat-1", vpc_id="vpc-1", subnet_id="subnet-p", state="available",
                              eni_id="eni-nat", private_ip=NAT_IP, public_ip="34.240.0.1")],
        "aws_ip_ranges": [dict(prefix="52.119.160.0/20", ip_version=4, service="AMAZON", region="eu-west-1",
                               network_border_group="eu-west-1", prefix_length=20,
                               range_start=bytes(10) + b"\xff\xff" + bytes([52, 119, 160, 0]),
                               range_end=bytes(10) + b"\xff\xff" + bytes([52, 119, 175, 255]))],
        "eni_assignments": [dict(eni_id="eni-task1", ip=TASK_IP, ip_version=4, task_id="task-a",
                                 task_arn="arn:aws:ecs:eu-west-1:123456789012:task/prod/task-a", cluster_name="prod",
                                 service_name="orders", subnet_id="subnet-a", vpc_id="vpc-1",
                                 security_group_ids=["sg-task"], valid_from=ts(T0 - 3600), valid_to=None,
                                 source="ecs_event")],
    }


def handshake(t, task_eni="eni-task1", sport=40000, dst=VPCE_IP, at_endpoint=True, reply=True):
    """A healthy tcp/443 call from the task to dst, logged at the task ENI (and the endpoint ENI)."""
    lines = [rec(task_eni, TASK_IP, dst, sport, 443, t, flags=3, direction="egress", subnet="subnet-a")]
    if reply:
        lines.append(rec(task_eni, dst, TASK_IP, 443, sport, t, flags=19, direction="ingress", subnet="subnet-a"))
    if at_endpoint:
        lines.append(rec("eni-vpce", TASK_IP, dst, sport, 443, t, flags=3, direction="ingress", subnet="subnet-e"))
        if reply:
            lines.append(rec("eni-vpce", dst, TASK_IP, 443, sport, t, flags=19, direction="egress", subnet="subnet-e"))
    return lines


def conversations(con):
    return con.execute("SELECT state, observed_at, records FROM conversations ORDER BY first_seen").fetchall()


def test_established_call_logged_at_two_enis_is_one_conversation_and_no_finding(tmp_path):
    store = make_lake(tmp_path, handshake(T0), network())
    con, doc = run_findings(store)
    assert conversations(con) == [("established", "source_egress", 4)]
    assert doc["findings"] == []


def test_reply_in_the_next_window_is_not_no_reply(tmp_path):
    lines = [rec("eni-task1", TASK_IP, VPCE_IP, 40001, 443, T0, flags=2, direction="egress", subnet="subnet-a"),
             rec("eni-task1", VPCE_IP, TASK_IP, 443, 40001, T0 + 60, flags=18, direction="ingress", subnet="subnet-a")]
    con, doc = run_findings(make_lake(tmp_path, lines, network()))
    assert [c[0] for c in conversations(con)] == ["established"]
    assert doc["findings"] == []


def test_long_connection_with_zero_flags_in_the_middle_is_one_established_conversation(tmp_path):
    lines = []
    for i in range(30):
        out_flags, in_flags = (2, 18) if i == 0 else ((1, 1) if i == 29 else (0, 0))
        lines.append(rec("eni-task1", TASK_IP, VPCE_IP, 40002, 443, T0 + 60 * i, flags=out_flags, direction="egress", subnet="subnet-a"))
        lines.append(rec("eni-task1", VPCE_IP, TASK_IP, 443, 40002, T0 + 60 * i, flags=in_flags, direction="ingress", subnet="subnet-a"))
    con, doc = run_findings(make_lake(tmp_path, lines, network()))
    assert conversations(con) == [("established", "source_egress", 60)]
    assert doc["findings"] == []


def test_conversation_logged_at_three_enis_through_a_nat_is_counted_once(tmp_path):
    sport = 40003
    lines = [
        rec("eni-task1", TASK_IP, SQS_PUBLIC, sport, 443, T0, flags=3, direction="egress", subnet="subnet-a"),
        rec("eni-task1", SQS_PUBLIC, TASK_IP, 443, sport, T0, flags=19, direction="ingress", subnet="subnet-a"),
        # the NAT ENI's private leg: interface addresses are the NAT's, packet addresses the endpoints'
        rec("eni-nat", TASK_IP, NAT_IP, sport, 443, T0, flags=3, direction="ingress", pkt_dst=SQS_PUBLIC, subnet="subnet-p"),
        rec("eni-nat", NAT_IP, TASK_IP, 443, sport, T0, flags=19, direction="egress", pkt_src=SQS_PUBLIC, subnet="subnet-p"),
        # a third ENI on the path (a transit gateway attachment ENI, 10.0.3.9): it shows its own address
        # in srcaddr/dstaddr and the endpoints in pkt-srcaddr/pkt-dstaddr (AWS example H)
        rec("eni-tgw", "10.0.3.9", SQS_PUBLIC, sport, 443, T0, flags=3, direction="egress", pkt_src=TASK_IP, subnet="subnet-p"),
        rec("eni-tgw", SQS_PUBLIC, "10.0.3.9", 443, sport, T0, flags=19, direction="ingress", pkt_dst=TASK_IP, subnet="subnet-p"),
    ]
    con, _ = run_findings(make_lake(tmp_path, lines, network()))
    rows = con.execute("SELECT state, len(interfaces), records, packets FROM conversations").fetchall()
    assert rows == [("established", 3, 6, 6)]  # packets counted once: at the source ENI (3 out + 3 back)


def test_security_group_egress_reject_is_confirmed_with_the_group(tmp_path):
    lines = [rec("eni-task1", TASK_IP, VPCE_IP, 40000 + i, 443, T0 + 60 * i, action="REJECT", flags=2,
                 direction="egress", subnet="subnet-a") for i in range(3)]
    _, doc = run_findings(make_lake(tmp_path, lines, network(sg_task_egress=False)))
    [f] = doc["findings"]
    assert (f["kind"], f["state"], f["observed_at"]) == ("reject", "blocked", "source_egress")
    assert (f["service"], f["task_id"], f["destination"]["type"], f["destination"]["id"]) == (
        "orders", "task-a", "vpc_endpoint", "vpce-sqs")
    top = f["likely_causes"][0]
    assert (top["cause"], top["confirmed"], top["resource"]) == ("security_group_egress", True, "sg-task")
    assert "authorize-security-group-egress --group-id sg-task" in top["fix"] and "GroupId=sg-vpce" in top["fix"]
    assert f["flows"] == 3 and len(f["evidence"]) == 3 and all(e["action"] == "REJECT" for e in f["evidence"])
    # the network ACL allows it, so that candidate is ruled out
    assert [c["cause"] for c in f["likely_causes"]] == ["security_group_egress"]


def test_endpoint_security_group_without_ingress_is_confirmed_at_the_destination(tmp_path):
    lines = []
    for i in range(3):
        lines += [rec("eni-task1", TASK_IP, VPCE_IP, 41000 + i, 443, T0 + 60 * i, flags=2, direction="egress", subnet="subnet-a"),
                  rec("eni-vpce", TASK_IP, VPCE_IP, 41000 + i, 443, T0 + 60 * i, action="REJECT", flags=2, direction="ingress",
                      subnet="subnet-e")]
    _, doc = run_findings(make_lake(tmp_path, lines, network(sg_vpce_ingress=False)))
    [f] = doc["findings"]
    assert (f["kind"], f["observed_at"], f["destination"]["aws_service"]) == ("reject", "destination_ingress", "sqs")
    top = f["likely_causes"][0]
    assert (top["cause"], top["confirmed"], top["resource"]) == ("security_group_ingress_destination", True, "sg-vpce")
    assert "authorize-security-group-ingress --group-id sg-vpce" in top["fix"] and "GroupId=sg-task" in top["fix"]


def test_network_acl_dropping_the_reply_names_the_rule(tmp_path):
    lines = []
    for i in range(2):
        sport = 42000 + i
        lines += [rec("eni-task1", TASK_IP, VPCE_IP, sport, 443, T0 + 60 * i, flags=2, direction="egress", subnet="subnet-a"),
                  rec("eni-task1", VPCE_IP, TASK_IP, 443, sport, T0 + 60 * i, action="REJECT", flags=18, direction="ingress",
                      subnet="subnet-a"),
                  rec("eni-vpce", TASK_IP, VPCE_IP, sport, 443, T0 + 60 * i, flags=2, direction="ingress", subnet="subnet-e"),
                  rec("eni-vpce", VPCE_IP, TASK_IP, 443, sport, T0 + 60 * i, flags=18, direction="egress", subnet="subnet-e")]
    _, doc = run_findings(make_lake(tmp_path, lines, network(acl_deny_return=True)))
    [f] = doc["findings"]
    assert (f["kind"], f["state"], f["observed_at"]) == ("reject", "blocked", "source_ingress_return")
    top = f["likely_causes"][0]
    assert (top["cause"], top["confirmed"], top["resource"], top["rule"]) == ("network_acl_return", True, "acl-task", "rule 90")
    assert "acl-task rule 90 denies inbound tcp" in top["explanation"]
    # least privilege: an allow in front of the deny, for the endpoint's own address and the ephemeral ports;
    # the deny stays (it stops nothing else here, so the explanation says deleting it would do too)
    assert top["fix"] == ("aws ec2 create-network-acl-entry --network-acl-id acl-task --rule-number 89 --ingress "
                          "--protocol 6 --port-range From=1024,To=65535 --cidr-block 10.0.2.20/32 --rule-action allow")
    assert top["fix_scope"] == {"protocol": "tcp", "ports": [1024, 65535], "peers": ["10.0.2.20/32"]}
    assert top["fix_verified"] is True
    assert "rule 90 denies nothing else seen in the flows" in top["explanation"]
    assert "would allow 2 conversations of 2 failing; also allows: no other observed conversation" in top["explanation"]


def test_no_route_to_a_public_aws_service_is_route_missing(tmp_path):
    lines = [rec("eni-task1", TASK_IP, SQS_PUBLIC, 43000 + i, 443, T0 + 60 * i, flags=2, direction="egress", subnet="subnet-a")
             for i in range(3)]
    _, doc = run_findings(make_lake(tmp_path, lines, network(default_route=False)), settle=0)
    [f] = doc["findings"]
    assert (f["kind"], f["state"], f["destination"]["type"], f["destination"]["aws_service"]) == (
        "no_return", "no_reply", "aws_service", "AMAZON")
    top = f["likely_causes"][0]
    assert (top["cause"], top["confirmed"], top["resource"]) == ("route_missing", True, "rtb-task")
    assert "create-route --route-table-id rtb-task --destination-cidr-block 0.0.0.0/0 --nat-gateway-id nat-1" in top["fix"]


def test_no_reply_is_not_judged_before_the_settle_time(tmp_path):
    lines = [rec("eni-task1", TASK_IP, SQS_PUBLIC, 43100, 443, T0, flags=2, direction="egress", subnet="subnet-a"),
             # other traffic 5 minutes later: the lake knows up to T0 + 355
             *handshake(T0 + 300, sport=43101)]
    store = make_lake(tmp_path, lines, network(default_route=False))
    con, doc = run_findings(store, settle=900)
    assert ("pending", "source_egress", 1) in conversations(con)
    assert doc["findings"] == []
    _, doc = run_findings(store, settle=60)
    assert [f["kind"] for f in doc["findings"]] == ["no_return"]


def test_reset_from_the_destination_is_refused(tmp_path):
    lines = [rec("eni-task1", TASK_IP, VPCE_IP, 44000, 443, T0, flags=2, direction="egress", subnet="subnet-a"),
             rec("eni-task1", VPCE_IP, TASK_IP, 443, 44000, T0, flags=4, direction="ingress", subnet="subnet-a")]
    con, doc = run_findings(make_lake(tmp_path, lines, network()))
    assert [c[0] for c in conversations(con)] == ["refused"]
    [f] = doc["findings"]
    assert (f["kind"], f["likely_causes"][0]["cause"]) == ("refused", "destination_unresponsive")


def test_public_service_through_nat_with_endpoint_private_dns_off_is_endpoint_bypassed(tmp_path):
    lines = handshake(T0, dst=SQS_PUBLIC, at_endpoint=False)
    _, doc = run_findings(make_lake(tmp_path, lines, network(private_dns=False)))
    [f] = doc["findings"]
    assert (f["kind"], f["state"]) == ("endpoint_bypassed", "established")
    top = f["likely_causes"][0]
    # no query log or CloudTrail names the service: a warning, unconfirmed (test_dns_names confirms it with names)
    assert (top["cause"], top["confirmed"], top["resource"]) == ("endpoint_private_dns_disabled", False, "vpce-sqs")
    assert top["fix"] == "aws ec2 modify-vpc-endpoint --vpc-endpoint-id vpce-sqs --private-dns-enabled"
    # with private DNS on, the same traffic is not reported
    _, doc = run_findings(make_lake(tmp_path / "on", lines, network(private_dns=True)))
    assert doc["findings"] == []


@pytest.mark.parametrize("client_eni_logged", [True, False])
def test_reused_ip_is_attributed_to_the_task_that_held_it_at_the_time(tmp_path, client_eni_logged):
    """Task A (orders) held 10.0.1.10 until T0+1800 on eni-task1; task B (billing) got the same IP at
    T0+2400 on eni-task2. Both fail to reach the endpoint. Without the client ENI in the logs,
    only the time-valid IP join can tell them apart."""
    tables = network(sg_vpce_ingress=False)
    tables["eni_assignments"] = [
        dict(eni_id="eni-task1", ip=TASK_IP, ip_version=4, task_id="task-a", cluster_name="prod", service_name="orders",
             subnet_id="subnet-a", vpc_id="vpc-1", security_group_ids=["sg-task"], valid_from=ts(T0 - 600),
             valid_to=ts(T0 + 1800), source="ecs_event"),
        dict(eni_id="eni-task2", ip=TASK_IP, ip_version=4, task_id="task-b", cluster_name="prod", service_name="billing",
             subnet_id="subnet-a", vpc_id="vpc-1", security_group_ids=["sg-task"], valid_from=ts(T0 + 2400),
             valid_to=None, source="ecs_event"),
    ]
    lines = []
    for eni, t, sport in (("eni-task1", T0 + 60, 45000), ("eni-task2", T0 + 3000, 45001)):
        if client_eni_logged:
            lines.append(rec(eni, TASK_IP, VPCE_IP, sport, 443, t, flags=2, direction="egress", subnet="subnet-a"))
        lines.append(rec("eni-vpce", TASK_IP, VPCE_IP, sport, 443, t, action="REJECT", flags=2, direction="ingress",
                         subnet="subnet-e"))
    con, doc = run_findings(make_lake(tmp_path, lines, tables))
    got = sorted((f["service"], f["task_id"], f["first_seen"]) for f in doc["findings"])
    assert got == [("billing", "task-b", "2026-11-27T09:50:00Z"), ("orders", "task-a", "2026-11-27T09:01:00Z")]
    # a join on the IP alone is ambiguous: both tasks match every one of these conversations
    naive = con.execute("SELECT count(DISTINCT a.task_id) FROM conversations c JOIN eni_assignments a ON a.ip = c.client_addr"
                        ).fetchone()[0]
    assert naive == 2


# --- resets without tcp-flags: the default (v2) format has none, the sizes still show them ----------

SEARCH_IP = "10.0.2.30"  # a host in the VPC where nothing listens on tcp/9200


def v2_resets(attempts, server=SEARCH_IP, client=TASK_IP, syn=60, reset=40, packets=1, first=0):
    """``attempts`` connections, each a ``packets``-packet SYN out and one ``reset``-byte packet back."""
    lines = []
    for i in range(first, first + attempts):
        t = T0 + 60 * i
        lines += [rec_v2("eni-task1", client, server, 46000 + i, 9200, t, packets, packets * syn),
                  rec_v2("eni-task1", server, client, 9200, 46000 + i, t, 1, reset)]
    return lines


def sized(con):
    return con.execute("SELECT state, state_from_sizes FROM conversations ORDER BY first_seen").fetchall()


def test_resets_in_the_default_format_are_refused_inferred_from_sizes(tmp_path):
    con, doc = run_findings(make_lake(tmp_path, v2_resets(3) + v2_resets(1, packets=2, first=3), network(),
                                      log_format=V2_FORMAT))
    assert set(sized(con)) == {("refused", True)}
    [f] = doc["findings"]
    assert (f["kind"], f["state"], f["task_id"], f["dest_port"]) == ("refused", "refused", "task-a", 9200)
    top = f["likely_causes"][0]
    assert top["cause"] == "destination_unresponsive"
    assert "Inferred from packet sizes" in top["explanation"] and "40-byte" in top["explanation"]
    assert "each of the 4 attempts" in top["explanation"]


def test_resets_over_ipv6_are_60_bytes(tmp_path):
    lines = v2_resets(3, server="2001:db8::30", client="2001:db8::10", syn=80, reset=60)
    con, _ = run_findings(make_lake(tmp_path, lines, network(), log_format=V2_FORMAT))
    assert set(sized(con)) == {("refused", True)}
    # a 40-byte reply is not an IPv6 reset
    lines = v2_resets(3, server="2001:db8::30", client="2001:db8::10", syn=80, reset=40)
    con, _ = run_findings(make_lake(tmp_path / "40", lines, network(), log_format=V2_FORMAT))
    assert set(sized(con)) == {("established", False)}


def test_the_same_resets_with_tcp_flags_are_refused_by_the_flags(tmp_path):
    lines = []
    for i in range(4):
        lines += [rec("eni-task1", TASK_IP, SEARCH_IP, 46000 + i, 9200, T0 + 60 * i, flags=2, packets=1, size=60,
                      direction="egress", subnet="subnet-a"),
                  rec("eni-task1", SEARCH_IP, TASK_IP, 9200, 46000 + i, T0 + 60 * i, flags=20, packets=1, size=40,
                      direction="ingress", subnet="subnet-a")]
    con, doc = run_findings(make_lake(tmp_path, lines, network()))
    assert set(sized(con)) == {("refused", False)}
    [f] = doc["findings"]
    assert f["kind"] == "refused"
    assert "packet sizes" not in f["likely_causes"][0]["explanation"]


def test_one_or_two_reset_sized_exchanges_are_not_enough(tmp_path):
    con, doc = run_findings(make_lake(tmp_path, v2_resets(2), network(), log_format=V2_FORMAT))
    assert set(sized(con)) == {("established", False)}
    assert doc["findings"] == []


def test_keep_alive_probes_stay_established(tmp_path):
    """Idle pooled connections: each window, one probe out (41 bytes: one garbage byte, or 52 with
    timestamps) and its ACK back (40, or 52): one packet each way, over and over, no data."""
    lines = []
    for probe, ack in ((41, 40), (40, 40), (52, 52)):
        for conn in range(4):
            sport = 47000 + 10 * probe + conn
            for window in range(3):
                t = T0 + 60 * window
                lines += [rec_v2("eni-task1", TASK_IP, SEARCH_IP, sport, 9200, t, 1, probe),
                          rec_v2("eni-task1", SEARCH_IP, TASK_IP, 9200, sport, t, 1, ack)]
    # and connections whose only record in the window is one probe
    for conn in range(4):
        lines += [rec_v2("eni-task1", TASK_IP, SEARCH_IP, 47900 + conn, 9200, T0, 1, 41),
                  rec_v2("eni-task1", SEARCH_IP, TASK_IP, 9200, 47900 + conn, T0, 1, 40)]
    con, doc = run_findings(make_lake(tmp_path, lines, network(), log_format=V2_FORMAT))
    assert set(sized(con)) == {("established", False)}
    assert doc["findings"] == []


def test_a_lone_ack_to_a_small_request_inside_a_long_connection_stays_established(tmp_path):
    """Four long connections; in one window each, a one-packet 60-byte request (20 bytes of data)
    is answered by a bare 40-byte ACK, exactly the size of a SYN and its reset."""
    lines = []
    for conn in range(4):
        sport = 48000 + conn
        for window in range(5):
            t = T0 + 60 * window
            out, back = ((1, 60), (1, 40)) if window == 2 else ((12, 4800), (10, 9000))
            lines += [rec_v2("eni-task1", TASK_IP, SEARCH_IP, sport, 9200, t, *out),
                      rec_v2("eni-task1", SEARCH_IP, TASK_IP, 9200, sport, t, *back)]
    con, doc = run_findings(make_lake(tmp_path, lines, network(), log_format=V2_FORMAT))
    assert set(sized(con)) == {("established", False)}
    assert doc["findings"] == []
