"""Migrations that add aggregates backfill them from the rows already in the ledger."""
from __future__ import annotations

from alembic import command

from activity import random_activity
from conftest import make_indexer
from indexer.verify import verify
from ninety.chain import Rpc
from ninety.db import _alembic_config, current_revision, head_revision


def test_upgrading_an_existing_ledger_backfills_the_new_aggregates(anvil, world, engine):
    # No pool activity: downgrading below 0005 drops the pool tables with their rows
    # (there is nothing to backfill them from), so this is about 0003 and 0004.
    random_activity(world, 50, seed=12, pools=False)
    make_indexer(anvil.url, engine, world).run(once=True)
    cfg = _alembic_config(engine)
    command.downgrade(cfg, "0002")  # before artist_buyer, track_day and track_split existed
    assert current_revision(engine) == "0002"
    command.upgrade(cfg, "head")
    assert current_revision(engine) == head_revision()
    _, diffs = verify(Rpc(anvil.url), engine, world.market.address, world.deploy_block)
    assert diffs == []
