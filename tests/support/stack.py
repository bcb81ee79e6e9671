"""The backend in-process (ASGI test client) over a real ledger built by the real indexer
from real Anvil activity, with the real IPFS node; and what a wallet does with it."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from fastapi.testclient import TestClient

from backend.app import build_services, create_app
from indexer.metadata import fetch_pending
from indexer.runner import Indexer
from indexer.store import Ledger
from ninety.chain import Rpc
from ninety.config import load_settings
from tests.support.activity import pinned_world
from tests.support.media import png_bytes
from tests.support.postgres import fresh_schema
from tests.support.siwe import PUBLIC_URL, sign_in


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
        """(message, signature) for dev account `index`, with a fresh nonce (fetched even when
        `overrides` replaces it, as a client would)."""
        fields = {"nonce": self.client.get("/api/auth/nonce").json()["nonce"], **overrides}
        return sign_in(index, **fields)

    def login(self, index: int) -> dict[str, str]:
        message, signature = self.siwe(index)
        r = self.client.post("/api/auth/login", json={"message": message, "signature": signature})
        assert r.status_code == 200, r.text
        self.client.cookies.clear()  # each caller passes its own bearer token
        return {"Authorization": f"Bearer {r.json()['token']}"}


class LedgerStack(Stack):
    """`Stack` over any database URL (Stack itself is SQLite only)."""

    def __init__(self, anvil_url: str, ipfs_url: str, tmp, world, db_url: str) -> None:
        self.settings = load_settings({"NINETY_DATA_DIR": str(tmp), "NINETY_RPC_URL": anvil_url,
                                       "NINETY_IPFS_API": ipfs_url, "NINETY_DB_URL": db_url,
                                       "NINETY_CONTRACT_ADDRESS": world.market.address,
                                       "NINETY_START_BLOCK": str(world.deploy_block)})
        self.services = build_services(self.settings, public_url=PUBLIC_URL)
        self.client = TestClient(create_app(self.services), raise_server_exceptions=False)
        self.world = world
        world.require_attestations(self.services.catalog)
        self.indexer = Indexer(Rpc(anvil_url), Ledger(self.services.engine, world.market.address),
                               start_block=world.deploy_block, chain_id=31337)


# The databases a ledger test runs on: `@pytest.fixture(params=DATABASES)`, then
# `with ledger_stack(request.param, anvil, ipfs_node, tmp_path) as stack`.
DATABASES = ["sqlite", "postgresql"]


@contextmanager
def ledger_stack(database: str, anvil, ipfs_node, tmp: Path) -> Iterator[LedgerStack]:
    """A `LedgerStack` over a new world, on its own SQLite file or a fresh PostgreSQL
    schema (skipped without NINETY_TEST_PG_URL)."""
    world = pinned_world(anvil.url, ipfs_node.url)
    if database == "sqlite":
        stack = LedgerStack(anvil.url, ipfs_node.url, tmp, world, f"sqlite:///{tmp / 'ledger.sqlite3'}")
        try:
            yield stack
        finally:
            stack.services.engine.dispose()
        return
    with fresh_schema() as url:
        stack = LedgerStack(anvil.url, ipfs_node.url, tmp, world, url)
        try:
            yield stack
        finally:
            stack.services.engine.dispose()


def upload(stack: Stack, headers, audio: bytes, name: str = "night-drive.wav", content_type: str = "audio/wav",
           **fields):
    data = {"title": "Night Drive", "artist_name": "The Testers", "genre": "synthwave",
            "description": "test", "license": "CC BY 4.0", "price": str(10**15), **fields}
    files = {"audio": (name, audio, content_type), "artwork": ("cover.png", png_bytes(), "image/png")}
    return stack.client.post("/api/uploads", data=data, files=files, headers=headers)


def send(stack: Stack, call: dict, sender: str) -> None:
    """Send a transaction the API prepared (`{"to", "data"}`) from `sender`, and wait for it."""
    w3 = stack.world.w3
    tx = w3.eth.send_transaction({"from": sender, "to": call["to"], "data": call["data"]})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
