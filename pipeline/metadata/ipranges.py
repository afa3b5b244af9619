"""AWS ``ip-ranges.json`` as ``aws_ip_ranges`` rows with 16-byte range bounds."""

from __future__ import annotations

from datetime import datetime

from pipeline.addresses import cidr_bounds, prefix_length
from pipeline.times import parse_time

Rows = dict[str, list[dict]]


def published_at(doc: dict) -> datetime | None:
    """The file's own time: ``createDate`` (``YYYY-MM-DD-hh-mm-ss``), else the epoch ``syncToken``."""
    for key in ("createDate", "syncToken"):
        try:
            t = parse_time(doc.get(key))
        except ValueError:
            t = None
        if t is not None:
            return t
    return None


def normalise_ip_ranges(doc: dict) -> Rows:
    rows = []
    sync_token = None if doc.get("syncToken") is None else str(doc["syncToken"])
    for entries, key, version in ((doc.get("prefixes"), "ip_prefix", 4), (doc.get("ipv6_prefixes"), "ipv6_prefix", 6)):
        for e in entries or []:
            prefix = e.get(key)
            if not prefix:
                continue
            try:
                start, end = cidr_bounds(prefix)
            except ValueError:
                raise ValueError(f"ip-ranges: {key} {prefix!r} is not a CIDR block") from None
            rows.append({
                "prefix": prefix,
                "ip_version": version,
                "service": e.get("service"),
                "region": e.get("region"),
                "network_border_group": e.get("network_border_group"),
                "range_start": start,
                "range_end": end,
                "prefix_length": prefix_length(prefix) - (96 if version == 4 else 0),
                "sync_token": sync_token,
            })
    return {"aws_ip_ranges": rows}


IP_RANGES_URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"


def download(url: str, directory: str, timeout: float = 10.0) -> str:
    """Save ``url`` (AWS's ip-ranges.json) under ``directory``; returns the file's path.

    Raises ``OSError`` with the reason when it cannot be had (no network, a proxy, a
    firewall): the caller tells the user to download it and ``flowlogs metadata import`` it.
    """
    import os
    import urllib.request

    path = os.path.join(directory, "ip-ranges.json")
    with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as out:
        out.write(response.read())
    return path
