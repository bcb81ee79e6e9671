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


def test_the_migrations_build_exactly_the_schema_the_models_declare(engine):
    """No drift: a table, column or index added to a model without a migration (or the
    reverse) fails here, on SQLite and PostgreSQL."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import backend.models  # noqa: F401
    import backend.ratelimit  # noqa: F401
    from ninety.db import ensure_schema

    ensure_schema(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # Server defaults exist only to backfill added columns; the models set their own.
    assert [d for d in diff if "server_default" not in str(d)] == []
