"""Ledger tables: the public SQL schema auditors may query directly (README: "Ledger tables").

Written only by the indexer; read by the backend. Conventions:
- every chain-derived row carries block_number, block_hash, tx_hash, log_index, and
  (tx_hash, log_index) is unique;
- hashes and addresses are 0x-prefixed lowercase hex text;
- amounts are exact integers in the token's base unit: NUMERIC(78, 0) on PostgreSQL,
  decimal text on SQLite (which has no lossless 256-bit type). Never floating point.

`chain`: one table per event kind (ninety.ledger.registry says which event goes where) and
the state they set; `totals`: the aggregates the indexer keeps with them; `indexing`: the
indexer's recent blocks and checkpoint. Importing this package registers them all on
SQLModel.metadata (the backend's own tables are backend.models and backend.ratelimit).
"""
from ninety.models import chain, indexing, totals  # noqa: F401  (registers every ledger table)
# The migrations, frozen history, name the column type ninety.models.U256.
from ninety.models.types import U256  # noqa: F401
