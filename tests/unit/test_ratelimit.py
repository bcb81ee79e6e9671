"""backend.ratelimit: who the client is (trusted proxies, X-Forwarded-For, IPv6 /64s) and
when a ledger list wants CSV."""
from __future__ import annotations

import ipaddress

import pytest

from backend.ratelimit import client_address, client_key, parse_proxies, wants_csv
from ninety.errors import ConfigError


def scope(peer: str, *forwarded: str) -> dict:
    return {"client": (peer, 51000), "headers": [(b"x-forwarded-for", f.encode("latin-1")) for f in forwarded]}


def test_trusted_proxies_are_addresses_or_blocks_separated_by_commas():
    assert parse_proxies(None) == () and parse_proxies("") == ()
    assert parse_proxies(" 10.0.0.1 , ,192.168.0.0/16,::1") == (
        ipaddress.ip_network("10.0.0.1/32"), ipaddress.ip_network("192.168.0.0/16"), ipaddress.ip_network("::1/128"))
    # Host bits set in a block are tolerated (strict=False), as operators write them.
    assert parse_proxies(["172.16.5.4/12"]) == (ipaddress.ip_network("172.16.0.0/12"),)


def test_a_proxy_that_is_not_an_address_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="'proxy.example'"):
        parse_proxies("10.0.0.1,proxy.example")


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_forwards():
    assert client_address(scope("203.0.113.9", "198.51.100.1"), ()) == "203.0.113.9"


def test_an_untrusted_peer_is_the_client_even_if_it_claims_to_forward():
    proxies = parse_proxies("10.0.0.0/8")
    assert client_address(scope("203.0.113.9", "198.51.100.1"), proxies) == "203.0.113.9"


def test_behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client():
    proxies = parse_proxies("10.0.0.0/8")
    # The client claimed 1.1.1.1 itself; 198.51.100.7 reached the first proxy; 10.0.0.2 is ours.
    assert client_address(scope("10.0.0.1", "1.1.1.1, 198.51.100.7", "10.0.0.2"), proxies) == "198.51.100.7"


def test_forwarded_entries_with_ports_and_brackets_are_read_as_addresses():
    proxies = parse_proxies("10.0.0.0/8")
    assert client_address(scope("10.0.0.1", "198.51.100.7:4711"), proxies) == "198.51.100.7"
    assert client_address(scope("10.0.0.1", "[2001:db8::5]:4711"), proxies) == "2001:db8::5"


def test_garbage_in_the_forwarded_chain_stops_the_walk_at_the_last_trusted_hop():
    proxies = parse_proxies("10.0.0.0/8")
    assert client_address(scope("10.0.0.1", "198.51.100.7, not-an-ip, 10.0.0.3"), proxies) == "10.0.0.3"


def test_a_chain_of_only_trusted_proxies_ends_at_the_leftmost():
    proxies = parse_proxies("10.0.0.0/8")
    assert client_address(scope("10.0.0.1", "10.0.0.9, 10.0.0.8"), proxies) == "10.0.0.9"


def test_a_peer_that_is_not_an_address_is_named_as_it_is():
    assert client_address({"client": ("testclient", 50000), "headers": []}, ()) == "testclient"
    assert client_address({"headers": []}, ()) == "unknown"


def test_an_ipv6_client_counts_as_its_64_and_a_mapped_ipv4_as_the_ipv4():
    assert client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert client_key("198.51.100.7") == "198.51.100.7"
    assert client_key("testclient") == "testclient"


@pytest.mark.parametrize("query, accept, expected", [
    ({"format": "csv"}, "", True),
    ({"format": "csv"}, "application/json", True),
    ({"format": "json"}, "text/csv", False),  # an explicit format wins over Accept
    ({}, "text/csv", True),
    ({}, "text/html, text/csv;q=0.9", True),
    ({}, "application/json", False),
    ({}, "", False),
])
def test_csv_is_format_csv_or_no_format_and_accept_text_csv(query, accept, expected):
    assert wants_csv(query, accept) is expected
