"""ninety.merkle: leaves and trees as OpenZeppelin's MerkleProof checks them. Expected
values are built here from keccak and hand-written ABI words, not by the module."""
from __future__ import annotations

import pytest
from eth_utils import keccak

from ninety.contract import ETH
from ninety.merkle import Allocation, LeafTree, MerkleTree, leaf, listen_leaf, verify

USDC = "0x" + "ab" * 20
SPLIT_A = "0x" + "0a" * 32
SPLIT_B = "0x" + "0b" * 32
SPLIT_C = "0x" + "0c" * 32


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def node(x: bytes, y: bytes) -> bytes:
    return keccak(min(x, y) + max(x, y))


def test_an_allocation_leaf_is_the_double_keccak_of_its_abi_words():
    a = Allocation(SPLIT_A, USDC, 12345)
    words = word(7) + bytes.fromhex(SPLIT_A[2:]) + address_word(USDC) + word(12345)
    assert leaf(7, a) == keccak(keccak(words))


def test_a_listen_leaf_is_the_double_keccak_of_epoch_wallet_track_whatever_the_wallets_case():
    wallet = "0x" + "5c" * 20
    expected = keccak(keccak(word(3) + address_word(wallet) + word(42)))
    assert listen_leaf(3, wallet, 42) == expected
    assert listen_leaf(3, wallet.upper().replace("0X", "0x"), 42) == expected


def test_the_same_allocation_in_another_epoch_is_another_leaf():
    a = Allocation(SPLIT_A, ETH, 1)
    assert leaf(1, a) != leaf(2, a)


def test_two_leaves_hash_in_ascending_order_and_each_proof_is_the_other_leaf():
    x, y = keccak(b"x"), keccak(b"y")
    tree = LeafTree([y, x])
    assert tree.root == keccak(min(x, y) + max(x, y))
    assert tree.proof_of(x) == [y] and tree.proof_of(y) == [x]
    assert verify(tree.root, [y], x) and verify(tree.root, [x], y)


def test_an_odd_leaf_moves_up_unchanged():
    leaves = sorted(keccak(bytes([i])) for i in range(3))
    tree = LeafTree(list(reversed(leaves)))
    low = node(leaves[0], leaves[1])
    assert tree.root == node(low, leaves[2])
    assert tree.proof_of(leaves[2]) == [low]  # no sibling at the bottom level
    assert tree.proof_of(leaves[0]) == [leaves[1], leaves[2]]
    for x in leaves:
        assert verify(tree.root, tree.proof_of(x), x)


def test_a_single_leaf_is_its_own_root_with_an_empty_proof():
    x = keccak(b"only")
    tree = LeafTree([x])
    assert tree.root == x and tree.proof_of(x) == []
    assert verify(x, [], x)


def test_the_root_does_not_depend_on_the_order_of_the_allocations():
    allocations = [Allocation(SPLIT_A, ETH, 5), Allocation(SPLIT_B, ETH, 9), Allocation(SPLIT_C, USDC, 1),
                   Allocation(SPLIT_A, USDC, 2), Allocation(SPLIT_B, USDC, 3)]
    forward = MerkleTree(4, allocations)
    backward = MerkleTree(4, list(reversed(allocations)))
    assert forward.root == backward.root
    for a in allocations:
        assert verify(forward.root, forward.proof(a), leaf(4, a))


def test_a_proof_does_not_verify_another_amount_epoch_or_root():
    a, b = Allocation(SPLIT_A, ETH, 5), Allocation(SPLIT_B, ETH, 9)
    tree = MerkleTree(4, [a, b])
    proof = tree.proof(a)
    assert not verify(tree.root, proof, leaf(4, Allocation(SPLIT_A, ETH, 6)))
    assert not verify(tree.root, proof, leaf(5, a))
    assert not verify(MerkleTree(4, [a, Allocation(SPLIT_B, ETH, 10)]).root, proof, leaf(4, a))


def test_empty_trees_and_duplicate_leaves_are_refused():
    with pytest.raises(ValueError, match="at least one leaf"):
        LeafTree([])
    with pytest.raises(ValueError, match="no allocations"):
        MerkleTree(1, [])
    with pytest.raises(ValueError, match="identical"):
        MerkleTree(1, [Allocation(SPLIT_A, ETH, 1), Allocation(SPLIT_A, ETH, 1)])
