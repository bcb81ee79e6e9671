"""Alembic environment: migrations for the ledger, on SQLite and PostgreSQL alike.

`ninety migrate` (and the indexer on an empty database) runs these with the engine from
NINETY_DB_URL; plain `alembic` works too, with `-x url=...`."""
from alembic import context
from sqlalchemy import create_engine

import backend.models  # noqa: F401  (the backend's own tables)
import backend.ratelimit  # noqa: F401  (rate-limit counters)
import ninety.models  # noqa: F401  (the ledger)
from sqlmodel import SQLModel

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from ninety.db import normalise_url

        engine = create_engine(normalise_url(context.get_x_argument(as_dictionary=True)["url"]))
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        context.run_migrations()


run()
