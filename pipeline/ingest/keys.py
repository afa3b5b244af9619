"""What an object key (or local path) says about the records inside it.

AWS delivers flow logs to S3 under one of these layouts (an organisation-id prefix
and any bucket prefix may come first):

- ``AWSLogs/{account}/vpcflowlogs/{region}/YYYY/MM/DD/[HH/]``
- ``AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/year=YYYY/month=MM/day=DD/[hour=HH/]``

and names files ``{account}_vpcflowlogs_{region}_{flow-log-id}_{YYYYMMDDTHHmmZ}_{hash}.log.gz``
(``.log.parquet`` for Parquet), the time being the 5-minute slot of the records' end time.
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


def parse_key(key: str) -> KeyInfo:
    """Account, region, date and flow log of a key or path, as far as its layout tells."""
    fields: dict = {}
    layout = None
    for name, pattern in (("plain", _PLAIN), ("hive", _HIVE)):
        match = pattern.search(key)
        if match:
            layout = name
            g = match.groupdict()
            fields = {
                "account": g["account"],
                "region": g["region"],
                "date": f"{g['year']}-{g['month']}-{g['day']}",
                "hour": int(g["hour"]) if g["hour"] else None,
            }
            break
    name = _NAME.search(key.rsplit("/", 1)[-1])
    if name:
        fields.setdefault("account", name["account"])
        fields.setdefault("region", name["region"])
        fields["flow_log_id"] = name["flow_log"]
        stamp = datetime.strptime(name["stamp"], "%Y%m%dT%H%MZ").replace(tzinfo=timezone.utc)
        fields["file_time"] = stamp
        fields.setdefault("date", stamp.strftime("%Y-%m-%d"))
    return KeyInfo(layout=layout, **fields)
