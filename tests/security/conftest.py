"""The attack suite's fixtures: the real API (`ninety serve`, uvicorn, in its own process)
over a real chain, a real IPFS node and a real ledger."""
from __future__ import annotations

from typing import Callable, Iterator

import pytest

from ninety.attest import CatalogSigner
from tests.support.activity import pinned_world
from tests.support.live_api import LiveApi
from tests.support.postgres import fresh_schema


@pytest.fixture
def world(anvil, ipfs_node):
    return pinned_world(anvil.url, ipfs_node.url)


@pytest.fixture
def live_api(anvil, ipfs_node, world, tmp_path) -> Iterator[Callable[..., LiveApi]]:
    """Start `ninety serve` with extra NINETY_* settings: `live_api(NINETY_X="1")`."""
    started: list[LiveApi] = []

    def start(workers: int = 1, **env: str) -> LiveApi:
        api = LiveApi(world, anvil.url, ipfs_node.url, tmp_path / f"api{len(started)}", workers, **env).start()
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_env(request) -> Iterator[dict[str, str]]:
    """The server's database: its own SQLite file, or a fresh PostgreSQL schema (where
    concurrent transactions read committed rows, so a read-then-write race is real)."""
    if request.param == "sqlite":
        yield {}
        return
    with fresh_schema() as url:
        yield {"NINETY_DB_URL": url}


@pytest.fixture
def api(live_api, world):
    """The API, with the contract requiring its attestations (as `ninety deploy` sets up)."""
    server = live_api()
    world.require_attestations(CatalogSigner.load(None, server.data_dir))
    return server


@pytest.fixture(scope="module")
def module_api(anvil, ipfs_node, tmp_path_factory):
    """One server as `api` makes it, for every test of a module that asks for it: starting
    one takes seconds. Only for tests that pass whatever the others did before them (the
    module says why they can share)."""
    world = pinned_world(anvil.url, ipfs_node.url)
    server = LiveApi(world, anvil.url, ipfs_node.url, tmp_path_factory.mktemp("module-api")).start()
    try:
        world.require_attestations(CatalogSigner.load(None, server.data_dir))
        yield server
    finally:
        server.stop()
