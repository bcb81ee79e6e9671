"""Indexer fixtures: a fresh Marketplace per test on the session's Anvil, and a fresh
ledger database per test, on SQLite and (when NINETY_TEST_PG_URL is set) PostgreSQL."""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlmodel import SQLModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activity import new_world  # noqa: E402
from indexer.runner import Indexer  # noqa: E402
from indexer.store import Ledger  # noqa: E402
from ninety.chain import Rpc  # noqa: E402
from ninety.db import ensure_schema, make_engine  # noqa: E402

PG_URL = os.environ.get("NINETY_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need NINETY_TEST_PG_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def engine(db_url):
    e = make_engine(db_url)
    ensure_schema(e)
    yield e
    e.dispose()


@pytest.fixture
def world(anvil):
    return new_world(anvil.url)


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
