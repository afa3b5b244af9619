"""A fault-injecting HTTP proxy on 127.0.0.1 in front of the moto server (test helper).

Point ``AWS_ENDPOINT_URL`` at ``proxy.url``: requests are forwarded to moto, except
that every ``every``-th S3 or CloudWatch Logs request is answered the way AWS throttles
(S3: ``503 SlowDown``; Logs: ``400 ThrottlingException``), the requests numbered in
``drop`` get their connection closed without an answer, the first ``cut_bodies``
object downloads are cut off half-way, ``repeat_token`` makes FilterLogEvents return
each ``nextToken`` twice (the second time with no events), and ``rule`` may answer any
request itself. Every request is recorded in ``requests`` (service, method, path, action).
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_SERVICE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


@dataclass
class Seen:
    service: str
    method: str
    path: str
    action: str  # X-Amz-Target operation (JSON APIs), else ""
    body: bytes = field(repr=False, default=b"")


class ThrottleProxy:
    def __init__(self, target: str, *, every: int = 0, drop=(), cut_bodies: int = 0, repeat_token: bool = False,
                 rule=None, services=("s3", "logs")):
        self.target = urlsplit(target).netloc
        self.every, self.drop, self.cut_bodies = every, set(drop), cut_bodies
        self.repeat_token, self.rule, self.services = repeat_token, rule, services
        self.requests: list[Seen] = []
        self.throttled = 0
        self._count = itertools.count(1)
        self._lock = threading.Lock()
        self._repeated: set[str] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "ThrottleProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def seen(self, service: str, action: str | None = None, method: str | None = None) -> list[Seen]:
        return [r for r in self.requests if r.service == service and (action is None or r.action == action)
                and (method is None or r.method == method)]

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _SERVICE.search(self.headers.get("Authorization", ""))
                service = match.group(1) if match else ""
                action = (self.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1]
                seen = Seen(service, self.command, self.path, action, body)
                with proxy._lock:
                    n = next(proxy._count)
                    proxy.requests.append(seen)
                answer = proxy.rule(seen) if proxy.rule else None
                if answer is not None:
                    return self._send(*answer)
                if n in proxy.drop:
                    self.close_connection = True
                    return None
                if proxy.every and n % proxy.every == 0 and service in proxy.services:
                    with proxy._lock:
                        proxy.throttled += 1
                    return self._send(*throttle(service))
                if proxy.repeat_token and action == "FilterLogEvents":
                    token = json.loads(body or b"{}").get("nextToken")
                    with proxy._lock:
                        repeat = token and token not in proxy._repeated
                        proxy._repeated.add(token)
                    if repeat:
                        return self._send(200, {"Content-Type": "application/x-amz-json-1.1"},
                                          json.dumps({"events": [], "nextToken": token}).encode())
                status, headers, data = self._forward(body)
                cut = False
                if service == "s3" and self.command == "GET" and status in (200, 206) and len(data) > 64:
                    with proxy._lock:
                        cut = proxy.cut_bodies > 0 and not self.path.split("?")[0].endswith("/")
                        proxy.cut_bodies -= cut
                return self._send(status, headers, data, cut=cut)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

            def _forward(self, body: bytes):
                conn = http.client.HTTPConnection(proxy.target, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                return resp.status, {k: v for k, v in resp.getheaders() if k.lower() not in _HOP}, data

            def _send(self, status: int, headers: dict, data: bytes, cut: bool = False):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data[: len(data) // 2] if cut else data)
                if cut:
                    self.wfile.flush()
                    self.close_connection = True

        return Handler


def throttle(service: str) -> tuple[int, dict, bytes]:
    """AWS's throttling answer for ``service``."""
    if service == "logs":
        return 400, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(
            {"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
    return 503, {"Content-Type": "application/xml"}, (
        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
        b"<Message>Please reduce your request rate.</Message></Error>")


def access_denied(service: str) -> tuple[int, dict, bytes]:
    """AWS's answer to a request the identity may not make."""
    if service == "logs":
        return 400, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(
            {"__type": "AccessDeniedException", "message": "not authorized"}).encode()
    return 403, {"Content-Type": "application/xml"}, (
        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
        b"<Message>Access Denied</Message></Error>")
