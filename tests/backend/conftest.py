"""Backend fixtures: the real app (in-process ASGI client) over a real ledger built by
the real indexer from real Anvil activity, with the real IPFS node."""
from __future__ import annotations

import pytest

from tests.support.activity import pinned_world
from tests.support.stack import Stack


@pytest.fixture
def stack(anvil, ipfs_node, tmp_path):
    world = pinned_world(anvil.url, ipfs_node.url)
    s = Stack(anvil.url, ipfs_node.url, tmp_path, world)
    yield s
    s.services.engine.dispose()
