"""The IPFS client against the real js-ipfs node: Kubo-identical CIDs, verified reads,
pins, and clear errors (not hangs) when the node is down or too slow."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from ninety.errors import CidMismatchError, IpfsError, IpfsUnavailableError
from ninety.ipfs import Ipfs, api_multiaddr, local_cid, to_base32, verify
from ninety.cli.supervisor import free_port


@pytest.fixture(scope="module")
def ipfs(ipfs_node):
    with Ipfs(ipfs_node.url) as client:
        yield client


@pytest.mark.parametrize("size", [0, 1, 6, 262_144, 262_145, 300_000, 5_000_000, 50_000_000])
def test_add_gives_the_cid_kubo_gives_and_cat_returns_the_bytes(ipfs, size):
    data = os.urandom(size)
    cid = ipfs.add_bytes(data)
    assert cid == local_cid(data)
    assert cid.startswith("bafk" if size <= 262_144 else "bafy")
    assert ipfs.cat(cid) == data
    assert b"".join(ipfs.stream(cid)) == data


def test_known_cid_of_empty_file(ipfs):
    # What `ipfs add --cid-version=1` prints for an empty file on Kubo.
    assert ipfs.add_bytes(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_byte_ranges(ipfs):
    data = os.urandom(1_000_000)
    cid = ipfs.add_bytes(data)
    for offset, length in [(0, 10), (5, 1), (262_140, 10), (999_990, 10), (500_000, 300_000)]:
        assert ipfs.cat(cid, offset=offset, length=length) == data[offset : offset + length]
        assert b"".join(ipfs.stream(cid, offset=offset, length=length)) == data[offset : offset + length]


def test_added_content_is_pinned(ipfs):
    cid = ipfs.add_bytes(b"pin me " + os.urandom(16))
    assert cid in ipfs.pins()


def test_add_file_streams_from_disk(ipfs, tmp_path):
    path = tmp_path / "song.bin"
    data = os.urandom(700_000)
    path.write_bytes(data)
    assert ipfs.add_file(path) == local_cid(data)


def test_verify_refuses_bytes_that_do_not_match():
    cid = local_cid(b"the real track")
    verify(cid, b"the real track")
    with pytest.raises(CidMismatchError):
        verify(cid, b"a forged track")


def test_base58_cids_are_normalised_to_base32():
    # The same CIDv1 as js-ipfs prints it (base58btc) and as Kubo prints it (base32).
    assert to_base32("zb2rhj7crUKTQYRGCRATFaQ6YFLTde2YzdqbbhAASkL9uRDXn") == (
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    )


def test_api_address_forms():
    assert api_multiaddr("http://127.0.0.1:5001") == "/ip4/127.0.0.1/tcp/5001/http"
    assert api_multiaddr("/ip4/127.0.0.1/tcp/5001/http") == "/ip4/127.0.0.1/tcp/5001/http"
    assert api_multiaddr("localhost:5001") == "/dns/localhost/tcp/5001/http"
    with pytest.raises(IpfsError):
        api_multiaddr("http://127.0.0.1")


def test_node_down_is_a_clear_error():
    port = free_port()  # nothing listens here
    client = Ipfs(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(IpfsUnavailableError, match="unreachable"):
        client.add_bytes(b"x")
    assert client.ping() is False


def test_node_too_slow_is_a_clear_error_not_a_hang():
    # A real socket that accepts connections and never answers: a hung node.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        client = Ipfs(f"http://127.0.0.1:{server.getsockname()[1]}", timeout=1)
        started = time.monotonic()
        with pytest.raises(IpfsUnavailableError, match="did not answer"):
            client.cat(local_cid(b"x"))
        assert time.monotonic() - started < 10
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        server.close()
