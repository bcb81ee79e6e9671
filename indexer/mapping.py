"""From decoded events to ledger rows, and from rows to aggregate deltas.

Pure functions: no database, no RPC. The same `deltas` function serves indexing (sign +1,
rows just built) and reorg undo (sign -1, rows read back from the database), so the
aggregates can only ever move together with the rows they sum.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from indexer.events import Event

TOTAL_SHARES_PPM = 1_000_000

# Event name -> ledger table of its rows.
EVENT_TABLES = {
    "SplitCreated": "split",
    "TrackRegistered": "track",
    "TrackUpdated": "track_update",
    "TrackSplitChanged": "track_split_change",
    "SplitChangeProposed": "split_proposal",
    "SplitChangeAccepted": "split_consent",
    "SplitProposalsCancelled": "split_proposal_cancellation",
    "TrackBlocked": "track_block",
    "TrackUnblocked": "track_block",
    "CatalogSignerChanged": "catalog_signer_change",
    "Sale": "sale",
    "SplitDistributed": "distribution",
    "Withdrawal": "withdrawal",
    "PlatformFeeChanged": "fee_change",
    "FeeRecipientChanged": "fee_recipient_change",
    "TokenAllowed": "token_allowance",
    "SalesPausedChanged": "sales_pause",
    "PoolDeposited": "pool_deposit",
    "PoolDepositWithdrawn": "pool_withdrawal",
    "PoolSettled": "pool_settlement",
    "EpochPublished": "epoch",
    "PoolRulesSet": "pool_rules",
    "PoolClaimed": "pool_claim",
}
POOL_COLUMNS = ("funded", "withdrawn", "settled", "allocated", "claimed")
# Tables carrying (block_number, tx_hash, log_index), in the order rows are undone.
CHAIN_TABLES = [
    "pool_claim", "pool_rules", "epoch", "pool_settlement", "pool_withdrawal", "pool_deposit", "sales_pause", "token_allowance", "fee_recipient_change", "fee_change", "withdrawal",
    "distribution", "sale", "catalog_signer_change", "track_block", "split_proposal_cancellation", "split_consent", "split_proposal",
    "track_split_change",
    "track_update", "track", "split",
]
PENDING, APPLIED, SUPERSEDED, CANCELLED = "pending", "applied", "superseded", "cancelled"


def price_sort(price: int) -> str:
    """A price as text that sorts like the number (78 digits hold any uint256)."""
    return str(int(price)).zfill(78)


@dataclass
class Context:
    """What mapping needs from earlier blocks: looked up through callbacks, updated as
    the batch's own events go by."""

    fee_recipient: str
    split_recipients: Callable[[str], list[tuple[str, int]]]
    track_artist: Callable[[int], str]


@dataclass
class Rows:
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    split_recipients: list[dict[str, Any]] = field(default_factory=list)
    # (track_id, price, listed) in chain order, for tracks registered earlier.
    track_state: list[tuple[int, int, bool]] = field(default_factory=list)
    # (track_id, split_id) in chain order, for tracks registered earlier.
    split_state: list[tuple[int, str]] = field(default_factory=list)
    # (track_id, split_id, block_number, log_index) of every split change (split_id None:
    # a cancellation), in chain order: it closes the track's proposals still pending before
    # it (in this batch or earlier).
    proposal_closes: list[tuple[int, str | None, int, int]] = field(default_factory=list)
    # (track_id, blocked, reason_cid) in chain order, for tracks registered earlier.
    block_state: list[tuple[int, bool, str]] = field(default_factory=list)


def must_consent_json(payees: Iterable[str]) -> str:
    """A proposal's payees as stored: a compact JSON array of lowercase addresses."""
    return json.dumps([p.lower() for p in payees], separators=(",", ":"))


def closed_status(proposal_split_id: str, change_split_id: str | None) -> str:
    """What a split change (None: the artist's cancellation) makes of a pending proposal
    made before it: the change it proposed landed, or another one did, or the artist
    withdrew it (the last two void it on chain)."""
    if change_split_id is None:
        return CANCELLED
    return APPLIED if proposal_split_id == change_split_id else SUPERSEDED


def _ref(e: Event) -> dict[str, Any]:
    return {"block_number": e.block_number, "block_hash": e.block_hash, "tx_hash": e.tx_hash, "log_index": e.log_index}


def map_events(events: Iterable[Event], ctx: Context, block_times: dict[int, int]) -> Rows:
    out = Rows()
    new_splits: dict[str, list[tuple[str, int]]] = {}
    new_tracks: dict[int, dict[str, Any]] = {}
    new_proposals: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        a = e.args
        ref = _ref(e)
        when = e.block_time if e.block_time is not None else block_times[e.block_number]
        if e.name == "SplitCreated":
            pairs = list(zip(a["recipients"], a["sharesPpm"]))
            new_splits[a["splitId"]] = pairs
            out.tables["split"].append({**ref, "split_id": a["splitId"], "recipient_count": len(pairs)})
            out.split_recipients += [
                {"split_id": a["splitId"], "position": i, "recipient": r, "share_ppm": s}
                for i, (r, s) in enumerate(pairs)
            ]
        elif e.name == "TrackRegistered":
            row = {
                **ref, "track_id": a["trackId"], "artist": a["artist"], "split_id": a["splitId"],
                "token": a["token"], "price": a["price"], "listed": True,
                "metadata_cid": a["metadataCid"], "registered_price": a["price"],
                "registered_split_id": a["splitId"], "block_time": when, "price_sort": price_sort(a["price"]),
                "blocked": False, "block_reason_cid": None,
            }
            new_tracks[a["trackId"]] = row
            out.tables["track"].append(row)
        elif e.name == "TrackUpdated":
            tid = a["trackId"]
            out.tables["track_update"].append(
                {**ref, "track_id": tid, "price": a["price"], "listed": a["listed"]}
            )
            if tid in new_tracks:
                new_tracks[tid].update(price=a["price"], listed=a["listed"], price_sort=price_sort(a["price"]))
            else:
                out.track_state.append((tid, a["price"], a["listed"]))
        elif e.name == "TrackSplitChanged":
            tid, sid = a["trackId"], a["splitId"]
            out.tables["track_split_change"].append(
                {**ref, "track_id": tid, "previous_split_id": a["previousSplitId"], "split_id": sid, "block_time": when})
            if tid in new_tracks:
                new_tracks[tid]["split_id"] = sid
            else:
                out.split_state.append((tid, sid))
            for p in new_proposals.pop(tid, []):
                p["status"] = closed_status(p["split_id"], sid)
            out.proposal_closes.append((tid, sid, e.block_number, e.log_index))
        elif e.name == "SplitChangeProposed":
            row = {**ref, "track_id": a["trackId"], "split_id": a["splitId"],
                   "must_consent": must_consent_json(a["mustConsent"]), "status": PENDING, "block_time": when}
            new_proposals[a["trackId"]].append(row)
            out.tables["split_proposal"].append(row)
        elif e.name == "SplitProposalsCancelled":
            tid = a["trackId"]
            out.tables["split_proposal_cancellation"].append({**ref, "track_id": tid, "block_time": when})
            for p in new_proposals.pop(tid, []):
                p["status"] = CANCELLED
            out.proposal_closes.append((tid, None, e.block_number, e.log_index))
        elif e.name == "SplitChangeAccepted":
            out.tables["split_consent"].append({**ref, "track_id": a["trackId"], "split_id": a["splitId"],
                                                "payee": a["payee"], "missing": a["missing"], "block_time": when})
        elif e.name in ("TrackBlocked", "TrackUnblocked"):
            tid, blocked = a["trackId"], e.name == "TrackBlocked"
            out.tables["track_block"].append(
                {**ref, "track_id": tid, "blocked": blocked, "reason_cid": a["reasonCid"], "block_time": when})
            if tid in new_tracks:
                new_tracks[tid].update(blocked=blocked, block_reason_cid=a["reasonCid"] if blocked else None)
            else:
                out.block_state.append((tid, blocked, a["reasonCid"]))
        elif e.name == "CatalogSignerChanged":
            out.tables["catalog_signer_change"].append(
                {**ref, "previous_signer": a["previousSigner"], "new_signer": a["newSigner"]})
        elif e.name == "Sale":
            tid = a["trackId"]
            artist = new_tracks[tid]["artist"] if tid in new_tracks else ctx.track_artist(tid)
            out.tables["sale"].append({
                **ref, "track_id": tid, "buyer": a["buyer"], "token": a["token"], "amount": a["amount"],
                "platform_fee": a["platformFee"], "split_id": a["splitId"], "artist": artist,
                "fee_recipient": ctx.fee_recipient, "block_time": when,
            })
        elif e.name == "SplitDistributed":
            out.tables["distribution"].append(
                {**ref, "split_id": a["splitId"], "token": a["token"], "amount": a["amount"], "block_time": when}
            )
        elif e.name == "Withdrawal":
            out.tables["withdrawal"].append({**ref, "account": a["account"], "token": a["token"], "amount": a["amount"],
                                             "paid_to": a["to"], "block_time": when})
        elif e.name == "PlatformFeeChanged":
            out.tables["fee_change"].append({**ref, "previous_bps": a["previousBps"], "new_bps": a["newBps"]})
        elif e.name == "FeeRecipientChanged":
            ctx.fee_recipient = a["newRecipient"]
            out.tables["fee_recipient_change"].append(
                {**ref, "previous_recipient": a["previousRecipient"], "new_recipient": a["newRecipient"]}
            )
        elif e.name == "TokenAllowed":
            out.tables["token_allowance"].append({**ref, "token": a["token"], "allowed": a["allowed"]})
        elif e.name == "SalesPausedChanged":
            out.tables["sales_pause"].append({**ref, "paused": a["paused"]})
        elif e.name in ("PoolDeposited", "PoolDepositWithdrawn"):
            out.tables[EVENT_TABLES[e.name]].append({**ref, "epoch": a["epoch"], "sponsor": a["sponsor"], "token": a["token"],
                                                     "amount": a["amount"], "block_time": when})
        elif e.name == "PoolSettled":
            out.tables["pool_settlement"].append({
                **ref, "epoch": a["epoch"], "token": a["token"], "pool": a["pool"], "allocated": a["allocated"],
                "platform_fee": a["platformFee"], "carried_over": a["carriedOver"],
                "carried_to_epoch": a["carriedToEpoch"], "fee_recipient": ctx.fee_recipient, "block_time": when,
            })
        elif e.name == "EpochPublished":
            out.tables["epoch"].append({**ref, "epoch": a["epoch"], "root": a["root"], "listens_root": a["listensRoot"],
                                        "report_cid": a["reportCid"], "block_time": when})
        elif e.name == "PoolRulesSet":
            out.tables["pool_rules"].append({**ref, "from_epoch": a["fromEpoch"], "rules_hash": a["rulesHash"],
                                             "rules_cid": a["rulesCid"], "block_time": when})
        elif e.name == "PoolClaimed":
            out.tables["pool_claim"].append({**ref, "epoch": a["epoch"], "split_id": a["splitId"], "token": a["token"],
                                             "amount": a["amount"], "block_time": when})
    # Later lookups in this batch (a distribution of a split created in it) see new splits.
    lookup = ctx.split_recipients
    ctx.split_recipients = lambda sid: new_splits[sid] if sid in new_splits else lookup(sid)
    return out


def allot(amount: int, recipients: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The contract's distribute(): floor by share, rounding dust to the first recipient."""
    parts = [(r, amount * s // TOTAL_SHARES_PPM) for r, s in recipients]
    dust = amount - sum(p for _, p in parts)
    first, part = parts[0]
    return [(first, part + dust), *parts[1:]]


@dataclass
class Deltas:
    account: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    split: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    track: dict[tuple[int, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    artist: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    buyer: dict[tuple[str, str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0]))
    track_day: dict[tuple[int, str, int], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    track_split: dict[tuple[int, str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0]))
    # (epoch, token) -> [funded (deposits and carry-in), withdrawn by sponsors, settled, allocated, claimed]
    pool: dict[tuple[int, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0, 0]))


def deltas(
    tables: Mapping[str, Iterable[dict[str, Any]]],
    split_recipients: Callable[[str], list[tuple[str, int]]],
    sign: int = 1,
    into: Deltas | None = None,
) -> Deltas:
    """What the rows of `tables` (ledger table name -> rows) add to the aggregates."""
    sales, distributions, withdrawals = (tables.get(n, ()) for n in ("sale", "distribution", "withdrawal"))
    d = into or Deltas()
    for s in sales:
        amount, fee, token = int(s["amount"]), int(s["platform_fee"]), s["token"]
        if fee:
            d.account[(s["fee_recipient"], token)][0] += sign * fee
        d.split[(s["split_id"], token)][0] += sign * (amount - fee)
        for key, stats in (((s["track_id"], token), d.track), ((s["artist"], token), d.artist)):
            row = stats[key]
            row[0] += sign
            row[1] += sign * amount
            row[2] += sign * fee
        d.buyer[(s["artist"], token, s["buyer"])][0] += sign
        day = d.track_day[(s["track_id"], token, int(s["block_time"]) // 86400)]
        day[0] += sign
        day[1] += sign * amount
        d.track_split[(s["track_id"], s["split_id"], token)][0] += sign * (amount - fee)
    for x in distributions:
        amount, token = int(x["amount"]), x["token"]
        d.split[(x["split_id"], token)][1] += sign * amount
        for recipient, part in allot(amount, split_recipients(x["split_id"])):
            d.account[(recipient, token)][0] += sign * part
    for w in withdrawals:
        d.account[(w["account"], w["token"])][1] += sign * int(w["amount"])
    for x in tables.get("pool_deposit", ()):
        d.pool[(int(x["epoch"]), x["token"])][0] += sign * int(x["amount"])
    for x in tables.get("pool_withdrawal", ()):
        d.pool[(int(x["epoch"]), x["token"])][1] += sign * int(x["amount"])
    for x in tables.get("pool_settlement", ()):
        epoch, token = int(x["epoch"]), x["token"]
        row = d.pool[(epoch, token)]
        row[2] += sign * int(x["pool"])
        row[3] += sign * int(x["allocated"])
        # The carry-over went into the pool of the epoch current at publication.
        d.pool[(int(x["carried_to_epoch"]), token)][0] += sign * int(x["carried_over"])
        if int(x["platform_fee"]):
            d.account[(x["fee_recipient"], token)][0] += sign * int(x["platform_fee"])
    for x in tables.get("pool_claim", ()):
        d.pool[(int(x["epoch"]), x["token"])][4] += sign * int(x["amount"])
        d.split[(x["split_id"], x["token"])][0] += sign * int(x["amount"])
    return d
