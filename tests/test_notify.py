"""Scheduled runs that tell someone (issue 18), against the moto server and a webhook on 127.0.0.1.

One lake, two problems of one task: port 443 is rejected for 20 minutes and then works, port 5432
is rejected all hour.  Four scheduled runs see new (both), ongoing (both), resolved (443) and
nothing more; an SNS topic (through an SQS subscription), EventBridge (through a rule to SQS) and
a webhook each get exactly one message per opening and one per resolution.  The webhook is down
for the first run: its two messages arrive with the second run, once."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from typer.testing import CliRunner

from builders import T0, make_lake, rec
from pipeline.cli import app
from pipeline.notify.senders import DETAIL_TYPE, SOURCE

runner = CliRunner()
TASK, OK_LATER, ALWAYS = "10.0.1.10", "10.0.2.20", "10.0.2.30"
MINUTE = 60


def _lake(tmp_path):
    lines = []
    for m in range(60):
        t, sport = T0 + m * MINUTE, 40000 + m
        if m < 20:
            lines.append(rec("eni-a", TASK, OK_LATER, sport, 443, t, action="REJECT", flags=2, direction="egress"))
        else:
            lines += [rec("eni-a", TASK, OK_LATER, sport, 443, t, flags=3, direction="egress"),
                      rec("eni-a", OK_LATER, TASK, 443, sport, t, flags=19, direction="ingress")]
        lines.append(rec("eni-a", TASK, ALWAYS, 50000 + m, 5432, t, action="REJECT", flags=2, direction="egress"))
    task = dict(eni_id="eni-a", task_id="task-a", task_arn="arn:aws:ecs:eu-west-1:123456789012:task/prod/task-a",
                cluster_name="prod", service_name="orders", subnet_id="subnet-a", vpc_id="vpc-1")
    return make_lake(tmp_path, lines, {
        "network_interfaces": [dict(eni_id="eni-a", kind="fargate_task", interface_type="interface", vpc_id="vpc-1",
                                    subnet_id="subnet-a", private_ip=TASK, private_ips=[TASK])],
        "eni_assignments": [dict(task, ip=TASK, ip_version=4, source="ecs_event", valid_to=None,
                                 valid_from=datetime.fromtimestamp(T0 - 3600, timezone.utc))],
    })


class Webhook(BaseHTTPRequestHandler):
    down = True
    received: list = []

    def do_POST(self):  # noqa: N802 - the http.server name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Webhook.down:
            self.send_response(503)
        else:
            Webhook.received.append((self.headers["Idempotency-Key"], body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Webhook.down, Webhook.received = True, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/T000/SECRET"
    server.shutdown()
    server.server_close()


def _queue(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _drain(sqs, url) -> list[dict]:
    out = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        out += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(batch)])
    return out


def test_three_runs_notify_new_and_resolved_once_each(aws, tmp_path, webhook):
    store = _lake(tmp_path)
    sns, sqs, events = (boto3.client(s, region_name="eu-west-1") for s in ("sns", "sqs", "events"))
    topic = sns.create_topic(Name="flowlogs")["TopicArn"]
    sns_queue, sns_queue_arn = _queue(sqs, "from-sns")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sns_queue_arn)
    bus = events.describe_event_bus()["Arn"]
    events_queue, events_queue_arn = _queue(sqs, "from-events")
    events.put_rule(Name="incidents", EventPattern=json.dumps({"source": [SOURCE], "detail-type": [DETAIL_TYPE]}))
    events.put_targets(Rule="incidents", Targets=[{"Id": "q", "Arn": events_queue_arn}])

    def run(until=None):
        config = tmp_path / "flowlogs.toml"
        config.write_text(f'lake = "{store.uri}"\nregion = "eu-west-1"\n[report]\nsince = "2026-11-27T09:00:00Z"\n'
                          + (f'until = "{until}"\n' if until else "") + f'output = "{tmp_path / "report.html"}"\n'
                          + f'[notify]\ntargets = {json.dumps([topic, bus, webhook])}\nattempts = 2\nbackoff = 0\n')
        result = runner.invoke(app, ["run", "--config", str(config)])
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["exit"] == result.exit_code, result.output
        return result.exit_code, summary["incidents"], _drain(sqs, sns_queue), _drain(sqs, events_queue)

    def marks() -> list[str]:  # the HTML report's incident rows say what the run did
        return sorted(re.findall(r'<span class="badge change[^"]*"[^>]*>(\w+)</span>', (tmp_path / "report.html").read_text()))

    # 1: both problems are new; the webhook is down (retried, then left for the next run)
    code, summary, published, put = run("2026-11-27T09:15:00Z")
    assert (code, summary["new"], summary["sent"], summary["undelivered"]) == (2, 2, 4, 2)
    assert {f["change"] for f in summary["failed"]} == {"new"} and "SECRET" not in json.dumps(summary)
    assert all("503" in f["error"] and "2 attempts" in f["error"] for f in summary["failed"])
    opened = {json.loads(m["MessageAttributes"]["incident"]["Value"])["id"] for m in published}
    assert len(published) == 2 and len(opened) == 2 and all(m["Subject"].startswith("[flowlogs] NEW") for m in published)
    assert {e["detail"]["id"] for e in put} == opened and len(put) == 2
    assert {(e["detail-type"], e["source"], e["detail"]["change"], e["detail"]["kind"]) for e in put} == {
        (DETAIL_TYPE, SOURCE, "new", "reject")}
    assert {e["detail"]["dest_port"] for e in put} == {443, 5432} and marks() == ["new", "new"]

    # 2: both still failing: nothing new; the webhook is back and gets the two openings
    Webhook.down = False
    code, summary, published, put = run("2026-11-27T09:20:00Z")
    assert (code, summary["new"], summary["ongoing"], summary["resolved"]) == (0, 0, 2, 0)
    assert (published, put, summary["sent"], summary["undelivered"], summary["failed"]) == ([], [], 2, 0, [])
    assert {body["incident"]["id"] for _, body in Webhook.received} == opened

    # 3: the window reaches 40 minutes past the last rejected 443 call: resolved; 5432 goes on
    code, summary, published, put = run()
    assert (code, summary["resolved"], summary["ongoing"], summary["open"], summary["sent"]) == (0, 1, 1, 1, 3)
    [message], [event] = published, put
    resolved = json.loads(message["MessageAttributes"]["incident"]["Value"])
    assert resolved["change"] == event["detail"]["change"] == "resolved" and resolved["dest_port"] == 443
    assert event["detail"]["id"] == resolved["id"] and "RESOLVED incident" in message["Message"]
    assert resolved["ongoing"] is False and "still happening" not in message["Message"]
    assert marks() == ["ongoing", "resolved"]

    # 4: the same window again: nothing to tell
    code, summary, published, put = run()
    assert (code, summary["sent"], published, put) == (0, 0, [], [])

    keys = [key for key, _ in Webhook.received]
    assert len(keys) == len(set(keys)) == 3 and keys[-1] == resolved["idempotency_key"]
    assert all(body["text"].split(":")[0] in ("NEW incident", "RESOLVED incident") for _, body in Webhook.received)

    def incidents(state):
        result = runner.invoke(app, ["--lake", store.uri, "report", "incidents", "--state", state, "-f", "json"])
        assert result.exit_code == 0, result.output
        return {row["id"]: row for row in json.loads(result.stdout)}

    assert set(incidents("all")) == opened and list(incidents("resolved")) == [resolved["id"]]
    [still] = incidents("open").values()
    assert (still["dest_port"], still["last_seen"], still["undelivered"]) == (5432, "2026-11-27T09:59:55Z", 0)


def test_notify_options_are_checked_before_any_work(tmp_path):
    config = tmp_path / "bad.toml"
    for targets, said in ((["http://hooks.example.com/x"], "is plain http"),
                          (["arn:aws:sqs:eu-west-1:123456789012:q"], "is not a notification target")):
        config.write_text(f"[notify]\ntargets = {json.dumps(targets)}\n")
        result = runner.invoke(app, ["run", "--config", str(config)])
        assert result.exit_code == 2 and said in result.output and "[notify] targets" in result.output
    result = runner.invoke(app, ["--lake", str(tmp_path), "report", "findings", "--service", "orders",
                                 "--notify", "https://hooks.example.com/x"])
    assert result.exit_code == 2 and "--notify cannot be combined with --service" in result.output


def test_report_findings_notify_tells_each_new_incident_once(tmp_path, webhook):
    store = _lake(tmp_path)
    Webhook.down = False
    args = ["--lake", store.uri, "report", "findings", "--until", "2026-11-27T09:15:00Z", "-f", "json",
            "--notify", webhook]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert {i["change"] for i in json.loads(first.stdout)["incidents"]} == {"new"} and len(Webhook.received) == 2
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and {i["change"] for i in json.loads(again.stdout)["incidents"]} == {"ongoing"}
    assert len(Webhook.received) == 2


def test_a_resolved_incident_failing_again_opens_again_with_its_own_keys():
    from pipeline.notify.lifecycle import advance

    def window(until):
        return {"since": "2026-11-27T09:00:00Z", "until": f"2026-11-27T{until}:00Z", "settle": 900}

    seen = {"id": "inc-1", "kind": "reject", "state": "blocked", "first_seen": "2026-11-27T09:00:00Z",
            "last_seen": "2026-11-27T09:10:00Z", "ongoing": True}
    record, did = advance(None, seen, window("09:12"), "now", ["t"])
    assert did == ["new"] and record["state"] == "open"
    record, did = advance(record, None, window("09:15"), "now", ["t"])  # gone, but only 5 minutes of silence
    assert did == ["ongoing"] and record["state"] == "open"
    record, did = advance(record, None, window("09:21"), "now", ["t"])
    assert did == ["resolved"] and record["resolved_at"] == "2026-11-27T09:21:00Z"
    assert record["outbox"][-1]["payload"]["ongoing"] is False  # not the last snapshot's "still happening"
    record, did = advance(record, dict(seen, ongoing=False), window("09:30"), "now", ["t"])  # the old failures
    assert did == [] and record["state"] == "resolved"
    record, did = advance(record, dict(seen, last_seen="2026-11-27T09:40:00Z"), window("09:41"), "now", ["t"])
    assert did == ["new"] and record["openings"] == 2 and record["opened_at"] == "2026-11-27T09:10:00Z"
    assert [e["key"] for e in record["outbox"]] == ["inc-1:1:new", "inc-1:1:resolved", "inc-1:2:new"]
    assert [e["payload"]["change"] for e in record["outbox"]] == ["new", "resolved", "new"]
