"""Track encryption: AES-256-GCM over fixed-size chunks, each decryptable on its own, so
a byte range of the original needs only the chunks that cover it.

Layout of the encrypted file: chunk i is `ciphertext_i || tag_i` (chunk_size + 16 bytes,
the last one shorter), encrypted with nonce = nonce_prefix (8 bytes) || i (4 bytes,
big-endian) and associated data = i || is_last, so chunks cannot be reordered, dropped
at the end, or swapped between tracks (each track has its own key)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import IO, Callable, Iterator

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ninety.errors import NinetyError

CHUNK_SIZE = 64 * 1024
TAG = 16


class DecryptionError(NinetyError, ValueError):
    """A chunk failed authentication: the stored bytes are not what was encrypted."""


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


def _aad(index: int, last: bool) -> bytes:
    return index.to_bytes(4, "big") + (b"\1" if last else b"\0")


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encrypt_file(src: IO[bytes], dst: IO[bytes], size: int, key: bytes, chunk_size: int = CHUNK_SIZE) -> bytes:
    """Encrypt `size` bytes from `src` into `dst`; returns the nonce prefix."""
    prefix = secrets.token_bytes(8)
    aes = AESGCM(key)
    chunks = max(1, -(-size // chunk_size))
    for i in range(chunks):
        plain = src.read(chunk_size)
        dst.write(aes.encrypt(_nonce(prefix, i), plain, _aad(i, i == chunks - 1)))
    return prefix


def encrypted_size(size: int, chunk_size: int = CHUNK_SIZE) -> int:
    return size + max(1, -(-size // chunk_size)) * TAG


def decrypt_range(
    read_cipher: Callable[[int, int], bytes],
    key: bytes,
    prefix: bytes,
    size: int,
    start: int,
    end: int,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[bytes]:
    """Plaintext bytes [start, end] (inclusive) of a file of `size` bytes, reading only the
    chunks that cover them through `read_cipher(offset, length)`."""
    aes = AESGCM(key)
    chunks = max(1, -(-size // chunk_size))
    first, last = start // chunk_size, end // chunk_size
    step = chunk_size + TAG
    for i in range(first, last + 1):
        plain_len = min(chunk_size, size - i * chunk_size)
        cipher = read_cipher(i * step, plain_len + TAG)
        try:
            plain = aes.decrypt(_nonce(prefix, i), cipher, _aad(i, i == chunks - 1))
        except Exception as e:
            raise DecryptionError(f"chunk {i} failed authentication") from e
        lo = start - i * chunk_size if i == first else 0
        hi = end - i * chunk_size + 1 if i == last else len(plain)
        yield plain[lo:hi]


class MasterKey:
    """Wraps per-track keys. From NINETY_MASTER_KEY (64 hex digits) or, for a local setup,
    `<data dir>/master.key`, created on first use with owner-only permissions."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._aes = AESGCM(key)

    @classmethod
    def load(cls, env_value: str | None, data_dir: Path) -> "MasterKey":
        if env_value:
            try:
                return cls(bytes.fromhex(env_value.removeprefix("0x")))
            except ValueError as e:
                raise NinetyError(f"NINETY_MASTER_KEY must be 64 hex digits: {e}") from e
        path = data_dir / "master.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return cls(bytes.fromhex(path.read_text().strip()))

    def wrap(self, key: bytes) -> str:
        nonce = secrets.token_bytes(12)
        return (nonce + self._aes.encrypt(nonce, key, b"ninety-track-key")).hex()

    def unwrap(self, wrapped: str) -> bytes:
        raw = bytes.fromhex(wrapped)
        return self._aes.decrypt(raw[:12], raw[12:], b"ninety-track-key")
