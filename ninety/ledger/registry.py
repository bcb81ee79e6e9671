"""The one registry of the ledger: every Marketplace event kind, the table its rows go to,
the columns its log gives (what a proof or `verify` compares), the function completing its
row, and the aggregate tables the rows add up to.

Everything else derives from here: the mapping (dispatch by event name), the store's
inserts and reorg undo (table order), `ninety verify` (columns compared, aggregates
recomputed), the ledger API's table lists and per-row proofs, and the benchmarks' fixtures.
A new event is one `Kind` below, one function in `rows`, one table in `ninety.models`.
Two kinds may share a table (TrackRegistered and ReleaseRegistered: both are listings)
when they give it the same columns.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ninety.ledger import rows
from ninety.ledger.events import Event
from ninety.ledger.rows import must_consent_json

# Where a row came from; part of every event row and of its identity (tx_hash, log_index).
REF = ("block_number", "block_hash", "tx_hash", "log_index")

Build = Callable[[Event, dict[str, Any], rows.Batch], None]


@dataclass(frozen=True)
class Kind:
    """One event kind. `fields`: column -> the event argument it copies, or a function of
    the arguments; these are the columns the log alone determines. `derived`: the other
    columns the row gets, from earlier events or the block (`block_time` when `timed`)."""

    event: str
    table: str
    fields: Mapping[str, str | Callable[[dict[str, Any]], Any]]
    build: Build = rows.log_only
    derived: tuple[str, ...] = ()
    timed: bool = True
    # row(event, event.args): REF and the log's columns (compiled from `fields`).
    row: Callable[[Event, dict[str, Any]], dict[str, Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "row", _row_maker(self.fields))

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the mapping writes besides REF: the log's, then the derived ones."""
        return (*self.fields, *self.derived, *(("block_time",) if self.timed else ()))


def _row_maker(fields: Mapping[str, str | Callable[[dict[str, Any]], Any]]
               ) -> Callable[[Event, dict[str, Any]], dict[str, Any]]:
    """`row(event, args)`: REF and the log's columns, as one dict display compiled from
    `fields`. Mapping runs it for every event (tens of thousands a second in a backfill): a
    loop over `fields` per row made mapping 20,000 sales take 145 ms instead of 85; this is
    as fast as the hand-written dicts it replaces. The names compiled are the registry's own."""
    env: dict[str, Any] = {}
    parts = [f"{c!r}: e.{c}" for c in REF]
    for i, (column, source) in enumerate(fields.items()):
        if isinstance(source, str):
            parts.append(f"{column!r}: a[{source!r}]")
        else:
            env[f"f{i}"] = source
            parts.append(f"{column!r}: f{i}(a)")
    return eval(f"lambda e, a: {{{', '.join(parts)}}}", env)  # noqa: S307


def _kinds(*kinds: Kind) -> dict[str, Kind]:
    return {k.event: k for k in kinds}


def _listing(id_arg: str, kind: str) -> dict[str, str | Callable[[dict[str, Any]], Any]]:
    """A `track` row's log columns: tracks and releases alike (the event says which kind)."""
    return {"track_id": id_arg, "kind": lambda a: kind, "artist": "artist", "token": "token",
            "metadata_cid": "metadataCid", "registered_price": "price", "registered_split_id": "splitId"}


# What later events change on a listing (the registration sets their first values).
_LISTING_STATE = ("split_id", "price", "listed", "price_sort", "blocked", "block_reason_cid")


KINDS: dict[str, Kind] = _kinds(
    Kind("SplitCreated", "split", {"split_id": "splitId", "recipient_count": lambda a: len(a["recipients"])},
         rows.split_created, timed=False),
    Kind("TrackRegistered", "track", _listing("trackId", "track"), rows.track_registered, derived=_LISTING_STATE),
    # A release shares the track table and id space; its members are `release_track` rows.
    Kind("ReleaseRegistered", "track", _listing("releaseId", "release"), rows.release_registered,
         derived=_LISTING_STATE),
    Kind("TrackUpdated", "track_update", {"track_id": "trackId", "price": "price", "listed": "listed"},
         rows.track_updated, timed=False),
    Kind("TrackSplitChanged", "track_split_change", {"track_id": "trackId", "previous_split_id": "previousSplitId",
                                                     "split_id": "splitId"}, rows.track_split_changed),
    Kind("SplitChangeProposed", "split_proposal", {"track_id": "trackId", "split_id": "splitId",
                                                   "must_consent": lambda a: must_consent_json(a["mustConsent"])},
         rows.split_change_proposed, derived=("status",)),
    Kind("SplitChangeAccepted", "split_consent", {"track_id": "trackId", "split_id": "splitId", "payee": "payee",
                                                  "missing": "missing"}),
    Kind("SplitProposalsCancelled", "split_proposal_cancellation", {"track_id": "trackId"},
         rows.split_proposals_cancelled),
    Kind("TrackBlocked", "track_block", {"track_id": "trackId", "blocked": lambda a: True, "reason_cid": "reasonCid"},
         rows.track_blocked),
    Kind("TrackUnblocked", "track_block", {"track_id": "trackId", "blocked": lambda a: False, "reason_cid": "reasonCid"},
         rows.track_blocked),
    Kind("CatalogSignerChanged", "catalog_signer_change", {"previous_signer": "previousSigner",
                                                           "new_signer": "newSigner"}, timed=False),
    Kind("Sale", "sale", {"track_id": "trackId", "buyer": "buyer", "token": "token", "amount": "amount",
                          "platform_fee": "platformFee", "split_id": "splitId"},
         rows.sale, derived=("artist", "fee_recipient")),
    Kind("SplitDistributed", "distribution", {"split_id": "splitId", "token": "token", "amount": "amount"}),
    Kind("Withdrawal", "withdrawal", {"account": "account", "token": "token", "amount": "amount", "paid_to": "to"}),
    Kind("PlatformFeeChanged", "fee_change", {"previous_bps": "previousBps", "new_bps": "newBps"}, timed=False),
    Kind("FeeRecipientChanged", "fee_recipient_change", {"previous_recipient": "previousRecipient",
                                                         "new_recipient": "newRecipient"},
         rows.fee_recipient_changed, timed=False),
    Kind("TokenAllowed", "token_allowance", {"token": "token", "allowed": "allowed"}, timed=False),
    Kind("SalesPausedChanged", "sales_pause", {"paused": "paused"}, timed=False),
    Kind("PoolDeposited", "pool_deposit", {"epoch": "epoch", "sponsor": "sponsor", "token": "token", "amount": "amount"}),
    Kind("PoolDepositWithdrawn", "pool_withdrawal", {"epoch": "epoch", "sponsor": "sponsor", "token": "token",
                                                     "amount": "amount"}),
    Kind("PoolSettled", "pool_settlement", {"epoch": "epoch", "token": "token", "pool": "pool", "allocated": "allocated",
                                            "platform_fee": "platformFee", "carried_over": "carriedOver",
                                            "carried_to_epoch": "carriedToEpoch"},
         rows.pool_settled, derived=("fee_recipient",)),
    Kind("EpochPublished", "epoch", {"epoch": "epoch", "root": "root", "listens_root": "listensRoot",
                                     "report_cid": "reportCid"}),
    Kind("PoolRulesSet", "pool_rules", {"from_epoch": "fromEpoch", "rules_hash": "rulesHash", "rules_cid": "rulesCid"}),
    Kind("PoolClaimed", "pool_claim", {"epoch": "epoch", "split_id": "splitId", "token": "token", "amount": "amount"}),
)

# Events of the contract the ledger keeps no rows of (Ownable2Step's hand-over: the owner
# is read from the contract when needed).
IGNORED: frozenset[str] = frozenset({"OwnershipTransferStarted", "OwnershipTransferred"})

# Every table of event rows, in the order a reorg deletes them (later kinds first; a
# split's `split_recipient` rows and a release's `release_track` rows go with it).
EVENT_TABLES: tuple[str, ...] = (
    "pool_claim", "pool_rules", "epoch", "pool_settlement", "pool_withdrawal", "pool_deposit", "sales_pause",
    "token_allowance", "fee_recipient_change", "fee_change", "withdrawal", "distribution", "sale",
    "catalog_signer_change", "track_block", "split_proposal_cancellation", "split_consent", "split_proposal",
    "track_split_change", "track_update", "track", "split",
)
# The order new rows are inserted: the reverse (a split before the tracks using it).
INSERT_ORDER: tuple[str, ...] = EVENT_TABLES[::-1]


def table_of(event: str) -> str:
    """The table an event's rows go to (KeyError for an event the ledger does not keep)."""
    return KINDS[event].table


def _compared() -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for k in KINDS.values():
        assert out.get(k.table, k.columns) == k.columns, f"kinds of {k.table} disagree on its columns"
        out[k.table] = k.columns
    return out


# Table -> every column its rows get besides REF (the log's first). `verify` compares
# REF and all of these; a proof compares REF and the log's own (`log_values`).
COMPARED: dict[str, tuple[str, ...]] = _compared()
assert set(COMPARED) == set(EVENT_TABLES)


def log_values(event: Event) -> dict[str, Any]:
    """What the row of `event` holds according to its log alone: REF and the log columns."""
    return KINDS[event.name].row(event, event.args)


def _same(have: Any, want: Any) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        return bool(have) == bool(want)
    if isinstance(want, int):
        try:
            return int(have) == want
        except (TypeError, ValueError):
            return False
    return str(have).lower() == str(want).lower()


def mismatches(table: str, row: Mapping[str, Any], event: Event) -> list[str]:
    """The columns in which a stored row of `table` disagrees with its decoded log
    (["table"] when the log is of a kind whose rows go elsewhere); empty: it matches.
    Amounts may be given as decimal strings."""
    kind = KINDS.get(event.name)
    if kind is None or kind.table != table:
        return ["table"]
    return [c for c, want in log_values(event).items() if not _same(row.get(c), want)]


# ------------------------------------------------------------------ aggregates


@dataclass(frozen=True)
class Aggregate:
    """A table of sums: one row per `keys`, integer `columns` (rows at all zeros are
    deleted). Only the indexer writes them, through `ninety.ledger.aggregates.deltas`."""

    table: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]


AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate("account_balance", ("account", "token"), ("credited", "withdrawn")),
    Aggregate("split_balance", ("split_id", "token"), ("received", "distributed")),
    Aggregate("track_stats", ("track_id", "token"), ("sales", "gross", "fees")),
    Aggregate("artist_stats", ("artist", "token"), ("sales", "gross", "fees")),
    Aggregate("artist_buyer", ("artist", "token", "buyer"), ("sales",)),
    Aggregate("track_day", ("track_id", "token", "day"), ("sales", "gross")),
    Aggregate("track_split", ("track_id", "split_id", "token"), ("net",)),
    # Funded: deposits and carry-in; withdrawn by sponsors; settled, allocated, claimed.
    Aggregate("pool_total", ("epoch", "token"), ("funded", "withdrawn", "settled", "allocated", "claimed")),
)
AGGREGATE: dict[str, Aggregate] = {a.table: a for a in AGGREGATES}
# Event tables whose rows move the aggregates (what a reorg's undo reads back to subtract).
SUMMED: tuple[str, ...] = ("sale", "distribution", "withdrawal", "pool_deposit", "pool_withdrawal",
                           "pool_settlement", "pool_claim")
