"""One table per Marketplace event kind (the registry, ninety.ledger.registry, maps events to
them), plus `split_recipient` and `release_track`, and on `track` the state later events set."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from ninety.models.types import ChainRef, u256_field


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
    """A listing: a track (TrackRegistered) or a release of tracks (ReleaseRegistered), which
    share the contract's id space, its updates, splits, takedowns and sales. Its
    registration log, its current listing (after updates) and its metadata once fetched
    from IPFS."""

    __tablename__ = "track"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    track_id: int = Field(primary_key=True)
    # 'track' or 'release' (whose member tracks are its `release_track` rows).
    kind: str = Field(default="track", index=True)
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
    # as its uploader and has the audio, preview and artwork (a release: the artwork, and
    # the chain's members as its track list). A copy listed from another wallet never is
    # (README: "Attested listings").
    genuine: bool = Field(default=False, index=True)
    # Taken down by the owner (TrackBlocked); the chain's `listed` flag is kept as it is.
    blocked: bool = False
    block_reason_cid: Optional[str] = None
    # The price as 78 zero-padded digits, so that it sorts numerically as text on
    # SQLite too; and sales of the track, both for keyset-ordered catalog pages.
    price_sort: str = Field(default="", index=True)
    sales: int = Field(default=0, index=True)


class ReleaseTrack(SQLModel, table=True):
    """Track `track_id` is the `position`-th (from 0) of release `release_id`, as its
    ReleaseRegistered log lists them; the rows go with the release (also on a reorg)."""

    __tablename__ = "release_track"
    release_id: int = Field(primary_key=True, foreign_key="track.track_id")
    position: int = Field(primary_key=True)
    track_id: int = Field(index=True)


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
    # No single-column index on block_number, token, split_id, artist or block_time: each
    # leads one of the composite indexes above, which answers the same lookups. Every index
    # is one more B-tree insert per sale, the bulk of a backfill's cost (migration 0016).
    block_number: int
    track_id: int
    buyer: str
    token: str
    amount: int = u256_field()
    platform_fee: int = u256_field()
    split_id: str
    artist: str
    fee_recipient: str
    block_time: int


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
