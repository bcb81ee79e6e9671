"""The fair-share rule (backend/release_splits.py) applied to the ledger: to a release's
split as it is listed NOW against its tracks' current splits and prices (whether it is
for sale: backend/catalog.py), and to each past sale of a release against its tracks'
splits and prices AS OF THAT SALE (whether the sale opens the tracks: the download gate
and the zip).

The attestation judges only the split and price the artist asked for, and only then; the
split and price a release is listed with (open registration attests nothing; the price
attested need not be the price listed), its tracks' splits (a collaborator may join a
track later) and their prices all move after. So a release that is unfair now is not
sold here, and a sale made while it was unfair opens nothing, while a fan who bought it
while it was fair keeps the tracks when they change. A sale is judged at what the buyer
paid (its amount, at least the price): a fan who pays more pays the collaborators more."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import select
from sqlmodel import SQLModel

from backend.release_splits import CannotBeFair, Loser, Member, losers
from backend.splits import split_data

T = SQLModel.metadata.tables
MAX_SALES = 100  # a wallet's sales of releases holding one track: a handful in practice


def splits_by_id(db: Any, split_ids: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
    """Each split's (recipient, share_ppm) rows, in the split's order; an unknown id has none."""
    ids = set(split_ids)
    data = split_data(db, ids)
    return {i: list(zip(*data[i])) if i in data else [] for i in ids}


def current_members(db: Any, track_ids: list[int]) -> list[Member]:
    """The tracks as the rule sees them now (current split, token, price), in order; an
    unknown id is a member without payees."""
    track = T["track"]
    rows = {r["track_id"]: r for r in db.execute(select(track.c.track_id, track.c.split_id, track.c.token,
                                                        track.c.price).where(track.c.track_id.in_(track_ids)))
            .mappings().all()}
    splits = splits_by_id(db, [r["split_id"] for r in rows.values()])
    return [Member(splits[rows[t]["split_id"]], rows[t]["token"], int(rows[t]["price"]), t) if t in rows
            else Member([], "", 0, t) for t in track_ids]


def unfairness(release_id: int, token: str, price: int, artist: str, split: Sequence[tuple[str, int]],
               members: Sequence[Member]) -> str | None:
    """Why the release's split, sold at `price` in `token`, is not fair to its tracks'
    collaborators, in words; None when it is."""
    try:
        short = losers(members, token, price, artist, [a for a, _ in split], [s for _, s in split])
    except CannotBeFair as e:
        return f"release {release_id} is not for sale: {e}"
    if not short:
        return None
    return (f"release {release_id} is not for sale: at its price its split pays {_who(short)} (what a sale of "
            f"their tracks pays them, as a share of the release's price). Its artist can raise the price, or move "
            f"it to a fair split (proposeSplit on release {release_id}: raising a payee needs nobody's consent)")


def _who(short: list[Loser]) -> str:
    return "; ".join(f"{x.address} {x.given_ppm / 10_000:g}% where their fair share is {x.owed_ppm / 10_000:g}%"
                     for x in short)


def current_unfairness(db: Any, releases: Sequence[Mapping[str, Any]],
                       members: Mapping[int, Sequence[Mapping[str, Any]]]) -> dict[int, str | None]:
    """For each release row (track_id, artist, split_id, token, price), why its current
    split and price are unfair to its members' current splits and prices (`members`:
    their track rows)."""
    split_ids = {r["split_id"] for r in releases} | {m["split_id"] for ms in members.values() for m in ms}
    splits = splits_by_id(db, split_ids)
    out = {}
    for r in releases:
        rid = r["track_id"]
        ms = [Member(splits[m["split_id"]], m["token"], int(m["price"]), m["track_id"]) for m in members.get(rid, [])]
        out[rid] = unfairness(rid, r["token"], int(r["price"]), r["artist"], splits[r["split_id"]], ms)
    return out


def fair_sales(db: Any, sales: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The sales of releases (rows of `sale`: track_id is the release, split_id the split
    it paid, amount what the buyer paid, block_number and log_index) made while the
    release was fair at that amount: its tracks' splits and prices as of the sale are
    their latest changes before it, else those they were registered with (tokens never
    change). Six queries whatever the number of sales."""
    sales = list(sales)[:MAX_SALES]
    if not sales:
        return []
    track, rt = T["track"], T["release_track"]
    change, update = T["track_split_change"], T["track_update"]
    release_ids = {s["track_id"] for s in sales}
    releases = {r["track_id"]: r for r in db.execute(select(track.c.track_id, track.c.artist, track.c.token)
                                                     .where(track.c.track_id.in_(release_ids))).mappings().all()}
    member_ids: dict[int, list[int]] = defaultdict(list)
    for rid, tid in db.execute(select(rt.c.release_id, rt.c.track_id).where(rt.c.release_id.in_(release_ids))
                               .order_by(rt.c.release_id, rt.c.position)).all():
        member_ids[rid].append(tid)
    all_members = {t for ts in member_ids.values() for t in ts}
    last = max(s["block_number"] for s in sales)
    tracks = {r["track_id"]: r for r in db.execute(
        select(track.c.track_id, track.c.token, track.c.registered_split_id, track.c.registered_price)
        .where(track.c.track_id.in_(all_members))).mappings().all()}
    split_history = _history(db, change, change.c.split_id, all_members, last)
    price_history = _history(db, update, update.c.price, all_members, last)
    split_ids = {s["split_id"] for s in sales} | {r["registered_split_id"] for r in tracks.values()}
    split_ids |= {v for rows in split_history.values() for _, v in rows}
    splits = splits_by_id(db, split_ids)
    fair = []
    for sale in sales:
        release = releases.get(sale["track_id"])
        ids = member_ids.get(sale["track_id"], [])
        if release is None or not ids or any(t not in tracks for t in ids):
            continue
        members = [Member(splits[_as_of(split_history[t], sale, tracks[t]["registered_split_id"])],
                          tracks[t]["token"], int(_as_of(price_history[t], sale, tracks[t]["registered_price"])), t)
                   for t in ids]
        if unfairness(sale["track_id"], release["token"], int(sale["amount"]), release["artist"],
                      splits[sale["split_id"]], members) is None:
            fair.append(sale)
    return fair


def _history(db: Any, table: Any, value: Any, track_ids: set[int],
             last_block: int) -> dict[int, list[tuple[tuple[int, int], Any]]]:
    """Each track's changes of `value` up to `last_block`, oldest first (one query)."""
    out: dict[int, list[tuple[tuple[int, int], Any]]] = defaultdict(list)
    if not track_ids:
        return out
    rows = db.execute(select(table.c.track_id, table.c.block_number, table.c.log_index, value)
                      .where(table.c.track_id.in_(track_ids), table.c.block_number <= last_block)
                      .order_by(table.c.block_number, table.c.log_index)).all()
    for tid, block, log, v in rows:
        out[tid].append(((block, log), v))
    return out


def _as_of(history: list[tuple[tuple[int, int], Any]], sale: Mapping[str, Any], registered: Any) -> Any:
    """The value in force at the sale: the latest change strictly before it."""
    value = registered
    at = (sale["block_number"], sale["log_index"])
    for when, v in history:
        if when >= at:
            break
        value = v
    return value
