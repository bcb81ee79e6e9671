"""Backend fixtures: the real app (in-process ASGI client) over a real ledger built by
the real indexer from real Anvil activity, with the real IPFS node."""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activity import pinned_world  # noqa: E402
from media import png_bytes, wav_bytes  # noqa: E402,F401 (the suites import them from here)
from backend.app import build_services, create_app  # noqa: E402
from indexer.metadata import fetch_pending  # noqa: E402
from indexer.runner import Indexer  # noqa: E402
from indexer.store import Ledger  # noqa: E402
from ninety.chain import Rpc  # noqa: E402
from ninety.cli import dev_account  # noqa: E402
from ninety.config import DEV_MNEMONIC, load_settings  # noqa: E402

PUBLIC_URL = "http://127.0.0.1:8000"


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
        if world.catalog is None:  # listings need this server's attestations, as in production
            world.require_attestations(self.services.catalog)
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
    world = pinned_world(anvil.url, ipfs_node.url)
    s = Stack(anvil.url, ipfs_node.url, tmp_path, world)
    yield s
    s.services.engine.dispose()
