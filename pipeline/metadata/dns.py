"""How a VPC resolves names: DNS attributes, DHCP options, private hosted zones, query logging.

Each ``normalise_*`` takes the parsed AWS CLI JSON of one command and returns
``{table: [row, ...]}``:

- ``aws ec2 describe-vpc-attribute --attribute enableDnsSupport|enableDnsHostnames`` ->
  ``vpc_dns_attributes`` (one row per VPC and attribute);
- ``aws ec2 describe-dhcp-options`` -> ``dhcp_options`` (which VPC uses which set is
  ``vpcs.dhcp_options_id``, from describe-vpcs);
- ``aws route53 list-hosted-zones-by-vpc`` -> ``hosted_zone_vpcs`` (its JSON does not name
  the VPC: the id comes from the file name, or from the collector);
- ``aws route53 list-resource-record-sets`` -> ``dns_records`` (the zone id likewise);
- ``aws route53resolver list-resolver-query-log-configs`` / ``…-associations`` ->
  ``query_log_configs`` / ``query_log_associations``: which VPCs log their queries at all.
"""

from __future__ import annotations

from typing import Any

Rows = dict[str, list[dict]]

DNS_ATTRIBUTES = ("EnableDnsSupport", "EnableDnsHostnames")


def dns_name(value: Any) -> str | None:
    """A DNS name as the analysis compares names: lower case, no trailing dot, ``\\052`` as ``*``."""
    if value is None:
        return None
    text = str(value).strip().replace("\\052", "*").lower()
    return text[:-1] if text.endswith(".") else text


def is_vpc_attribute(payload: Any) -> bool:
    return isinstance(payload, dict) and "VpcId" in payload and any(k in payload for k in DNS_ATTRIBUTES)


def normalise_vpc_attribute(doc: dict) -> Rows:
    rows = []
    for key in DNS_ATTRIBUTES:
        if key in doc:
            value = doc[key].get("Value") if isinstance(doc[key], dict) else doc[key]
            rows.append({"vpc_id": doc["VpcId"], "attribute": key[0].lower() + key[1:],
                         "enabled": None if value is None else bool(value)})
    return {"vpc_dns_attributes": rows}


def normalise_dhcp_options(doc: dict) -> Rows:
    rows = []
    for opt in doc["DhcpOptions"]:
        config = {c.get("Key"): [v.get("Value") for v in c.get("Values") or [] if v.get("Value") is not None]
                  for c in opt.get("DhcpConfigurations") or []}
        rows.append({
            "dhcp_options_id": opt.get("DhcpOptionsId"),
            "domain_name_servers": config.get("domain-name-servers") or [],
            "domain_name": " ".join(config.get("domain-name") or []) or None,
            "owner_id": opt.get("OwnerId"),
        })
    return {"dhcp_options": rows}


def normalise_hosted_zones_by_vpc(doc: dict, vpc_id: str | None) -> Rows:
    """One row per private zone associated with the VPC; a VPC with none keeps one row with no zone,
    so that a newer snapshot saying "no zones any more" replaces an older one that had some.
    ``vpc_id`` None: a file that did not say which VPC (the analysis applies its zones to every VPC)."""
    rows = [{
        "vpc_id": vpc_id,
        "hosted_zone_id": (z.get("HostedZoneId") or "").rsplit("/", 1)[-1] or None,
        "zone_name": dns_name(z.get("Name")),
        "owner": (z.get("Owner") or {}).get("OwningAccount") or (z.get("Owner") or {}).get("OwningService"),
    } for z in doc["HostedZoneSummaries"]]
    return {"hosted_zone_vpcs": rows or [{"vpc_id": vpc_id}]}


def normalise_record_sets(doc: dict, hosted_zone_id: str) -> Rows:
    rows = []
    for r in doc["ResourceRecordSets"]:
        alias = r.get("AliasTarget") or {}
        rows.append({
            "hosted_zone_id": hosted_zone_id,
            "name": dns_name(r.get("Name")),
            "type": r.get("Type"),
            "ttl": r.get("TTL"),
            "values": [v.get("Value") for v in r.get("ResourceRecords") or [] if v.get("Value") is not None],
            "alias_target": dns_name(alias.get("DNSName")),
        })
    return {"dns_records": rows or [{"hosted_zone_id": hosted_zone_id}]}


def normalise_query_log_configs(doc: dict) -> Rows:
    return {"query_log_configs": [{
        "config_id": c.get("Id"),
        "name": c.get("Name"),
        "destination_arn": c.get("DestinationArn"),
        "status": c.get("Status"),
        "owner_id": c.get("OwnerId"),
    } for c in doc["ResolverQueryLogConfigs"]]}


def normalise_query_log_associations(doc: dict) -> Rows:
    return {"query_log_associations": [{
        "association_id": a.get("Id"),
        "config_id": a.get("ResolverQueryLogConfigId"),
        "vpc_id": a.get("ResourceId"),
        "status": a.get("Status"),
        "error": a.get("Error") if a.get("Error") not in (None, "NONE") else None,
    } for a in doc["ResolverQueryLogConfigAssociations"]]}
