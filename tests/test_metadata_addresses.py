"""16-byte address keys: one ordering and one range join for IPv4 and IPv6."""

from __future__ import annotations

import ipaddress

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.addresses import (canonical_ip, cidr_bounds, cidr_bounds_arrays, ip_key, ip_keys, ip_version,
                                is_global, key_to_ip, prefix_length)
from pipeline.metadata.views import register_udfs

v4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
v6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))


def _number(addr: str) -> int:
    """The address as a number in the key space: IPv4 lives at ::ffff:a.b.c.d."""
    ip = ipaddress.ip_address(addr)
    return (0xFFFF << 32 | int(ip)) if ip.version == 4 else int(ip)


def test_known_keys():
    assert ip_key("10.0.0.1") == bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 1])
    assert ip_key("::ffff:10.0.0.1") == ip_key("10.0.0.1")
    assert ip_key("2001:db8::1") == ipaddress.IPv6Address("2001:db8::1").packed
    assert ip_key("2001:DB8:0:0:0:0:0:1") == ip_key("2001:db8::1")
    for bad in (None, "", "-", "10.0.0", "eni-0abc", "300.1.1.1", "\x00", "10.0.0.1\x00", "::1\x00"):
        assert ip_key(bad) is None
    assert cidr_bounds("10.0.0.0/8") == (ip_key("10.0.0.0"), ip_key("10.255.255.255"))
    assert cidr_bounds("10.1.2.3/16") == (ip_key("10.1.0.0"), ip_key("10.1.255.255"))  # host bits ignored
    assert cidr_bounds("2600:1f18::/33") == (ip_key("2600:1f18::"), ip_key("2600:1f18:7fff:ffff:ffff:ffff:ffff:ffff"))
    assert (prefix_length("10.0.0.0/8"), prefix_length("::/0")) == (104, 0)
    assert (canonical_ip("2600:1f18:4a2:b301:0:0:0:25"), ip_version("::1"), ip_version("x")) == (
        "2600:1f18:4a2:b301::25", 6, None)
    assert (is_global("8.8.8.8"), is_global("10.1.1.1"), is_global("2600:1f18::1"), is_global("fd00::1")) == (
        True, False, True, False)
    with pytest.raises(ValueError):
        cidr_bounds("not-a-cidr")


@settings(deadline=None)
@given(st.lists(st.one_of(v4, v6), min_size=2, max_size=40))
def test_keys_sort_like_the_numbers(addrs):
    assert sorted(addrs, key=ip_key) == sorted(addrs, key=_number)
    assert all(key_to_ip(ip_key(a)) == a for a in addrs)


@settings(deadline=None)
@given(st.one_of(v4, v6), st.integers(0, 128))
def test_an_address_is_inside_its_own_networks(addr, bits):
    ip = ipaddress.ip_address(addr)
    bits = min(bits, ip.max_prefixlen)
    net = ipaddress.ip_network(f"{addr}/{bits}", strict=False)
    lo, hi = cidr_bounds(str(net))
    assert lo <= ip_key(addr) <= hi
    assert len(lo) == len(hi) == 16
    # an IPv4 key never falls in an IPv6 range that does not hold ::ffff:0:0/96, and the reverse
    if ip.version == 4:
        assert not (cidr_bounds("2000::/3")[0] <= ip_key(addr) <= cidr_bounds("2000::/3")[1])


@settings(deadline=None)
@given(st.lists(st.one_of(v4, v6, st.just("garbage"), st.none()), max_size=60))
def test_vectorised_matches_scalar(values):
    assert ip_keys(pa.array(values, pa.string())).to_pylist() == [ip_key(v) for v in values]


def test_vectorised_cidr_bounds():
    starts, ends = cidr_bounds_arrays(pa.array(["10.0.0.0/8", None, "bad", "::/0", "10.0.0.0/8"]))
    assert starts.to_pylist() == [cidr_bounds("10.0.0.0/8")[0], None, None, bytes(16), cidr_bounds("10.0.0.0/8")[0]]
    assert ends.to_pylist()[3] == b"\xff" * 16


def test_duckdb_udfs_and_one_range_join_for_both_families():
    con = duckdb.connect()
    register_udfs(con)
    register_udfs(con)  # twice on one connection is fine
    con.execute("CREATE TABLE ranges AS SELECT * FROM (VALUES ('52.216.0.0/15', 'S3'), ('2a05:d07a:a000::/40', 'S3v6'), "
                "('0.0.0.0/0', 'all-v4'), ('::/0', 'all-v6')) t(cidr, name)")
    con.execute("CREATE TABLE addrs AS SELECT * FROM (VALUES ('52.217.1.2'), ('2a05:d07a:a0ff::1'), ('8.8.8.8'), "
                "('2001:db8::1'), ('nonsense')) t(a)")
    got = con.execute("""
        SELECT a, coalesce(list(name ORDER BY name) FILTER (WHERE name IS NOT NULL), []) FROM addrs
        LEFT JOIN ranges ON ip_key(a) BETWEEN cidr_start(cidr) AND cidr_end(cidr) GROUP BY a ORDER BY a""").fetchall()
    by_addr = dict(got)
    # ::/0 holds every key (IPv4 keys are ::ffff:a.b.c.d), 0.0.0.0/0 only the IPv4 ones
    assert by_addr["52.217.1.2"] == ["S3", "all-v4", "all-v6"]
    assert by_addr["8.8.8.8"] == ["all-v4", "all-v6"]
    assert by_addr["2a05:d07a:a0ff::1"] == ["S3v6", "all-v6"]
    assert by_addr["2001:db8::1"] == ["all-v6"]
    assert by_addr["nonsense"] == []
    assert con.execute("SELECT ip_is_global('10.0.0.1'), ip_is_global('1.1.1.1'), ip_key(NULL)").fetchone() == (
        False, True, None)
