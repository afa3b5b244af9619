"""IP address helpers: one sortable 16-byte key for IPv4 and IPv6.

``ip_key`` maps an address to 16 bytes: IPv6 addresses to their packed form, IPv4
addresses to the IPv4-mapped IPv6 form ``::ffff:a.b.c.d``. Byte strings compare like
the numbers they encode, so a single range join ``key BETWEEN range_start AND
range_end`` serves both families, and an IPv4 key can never fall inside an IPv6 range
that does not contain ``::ffff:0:0/96``.

Only the standard library's ``ipaddress`` is used. The ``*_array`` helpers work on
the *distinct* values of an Arrow array and map the results back, so a column of
10 million flow addresses costs one Python call per distinct address, not per record.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

V4_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"
KEY_LENGTH = 16


def parse_ip(addr: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address, or None for None, '', '-' and anything that is not an IP address."""
    if addr is None:
        return None
    if isinstance(addr, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return addr
    text = str(addr).strip()
    if not text or text == "-":
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def ip_key(addr: object) -> bytes | None:
    """16-byte sort key of an IPv4 or IPv6 address (IPv4 as ``::ffff:a.b.c.d``); None if not an address."""
    if isinstance(addr, str):
        # Fast path (C parser) for the plain text forms; anything else goes through ipaddress.
        try:
            return V4_MAPPED_PREFIX + socket.inet_pton(socket.AF_INET, addr)
        except (OSError, ValueError):  # ValueError: a NUL in the text
            pass
        if ":" in addr and "%" not in addr:
            try:
                return socket.inet_pton(socket.AF_INET6, addr)
            except (OSError, ValueError):
                pass
    ip = parse_ip(addr)
    if ip is None:
        return None
    if ip.version == 4:
        return V4_MAPPED_PREFIX + ip.packed
    return ip.packed


def key_to_ip(key: bytes | None) -> str | None:
    """Inverse of ``ip_key``: the canonical text of the address."""
    if key is None:
        return None
    if len(key) != KEY_LENGTH:
        raise ValueError(f"an ip key has {KEY_LENGTH} bytes, got {len(key)}")
    if key.startswith(V4_MAPPED_PREFIX):
        return str(ipaddress.IPv4Address(key[12:]))
    return str(ipaddress.IPv6Address(key))


def canonical_ip(addr: object) -> str | None:
    """The address in canonical text form (IPv6 compressed, lower case), or None."""
    ip = parse_ip(addr)
    return None if ip is None else str(ip)


def ip_version(addr: object) -> int | None:
    ip = parse_ip(addr)
    return None if ip is None else ip.version


# Whether an address is globally reachable, by the IANA special-purpose address registries (RFC 6890's columns;
# "Globally Reachable"), as of their 2024 updates:
#   https://www.iana.org/assignments/iana-ipv4-special-registry/iana-ipv4-special-registry.xhtml
#   https://www.iana.org/assignments/iana-ipv6-special-registry/iana-ipv6-special-registry.xhtml
# Written here once, not taken from Python's ipaddress (whose is_global lists changed in 3.12.4 and 3.13), so that
# DuckDB's ip_is_global (metadata.views), Spark's and Athena's (engines.athena: SQL made from these tuples) agree on
# every Python. Blocks listed inside a larger one (0.0.0.0/32, 192.0.0.0/29, 192.0.0.170/31, 2001:2::/48…) are left
# out; ::ffff:0:0/96 too, as parse_ip reads an IPv4-mapped address as IPv4. Blocks the registries mark N/A count as
# the block holding them says: 2001::/32 (Teredo) and 2001:10::/28 (ORCHID) are not global, 192.88.99.0/24 and
# 2002::/16 (6to4) are. Multicast (224.0.0.0/4, ff00::/8) is in other registries: global here.
NOT_GLOBAL = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
    "255.255.255.255/32",
    "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20",  # 3fff: RFC 9637
    "5f00::/16", "fc00::/7", "fe80::/10")  # 5f00::/16: SRv6 SIDs, RFC 9602
"""The blocks the registries call not globally reachable."""
GLOBAL_WITHIN = (
    "192.0.0.9/32", "192.0.0.10/32",  # PCP and TURN anycast
    "2001:1::1/128", "2001:1::2/128", "2001:1::3/128", "2001:3::/32", "2001:4:112::/48", "2001:20::/28",
    "2001:30::/28")  # anycast (PCP, TURN, DNS-SD SRP), AMT, AS112-v6, ORCHIDv2, drone remote ID
"""The blocks inside NOT_GLOBAL ones that the registries call globally reachable."""
_NOT_GLOBAL = tuple(ipaddress.ip_network(n) for n in NOT_GLOBAL)
_GLOBAL_WITHIN = tuple(ipaddress.ip_network(n) for n in GLOBAL_WITHIN)


def is_global(addr: object) -> bool | None:
    """True for a globally reachable address (outside NOT_GLOBAL, or inside GLOBAL_WITHIN), False for others, None
    if not an address."""
    ip = parse_ip(addr)
    if ip is None:
        return None
    inside = any(ip in net for net in _NOT_GLOBAL if net.version == ip.version)
    return not inside or any(ip in net for net in _GLOBAL_WITHIN if net.version == ip.version)


def cidr_bounds(cidr: str) -> tuple[bytes, bytes]:
    """The first and last ``ip_key`` of a CIDR block (host bits are ignored).

    Raises ``ValueError`` for text that is not a CIDR block or address.
    """
    net = ipaddress.ip_network(str(cidr).strip(), strict=False)
    first, last = net.network_address, net.broadcast_address
    if net.version == 4:
        return V4_MAPPED_PREFIX + first.packed, V4_MAPPED_PREFIX + last.packed
    return first.packed, last.packed


def prefix_length(cidr: str) -> int:
    """Prefix length of the CIDR, counted in the 128-bit key space (IPv4 /n is 96 + n)."""
    net = ipaddress.ip_network(str(cidr).strip(), strict=False)
    return net.prefixlen + (96 if net.version == 4 else 0)


def _safe_bounds(cidr: object) -> tuple[bytes, bytes] | None:
    if cidr is None:
        return None
    try:
        return cidr_bounds(str(cidr))
    except ValueError:
        return None


def _map_distinct(values: "pa.Array | pa.ChunkedArray | Iterable[object]", fn, out_type) -> "pa.Array":
    """Apply ``fn`` once per distinct value of ``values`` and spread the results back."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(list(values), type=pa.string())
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    if len(values) == 0:
        return pa.array([], type=out_type)
    encoded = pc.dictionary_encode(values)
    uniques = encoded.dictionary.to_pylist()
    mapped = pa.array([fn(u) for u in uniques], type=out_type)
    return mapped.take(encoded.indices)


def ip_keys(values) -> "pa.Array":
    """Vectorised ``ip_key`` over an Arrow string array (or any iterable of text)."""
    import pyarrow as pa

    return _map_distinct(values, ip_key, pa.binary())


def cidr_bounds_arrays(values) -> "tuple[pa.Array, pa.Array]":
    """Vectorised ``cidr_bounds``: (range_start, range_end) binary arrays; null for invalid CIDRs."""
    import pyarrow as pa

    starts = _map_distinct(values, lambda c: (_safe_bounds(c) or (None, None))[0], pa.binary())
    ends = _map_distinct(values, lambda c: (_safe_bounds(c) or (None, None))[1], pa.binary())
    return starts, ends
