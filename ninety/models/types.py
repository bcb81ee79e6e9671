"""Column types shared by the ledger tables: lossless uint256 amounts and the chain
reference every event row carries."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import Column, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class U256(TypeDecorator[int]):
    """An unsigned 256-bit integer stored losslessly on every database."""

    impl = Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(78))
        return dialect.type_descriptor(Numeric(78, 0))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = int(value)
        return str(value) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Optional[int]:
        return None if value is None else int(value)


def u256_field(**kwargs: Any) -> Any:
    return Field(sa_column=Column(U256(), nullable=False, **kwargs))


class ChainRef(SQLModel):
    """Where a row came from: anyone can fetch this log from any RPC and compare."""

    block_number: int = Field(index=True)
    block_hash: str
    tx_hash: str
    log_index: int
