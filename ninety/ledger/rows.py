"""One function per event kind: what an event adds to the ledger besides the columns its
log gives directly (those the registry's `fields` copy into `row` beforehand).

Each function gets the event, its row (chain reference and log columns already filled
in) and the batch, completes the row from what came before (the track's artist, the fee
recipient of the moment, the block's time) and records the state it changes on earlier
rows (a track's price, a proposal's status). Pure: earlier blocks are reached only
through the `Context` callbacks.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ninety.ledger.events import Event

PENDING, APPLIED, SUPERSEDED, CANCELLED = "pending", "applied", "superseded", "cancelled"


def price_sort(price: int) -> str:
    """A price as text that sorts like the number (78 digits hold any uint256)."""
    return str(int(price)).zfill(78)


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
    # A new release's members: {release_id, position, track_id}, in the log's order.
    release_tracks: list[dict[str, Any]] = field(default_factory=list)
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


@dataclass
class Batch:
    """One call of `map_events`: its output and what its own events created so far."""

    ctx: Context
    out: Rows = field(default_factory=Rows)
    new_splits: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    new_tracks: dict[int, dict[str, Any]] = field(default_factory=dict)
    new_proposals: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))


# ------------------------------------------------------------------ splits and tracks


def split_created(e: Event, row: dict[str, Any], b: Batch) -> None:
    a = e.args
    pairs = list(zip(a["recipients"], a["sharesPpm"]))
    b.new_splits[a["splitId"]] = pairs
    b.out.split_recipients += [
        {"split_id": a["splitId"], "position": i, "recipient": r, "share_ppm": s} for i, (r, s) in enumerate(pairs)
    ]


def track_registered(e: Event, row: dict[str, Any], b: Batch) -> None:
    a = e.args
    row.update(split_id=a["splitId"], price=a["price"], listed=True, price_sort=price_sort(a["price"]),
               blocked=False, block_reason_cid=None)
    b.new_tracks[row["track_id"]] = row


def release_registered(e: Event, row: dict[str, Any], b: Batch) -> None:
    """A release is a listing like a track (the same later events apply to its id), plus
    its members in order."""
    track_registered(e, row, b)
    rid = row["track_id"]
    b.out.release_tracks += [{"release_id": rid, "position": i, "track_id": int(t)}
                             for i, t in enumerate(e.args["trackIds"])]


def track_updated(e: Event, row: dict[str, Any], b: Batch) -> None:
    tid, price, listed = row["track_id"], row["price"], row["listed"]
    if tid in b.new_tracks:
        b.new_tracks[tid].update(price=price, listed=listed, price_sort=price_sort(price))
    else:
        b.out.track_state.append((tid, price, listed))


def track_split_changed(e: Event, row: dict[str, Any], b: Batch) -> None:
    tid, sid = row["track_id"], row["split_id"]
    if tid in b.new_tracks:
        b.new_tracks[tid]["split_id"] = sid
    else:
        b.out.split_state.append((tid, sid))
    for p in b.new_proposals.pop(tid, []):
        p["status"] = closed_status(p["split_id"], sid)
    b.out.proposal_closes.append((tid, sid, e.block_number, e.log_index))


def split_change_proposed(e: Event, row: dict[str, Any], b: Batch) -> None:
    row["status"] = PENDING
    b.new_proposals[row["track_id"]].append(row)


def split_proposals_cancelled(e: Event, row: dict[str, Any], b: Batch) -> None:
    tid = row["track_id"]
    for p in b.new_proposals.pop(tid, []):
        p["status"] = CANCELLED
    b.out.proposal_closes.append((tid, None, e.block_number, e.log_index))


def track_blocked(e: Event, row: dict[str, Any], b: Batch) -> None:
    """TrackBlocked and TrackUnblocked alike (the registry sets `blocked`)."""
    tid, blocked, reason = row["track_id"], row["blocked"], row["reason_cid"]
    if tid in b.new_tracks:
        b.new_tracks[tid].update(blocked=blocked, block_reason_cid=reason if blocked else None)
    else:
        b.out.block_state.append((tid, blocked, reason))


# ------------------------------------------------------------------ money


def sale(e: Event, row: dict[str, Any], b: Batch) -> None:
    tid = row["track_id"]
    row["artist"] = b.new_tracks[tid]["artist"] if tid in b.new_tracks else b.ctx.track_artist(tid)
    row["fee_recipient"] = b.ctx.fee_recipient


def fee_recipient_changed(e: Event, row: dict[str, Any], b: Batch) -> None:
    b.ctx.fee_recipient = row["new_recipient"]


def pool_settled(e: Event, row: dict[str, Any], b: Batch) -> None:
    row["fee_recipient"] = b.ctx.fee_recipient


def log_only(e: Event, row: dict[str, Any], b: Batch) -> None:
    """Kinds whose row is its log's columns (and the block's time) and nothing more."""
