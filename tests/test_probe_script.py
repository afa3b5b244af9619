"""The probe script, run for real under /bin/sh: a TLS listener and a plain TCP listener on 127.0.0.1,
a closed port, a name that does not resolve, and a stub `aws` on PATH that answers with each denial
wording; its JSON lines read into the lake's `probes` table and classified like `flowlogs explain`."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.jobs.probe_script import script, target

ROLE_SESSION = "arn:aws:sts::123456789012:assumed-role/orders-task/0f6e1c"
STUB_AWS = """#!/bin/sh
echo "$*" >> "$STUB_LOG"
case "$1 $2" in
  "sts get-caller-identity")
    if [ -n "$STUB_IDENTITY_ERROR" ]; then printf '\\n%s\\n' "$STUB_IDENTITY_ERROR" >&2; exit 255; fi
    printf '123456789012\\t%s\\n' "$STUB_PRINCIPAL" ;;
  *)
    if [ -n "$STUB_CALL_ERROR" ]; then printf '\\n%s\\n' "$STUB_CALL_ERROR" >&2; exit 254; fi
    echo '{"QueueUrls": []}' ;;
esac
"""


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (curl trusts it through CURL_CA_BUNDLE)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Listener:
    """A listener on 127.0.0.1 that accepts (with a TLS handshake when given a context) and hangs up."""

    def __init__(self, context: ssl.SSLContext | None = None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.context = context
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                if self.context is not None:
                    conn = self.context.wrap_socket(conn, server_side=True)
                    conn.recv(1024)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def listeners(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = _certificate(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls, plain = Listener(context), Listener()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    yield {"tls": tls.port, "plain": plain.port, "closed": closed_port, "ca": cert}
    tls.close()
    plain.close()


def run_probe(tmp_path: Path, targets: list[str], ca: Path | None = None, **stub) -> list[dict]:
    """Run probe.sh under /bin/sh with the stub aws first on PATH; its lines as dicts."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text(STUB_AWS)
    (bin_dir / "aws").chmod(0o755)
    (tmp_path / "probe.sh").write_text(script())
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "AWS_REGION": "eu-west-1", "FLOWLOGS_PROBE_TIMEOUT": "3",
           "FLOWLOGS_PROBE_RUN": "local-run", "STUB_LOG": str(tmp_path / "aws.log"), "STUB_PRINCIPAL": ROLE_SESSION,
           **({"CURL_CA_BUNDLE": str(ca)} if ca else {}),
           **{f"STUB_{k.upper()}": v for k, v in stub.items()}}
    done = subprocess.run(["/bin/sh", str(tmp_path / "probe.sh"), *targets], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (tmp_path / "probe.jsonl").write_text(done.stdout)
    return [json.loads(line) for line in done.stdout.splitlines()]


def steps(lines: list[dict], step: str) -> list[dict]:
    return [line for line in lines if line["step"] == step]


def test_tls_listener_plain_listener_closed_port_and_unresolvable_name(tmp_path, listeners):
    lines = run_probe(tmp_path, [f"tls|127.0.0.1|{listeners['tls']}|", f"plain|127.0.0.1|{listeners['plain']}|",
                                 f"closed|127.0.0.1|{listeners['closed']}|", "gone|no-such-name.invalid|443|"],
                      ca=listeners["ca"])
    by = {(line["step"], line.get("target")): line for line in lines}
    assert by[("identity", None)]["ok"] is True and by[("identity", None)]["principal"] == ROLE_SESSION
    assert {line["account"] for line in lines} == {"123456789012"} and {line["run"] for line in lines} == {"local-run"}
    assert by[("dns", "tls")]["addresses"] == ["127.0.0.1"] and by[("dns", "tls")]["ok"] is True
    assert by[("tcp", "tls")]["ok"] is True and by[("tcp", "tls")]["address"] == "127.0.0.1"
    tls = by[("tls", "tls")]
    assert tls["ok"] is True and tls["seconds"] > 0  # the handshake was made; the server hung up after it
    assert by[("tcp", "plain")]["ok"] is True
    assert by[("tls", "plain")]["ok"] is False and "curl: (35)" in by[("tls", "plain")]["error"]
    assert by[("tcp", "closed")]["ok"] is False and "curl: (7)" in by[("tcp", "closed")]["error"]
    assert ("tls", "closed") not in by  # no connection, no handshake
    assert by[("dns", "gone")]["ok"] is False and by[("dns", "gone")]["addresses"] == []
    assert "no-such-name.invalid" in by[("dns", "gone")]["error"]
    assert ("tcp", "gone") not in by
    assert lines[-1]["step"] == "done" and lines[-1]["targets"] == 4


def test_without_a_trusted_certificate_the_tls_step_says_so(tmp_path, listeners):
    lines = run_probe(tmp_path, [f"tls|127.0.0.1|{listeners['tls']}|"])
    (tls,) = steps(lines, "tls")
    assert tls["ok"] is False and "certificate" in tls["error"].lower()  # what an intercepting proxy looks like


DENIALS = {
    "identity_policy": "An error occurred (AccessDenied) when calling the ListQueues operation: User: "
    f"{ROLE_SESSION} is not authorized to perform: sqs:listqueues on resource: "
    "arn:aws:sqs:eu-west-1:123456789012: because no identity-based policy allows the sqs:listqueues action",
    "endpoint_policy": "An error occurred (AccessDeniedException) when calling the ListQueues operation: User: "
    f"{ROLE_SESSION} is not authorized to perform: sqs:listqueues because no VPC endpoint policy allows the "
    "sqs:listqueues action",
    "service_control_policy": "An error occurred (AccessDenied) when calling the ListQueues operation: User: "
    f"{ROLE_SESSION} is not authorized to perform: sqs:listqueues on resource: arn:aws:sqs:eu-west-1:123456789012: "
    "with an explicit deny in a service control policy",
    "permissions_boundary": "An error occurred (AccessDenied) when calling the ListQueues operation: User: "
    f"{ROLE_SESSION} is not authorized to perform: sqs:listqueues on resource: arn:aws:sqs:eu-west-1:123456789012: "
    "because no permissions boundary allows the sqs:listqueues action",
    None: 'Could not connect to the endpoint URL: "https://sqs.eu-west-1.amazonaws.com/"',
}


@pytest.mark.parametrize("cause", list(DENIALS), ids=lambda c: c or "no_connection")
def test_a_failed_call_keeps_the_exact_error_and_reads_like_explain(tmp_path, listeners, cause):
    from pipeline.analysis.connection import connect
    from pipeline.analysis.probes import results, verdicts
    from pipeline.ingest.sources.probe_output import probe_output
    from pipeline.jobs.probe import import_output
    from pipeline.lake import store as lake

    sqs = target("sqs", "eu-west-1")
    spec = f"sqs|127.0.0.1|{listeners['tls']}|{sqs.call}"  # the endpoint is the local listener
    lines = run_probe(tmp_path, [spec], ca=listeners["ca"], call_error=DENIALS[cause])
    (call,) = steps(lines, "call")
    assert call["ok"] is False and call["error"] == DENIALS[cause] and call["call"] == "aws sqs list-queues --max-items 1"
    assert "sqs list-queues --max-items 1 --region eu-west-1" in (tmp_path / "aws.log").read_text()

    store = lake.open_lake(tmp_path / "lake")
    summary = import_output(store, probe_output(str(tmp_path / "probe.jsonl"), (tmp_path / "probe.jsonl").read_text()))
    assert summary.records == {"probes": len(lines)} and summary.quarantined == 0
    rows = results(connect(store), "local-run")
    (row,) = [r for r in rows if r["step"] == "call"]
    assert row["error"] == DENIALS[cause] and row["cause"] == cause and row["principal_arn"] is None
    assert row["account_id"] == "123456789012" and row["target"] == "sqs"
    (verdict,) = verdicts(rows)
    assert verdict["verdict"] == "failed" and verdict["failed_step"] == "call" and verdict["cause"] == cause


def test_a_successful_call_and_an_identity_that_fails(tmp_path, listeners):
    lines = run_probe(tmp_path, [f"sqs|127.0.0.1|{listeners['tls']}|sqs list-queues --max-items 1"],
                      ca=listeners["ca"], identity_error="Unable to locate credentials.")
    (identity,) = steps(lines, "identity")
    assert identity["ok"] is False and identity["error"] == "Unable to locate credentials."
    (call,) = steps(lines, "call")
    assert call["ok"] is True and "error" not in call


def test_targets_from_the_environment_as_the_probe_task_gives_them(tmp_path, listeners):
    bin_dir = tmp_path / "bin"
    run_probe(tmp_path, [])  # writes the script and the stub
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "AWS_REGION": "eu-west-1", "STUB_LOG": str(tmp_path / "aws.log"),
           "STUB_PRINCIPAL": ROLE_SESSION, "FLOWLOGS_PROBE_TARGETS":
           f"a|127.0.0.1|{listeners['closed']}|\nb|127.0.0.1|{listeners['plain']}|"}
    out = subprocess.run(["/bin/sh", str(tmp_path / "probe.sh")], env=env, capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(x["step"], x.get("target")) for x in lines if x["step"] in ("dns", "done")] == [
        ("dns", "a"), ("dns", "b"), ("done", None)]


def test_probe_import_reads_an_exec_session_transcript_once(tmp_path, listeners):
    lines = run_probe(tmp_path, [f"closed|127.0.0.1|{listeners['closed']}|"])
    transcript = tmp_path / "probe-0f6e1c.txt"
    body = "\r\n".join(json.dumps(x) for x in lines)
    transcript.write_text(f"\r\nStarting session with SessionId: ecs-execute-command-0abc\r\n{body}\r\n\r\n"
                          "Exiting session with sessionId: ecs-execute-command-0abc.\r\n")
    runner = CliRunner()
    first = runner.invoke(app, ["probe", "import", str(transcript), "--lake", str(tmp_path / "lake"), "-f", "json"])
    assert first.exit_code == 1, first.output  # a target failed
    shown = json.loads(first.stdout)
    assert [r["step"] for r in shown] == ["identity", "dns", "tcp"] and shown[2]["ok"] is False
    assert "closed: tcp failed: curl: (7)" in first.stderr
    again = runner.invoke(app, ["probe", "import", str(transcript), "--lake", str(tmp_path / "lake"), "-f", "json"])
    assert "already in the lake" in again.stderr and len(json.loads(again.stdout)) == 3


def test_probe_import_of_a_file_without_probe_lines_is_refused(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("Starting session with SessionId: x\nsh: curl: not found\n")
    result = CliRunner().invoke(app, ["probe", "import", str(other), "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 2 and "no probe lines" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("text, expected", [
    ("sqs", ("sqs", "sqs.eu-west-1.amazonaws.com", 443, "sqs list-queues --max-items 1")),
    ("ecr", ("ecr", "api.ecr.eu-west-1.amazonaws.com", 443, "ecr get-authorization-token")),
    ("db.internal:5432", ("db.internal:5432", "db.internal", 5432, "")),
])
def test_targets(text, expected):
    t = target(text, "eu-west-1")
    assert (t.name, t.host, t.port, t.call) == expected


def test_an_unknown_target_names_the_known_ones():
    from pipeline.errors import FlowlogsError

    with pytest.raises(FlowlogsError) as raised:
        target("sqs.example", "eu-west-1")
    assert "secretsmanager" in raised.value.hint
