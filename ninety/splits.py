"""A split as the contract takes it: recipients in ascending address order, checksummed,
with their shares. Apart from ninety.market so that what only needs this (the API's
attestations) does not load web3 with it."""
from __future__ import annotations

from typing import Sequence

from eth_abi import encode
from eth_utils import keccak, to_checksum_address


def sorted_split(pairs: Sequence[tuple[str, int]]) -> tuple[list[str], list[int]]:
    ordered = sorted(((to_checksum_address(a), s) for a, s in pairs), key=lambda p: int(p[0], 16))
    return [a for a, _ in ordered], [s for _, s in ordered]


def split_id(recipients: list[str], shares: list[int]) -> str:
    """The id the contract gives a split: keccak256(abi.encode(recipients, shares))."""
    return "0x" + keccak(encode(["address[]", "uint32[]"], [recipients, shares])).hex().removeprefix("0x")
