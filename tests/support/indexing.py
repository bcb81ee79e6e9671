"""An indexer over a test world, and a dump of the ledger to compare two databases by."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import SQLModel

from indexer.runner import Indexer
from indexer.store import Ledger
from ninety.chain import Rpc


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
