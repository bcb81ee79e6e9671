"""Splits and split changes as the ledger has them, for the routes that show them.

The contract keeps only a hash of each split: its recipients and shares are what
`SplitCreated` logged, mirrored in `split` / `split_recipient`. A track's split changes
are `track_split_change` rows; proposals waiting for the consent of payees who would lose
share are `split_proposal` rows (status pending, applied, superseded or cancelled) with the consents
given in `split_consent`. Everything here reads the ledger only."""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Iterable

from sqlalchemy import and_, func, or_, select
from sqlmodel import SQLModel

T = SQLModel.metadata.tables


def split_data(db: Any, split_ids: Iterable[str]) -> dict[str, tuple[list[str], list[int]]]:
    """split id -> (recipients, shares in ppm), in the split's order, for the known ids."""
    wanted = sorted(set(split_ids))
    out: dict[str, tuple[list[str], list[int]]] = {}
    if not wanted:
        return out
    sr = T["split_recipient"]
    for i in range(0, len(wanted), 500):
        for split_id, recipient, share in db.execute(
                select(sr.c.split_id, sr.c.recipient, sr.c.share_ppm).where(sr.c.split_id.in_(wanted[i:i + 500]))
                .order_by(sr.c.split_id, sr.c.position)):
            recipients, shares = out.setdefault(split_id, ([], []))
            recipients.append(recipient)
            shares.append(int(share))
    return out


def pending_counts(db: Any, track_ids: Iterable[int]) -> dict[int, int]:
    """track id -> how many split changes of it wait for consents."""
    ids = sorted(set(track_ids))
    if not ids:
        return {}
    sp = T["split_proposal"]
    return {int(t): int(n) for t, n in db.execute(
        select(sp.c.track_id, func.count()).where(sp.c.track_id.in_(ids), sp.c.status == "pending")
        .group_by(sp.c.track_id))}


def _consents(db: Any, keys: set[tuple[int, str]]) -> dict[tuple[int, str], list[dict[str, Any]]]:
    """(track, split) -> its consents in chain order."""
    out: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    if not keys:
        return out
    sc = T["split_consent"]
    cond = or_(*[and_(sc.c.track_id == t, sc.c.split_id == s) for t, s in sorted(keys)])
    for r in db.execute(select(sc).where(cond).order_by(sc.c.block_number, sc.c.log_index)).mappings():
        out[(int(r["track_id"]), r["split_id"])].append(dict(r))
    return out


def proposals(db: Any, where: Any) -> list[dict[str, Any]]:
    """The `split_proposal` rows matching `where`, newest first, each with its split's
    data, the payees who must consent, those who did, and how many consents are missing.

    A consent belongs to the latest proposal of the same track and split before it (the
    contract refuses a second pending proposal of the same change)."""
    sp = T["split_proposal"]
    rows = [dict(r) for r in db.execute(select(sp).where(where)
                                        .order_by(sp.c.block_number.desc(), sp.c.log_index.desc())).mappings()]
    if not rows:
        return []
    keys = {(int(r["track_id"]), r["split_id"]) for r in rows}
    consents = _consents(db, keys)
    # Every proposal of those (track, split) pairs, to bound each one's consents by the next.
    starts: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    cond = or_(*[and_(sp.c.track_id == t, sp.c.split_id == s) for t, s in sorted(keys)])
    for t, s, b, i in db.execute(select(sp.c.track_id, sp.c.split_id, sp.c.block_number, sp.c.log_index).where(cond)):
        starts[(int(t), s)].append((int(b), int(i)))
    data = split_data(db, {r["split_id"] for r in rows})
    out = []
    for r in rows:
        key = (int(r["track_id"]), r["split_id"])
        at = (int(r["block_number"]), int(r["log_index"]))
        later = [p for p in starts[key] if p > at]
        until = min(later) if later else None
        mine = [c for c in consents[key] if (int(c["block_number"]), int(c["log_index"])) > at
                and (until is None or (int(c["block_number"]), int(c["log_index"])) < until)]
        must = json.loads(r["must_consent"])
        recipients, shares = data.get(r["split_id"], ([], []))
        out.append({
            "track_id": int(r["track_id"]), "split_id": r["split_id"], "recipients": recipients, "shares_ppm": shares,
            "must_consent": must, "accepted": [c["payee"] for c in mine],
            "missing": int(mine[-1]["missing"]) if mine else len(must), "status": r["status"],
            "block_number": int(r["block_number"]), "tx_hash": r["tx_hash"], "log_index": int(r["log_index"]),
        })
    return out


def track_proposals(db: Any, track_id: int) -> list[dict[str, Any]]:
    return proposals(db, T["split_proposal"].c.track_id == track_id)


def to_accept(db: Any, payee: str) -> list[dict[str, Any]]:
    """Pending proposals where `payee` must still consent, newest first, with the
    track's current split beside the proposed one."""
    sp = T["split_proposal"]
    # must_consent is a JSON array of lowercase addresses: the quoted address matches
    # exactly one element (addresses all have the same length).
    found = [p for p in proposals(db, and_(sp.c.status == "pending", sp.c.must_consent.contains(f'"{payee}"')))
             if payee in p["must_consent"] and payee not in p["accepted"]]
    if not found:
        return []
    track = T["track"]
    current = dict(db.execute(select(track.c.track_id, track.c.split_id)
                              .where(track.c.track_id.in_({p["track_id"] for p in found}))).all())
    data = split_data(db, current.values())
    out = []
    for p in found:
        recipients, shares = data.get(current.get(p["track_id"], ""), ([], []))
        out.append({"track_id": p["track_id"], "split_id": p["split_id"], "recipients": p["recipients"],
                    "shares_ppm": p["shares_ppm"], "current_recipients": recipients, "current_shares_ppm": shares,
                    "missing": p["missing"]})
    return out
