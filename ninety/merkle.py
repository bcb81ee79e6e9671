"""Merkle trees of sponsor-pool allocations, as the contract checks them with
OpenZeppelin's MerkleProof: a leaf is keccak256(keccak256(abi.encode(epoch, splitId,
token, amount))) (hashed twice, so a leaf can never pass for an inner node), and each
inner node hashes its two children in ascending order, so a proof is just the siblings.

The same tree holds an epoch's counted free downloads: a leaf is
keccak256(keccak256(abi.encode(epoch, wallet, trackId))) (`listen_leaf`), its root
published as `listensRoot`, so a listener can prove its download is in the report.

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


def listen_leaf(epoch: int, wallet: str, track_id: int) -> bytes:
    """The leaf of one recorded free download in an epoch's listens tree."""
    from web3 import Web3

    return keccak(keccak(encode(["uint256", "address", "uint256"], [epoch, Web3.to_checksum_address(wallet), track_id])))


def _pair(x: bytes, y: bytes) -> bytes:
    return keccak(x + y) if x < y else keccak(y + x)


class LeafTree:
    """A tree over already-hashed leaves (sorted, so their order does not matter)."""

    def __init__(self, leaves: list[bytes]) -> None:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        self.leaves = sorted(leaves)
        if len(set(self.leaves)) != len(self.leaves):
            raise ValueError("two identical leaves: merge them into one")
        self._index = {node: i for i, node in enumerate(self.leaves)}
        self.levels = [self.leaves]
        while len(self.levels[-1]) > 1:
            level = self.levels[-1]
            # An odd node out moves up unchanged.
            self.levels.append([_pair(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                                for i in range(0, len(level), 2)])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof_of(self, node: bytes) -> list[bytes]:
        index = self._index[node]
        out = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                out.append(level[sibling])
            index //= 2
        return out


class MerkleTree(LeafTree):
    """An epoch's allocations tree (what `claimFromPool` checks)."""

    def __init__(self, epoch: int, allocations: list[Allocation]) -> None:
        if not allocations:
            raise ValueError("an epoch with no allocations has no Merkle tree")
        self.epoch = epoch
        super().__init__([leaf(epoch, a) for a in allocations])

    def proof(self, a: Allocation) -> list[bytes]:
        return self.proof_of(leaf(self.epoch, a))


def verify(root: bytes, proof: list[bytes], node: bytes) -> bool:
    for sibling in proof:
        node = _pair(node, sibling)
    return node == root
