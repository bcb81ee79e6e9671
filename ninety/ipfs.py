"""The one way Ninety talks to IPFS: the Kubo RPC API through ipfshttpclient.

Works against the embedded js-ipfs node and any Kubo endpoint (`NINETY_IPFS_API`).
- Adds use CIDv1 with raw leaves, so the CID equals `ipfs add --cid-version=1` on Kubo,
  and every add is re-hashed locally with aleph-cid: a node that stores something else
  than we sent is an error, not a silent corruption.
- CIDs are returned in base32 (`bafk…`, `bafy…`), as Kubo prints them; js-ipfs answers
  in base58btc, which is normalised here.
- Whole-file reads are verified against the CID as they stream.
"""
from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import IO, Any, Iterator
from urllib.parse import urlparse

import aleph_cid

from ninety.errors import CidMismatchError, IpfsError, IpfsUnavailableError

log = logging.getLogger(__name__)

# ipfshttpclient 0.7 passes urllib3 an argument urllib3 2 deprecates; harmless.
warnings.filterwarnings("ignore", message="The 'strict' parameter", category=FutureWarning)

CHUNK = 256 * 1024
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def _b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        n = n * 58 + _B58.index(ch)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + raw


def _b32encode(data: bytes) -> str:
    bits = "".join(f"{b:08b}" for b in data)
    bits += "0" * (-len(bits) % 5)
    return "".join(_B32[int(bits[i : i + 5], 2)] for i in range(0, len(bits), 5))


def to_base32(cid: str) -> str:
    """Normalise a CIDv1 string to multibase base32 (`b…`); CIDv0 (`Qm…`) is kept."""
    if cid.startswith("b") or cid.startswith("Qm"):
        return cid
    if cid.startswith("z"):
        return "b" + _b32encode(_b58decode(cid[1:]))
    raise IpfsError(f"unsupported CID encoding: {cid!r}")


def local_cid(data: bytes) -> str:
    """The CID Kubo gives `data` with `--cid-version=1` (raw leaves, base32)."""
    hasher = aleph_cid.CidHasher.for_ipfs_v1_raw_leaves()
    hasher.update(data)
    return str(hasher.finalize())


def api_multiaddr(api: str) -> str:
    """Accept `http://host:port` or a multiaddr like `/ip4/127.0.0.1/tcp/5001/http`."""
    if api.startswith("/"):
        return api
    url = urlparse(api if "://" in api else f"http://{api}")
    if not url.hostname or not url.port:
        raise IpfsError(f"IPFS API address needs a host and a port: {api!r}")
    proto = "ip6" if ":" in url.hostname else ("ip4" if url.hostname[0].isdigit() else "dns")
    return f"/{proto}/{url.hostname}/tcp/{url.port}/{url.scheme or 'http'}"


class Ipfs:
    """A small, verified facade over the Kubo RPC API."""

    def __init__(self, api: str, *, timeout: float = 30.0) -> None:
        self.api = api
        self.timeout = timeout
        # Imported here: it takes ~60 ms, which every `ninety index` without an IPFS node
        # (and every command that never talks to one) paid at start.
        import ipfshttpclient
        import ipfshttpclient.exceptions

        self._errors = ipfshttpclient.exceptions
        # ipfshttpclient.connect() refuses every daemon >= 0.8; construct directly.
        self._client = ipfshttpclient.Client(api_multiaddr(api), timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Ipfs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors.TimeoutError as e:
            raise IpfsUnavailableError(f"IPFS node at {self.api} did not answer {what} within {self.timeout:g} s") from e
        except self._errors.ConnectionError as e:
            raise IpfsUnavailableError(f"IPFS node at {self.api} is unreachable ({what})") from e
        except self._errors.Error as e:
            raise IpfsError(f"IPFS {what} failed: {e}") from e

    def ping(self) -> bool:
        try:
            self._call("id", self._client.id)
            return True
        except IpfsError:
            return False

    def add_bytes(self, data: bytes, *, pin: bool = True) -> str:
        return self.add_stream(io.BytesIO(data), pin=pin)

    def add_file(self, path: Path, *, pin: bool = True) -> str:
        with open(path, "rb") as f:
            return self.add_stream(f, pin=pin)

    def add_stream(self, stream: IO[bytes], *, pin: bool = True) -> str:
        """Add a seekable stream, then check the node's CID against our own hash of it."""
        start = stream.tell()
        hasher = aleph_cid.CidHasher.for_ipfs_v1_raw_leaves()
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
        expected = str(hasher.finalize())
        stream.seek(start)
        result = self._call("add", self._client.add, stream, cid_version=1, raw_leaves=True, pin=pin)
        got = to_base32(str(result["Hash"]))
        if got != expected:
            raise CidMismatchError(f"IPFS node stored the data as {got}, but it hashes to {expected}")
        return got

    def cat(self, cid: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes of `cid` (a byte range if asked). Whole reads are verified."""
        data: bytes = self._call("cat", self._client.cat, cid, offset=offset, length=length)
        if offset == 0 and length is None:
            verify(cid, data)
        return data

    def stream(self, cid: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream `cid`; a whole-file stream raises CidMismatchError at its end if the
        bytes do not hash to `cid` (a consumer must not commit to them before then)."""
        chunks = self._call("cat", self._client.cat, cid, offset=offset, length=length, stream=True)
        hasher = aleph_cid.CidHasher.for_expected(cid) if offset == 0 and length is None else None
        try:
            for chunk in chunks:
                if hasher is not None:
                    hasher.update(chunk)
                yield chunk
        except self._errors.Error as e:
            raise IpfsUnavailableError(f"IPFS node at {self.api} failed while streaming {cid}: {e}") from e
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        if hasher is not None:
            got = str(hasher.finalize())
            if to_base32(got) != to_base32(cid):
                raise CidMismatchError(f"bytes served for {cid} hash to {got}")

    def pins(self) -> set[str]:
        result = self._call("pin ls", self._client.pin.ls, type="recursive")
        return {to_base32(c) for c in result["Keys"]}

    def pin(self, cid: str) -> None:
        self._call("pin add", self._client.pin.add, cid)

    def unpin(self, cid: str) -> bool:
        """Drop our pin of `cid` (the node may then garbage-collect it); False if it was
        not pinned."""
        try:
            self._call("pin rm", self._client.pin.rm, cid)
        except IpfsUnavailableError:
            raise
        except IpfsError as e:
            if "not pinned" in str(e):
                return False
            raise
        return True

    def size(self, cid: str) -> int:
        """The byte size of the file `cid`, from its root block (nothing else is read)."""
        stat = self._call("files stat", self._client.files.stat, f"/ipfs/{cid}")
        return int(stat["Size"])


def verify(cid: str, data: bytes) -> None:
    """Raise CidMismatchError unless `data` hashes to `cid` (any supported flavour)."""
    hasher = aleph_cid.CidHasher.for_expected(cid)
    hasher.update(data)
    got = str(hasher.finalize())
    if to_base32(got) != to_base32(cid):
        raise CidMismatchError(f"data does not match {cid} (it hashes to {got})")
