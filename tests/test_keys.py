"""S3 key layouts (and local copies of them) → account, region, date, hour, flow log, file time."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pipeline.ingest.keys import KeyInfo, parse_key

NAME = "123456789012_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20240115T1205Z_fe123456.log.gz"
SLOT = datetime(2024, 1, 15, 12, 5, tzinfo=timezone.utc)


def info(account="123456789012", region="eu-west-1", date="2024-01-15", hour=None, flow_log_id="fl-0123456789abcdef0",
         file_time=SLOT, layout="plain") -> KeyInfo:
    return KeyInfo(account, region, date, hour, flow_log_id, file_time, layout)


CASES = {
    "default": (f"AWSLogs/123456789012/vpcflowlogs/eu-west-1/2024/01/15/{NAME}", info()),
    "hourly": (f"AWSLogs/123456789012/vpcflowlogs/eu-west-1/2024/01/15/12/{NAME}", info(hour=12)),
    "hive": (
        f"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=01/day=15/{NAME}",
        info(layout="hive"),
    ),
    "hive hourly": (
        f"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=01/day=15/hour=07/{NAME}",
        info(hour=7, layout="hive"),
    ),
    "organisation prefix": (f"AWSLogs/o-a1b2c3d4e5/123456789012/vpcflowlogs/eu-west-1/2024/01/15/{NAME}", info()),
    "bucket and prefix (s3 url)": (
        f"s3://central-logs/vpc/prod/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2024/01/15/{NAME}",
        info(),
    ),
    "local copy (aws s3 sync)": (
        f"/data/sync/vpc/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2024/01/15/23/{NAME}",
        info(hour=23),
    ),
    "parquet": (
        "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2024/01/15/"
        "123456789012_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20240115T1205Z_fe123456.log.parquet",
        info(),
    ),
    "parquet, hive hourly": (
        "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=01/day=15/"
        "hour=12/123456789012_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20240115T1205Z_fe123456.log.parquet",
        info(hour=12, layout="hive"),
    ),
    "account with leading zeros, gov region": (
        "AWSLogs/012345678901/vpcflowlogs/us-gov-west-1/2023/12/31/"
        "012345678901_vpcflowlogs_us-gov-west-1_fl-0abc_20231231T2355Z_0a1b2c3d.log.gz",
        info(account="012345678901", region="us-gov-west-1", date="2023-12-31", flow_log_id="fl-0abc",
             file_time=datetime(2023, 12, 31, 23, 55, tzinfo=timezone.utc)),
    ),
    "file name only (flat directory)": (
        f"downloads/{NAME}",
        info(layout=None),
    ),
    "the folder's date wins over the file time": (
        "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2024/01/15/"
        "123456789012_vpcflowlogs_eu-west-1_fl-01_20240116T0000Z_ab.log.gz",
        info(flow_log_id="fl-01", file_time=datetime(2024, 1, 16, tzinfo=timezone.utc)),
    ),
    "a directory of the layout, no file": (
        "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2024/01/15",
        info(flow_log_id=None, file_time=None),
    ),
    "unrelated path": ("exports/flows-2024-01-15.log.gz", KeyInfo()),
    "another service's logs": (
        "AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2024/01/15/x.log.gz",
        KeyInfo(),
    ),
}


@pytest.mark.parametrize("key, expected", CASES.values(), ids=CASES.keys())
def test_parse_key(key, expected):
    assert parse_key(key) == expected
