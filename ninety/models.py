"""Ledger tables: the public SQL schema auditors may query directly (README: "Ledger tables").

Written only by the indexer; read by the backend. Conventions:
- every chain-derived row carries block_number, block_hash, tx_hash, log_index, and
  (tx_hash, log_index) is unique;
- hashes and addresses are 0x-prefixed lowercase hex text;
- amounts are exact integers in the token's base unit: NUMERIC(78, 0) on PostgreSQL,
  decimal text on SQLite (which has no lossless 256-bit type). Never floating point.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import Column, Index, Numeric, String, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = "0001"


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


# ------------------------------------------------------------------ events and state


class Split(ChainRef, table=True):
    __tablename__ = "split"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    split_id: str = Field(primary_key=True)
    recipient_count: int


class SplitRecipient(SQLModel, table=True):
    __tablename__ = "split_recipient"
    split_id: str = Field(primary_key=True, foreign_key="split.split_id")
    position: int = Field(primary_key=True)
    recipient: str = Field(index=True)
    share_ppm: int


class Track(ChainRef, table=True):
    """A registered track: its registration log, its current listing (after updates) and
    its metadata once fetched from IPFS."""

    __tablename__ = "track"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    track_id: int = Field(primary_key=True)
    artist: str = Field(index=True)
    split_id: str = Field(index=True)
    token: str
    price: int = u256_field()
    listed: bool = True
    metadata_cid: str
    registered_price: int = u256_field()
    registered_split_id: str
    block_time: int
    # Metadata (from IPFS, verified against metadata_cid); null until fetched.
    title: Optional[str] = None
    artist_name: Optional[str] = None
    genre: Optional[str] = None
    duration: Optional[float] = None
    artwork_cid: Optional[str] = None
    preview_cid: Optional[str] = None
    audio_cid: Optional[str] = None
    metadata_json: Optional[str] = None
    metadata_status: str = "pending"  # pending | ok | invalid
    metadata_error: Optional[str] = None
    metadata_attempts: int = 0
    metadata_next_attempt: float = 0.0
    # The wallet the metadata names as uploader (properties.uploaded_by).
    uploaded_by: Optional[str] = None
    # Genuine: the metadata was fetched, checks out against its CID, names the registrant
    # as its uploader and has the audio, preview and artwork. A copy listed from another
    # wallet never is (README: "Attested listings").
    genuine: bool = Field(default=False, index=True)
    # Taken down by the owner (TrackBlocked); the chain's `listed` flag is kept as it is.
    blocked: bool = False
    block_reason_cid: Optional[str] = None
    # The price as 78 zero-padded digits, so that it sorts numerically as text on
    # SQLite too; and sales of the track, both for keyset-ordered catalog pages.
    price_sort: str = Field(default="", index=True)
    sales: int = Field(default=0, index=True)


class TrackUpdate(ChainRef, table=True):
    """The artist changed a track's price or listing (TrackUpdated); split changes are
    `track_split_change` rows."""

    __tablename__ = "track_update"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    track_id: int = Field(index=True)
    price: int = u256_field()
    listed: bool


class TrackSplitChange(ChainRef, table=True):
    """A track's future sales moved from split `previous_split_id` to `split_id`
    (TrackSplitChanged): at once when no payee lost share, else on the last consent."""

    __tablename__ = "track_split_change"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),
                      Index("ix_track_split_change_track_block", "track_id", "block_number", "log_index"))
    id: Optional[int] = Field(default=None, primary_key=True)
    track_id: int
    previous_split_id: str
    split_id: str
    block_time: int


class SplitProposal(ChainRef, table=True):
    """The artist proposed moving a track to split `split_id` (SplitChangeProposed);
    `must_consent` (a JSON array of addresses, in the event's order) are the payees who
    would lose share. `status`: pending, applied (the change landed), superseded
    (another change of the track landed first, which voids every other proposal) or
    cancelled (the artist withdrew the track's pending proposals)."""

    __tablename__ = "split_proposal"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),
                      Index("ix_split_proposal_track_block", "track_id", "block_number", "log_index"))
    id: Optional[int] = Field(default=None, primary_key=True)
    track_id: int
    split_id: str
    must_consent: str
    status: str = Field(index=True)
    block_time: int


class SplitProposalCancellation(ChainRef, table=True):
    """The artist withdrew every pending split-change proposal of track `track_id`
    (SplitProposalsCancelled): they become `cancelled`."""

    __tablename__ = "split_proposal_cancellation"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    track_id: int = Field(index=True)
    block_time: int


class SplitConsent(ChainRef, table=True):
    """`payee` consented to moving track `track_id` to split `split_id`
    (SplitChangeAccepted); `missing` consents were still needed after it."""

    __tablename__ = "split_consent"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),
                      Index("ix_split_consent_track_split", "track_id", "split_id", "block_number", "log_index"))
    id: Optional[int] = Field(default=None, primary_key=True)
    track_id: int
    split_id: str
    payee: str = Field(index=True)
    missing: int
    block_time: int


class TrackBlock(ChainRef, table=True):
    """The owner blocked (a takedown) or unblocked a track; the reason is public on IPFS."""

    __tablename__ = "track_block"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    track_id: int = Field(index=True)
    blocked: bool
    reason_cid: str
    block_time: int


class CatalogSignerChange(ChainRef, table=True):
    """Listings need attestations by `new_signer` from here on (none: the zero address)."""

    __tablename__ = "catalog_signer_change"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    previous_signer: str
    new_signer: str


class Sale(ChainRef, table=True):
    __tablename__ = "sale"
    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index"),
        Index("ix_sale_track_block", "track_id", "block_number", "log_index"),
        Index("ix_sale_buyer_block", "buyer", "block_number", "log_index"),
        Index("ix_sale_block_log", "block_number", "log_index"),
        Index("ix_sale_artist_block", "artist", "block_number", "log_index"),
        Index("ix_sale_split_block", "split_id", "block_number", "log_index"),
        Index("ix_sale_token_block", "token", "block_number", "log_index"),
        Index("ix_sale_time", "block_time", "block_number", "log_index"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    track_id: int
    buyer: str
    token: str = Field(index=True)
    amount: int = u256_field()
    platform_fee: int = u256_field()
    split_id: str = Field(index=True)
    artist: str = Field(index=True)
    fee_recipient: str
    block_time: int = Field(index=True)


class Distribution(ChainRef, table=True):
    __tablename__ = "distribution"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    split_id: str = Field(index=True)
    token: str
    amount: int = u256_field()
    block_time: int


class Withdrawal(ChainRef, table=True):
    __tablename__ = "withdrawal"
    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index"),
        Index("ix_withdrawal_block_log", "block_number", "log_index"),
        Index("ix_withdrawal_account_block", "account", "block_number", "log_index"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    account: str = Field(index=True)
    token: str = Field(index=True)
    amount: int = u256_field()
    # Where the funds went: `account` itself, or another address (withdrawTo).
    paid_to: str
    block_time: int = Field(index=True)


class FeeChange(ChainRef, table=True):
    __tablename__ = "fee_change"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    previous_bps: int
    new_bps: int


class FeeRecipientChange(ChainRef, table=True):
    __tablename__ = "fee_recipient_change"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    previous_recipient: str
    new_recipient: str


class TokenAllowance(ChainRef, table=True):
    __tablename__ = "token_allowance"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    token: str = Field(index=True)
    allowed: bool


class SalesPause(ChainRef, table=True):
    __tablename__ = "sales_pause"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    paused: bool


class PoolDeposit(ChainRef, table=True):
    """A sponsor put `amount` into epoch `epoch`'s pool."""

    __tablename__ = "pool_deposit"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    epoch: int = Field(index=True)
    sponsor: str = Field(index=True)
    token: str
    amount: int = u256_field()
    block_time: int


class PoolWithdrawal(ChainRef, table=True):
    """A sponsor took `amount` back: before the epoch ended, or (a rescue) once it was
    still unpublished `RESCUE_EPOCHS` epochs after its end."""

    __tablename__ = "pool_withdrawal"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    epoch: int = Field(index=True)
    sponsor: str = Field(index=True)
    token: str
    amount: int = u256_field()
    block_time: int


class PoolSettlement(ChainRef, table=True):
    """An epoch was published, settling one token: of `pool`, `allocated` became claimable,
    `platform_fee` was credited to `fee_recipient`, `carried_over` went to the pool of
    `carried_to_epoch` (the epoch current when it was published)."""

    __tablename__ = "pool_settlement"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    epoch: int = Field(index=True)
    token: str
    pool: int = u256_field()
    allocated: int = u256_field()
    platform_fee: int = u256_field()
    carried_over: int = u256_field()
    carried_to_epoch: int
    fee_recipient: str
    block_time: int


class Epoch(ChainRef, table=True):
    """A published epoch: the Merkle root of its allocations, the Merkle root of its
    counted free downloads (wallet, track) and its report's CID."""

    __tablename__ = "epoch"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    epoch: int = Field(index=True, unique=True)
    root: str
    listens_root: str
    report_cid: str
    block_time: int


class PoolRules(ChainRef, table=True):
    """The owner committed pool rules: epochs from `from_epoch` on (until a later row's
    `from_epoch`) are allocated by the JSON at IPFS `rules_cid`, whose canonical form
    hashes (keccak256) to `rules_hash`. A later row with the same `from_epoch` replaces
    an earlier one (only possible before that epoch began)."""

    __tablename__ = "pool_rules"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    from_epoch: int = Field(index=True)
    rules_hash: str
    rules_cid: str
    block_time: int


class PoolClaim(ChainRef, table=True):
    """An allocation of epoch `epoch` claimed into split `split_id`'s balance."""

    __tablename__ = "pool_claim"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    epoch: int = Field(index=True)
    split_id: str = Field(index=True)
    token: str
    amount: int = u256_field()
    block_time: int


# ------------------------------------------------------------------ aggregates
# Maintained by the indexer in the same transaction as the rows they sum, undone with
# them on a reorg. `ninety verify` recomputes them from the chain alone.


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


# ------------------------------------------------------------------ the indexer's own


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


LEDGER_TABLES = [
    "split", "split_recipient", "track", "track_update", "track_split_change", "split_proposal", "split_consent",
    "split_proposal_cancellation", "track_block", "catalog_signer_change", "sale", "distribution", "withdrawal",
    "fee_change", "fee_recipient_change", "token_allowance", "sales_pause",
    "pool_deposit", "pool_withdrawal", "pool_settlement", "epoch", "pool_rules", "pool_claim", "pool_total",
    "account_balance", "split_balance", "track_stats", "artist_stats", "artist_buyer", "track_day", "track_split",
    "indexed_block", "checkpoint",
]
