"""An indexer over a test world, and a dump of the ledger to compare two databases by."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from indexer.runner import Indexer
from indexer.store import Ledger
from ninety.chain import Rpc
from ninety.db import ensure_schema, make_engine


@contextmanager
def ledger_engine(url: str) -> Iterator[Engine]:
    """An engine on `url` with the ledger schema, disposed afterwards."""
    e = make_engine(url)
    ensure_schema(e)
    try:
        yield e
    finally:
        e.dispose()


def make_indexer(url: str, engine, world, **kwargs: Any) -> Indexer:
    return Indexer(Rpc(url, timeout=kwargs.pop("timeout", 15)), Ledger(engine, world.market.address),
                   start_block=world.deploy_block, chain_id=31337, **kwargs)


def dump(engine) -> dict[str, list[tuple]]:
    """Every ledger row, in a stable order: two databases built from the same chain must
    dump identically."""
    out = {}
    for name, table in SQLModel.metadata.tables.items():
        cols = [c for c in table.columns if c.name not in ("updated_at", "id")]
        with engine.connect() as conn:
            rows = conn.execute(select(*cols)).all()
        out[name] = sorted((tuple(str(v) for v in r) for r in rows))
    return out


def mine_sales(world, track_id: int, price: int, count: int, per_block: int, amount: int | None = None) -> list[str]:
    """`count` ETH sales of `track_id` (paying `amount`, else `price`), `per_block` to a
    block, sent by dev account 4 with automine off; their tx hashes, in order."""
    w3 = world.w3
    data = world.market.contract.encode_abi("buy", [track_id, amount or price])
    buyer = world.accounts[4]
    nonce = w3.eth.get_transaction_count(buyer, "pending")
    w3.provider.make_request("evm_setAutomine", [False])
    hashes = []
    try:
        for i in range(count):
            tx = {"from": buyer, "to": world.market.address, "data": data, "value": hex(amount or price),
                  "gas": hex(200_000), "nonce": hex(nonce + i)}
            hashes.append(w3.provider.make_request("eth_sendTransaction", [tx])["result"].lower())
            if (i + 1) % per_block == 0 or i + 1 == count:
                w3.provider.make_request("evm_mine", [])
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    return hashes
