"""What an object key (or local path) says about the records inside it.

AWS delivers flow logs to S3 under one of these layouts (an organisation-id prefix
and any bucket prefix may come first):

- ``AWSLogs/{account}/vpcflowlogs/{region}/YYYY/MM/DD/[HH/]``
- ``AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/year=YYYY/month=MM/day=DD/[hour=HH/]``

and names files ``{account}_vpcflowlogs_{region}_{flow-log-id}_{YYYYMMDDTHHmmZ}_{hash}.log.gz``
(``.log.parquet`` for Parquet), the time being the 5-minute slot of the records' end time.

CloudTrail delivers to ``AWSLogs/[{o-id}/]{account}/{folder}/{region}/YYYY/MM/DD/`` with
``{folder}`` one of ``CloudTrail``, ``CloudTrail-NetworkActivity``, ``CloudTrail-Insight``,
``CloudTrail-Aggregated`` or ``CloudTrail-Digest`` (signatures, no events), files named
``{account}_CloudTrail_{region}_{YYYYMMDDTHHmmZ}_{unique}.json.gz`` (the delivery time).
Route 53 Resolver query logs go to ``AWSLogs/{account}/vpcdnsquerylogs/{vpc-id}/YYYY/MM/DD/``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone

_PLAIN = re.compile(
    r"AWSLogs/(?:(?P<org>o-[a-z0-9]+)/)?(?P<account>\d{12})/vpcflowlogs/(?P<region>[a-z0-9-]+)/"
    r"(?P<year>\d{4})/(?P<month>\d\d)/(?P<day>\d\d)(?:/(?P<hour>\d\d))?(?:/|$)"
)
_HIVE = re.compile(
    r"AWSLogs/(?:(?P<org>o-[a-z0-9]+)/)?aws-account-id=(?P<account>\d{12})/aws-service=vpcflowlogs/"
    r"aws-region=(?P<region>[a-z0-9-]+)/year=(?P<year>\d{4})/month=(?P<month>\d\d)/day=(?P<day>\d\d)"
    r"(?:/hour=(?P<hour>\d\d))?(?:/|$)"
)
_CLOUDTRAIL = re.compile(
    r"AWSLogs/(?:(?P<org>o-[a-z0-9]+)/)?(?P<account>\d{12})/(?P<service>CloudTrail(?:-[A-Za-z]+)?)/"
    r"(?P<region>[a-z0-9-]+)/(?P<year>\d{4})/(?P<month>\d\d)/(?P<day>\d\d)(?:/|$)"
)
_QUERY_LOGS = re.compile(
    r"AWSLogs/(?:(?P<org>o-[a-z0-9]+)/)?(?P<account>\d{12})/(?P<service>vpcdnsquerylogs)/(?P<vpc>vpc-[0-9a-z]+)/"
    r"(?P<year>\d{4})/(?P<month>\d\d)/(?P<day>\d\d)(?:/|$)"
)
_TRAIL_NAME = re.compile(
    r"(?P<account>\d{12})_CloudTrail(?:-[A-Za-z]+)?_(?P<region>[a-z0-9-]+)_(?P<stamp>\d{8}T\d{4}Z)_\w+\.json(?:\.gz)?$"
)
_NAME = re.compile(
    r"(?P<delivery>(?P<account>\d{12})_vpcflowlogs_(?P<region>[a-z0-9-]+)_(?P<flow_log>fl-[0-9a-f]+)_"
    r"(?P<stamp>\d{8}T\d{4}Z)_[0-9a-f]+)\.(?:log\.gz|log|log\.parquet|gz\.parquet|parquet)$"
)

# The file names AWS gives each delivery, by the kind of log. The ``delivery`` group is the
# name without folder and compression suffix: the same whether the object is read from S3, a
# local download, gunzipped or gzipped again. A new kind of delivery is one more entry.
DELIVERIES: dict[str, re.Pattern] = {
    "vpcflowlogs": _NAME,
    # {account}_CloudTrail_{region}_{YYYYMMDDTHHmmZ}_{unique}.json.gz
    "cloudtrail": re.compile(r"(?P<delivery>\d{12}_CloudTrail_[a-z0-9-]+_\d{8}T\d{4}Z_[0-9A-Za-z]+)\.json(?:\.gz)?$"),
}


def delivery_id(key: str) -> str | None:
    """The ingest id of the AWS delivery a key or path is a copy of (None: not an AWS file name)."""
    name = delivery_name(key)
    return hashlib.sha256(f"delivery {name}".encode()).hexdigest() if name else None


def delivery_name(key: str) -> str | None:
    """``kind/name`` of the AWS delivery a key or path is a copy of, or None (not an AWS file name)."""
    base = key.rsplit("/", 1)[-1]
    for kind, pattern in DELIVERIES.items():
        if match := pattern.search(base):
            return f"{kind}/{match['delivery']}"
    return None


@dataclass(frozen=True)
class KeyInfo:
    account: str | None = None
    region: str | None = None
    date: str | None = None  # YYYY-MM-DD
    hour: int | None = None
    flow_log_id: str | None = None
    file_time: datetime | None = None  # the 5-minute slot in the file name
    layout: str | None = None  # "plain", "hive" or None
    service: str = "vpcflowlogs"  # the AWSLogs folder: vpcflowlogs, CloudTrail[-…], vpcdnsquerylogs
    vpc_id: str | None = None  # query logs: the VPC folder

    @property
    def digest(self) -> bool:
        """A CloudTrail digest file: signatures of the log files, no events."""
        return self.service == "CloudTrail-Digest"


def parse_key(key: str) -> KeyInfo:
    """Account, region, date and flow log of a key or path, as far as its layout tells."""
    fields: dict = {}
    layout = None
    for name, pattern in (("plain", _PLAIN), ("hive", _HIVE), ("plain", _CLOUDTRAIL), ("plain", _QUERY_LOGS)):
        match = pattern.search(key)
        if match:
            layout = name
            g = match.groupdict()
            fields = {
                "account": g["account"],
                "region": g.get("region"),
                "date": f"{g['year']}-{g['month']}-{g['day']}",
                "hour": int(g["hour"]) if g.get("hour") else None,
                **({"service": g["service"]} if g.get("service") else {}),
                **({"vpc_id": g["vpc"]} if g.get("vpc") else {}),
            }
            break
    trail = _TRAIL_NAME.search(key.rsplit("/", 1)[-1])
    if trail:
        fields.setdefault("account", trail["account"])
        fields.setdefault("region", trail["region"])
        fields["file_time"] = datetime.strptime(trail["stamp"], "%Y%m%dT%H%MZ").replace(tzinfo=timezone.utc)
        fields.setdefault("date", fields["file_time"].strftime("%Y-%m-%d"))
    name = _NAME.search(key.rsplit("/", 1)[-1])
    if name:
        fields.setdefault("account", name["account"])
        fields.setdefault("region", name["region"])
        fields["flow_log_id"] = name["flow_log"]
        stamp = datetime.strptime(name["stamp"], "%Y%m%dT%H%MZ").replace(tzinfo=timezone.utc)
        fields["file_time"] = stamp
        fields.setdefault("date", stamp.strftime("%Y-%m-%d"))
    return KeyInfo(layout=layout, **fields)
