"""Where notifications go: an Amazon SNS topic, an Amazon EventBridge event bus, or a webhook.

A target is written as what it is, on the command line (``--notify``) and in the config
(``[notify] targets``): a topic ARN, an event bus ARN, or an ``https://`` URL (``http://`` only to
this machine, for a local relay).  Every target gets the same payload: the incident JSON with
its lifecycle (``lifecycle.payload``).

- SNS: ``sns:Publish`` with a subject, a short text body, and the payload as the message
  attribute ``incident`` (``change`` and ``kind`` too, for subscription filter policies); a FIFO
  topic also gets the idempotency key as its deduplication id.
- EventBridge: ``events:PutEvents``, source ``fargate-flowlogs``, detail-type
  ``Fargate Connectivity Incident``, the payload as the detail.
- Webhook: a JSON POST of ``{"text": …, "incident": payload}`` (``text`` is what Slack shows) with
  an ``Idempotency-Key`` header.

The AWS clients retry throttling, 5xx and dropped connections themselves (``pipeline.aws``); a
webhook is retried here, ``attempts`` times with exponential backoff.  What still fails raises
:class:`SendError`, and the event stays in the outbox for the next run.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from typing import Mapping

from pipeline.errors import FlowlogsError
from pipeline.notify import messages

SOURCE = "fargate-flowlogs"
DETAIL_TYPE = "Fargate Connectivity Incident"
TIMEOUT = 10
_ARN = re.compile(r"^arn:aws[a-z-]*:(?P<service>sns|events):(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>.+)$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
TARGET_HELP = ("an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC), an EventBridge bus ARN "
               "(arn:aws:events:REGION:ACCOUNT:event-bus/NAME) or an https:// webhook URL")


class SendError(Exception):
    """A notification that could not be delivered (the message says why)."""


@dataclass(frozen=True)
class Target:
    kind: str  # sns, eventbridge or webhook
    address: str  # the ARN or the URL
    region: str | None = None

    @property
    def name(self) -> str:
        """How the target is shown and recorded: a webhook's path and query often hold a secret, so
        they are replaced by a digest."""
        if self.kind != "webhook":
            return self.address
        url = urllib.parse.urlsplit(self.address)
        return f"{url.scheme}://{url.netloc}/…#{hashlib.sha256(self.address.encode()).hexdigest()[:8]}"


def parse_target(text: str, where: str) -> Target:
    """``text`` as a target; ``where`` names the option or config key for the error."""
    text = text.strip()
    arn = _ARN.match(text)
    if arn and arn["service"] == "sns":
        return Target("sns", text, arn["region"])
    if arn and arn["name"].startswith("event-bus/"):
        return Target("eventbridge", text, arn["region"])
    url = urllib.parse.urlsplit(text)
    if url.scheme == "https" and url.hostname or url.scheme == "http" and url.hostname in _LOOPBACK:
        return Target("webhook", text)
    if url.scheme == "http":
        raise FlowlogsError(f"{where}: the webhook {url.scheme}://{url.netloc} is plain http",
                            "use https:// (http:// is accepted only to 127.0.0.1 or localhost)")
    raise FlowlogsError(f"{where}: {text[:80]!r} is not a notification target", f"give {TARGET_HELP}")


def send(target: Target, payload: Mapping, settings, *, attempts: int = 4, backoff: float = 1.0) -> None:
    """Deliver ``payload`` to ``target`` or raise :class:`SendError`."""
    if target.kind == "webhook":
        _post(target, payload, attempts, backoff)
        return
    from botocore.exceptions import BotoCoreError, ClientError

    from pipeline import aws

    action = "sns:Publish" if target.kind == "sns" else "events:PutEvents"
    try:
        client = aws.client(replace(settings, region=target.region), "sns" if target.kind == "sns" else "events")
        (_publish if target.kind == "sns" else _put_event)(client, target, payload)
    except (BotoCoreError, ClientError, FlowlogsError) as exc:
        raise SendError(str(aws.explain(exc, action, target.address))) from None


def _publish(client, target: Target, payload: Mapping) -> None:
    attributes = {"incident": json.dumps(payload, default=str, separators=(",", ":")),
                  "change": payload["change"], "kind": payload.get("kind") or ""}
    extra = {}
    if target.address.endswith(".fifo"):
        extra = {"MessageGroupId": payload["id"],
                 "MessageDeduplicationId": hashlib.sha256(payload["idempotency_key"].encode()).hexdigest()}
    client.publish(TopicArn=target.address, Subject=messages.subject(payload), Message=messages.text(payload),
                   MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v},
                   **extra)


def _put_event(client, target: Target, payload: Mapping) -> None:
    answer = client.put_events(Entries=[{
        "Source": SOURCE, "DetailType": DETAIL_TYPE, "EventBusName": target.address,
        "Detail": json.dumps(payload, default=str, separators=(",", ":")),
    }])
    if answer.get("FailedEntryCount"):
        entry = answer["Entries"][0]
        raise SendError(f"events:PutEvents on {target.address} refused the event: "
                        f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")


def _post(target: Target, payload: Mapping, attempts: int, backoff: float) -> None:
    body = json.dumps({"text": messages.text(payload), "incident": payload}, default=str).encode()
    request = urllib.request.Request(target.address, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": SOURCE, "Idempotency-Key": payload["idempotency_key"]})
    for attempt in range(max(1, attempts)):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT):
                return
        except urllib.error.HTTPError as exc:
            why = f"HTTP {exc.code} {exc.reason}"
            if exc.code != 429 and exc.code < 500:
                break  # the endpoint said no: retrying the same request will not help
        except (urllib.error.URLError, OSError) as exc:
            why = str(getattr(exc, "reason", exc))
    raise SendError(f"POST to the webhook {target.name} failed after {attempt + 1} attempt"
                    f"{'s' if attempt else ''}: {why}")
