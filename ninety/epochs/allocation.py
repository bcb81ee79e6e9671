"""The allocation rule of an epoch (see `ninety.epochs.rules` for its statement): which
downloads count, what each qualified listener directs, the settlement per pool token,
and the report that publishes it all with Merkle proofs. Pure: no chain, no database."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ninety.contract import ETH
from ninety.epochs.rules import MAX_BPS, NO_SPLIT, ZERO_ROOT, EpochClock, Rules, rules_hash
from ninety.merkle import Allocation, LeafTree, MerkleTree, listen_leaf


@dataclass(frozen=True)
class Listen:
    """One recorded free download and whether it was eligible at its block."""
    wallet: str
    track_id: int
    signature: str
    block_number: int
    split_id: str  # the track's split at that block
    eligible: bool
    why_not: str = ""  # why it was not eligible
    # Not something the API records (a signature that is not the wallet's, a block outside
    # the epoch or before the track existed): in a report, evidence of tampering.
    impossible: bool = False


@dataclass(frozen=True)
class Purchase:
    """A Sale bought by a listener inside the window, from a split that does not pay it."""
    wallet: str
    tx_hash: str
    log_index: int
    track_id: int
    token: str
    amount: int
    platform_fee: int
    block_time: int


@dataclass
class Outcome:
    pools: list[tuple[str, int]]
    listens: list[dict[str, Any]]
    listeners: list[dict[str, Any]]
    allocations: list[Allocation]
    settlements: list[dict[str, Any]]


def qualification(rules: Rules, purchases: Iterable[Purchase]) -> tuple[bool, str]:
    """Whether a wallet's window purchases (splits not paying it) qualify it, and why not."""
    bought = list(purchases)
    if not bought:
        return False, (f"no purchase from another artist's listing in the last {rules.window} epochs; "
                       "buying any track from another artist qualifies you")
    for p in bought:
        need = rules.qualifying.get(p.token.lower())
        if need is not None and p.amount >= need:
            return True, ""
    return False, "no purchase in the window reached the qualifying amount for its token"


def fees_paid(purchases: Iterable[Purchase]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for p in purchases:
        out[p.token.lower()] += p.platform_fee
    return dict(out)


def distributable(pool: int, fee_bps: int) -> int:
    return pool * (MAX_BPS - fee_bps) // MAX_BPS


def fee_on(allocated: int, fee_bps: int) -> int:
    return allocated * fee_bps // (MAX_BPS - fee_bps)


def compute(epoch: int, rules: Rules, pools: Sequence[tuple[str, int]], listens: Sequence[Listen],
            purchases: Sequence[Purchase], not_genuine: Iterable[int] = ()) -> Outcome:
    """The rule itself: allocations, settlements and every listen's fate."""
    fake = set(not_genuine)
    by_wallet: dict[str, list[Purchase]] = defaultdict(list)
    for p in purchases:
        by_wallet[p.wallet.lower()].append(p)
    listen_rows = []
    tracks: dict[str, dict[int, str]] = defaultdict(dict)  # wallet -> track -> split
    status: dict[str, tuple[bool, str]] = {}
    for x in sorted(listens, key=lambda x: (x.wallet.lower(), x.track_id)):
        w = x.wallet.lower()
        if w not in status:
            status[w] = qualification(rules, by_wallet.get(w, []))
        qualified, why = status[w]
        if not x.eligible:
            counted, reason = False, x.why_not
        elif x.track_id in fake:
            counted, reason = False, "the recording was judged not genuine (fingerprint)"
        elif not qualified:
            counted, reason = False, why
        else:
            counted, reason = True, ""
            tracks[w][x.track_id] = x.split_id
        listen_rows.append({"wallet": w, "track_id": x.track_id, "signature": x.signature,
                            "block_number": x.block_number, "split_id": x.split_id, "counted": counted,
                            "reason": reason})
    counted_wallets = sorted(tracks)
    n = len(counted_wallets)
    per_split: dict[tuple[str, str], int] = defaultdict(int)
    directed: dict[str, dict[str, int]] = defaultdict(dict)
    settlements = []
    for token, pool in pools:
        token = token.lower()
        share = distributable(pool, rules.fee_bps) // n if n else 0
        allocated = 0
        for w in counted_wallets:
            cap = rules.multiplier * fees_paid(by_wallet[w]).get(token, 0) // rules.window
            amount = min(share, cap)
            part = amount // len(tracks[w])
            if part == 0:
                continue
            directed[w][token] = part * len(tracks[w])
            for split in tracks[w].values():
                per_split[(split, token)] += part
            allocated += part * len(tracks[w])
        fee = fee_on(allocated, rules.fee_bps)
        settlements.append({"token": token, "pool": pool, "allocated": allocated, "platform_fee": fee,
                            "carried_over": pool - allocated - fee})
    allocations = [Allocation(s, t, a) for (s, t), a in sorted(per_split.items()) if a]
    listeners = []
    for w in sorted(status):
        qualified, why = status[w]
        mine = sorted(by_wallet.get(w, []), key=lambda p: (p.block_time, p.tx_hash, p.log_index))
        listeners.append({
            "wallet": w, "qualified": qualified, "reason": why, "counted_tracks": sorted(tracks.get(w, {})),
            "purchases": [{"tx_hash": p.tx_hash, "log_index": p.log_index, "track_id": p.track_id, "token": p.token.lower(),
                           "amount": str(p.amount), "platform_fee": str(p.platform_fee), "block_time": p.block_time}
                          for p in mine],
            "fees_paid": {t: str(a) for t, a in sorted(fees_paid(mine).items())},
            "directed": {t: str(a) for t, a in sorted(directed.get(w, {}).items())},
        })
    return Outcome([(t.lower(), p) for t, p in pools], listen_rows, listeners, allocations, settlements)


def tree_of(epoch: int, allocations: list[Allocation]) -> MerkleTree:
    return MerkleTree(epoch, allocations or [Allocation(NO_SPLIT, ETH, 0)])


def listens_tree(epoch: int, listens: Sequence[dict[str, Any]]) -> LeafTree | None:
    leaves = [listen_leaf(epoch, x["wallet"], int(x["track_id"])) for x in listens]
    return LeafTree(leaves) if leaves else None


def build_report(*, chain_id: int, contract: str, epoch: int, clock: EpochClock, rules: dict[str, Any],
                 outcome: Outcome, not_genuine: Iterable[int] = ()) -> dict[str, Any]:
    tree = tree_of(epoch, outcome.allocations)
    ltree = listens_tree(epoch, outcome.listens)
    listens = []
    for x in outcome.listens:
        proof = ltree.proof_of(listen_leaf(epoch, x["wallet"], x["track_id"])) if ltree else []
        listens.append({**x, "proof": ["0x" + p.hex() for p in proof]})
    return {
        "version": 2,
        "chain_id": chain_id,
        "contract": contract.lower(),
        "epoch": epoch,
        "starts_at": clock.start_of(epoch),
        "ends_at": clock.end_of(epoch),
        "rules": rules,
        "rules_hash": "0x" + rules_hash(rules).hex(),
        "not_genuine_tracks": sorted(set(not_genuine)),
        "pools": [{"token": t, "pool": str(p)} for t, p in outcome.pools],
        "listeners": outcome.listeners,
        "listens": listens,
        "listens_root": "0x" + ltree.root.hex() if ltree else ZERO_ROOT,
        "settlements": [{k: (str(v) if isinstance(v, int) else v) for k, v in s.items()} for s in outcome.settlements],
        "allocations": [{"split_id": a.split_id, "token": a.token, "amount": str(a.amount),
                         "proof": ["0x" + p.hex() for p in tree.proof(a)]} for a in outcome.allocations],
        "root": "0x" + tree.root.hex(),
    }


def report_bytes(report: dict[str, Any]) -> bytes:
    return json.dumps(report, sort_keys=True, indent=1).encode()
