"""Backend fixtures: the real app (in-process ASGI client) over a real ledger built by
the real indexer from real Anvil activity, with the real IPFS node."""
from __future__ import annotations

import io
import struct
import sys
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import soundfile
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activity import new_world  # noqa: E402
from backend.app import build_services, create_app  # noqa: E402
from indexer.metadata import fetch_pending  # noqa: E402
from indexer.runner import Indexer  # noqa: E402
from indexer.store import Ledger  # noqa: E402
from ninety.chain import Rpc  # noqa: E402
from ninety.cli import dev_account  # noqa: E402
from ninety.config import DEV_MNEMONIC, load_settings  # noqa: E402

PUBLIC_URL = "http://127.0.0.1:8000"


def wav_bytes(seconds: float, freq: float = 440.0, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    out = io.BytesIO()
    soundfile.write(out, (0.3 * np.sin(2 * np.pi * freq * t)).astype("float32"), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def png_bytes(r: int = 200, g: int = 40, b: int = 90) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + bytes([r, g, b]) * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Stack:
    """The app plus what it stands on, and helpers to act as wallets."""

    def __init__(self, anvil_url: str, ipfs_url: str, tmp: Path, world, max_upload_bytes: int | None = None) -> None:
        env = {"NINETY_DATA_DIR": str(tmp), "NINETY_RPC_URL": anvil_url, "NINETY_IPFS_API": ipfs_url,
               "NINETY_DB_URL": f"sqlite:///{tmp / 'ledger.sqlite3'}",
               "NINETY_CONTRACT_ADDRESS": world.market.address, "NINETY_START_BLOCK": str(world.deploy_block)}
        self.settings = load_settings(env)
        self.services = build_services(self.settings, public_url=PUBLIC_URL, max_upload_bytes=max_upload_bytes)
        self.client = TestClient(create_app(self.services), raise_server_exceptions=False)
        self.world = world
        self.indexer = Indexer(Rpc(anvil_url), Ledger(self.services.engine, world.market.address),
                               start_block=world.deploy_block, chain_id=31337)

    def sync(self) -> None:
        """Index up to the head and fetch pending metadata, as `ninety index` does."""
        self.indexer.run(once=True)
        fetch_pending(self.services.engine, self.services.ipfs, limit=100)

    def siwe(self, index: int, **overrides) -> tuple[str, str]:
        """(message, signature) for dev account `index`, with a fresh nonce."""
        from siwe import SiweMessage

        address, key = dev_account(DEV_MNEMONIC, index)
        nonce = self.client.get("/api/auth/nonce").json()["nonce"]
        now = datetime.now(timezone.utc)
        fields = dict(domain="127.0.0.1:8000", address=address, uri=PUBLIC_URL, version="1", chain_id=31337,
                      nonce=nonce, issued_at=now.isoformat().replace("+00:00", "Z"),
                      expiration_time=(now + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
                      statement="Sign in to Ninety")
        fields.update(overrides)
        message = SiweMessage(**fields).prepare_message()
        signature = Account.sign_message(encode_defunct(text=message), key).signature.hex()
        return message, "0x" + signature.removeprefix("0x")

    def login(self, index: int) -> dict[str, str]:
        message, signature = self.siwe(index)
        r = self.client.post("/api/auth/login", json={"message": message, "signature": signature})
        assert r.status_code == 200, r.text
        self.client.cookies.clear()  # each caller passes its own bearer token
        return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
def stack(anvil, ipfs_node, tmp_path):
    world = new_world(anvil.url)
    s = Stack(anvil.url, ipfs_node.url, tmp_path, world)
    yield s
    s.services.engine.dispose()
