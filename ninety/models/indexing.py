"""The indexer's own tables: recent blocks (for reorg detection) and the checkpoint."""
from __future__ import annotations

from sqlmodel import Field, SQLModel


class IndexedBlock(SQLModel, table=True):
    """Recent blocks (within the reorg window) the ledger was built from."""

    __tablename__ = "indexed_block"
    number: int = Field(primary_key=True)
    hash: str
    parent_hash: str
    timestamp: int


class Checkpoint(SQLModel, table=True):
    """How far the ledger goes: every log of `contract` up to `block_number` (inclusive)
    is in the tables. Moves in the same transaction as the rows it covers."""

    __tablename__ = "checkpoint"
    contract: str = Field(primary_key=True)
    chain_id: int
    start_block: int
    block_number: int
    block_hash: str
    reorgs: int = 0
    updated_at: float = 0.0
