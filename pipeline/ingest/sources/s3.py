"""Flow-log, CloudTrail and Resolver query-log objects in S3: find the ones a window needs, and read them.

Listing goes down the delivery layouts (``keys``) one level at a time with
``Delimiter='/'`` (organisation ids, accounts, record folders, regions or VPCs; CloudTrail
digest files are counted, not read), then lists only the day
folders the window touches, and on the window's edge days only the hour folders of
hourly layouts. Objects are selected by the 5-minute slot in their file name, widened
by a late-arrival margin below (a file that lands late is picked up by the next run)
and by the aggregation interval above (a record's end, which names the file, is at
most 10 minutes after its start). Nothing is fetched to select: the listing's key,
ETag and size are the object's identity.

Objects are read streaming: the first MiB once (most flow-log files are smaller),
then open-ended ranged GETs, each pinned to the listed ETag, resumed where they broke
if a connection drops. Parquet gets the same file object, seekable.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar
from datetime import date, datetime, timedelta, timezone

from pipeline.aws import client, explain, is_transient
from pipeline.settings import Settings
from pipeline.errors import FlowlogsError
from pipeline.ingest.load import SourceUnavailable
from pipeline.ingest.keys import delivery_id, parse_key

HEAD_BYTES = 1 << 20
AGGREGATION = timedelta(minutes=10)
LIST_THREADS = 8
STREAM_RESUMES = 4
_ACCOUNT = re.compile(r"^(aws-account-id=)?(\d{12})$")
_ORG = re.compile(r"^o-[a-z0-9]+$")
_REGION_LEVEL = re.compile(r"AWSLogs/(?:o-[a-z0-9]+/)?(?:\d{12}/(?:vpcflowlogs|CloudTrail[A-Za-z-]*|vpcdnsquerylogs)/|"
                           r"aws-account-id=\d{12}/aws-service=vpcflowlogs/aws-region=)[a-z0-9-]+/$")
# The folders under an account that hold records, and what comes below them (regions or VPCs).
SERVICES = ("vpcflowlogs", "CloudTrail", "CloudTrail-NetworkActivity", "CloudTrail-Insight", "CloudTrail-Digest",
            "vpcdnsquerylogs")


@dataclass(frozen=True)
class S3Object:
    """One listed object, as an ingest source (picklable; no client, no credentials)."""

    LISTED: ClassVar[bool] = True
    bucket: str
    key: str
    etag: str
    size: int
    settings: Settings

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def identity(self) -> tuple[str, str]:
        """(ingest id, etag): an AWS delivery is known by its file name (``keys.delivery_id``), so a local
        copy of it is the same source; any other object by its URL, so a changed object replaces its rows."""
        return delivery_id(self.key) or hashlib.sha256(self.name.encode()).hexdigest(), self.etag

    def open(self) -> "ObjectReader":
        return ObjectReader(self)

    def head(self) -> bytes:
        """The first MiB (or all) of the object: fetched once, for the several opens of one read."""
        global _last_head
        if _last_head is None or _last_head[0] != self:
            _last_head = (self, ObjectReader(self, head=b"", limit=HEAD_BYTES).read())
        return _last_head[1]


_last_head: tuple[S3Object, bytes] | None = None  # one object's head per process: memory stays bounded


def fetch(obj: S3Object, start: int, end: int | None = None):
    """The object's bytes from ``start`` (to ``end`` inclusive) as a stream, pinned to the listed ETag."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = client(obj.settings, "s3")
    try:
        return s3.get_object(Bucket=obj.bucket, Key=obj.key, IfMatch=f'"{obj.etag}"',
                             Range=f"bytes={start}-{'' if end is None else end}")["Body"]
    except (BotoCoreError, ClientError) as exc:
        raise _unavailable(exc, obj) from None


def _unavailable(exc: BaseException, obj: S3Object) -> SourceUnavailable:
    """Why the object cannot be read now, for the run's list of sources left."""
    from botocore.exceptions import ClientError

    if is_transient(exc):
        return SourceUnavailable(f"still failing after retries ({type(exc).__name__}: {exc})")
    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
    if code in ("PreconditionFailed", "412"):
        return SourceUnavailable("the object changed since it was listed; the next run reads the new version")
    if code in ("NoSuchKey", "404"):
        return SourceUnavailable("the object was deleted since it was listed")
    return SourceUnavailable(explain(exc, "s3:GetObject", f"arn:aws:s3:::{obj.bucket}/{obj.key}").message)


class ObjectReader(io.RawIOBase):
    """A seekable, streaming file object over one S3 object (or its first ``limit`` bytes)."""

    def __init__(self, obj: S3Object, head: bytes | None = None, limit: int | None = None):
        self.obj = obj
        self.size = obj.size if limit is None else min(obj.size, limit)
        self._end = None if limit is None or limit >= obj.size else limit - 1
        self._headbuf = obj.head() if head is None else head
        self._pos = 0
        self._body = None
        self._body_pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self.size:
            if self._pos < len(self._headbuf):
                n = min(len(view) - done, len(self._headbuf) - self._pos)
                view[done:done + n] = self._headbuf[self._pos:self._pos + n]
            else:
                n = self._from_body(view[done:])
                if n == 0:
                    break
            done += n
            self._pos += n
        return done

    def _from_body(self, view) -> int:
        from botocore.exceptions import BotoCoreError

        for attempt in range(STREAM_RESUMES + 1):
            if self._body is None or self._body_pos != self._pos:
                self._drop_body()
                self._body, self._body_pos = fetch(self.obj, self._pos, self._end), self._pos
            try:
                n = self._body.readinto(view)
            except (BotoCoreError, OSError) as exc:  # the connection dropped mid-body: resume from here
                self._drop_body()
                if attempt == STREAM_RESUMES:
                    raise SourceUnavailable(f"the download kept breaking off ({exc})") from None
                time.sleep(0.2 * 2**attempt)
                continue
            self._body_pos += n
            if n == 0 and self._pos < self.size:
                self._drop_body()
                continue
            return n
        raise SourceUnavailable("the download kept ending early")

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()


# ---------------------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class Window:
    """Bounds on the file-name time of the objects to read (None: unbounded)."""

    lo: datetime | None = None
    hi: datetime | None = None

    @classmethod
    def of(cls, since: datetime | None, until: datetime | None, late_margin: timedelta) -> "Window":
        return cls(since - late_margin if since else None, until + AGGREGATION if until else None)

    @property
    def bounded(self) -> bool:
        return self.lo is not None

    def holds(self, t: datetime | None) -> bool:
        if t is None:
            return not (self.lo or self.hi)
        return (self.lo is None or t >= self.lo) and (self.hi is None or t <= self.hi)


@dataclass(frozen=True)
class Base:
    """One account/region folder, above the date folders."""

    prefix: str
    hive: bool


@dataclass
class Listing:
    objects: list[S3Object]
    failed: list[tuple[str, str]]  # (prefix URL, reason): listing gave up after retries
    digests: int = 0  # CloudTrail digest files skipped (signatures of the log files, no events)


def parse_url(url: str) -> tuple[str, str]:
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise FlowlogsError(f"no bucket in {url!r}", "write it as s3://bucket[/prefix]")
    return bucket, (prefix.rstrip("/") + "/" if prefix.strip("/") else "")


def list_objects(settings: Settings, url: str, window: Window, *, accounts=(), regions=(), s3=None) -> Listing:
    """The flow-log objects under ``url`` that ``window``, ``accounts`` and ``regions`` select."""
    bucket, prefix = parse_url(url)
    s3 = s3 or client(settings, "s3")
    lister = _Lister(s3, bucket)
    if "AWSLogs/" not in prefix or prefix.endswith("AWSLogs/"):
        root = prefix if prefix.endswith("AWSLogs/") else prefix + "AWSLogs/"
        tasks = [t for base in lister.bases(root, set(accounts), tuple(regions)) for t in _day_tasks(base, window)]
    elif _REGION_LEVEL.search(prefix):  # one account and region given: still only the days the window needs
        tasks = _day_tasks(Base(prefix, "aws-region=" in prefix), window)
    else:  # deeper (a day, an hour): list it, select by name
        tasks = [prefix]
    with ThreadPoolExecutor(LIST_THREADS) as pool:
        results = list(pool.map(lambda t: lister.objects(t, window), tasks))
    objects, failed = [], []
    for found_objects, failure in results:
        objects += found_objects
        failed += failure
    wanted = [o for o in sorted(objects, key=lambda o: o["Key"]) if _wanted(o["Key"], window, set(accounts), set(regions))]
    digests = [o for o in wanted if parse_key(o["Key"]).digest]
    objects = [S3Object(bucket, o["Key"], o["ETag"].strip('"'), o["Size"], settings)
               for o in wanted if not parse_key(o["Key"]).digest]
    return Listing(objects, failed, len(digests))


def _wanted(key: str, window: Window, accounts: set, regions: set) -> bool:
    """Selected by the window (the file name's time, else the key's day) and the filters; query
    logs have no region folder, so ``regions`` does not select them (their records say it)."""
    if key.endswith("/"):
        return False
    info = parse_key(key)
    if info.file_time is not None or info.date is None:
        in_window = window.holds(info.file_time)
    else:
        day = date.fromisoformat(info.date)
        in_window = (window.lo is None or day >= window.lo.date()) and (window.hi is None or day <= window.hi.date())
    return (in_window and (not accounts or info.account in accounts)
            and (not regions or info.region in regions or info.service == "vpcdnsquerylogs"))


def _days(window: Window) -> list[date]:
    hi = window.hi or datetime.now(timezone.utc) + AGGREGATION
    return [window.lo.date() + timedelta(days=n) for n in range((hi.date() - window.lo.date()).days + 1)]


def _day_tasks(base: Base, window: Window) -> list:
    """What to list under one account/region: whole days inside the window, edge days by hour."""
    if not window.bounded:
        return [base.prefix]
    tasks: list = []
    for day in _days(window):
        folder = base.prefix + (f"year={day:%Y}/month={day:%m}/day={day:%d}/" if base.hive else f"{day:%Y/%m/%d}/")
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        hours = [h for h in range(24) if _overlaps(start + timedelta(hours=h), window)]
        tasks.append(folder if len(hours) == 24 else (folder, base.hive, frozenset(hours)))
    return tasks


def _overlaps(hour: datetime, window: Window) -> bool:
    return (window.lo is None or hour + timedelta(hours=1) > window.lo) and (window.hi is None or hour <= window.hi)


class _Lister:
    """ListObjectsV2 through paginators, one prefix at a time."""

    def __init__(self, s3, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def list(self, prefix: str, delimiter: bool = False) -> tuple[list[dict], list[str]]:
        kwargs = {"Bucket": self.bucket, "Prefix": prefix, **({"Delimiter": "/"} if delimiter else {})}
        contents, prefixes = [], []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(**kwargs):
                contents += page.get("Contents", [])
                prefixes += [p["Prefix"][len(prefix):-1] for p in page.get("CommonPrefixes", [])]
        except Exception as exc:
            if is_transient(exc):
                raise
            raise explain(exc, "s3:ListBucket", f"arn:aws:s3:::{self.bucket}") from None
        return contents, prefixes

    def bases(self, root: str, accounts: set, regions: tuple) -> list[Base]:
        """Account/region folders under ``AWSLogs/``, through organisation folders, plain or Hive."""
        url = f"s3://{self.bucket}/{root}"
        try:
            _, children = self.list(root, delimiter=True)
            account_dirs = []
            for name in children:
                if _ORG.match(name):
                    _, members = self.list(f"{root}{name}/", delimiter=True)
                    account_dirs += [(f"{root}{name}/{m}/", _ACCOUNT.match(m)) for m in members]
                else:
                    account_dirs.append((f"{root}{name}/", _ACCOUNT.match(name)))
        except Exception as exc:
            raise explain(exc, "s3:ListBucket", f"arn:aws:s3:::{self.bucket}") from None
        account_dirs = [(d, m) for d, m in account_dirs if m]
        if not account_dirs:
            raise FlowlogsError(
                f"no VPC flow logs, CloudTrail or Resolver query logs under {url}",
                "S3 delivery writes [prefix/]AWSLogs/<account-id>/vpcflowlogs|CloudTrail|vpcdnsquerylogs/…; give the "
                "bucket and the prefix of the destination (aws ec2 describe-flow-logs --query "
                "'FlowLogs[].LogDestination', aws cloudtrail describe-trails)",
            )
        selected = [(d, m) for d, m in account_dirs if not accounts or m.group(2) in accounts]
        if not selected:
            seen = ", ".join(sorted({m.group(2) for _, m in account_dirs}))
            raise FlowlogsError(f"no account {', '.join(sorted(accounts))} under {url}", f"accounts there: {seen}")
        with ThreadPoolExecutor(LIST_THREADS) as pool:
            return [b for found in pool.map(lambda dm: self._regions(*dm, regions), selected) for b in found]

    def _regions(self, account_dir: str, match, regions: tuple) -> list[Base]:
        """The region (query logs: VPC) folders of each record folder under one account."""
        hive = bool(match.group(1))
        if hive:
            services = [account_dir + "aws-service=vpcflowlogs/"]
        else:
            try:
                _, names = self.list(account_dir, delimiter=True)
            except Exception as exc:
                raise explain(exc, "s3:ListBucket", f"arn:aws:s3:::{self.bucket}") from None
            services = [f"{account_dir}{n}/" for n in names if n in SERVICES]
        bases = []
        for service in services:
            below = regions
            if not below or service.endswith("vpcdnsquerylogs/"):
                try:
                    _, names = self.list(service, delimiter=True)
                except Exception as exc:
                    raise explain(exc, "s3:ListBucket", f"arn:aws:s3:::{self.bucket}") from None
                below = tuple(n.removeprefix("aws-region=") for n in names)
            bases += [Base(f"{service}{'aws-region=' if hive else ''}{r}/", hive) for r in below]
        return bases

    def objects(self, task, window: Window) -> tuple[list[dict], list[tuple[str, str]]]:
        """The objects of one listing task; a task that keeps failing is reported, not raised."""
        prefix = task if isinstance(task, str) else task[0]
        try:
            if isinstance(task, str):
                return self.list(prefix)[0], []
            _, hive, hours = task
            daily, children = self.list(prefix, delimiter=True)
            found = list(daily)
            for child in children:
                hour = child.removeprefix("hour=")
                if hour.isdigit() and int(hour) in hours:
                    found += self.list(f"{prefix}{child}/")[0]
            return found, []
        except FlowlogsError:
            raise
        except Exception as exc:
            return [], [(f"s3://{self.bucket}/{prefix}", f"listing failed after retries: {exc}")]
