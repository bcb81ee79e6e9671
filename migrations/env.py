"""Alembic environment: migrations for the ledger, on SQLite and PostgreSQL alike.

`ninety migrate` (and the indexer on an empty database) runs these with the engine from
NINETY_DB_URL; plain `alembic` works too, with `-x url=...`."""
from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import ninety.models  # noqa: F401  (the ledger)
from ninety.db import normalise_url

config = context.config
target_metadata = SQLModel.metadata
if config.attributes.get("engine") is None:
    # Plain `alembic` (e.g. `revision --autogenerate`, which compares every table): the
    # backend's own tables too. Ninety's own runs (ninety.db.migrate, from the indexer or
    # `ninety migrate`) only apply the scripts, which need no metadata: so the core's schema
    # check never loads the backend.
    import backend.models  # noqa: F401  (sessions, uploads, keys, ...)
    import backend.ratelimit  # noqa: F401  (rate-limit counters)


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        engine = create_engine(normalise_url(context.get_x_argument(as_dictionary=True)["url"]))
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        context.run_migrations()


run()
