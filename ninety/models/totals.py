"""The aggregates (ninety.ledger.registry.AGGREGATES): maintained by the indexer in the same
transaction as the rows they sum, undone with them on a reorg. `ninety verify` recomputes
them from the chain alone."""
from __future__ import annotations

from sqlmodel import Field, SQLModel

from ninety.models.types import u256_field


class AccountBalance(SQLModel, table=True):
    """Per account and token: credited (distributions and fees), withdrawn; owed is the
    difference and equals the contract's owed(account, token). (The contract keeps 1 wei
    of sentinel in a slot once credited, so its next credit is cheaper; owed() and
    splitBalance() leave it out, and so does every figure here.)"""

    __tablename__ = "account_balance"
    account: str = Field(primary_key=True)
    token: str = Field(primary_key=True)
    credited: int = u256_field()
    withdrawn: int = u256_field()


class SplitBalance(SQLModel, table=True):
    """Per split and token: received from sales, distributed; the difference equals the
    contract's splitBalance(splitId, token)."""

    __tablename__ = "split_balance"
    split_id: str = Field(primary_key=True)
    token: str = Field(primary_key=True)
    received: int = u256_field()
    distributed: int = u256_field()


class TrackStats(SQLModel, table=True):
    __tablename__ = "track_stats"
    track_id: int = Field(primary_key=True)
    token: str = Field(primary_key=True)
    sales: int = 0
    gross: int = u256_field()
    fees: int = u256_field()


class TrackDay(SQLModel, table=True):
    """Per track, token and UTC day (unix day number): sales and gross."""

    __tablename__ = "track_day"
    track_id: int = Field(primary_key=True)
    token: str = Field(primary_key=True)
    day: int = Field(primary_key=True)
    sales: int = 0
    gross: int = u256_field()


class TrackSplit(SQLModel, table=True):
    """Per track, split and token: the net of sales that went to that split."""

    __tablename__ = "track_split"
    track_id: int = Field(primary_key=True)
    split_id: str = Field(primary_key=True)
    token: str = Field(primary_key=True)
    net: int = u256_field()


class ArtistBuyer(SQLModel, table=True):
    """Per artist, token and buyer: how many sales; the rows counted give distinct buyers."""

    __tablename__ = "artist_buyer"
    artist: str = Field(primary_key=True)
    token: str = Field(primary_key=True)
    buyer: str = Field(primary_key=True)
    sales: int = 0


class ArtistStats(SQLModel, table=True):
    __tablename__ = "artist_stats"
    artist: str = Field(primary_key=True)
    token: str = Field(primary_key=True)
    sales: int = 0
    gross: int = u256_field()
    fees: int = u256_field()


class PoolTotal(SQLModel, table=True):
    """Per epoch and token: funded (deposits, and carry-over from earlier epochs published
    while this one was current), withdrawn by sponsors, settled (the pool when the epoch
    was published), allocated, claimed. The contract holds `funded - withdrawn - settled`
    in the unpublished pool and `allocated - claimed` for claims."""

    __tablename__ = "pool_total"
    epoch: int = Field(primary_key=True)
    token: str = Field(primary_key=True)
    funded: int = u256_field()
    withdrawn: int = u256_field()
    settled: int = u256_field()
    allocated: int = u256_field()
    claimed: int = u256_field()
