"""Sponsor-pool epochs: the allocation rule, the report, and checking a published epoch.

The rule, applied per pool token, is all in the report so anyone can re-run it:
- the unit is one free download per wallet, per track, per epoch (counted by the API);
- the platform takes `platform_fee_bps` of the pool (the contract refuses more than 10%),
  and nothing when there was no download;
- each split gets floor((pool - fee) * downloads(split) / downloads(all));
- what rounding leaves (or the whole pool, without downloads) carries over to the next
  epoch, which the contract does by itself.

`check_report` needs only the chain and the report: it recomputes the allocation, every
proof and the Merkle root, and compares them with what the contract recorded. The counts
themselves are the API's; the report publishes them per track (not per wallet).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_utils import keccak

from ninety.merkle import Allocation, MerkleTree, leaf, verify

RULES = {
    "unit": "one free download per signed-in wallet, per track, per epoch",
    "platform_fee": "pool * platform_fee_bps / 10000 (rounded down), 0 when the epoch had no download; at most 10%",
    "allocation": "per token: floor((pool - platform_fee) * downloads(split) / downloads(all splits))",
    "carry_over": "pool - platform_fee - sum(allocations) moves to the next epoch's pool",
    "leaf": "keccak256(keccak256(abi.encode(uint256 epoch, bytes32 splitId, address token, uint256 amount)))",
    "tree": "leaves sorted ascending; inner node = keccak256(min(a, b) ++ max(a, b)); a lone node moves up",
    "empty_epoch": "without any allocation the root is that of one allocation of 0 to split 0x00…00 (unclaimable)",
}
NO_SPLIT = "0x" + "00" * 32
ETH = "0x" + "00" * 20


@dataclass
class Settlement:
    token: str
    pool: int
    allocated: int
    platform_fee: int

    @property
    def carried_over(self) -> int:
        return self.pool - self.allocated - self.platform_fee


def allocate(pools: list[tuple[str, int]], downloads: dict[str, int],
             fee_bps: int) -> tuple[list[Allocation], list[Settlement]]:
    """`pools`: (token, pool) in the contract's poolTokens order; `downloads`: split -> count."""
    total = sum(downloads.values())
    allocations: list[Allocation] = []
    settlements = []
    for token, pool in pools:
        token = token.lower()
        fee = pool * fee_bps // 10_000 if total else 0
        share = pool - fee
        parts = [Allocation(split, token, share * n // total) for split, n in sorted(downloads.items()) if total]
        parts = [p for p in parts if p.amount]
        allocations += parts
        settlements.append(Settlement(token, pool, sum(p.amount for p in parts), fee))
    return allocations, settlements


def tree_of(epoch: int, allocations: list[Allocation]) -> MerkleTree:
    return MerkleTree(epoch, allocations or [Allocation(NO_SPLIT, ETH, 0)])


def build_report(*, chain_id: int, contract: str, epoch: int, fee_bps: int, pools: list[tuple[str, int]],
                 track_downloads: list[tuple[int, str, int]]) -> dict[str, Any]:
    """`track_downloads`: (track id, split id, count)."""
    by_split: dict[str, int] = {}
    for _, split, n in track_downloads:
        by_split[split] = by_split.get(split, 0) + n
    allocations, settlements = allocate(pools, by_split, fee_bps)
    tree = tree_of(epoch, allocations)
    return {
        "version": 1,
        "chain_id": chain_id,
        "contract": contract.lower(),
        "epoch": epoch,
        "rules": {**RULES, "platform_fee_bps": fee_bps},
        "pools": [{"token": t.lower(), "pool": str(p)} for t, p in pools],
        "downloads": [{"track_id": t, "split_id": s, "count": n} for t, s, n in sorted(track_downloads)],
        "splits": [{"split_id": s, "downloads": n} for s, n in sorted(by_split.items())],
        "settlements": [{"token": s.token, "pool": str(s.pool), "allocated": str(s.allocated),
                         "platform_fee": str(s.platform_fee), "carried_over": str(s.carried_over)} for s in settlements],
        "allocations": [{"split_id": a.split_id, "token": a.token, "amount": str(a.amount),
                         "proof": ["0x" + p.hex() for p in tree.proof(a)]} for a in allocations],
        "root": "0x" + tree.root.hex(),
    }


def report_bytes(report: dict[str, Any]) -> bytes:
    return json.dumps(report, sort_keys=True, indent=1).encode()


# ------------------------------------------------------------------ checking a published epoch

EPOCH_PUBLISHED = "0x" + keccak(text="EpochPublished(uint256,bytes32,string)").hex()
POOL_SETTLED = "0x" + keccak(text="PoolSettled(uint256,address,uint256,uint256,uint256,uint256)").hex()


def published_epoch(rpc: Any, contract: str, epoch: int, from_block: int) -> tuple[str, str, dict[str, Settlement]]:
    """(root, report CID, settlements by token) as the contract's events recorded them."""
    topic = "0x" + epoch.to_bytes(32, "big").hex()
    head = rpc.block_number()
    logs = rpc.call("eth_getLogs", [{"address": contract, "fromBlock": hex(from_block), "toBlock": hex(head),
                                     "topics": [[EPOCH_PUBLISHED, POOL_SETTLED], topic]}])
    root = cid = None
    settled: dict[str, Settlement] = {}
    for log in logs:
        data = bytes.fromhex(log["data"][2:])
        if log["topics"][0].lower() == EPOCH_PUBLISHED:
            root_bytes, cid = decode(["bytes32", "string"], data)
            root = "0x" + root_bytes.hex()
        else:
            token = "0x" + log["topics"][2][-40:].lower()
            pool, allocated, fee, _carried = decode(["uint256"] * 4, data)
            settled[token] = Settlement(token, pool, allocated, fee)
    if root is None or cid is None:
        raise LookupError(f"epoch {epoch} has not been published by {contract}")
    return root, cid, settled


def check_report(report: dict[str, Any], *, contract: str, epoch: int, root: str,
                 settled: dict[str, Settlement]) -> list[str]:
    """Every way the report disagrees with its own rules or with the chain."""
    diffs: list[str] = []
    if report.get("epoch") != epoch:
        diffs.append(f"the report is for epoch {report.get('epoch')}, not {epoch}")
    if str(report.get("contract", "")).lower() != contract.lower():
        diffs.append(f"the report is for contract {report.get('contract')}, not {contract.lower()}")
    fee_bps = int(report["rules"]["platform_fee_bps"])
    if fee_bps > 1000:
        diffs.append(f"the report's platform fee is {fee_bps} bps, above the 10% cap")
    pools = [(p["token"].lower(), int(p["pool"])) for p in report["pools"]]
    for token, pool in pools:
        chain = settled.get(token)
        if chain is None:
            diffs.append(f"the report has a pool in {token} that the contract did not settle")
        elif chain.pool != pool:
            diffs.append(f"pool {token}: {pool} in the report, {chain.pool} on chain")
    for token in settled.keys() - {t for t, _ in pools}:
        diffs.append(f"the contract settled a pool in {token} that the report leaves out")
    per_split: dict[str, int] = {}
    for d in report["downloads"]:
        per_split[d["split_id"]] = per_split.get(d["split_id"], 0) + int(d["count"])
    listed = {s["split_id"]: int(s["downloads"]) for s in report["splits"]}
    if listed != per_split:
        diffs.append("the per-split download counts do not add up from the per-track counts")
    allocations, settlements = allocate(pools, per_split, fee_bps)
    want = {(a.split_id, a.token): a.amount for a in allocations}
    have = {(a["split_id"], a["token"].lower()): int(a["amount"]) for a in report["allocations"]}
    for key in sorted(want.keys() | have.keys()):
        if want.get(key, 0) != have.get(key, 0):
            diffs.append(f"allocation to split {key[0]} in {key[1]}: {have.get(key, 0)} in the report, "
                         f"{want.get(key, 0)} by its rules")
    for s in settlements:
        chain = settled.get(s.token)
        if chain is not None and (chain.allocated, chain.platform_fee) != (s.allocated, s.platform_fee):
            diffs.append(f"settlement {s.token}: the rules give allocated {s.allocated} and fee {s.platform_fee}, "
                         f"the contract recorded {chain.allocated} and {chain.platform_fee}")
    recomputed = "0x" + tree_of(epoch, allocations).root.hex()
    if recomputed != root.lower():
        diffs.append(f"Merkle root: {recomputed} from the rules, {root.lower()} on chain")
    if str(report.get("root", "")).lower() != root.lower():
        diffs.append(f"Merkle root: {report.get('root')} in the report, {root.lower()} on chain")
    for a in report["allocations"]:
        node = leaf(epoch, Allocation(a["split_id"], a["token"].lower(), int(a["amount"])))
        if not verify(bytes.fromhex(root[2:]), [bytes.fromhex(p[2:]) for p in a["proof"]], node):
            diffs.append(f"the proof for split {a['split_id']} in {a['token']} does not lead to the root")
    return diffs
