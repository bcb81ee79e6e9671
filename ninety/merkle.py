"""Merkle trees of sponsor-pool allocations, as the contract checks them with
OpenZeppelin's MerkleProof: a leaf is keccak256(keccak256(abi.encode(epoch, splitId,
token, amount))) (hashed twice, so a leaf can never pass for an inner node), and each
inner node hashes its two children in ascending order, so a proof is just the siblings.

Leaves are sorted before the tree is built: the same allocations give the same root
whatever order they are listed in, which lets anyone rebuild the root from a report."""
from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak


@dataclass(frozen=True)
class Allocation:
    split_id: str  # 0x-prefixed 32 bytes
    token: str  # 0x-prefixed 20 bytes; the zero address for ETH
    amount: int


def leaf(epoch: int, a: Allocation) -> bytes:
    inner = keccak(encode(["uint256", "bytes32", "address", "uint256"],
                          [epoch, bytes.fromhex(a.split_id[2:]), a.token, a.amount]))
    return keccak(inner)


def _pair(x: bytes, y: bytes) -> bytes:
    return keccak(x + y) if x < y else keccak(y + x)


class MerkleTree:
    def __init__(self, epoch: int, allocations: list[Allocation]) -> None:
        if not allocations:
            raise ValueError("an epoch with no allocations has no Merkle tree")
        self.epoch = epoch
        self.leaves = sorted(leaf(epoch, a) for a in allocations)
        if len(set(self.leaves)) != len(self.leaves):
            raise ValueError("two identical allocations: merge them into one")
        self.levels = [self.leaves]
        while len(self.levels[-1]) > 1:
            level = self.levels[-1]
            # An odd node out moves up unchanged.
            self.levels.append([_pair(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                                for i in range(0, len(level), 2)])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, a: Allocation) -> list[bytes]:
        index = self.leaves.index(leaf(self.epoch, a))
        out = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                out.append(level[sibling])
            index //= 2
        return out


def verify(root: bytes, proof: list[bytes], node: bytes) -> bool:
    for sibling in proof:
        node = _pair(node, sibling)
    return node == root
