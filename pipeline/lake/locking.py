"""One ingest at a time per lake: a lock at ``_state/ingest.lock``.

Data files are idempotent on their own, but a run reads the state (manifest, cursors)
before it writes, so two overlapping runs could prune or replace each other's
versions. The second run waits for the lock.

- Local lake: ``flock`` on the file; the kernel releases it when the process dies.
- S3 lake: an object created with ``If-None-Match: *``, holding its owner and an
  expiry that a heartbeat thread pushes forward (``If-Match`` on its own ETag). A
  killed run's lock expires after ``ttl`` seconds and is taken over with ``If-Match``
  on the expired lock's ETag, so two waiters cannot both take it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time

from pipeline.errors import FlowlogsError
from pipeline.lake.storage import Store

LOCK = "_state/ingest.lock"
_CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


def _owner(run: str, ttl: float) -> bytes:
    return json.dumps({"run": run, "host": socket.gethostname(), "pid": os.getpid(),
                       "expires": time.time() + ttl}).encode()


def _busy(store: Store, holder: str, wait: float, hint: str) -> FlowlogsError:
    return FlowlogsError(f"another ingest holds the lock of the lake {store.uri} ({_whose(holder)}); "
                         f"waited {wait:.0f}s", hint)


def _whose(holder: str) -> str:
    """Who holds the lock, from its owner record, for people."""
    try:
        owner = json.loads(holder)
    except ValueError:
        return holder.strip() or "unknown owner"
    left = owner.get("expires", 0) - time.time()
    expiry = f"expires in {left:.0f}s unless renewed" if left > 0 else f"expired {-left:.0f}s ago"
    return f"run {owner.get('run', '?')!r} on {owner.get('host', '?')}, pid {owner.get('pid', '?')}; {expiry}"


def _waiting(store: Store, holder: str, wait: float, on_wait) -> None:
    if on_wait:
        on_wait(f"waiting up to {wait:g}s for the lock of the lake {store.uri}, held by {_whose(holder)}")


@contextlib.contextmanager
def lake_lock(store: Store, run: str, *, wait: float = 600.0, ttl: float = 120.0, on_wait=None):
    """Hold the lake's ingest lock for the block, waiting up to ``wait`` seconds for it;
    ``on_wait(message)`` says whose lock it waits for, once, when it has to wait."""
    lock = _local_lock if store.is_local else _s3_lock
    with lock(store, run, wait, ttl, on_wait):
        yield


@contextlib.contextmanager
def _local_lock(store: Store, run: str, wait: float, ttl: float, on_wait):
    import fcntl

    path = store.path(LOCK)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a+") as f:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip()
                if time.monotonic() > deadline:
                    raise _busy(store, holder, wait, "it is released when that process ends") from None
                if on_wait:
                    _waiting(store, holder, wait, on_wait)
                    on_wait = None
                time.sleep(0.25)
        f.seek(0)
        f.truncate()
        f.write(_owner(run, ttl).decode())
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _s3_client(store: Store):
    import boto3

    opts = store.s3_options or {}
    endpoint = opts.get("endpoint_override")
    if endpoint and "://" not in endpoint:
        endpoint = f"{opts.get('scheme', 'https')}://{endpoint}"
    return boto3.client("s3", region_name=opts.get("region"), endpoint_url=endpoint,
                        aws_access_key_id=opts.get("access_key"), aws_secret_access_key=opts.get("secret_key"),
                        aws_session_token=opts.get("session_token"))


@contextlib.contextmanager
def _s3_lock(store: Store, run: str, wait: float, ttl: float, on_wait):
    from botocore.exceptions import ClientError

    from pipeline.aws import error_code, explain

    s3 = _s3_client(store)
    bucket, _, prefix = store.root.partition("/")
    key = f"{prefix}/{LOCK}" if prefix else LOCK
    arn = f"arn:aws:s3:::{bucket}/{key}"

    def put(**condition) -> str | None:
        try:
            return s3.put_object(Bucket=bucket, Key=key, Body=_owner(run, ttl), **condition)["ETag"]
        except ClientError as exc:
            if error_code(exc) in _CONFLICT:
                return None
            raise explain(exc, "s3:PutObject", arn) from None

    deadline = time.monotonic() + wait
    holder = ""
    while (etag := put(IfNoneMatch="*")) is None:
        try:
            current = s3.get_object(Bucket=bucket, Key=key)
            holder = current["Body"].read().decode()
            expired = json.loads(holder or "{}").get("expires", 0) < time.time()
            if expired and (etag := put(IfMatch=current["ETag"])) is not None:
                break
            if on_wait:
                _waiting(store, holder, wait, on_wait)
                on_wait = None
        except ClientError as exc:
            if error_code(exc) not in ("NoSuchKey", "404"):
                raise explain(exc, "s3:GetObject", arn) from None
        if time.monotonic() > deadline:
            raise _busy(store, holder, wait, f"a lock left by a killed run expires {ttl:.0f}s after its last heartbeat")
        time.sleep(1)

    stop = threading.Event()
    state = {"etag": etag}

    def heartbeat() -> None:
        while not stop.wait(ttl / 3):
            try:
                renewed = put(IfMatch=state["etag"])
            except Exception:  # noqa: BLE001 - a failed beat is retried at the next one
                continue
            if renewed is None:
                return  # taken over after an expiry: nothing more to renew
            state["etag"] = renewed

    beat = threading.Thread(target=heartbeat, name="lake-lock-heartbeat", daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        with contextlib.suppress(ClientError):
            if s3.head_object(Bucket=bucket, Key=key)["ETag"] == state["etag"]:
                s3.delete_object(Bucket=bucket, Key=key)
