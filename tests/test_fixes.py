"""Fixes on small hand-written scenarios (the network of test_findings_scenarios): least privilege,
proven on a copy of the configuration, unconfirmed ones with the fetch command, and the
Terraform / CloudFormation forms (`flowlogs report findings --fix-format`)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from builders import T0, make_lake, rec, run_findings
from pipeline.cli import app
from test_findings_scenarios import SQS_PUBLIC, TASK_IP, VPCE_IP, network

NTP_PUBLIC = "162.159.200.1"


def egress_rejects(n=3):
    return [rec("eni-task1", TASK_IP, VPCE_IP, 40000 + i, 443, T0 + 60 * i, action="REJECT", flags=2,
                direction="egress", subnet="subnet-a") for i in range(n)]


def test_security_group_fix_references_the_endpoint_group_and_is_verified(tmp_path):
    _, doc = run_findings(make_lake(tmp_path, egress_rejects(), network(sg_task_egress=False)))
    [f] = doc["findings"]
    top = f["likely_causes"][0]
    assert top["fix"] == ("aws ec2 authorize-security-group-egress --group-id sg-task --ip-permissions "
                          "'IpProtocol=tcp,FromPort=443,ToPort=443,UserIdGroupPairs=[{GroupId=sg-vpce}]'")
    assert top["fix_scope"] == {"protocol": "tcp", "ports": [443, 443], "peers": ["sg-vpce"]}
    assert top["fix_verified"] is True
    assert "would allow 3 conversations of 3 failing; also allows: no other observed conversation" in top["explanation"]
    assert top["fix_as"]["terraform"] == (
        'aws_vpc_security_group_egress_rule (new, for sg-task): (none) → { security_group_id = "sg-task", '
        'ip_protocol = "tcp", from_port = 443, to_port = 443, referenced_security_group_id = "sg-vpce" }')
    assert top["fix_as"]["cloudformation"] == (
        "AWS::EC2::SecurityGroupEgress (new resource): (none) → { GroupId: sg-task, IpProtocol: tcp, FromPort: 443, "
        "ToPort: 443, DestinationSecurityGroupId: sg-vpce }")


def test_a_fix_that_also_opens_another_observed_conversation_is_not_verified(tmp_path):
    """No default route: the task's HTTPS to SQS and its NTP to a public server both go unanswered. The route to
    the NAT lets both through, and NTP is not the failing conversation: the fix says so and is not verified."""
    lines = [rec("eni-task1", TASK_IP, SQS_PUBLIC, 43000 + i, 443, T0 + 60 * i, flags=2, direction="egress",
                 subnet="subnet-a") for i in range(3)]
    lines += [rec("eni-task1", TASK_IP, NTP_PUBLIC, 123, 123, T0, proto=17, direction="egress", subnet="subnet-a")]
    _, doc = run_findings(make_lake(tmp_path, lines, network(default_route=False)), settle=0)
    [f] = [f for f in doc["findings"] if f["dest_port"] == 443]
    top = f["likely_causes"][0]
    assert (top["cause"], top["fix"]) == (
        "route_missing", "aws ec2 create-route --route-table-id rtb-task --destination-cidr-block 0.0.0.0/0 "
                         "--nat-gateway-id nat-1")
    assert top["fix_verified"] is False
    assert f"also allows: {TASK_IP} → {NTP_PUBLIC}:123." in top["explanation"]
    assert "would allow 3 conversations of 3 failing" in top["explanation"]
    assert "the AZ of subnet-a is not known: nat-1 is in another AZ" in top["explanation"]


def test_the_nat_gateway_of_the_tasks_own_az_is_chosen(tmp_path):
    tables = network(default_route=False)
    azs = {"subnet-a": "eu-west-1b", "subnet-e": "eu-west-1a", "subnet-p": "eu-west-1a", "subnet-q": "eu-west-1b"}
    tables["subnets"].append(dict(subnet_id="subnet-q", vpc_id="vpc-1", cidr_block="10.0.4.0/24"))
    for s in tables["subnets"]:
        s["availability_zone"] = azs[s["subnet_id"]]
    tables["nat_gateways"].append(dict(nat_gateway_id="nat-2", vpc_id="vpc-1", subnet_id="subnet-q", state="available",
                                       private_ip="10.0.4.5", public_ip="34.240.0.2"))
    lines = [rec("eni-task1", TASK_IP, SQS_PUBLIC, 43000 + i, 443, T0 + 60 * i, flags=2, direction="egress",
                 subnet="subnet-a") for i in range(3)]
    _, doc = run_findings(make_lake(tmp_path, lines, tables), settle=0)
    top = doc["findings"][0]["likely_causes"][0]
    assert top["fix"].endswith("--nat-gateway-id nat-2") and top["fix_verified"] is True
    assert "another AZ" not in top["explanation"]
    # and with no NAT gateway in the task's AZ, the fix says which one it uses instead
    tables["nat_gateways"] = [n for n in tables["nat_gateways"] if n["nat_gateway_id"] != "nat-2"]
    _, doc = run_findings(make_lake(tmp_path / "one", lines, tables), settle=0)
    top = doc["findings"][0]["likely_causes"][0]
    assert top["fix"].endswith("--nat-gateway-id nat-1")
    assert "no NAT gateway in eu-west-1b: nat-1 is in eu-west-1a (traffic crosses AZs)" in top["explanation"]


def test_a_security_group_missing_from_the_configuration_gets_an_unconfirmed_fix_that_fetches_it(tmp_path):
    tables = network(sg_task_egress=False)
    tables["security_groups"] = [g for g in tables["security_groups"] if g["group_id"] != "sg-task"]
    _, doc = run_findings(make_lake(tmp_path, egress_rejects(), tables))
    [f] = doc["findings"]
    top = f["likely_causes"][0]
    assert (top["cause"], top["confirmed"], top["fix_verified"], top["fix_scope"]) == (
        "security_group_egress", False, None, None)
    assert top["fix"].startswith("unconfirmed (the configuration is not imported): first fetch it: "
                                 "aws ec2 describe-security-groups --group-ids sg-task; ")
    assert top["fix"].endswith("aws ec2 authorize-security-group-egress --group-id sg-task --ip-permissions "
                               f"'IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{{CidrIp={VPCE_IP}/32}}]'")


def test_fix_format_shows_the_change_as_code_and_json_keeps_the_cli(tmp_path):
    store = make_lake(tmp_path, egress_rejects(), network(sg_task_egress=False))
    runner = CliRunner()

    def report(*args):
        result = runner.invoke(app, ["--lake", store.uri, "report", "findings", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    plain = report("--format", "table", "--fix-format", "terraform")
    assert "aws_vpc_security_group_egress_rule (new, for sg-task)" in plain and "authorize-security-group" not in plain
    assert "AWS::EC2::SecurityGroupEgress" in report("--format", "markdown", "--fix-format", "cloudformation")
    html = report("--format", "html", "--fix-format", "cloudformation")
    assert "Fix (CloudFormation)" in html and "AWS::EC2::SecurityGroupEgress" in html
    top = json.loads(report("--format", "json", "--fix-format", "terraform"))["findings"][0]["likely_causes"][0]
    assert top["fix"].startswith("aws ec2 authorize-security-group-egress") and "terraform" in top["fix_as"]
    bad = runner.invoke(app, ["--lake", store.uri, "report", "findings", "--fix-format", "pulumi"])
    assert bad.exit_code == 2 and "--fix-format: unknown format 'pulumi'" in bad.output
    assert "Traceback" not in bad.output
