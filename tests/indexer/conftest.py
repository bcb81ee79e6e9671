"""Indexer fixtures: a fresh Marketplace per test on the session's Anvil, and a fresh
ledger database per test, on SQLite and (when NINETY_TEST_PG_URL is set) PostgreSQL."""
from __future__ import annotations

import pytest

from ninety.db import ensure_schema, make_engine
from tests.support.activity import new_world
from tests.support.postgres import fresh_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    with fresh_schema() as url:
        yield url


@pytest.fixture
def engine(db_url):
    e = make_engine(db_url)
    ensure_schema(e)
    yield e
    e.dispose()


@pytest.fixture
def world(anvil):
    return new_world(anvil.url)
