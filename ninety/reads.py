"""Contract reads: `eth_call`s with the ABI encoding done in one place, sent as JSON-RPC
batches through `ninety.chain.Rpc` (which chunks them to what the provider takes).

Every view the project reads in bulk (`owed`, `splitBalance`, `poolBalance`,
`poolUnclaimed`, `poolRulesHash`, `releaseTracks`, an ERC-20's `balanceOf`) goes through
`read_many`, so
`ninety verify`, the API's reconciliation and summaries, and the epoch job read the
contract the same way. A read is always at an explicit block when the caller compares
it with the ledger: the ledger is complete up to a checkpoint block, not up to "latest".
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

from eth_abi import decode, encode
from eth_utils import keccak

from ninety.contract import ETH


@lru_cache(maxsize=256)
def _function(signature: str) -> tuple[bytes, tuple[str, ...]]:
    """(selector, input types) of `name(type,...)`; computed once per signature."""
    inputs = signature[signature.index("(") + 1:-1]
    return bytes(keccak(text=signature))[:4], tuple(t for t in inputs.split(",") if t)


def selector(signature: str) -> bytes:
    return _function(signature)[0]


def calldata(signature: str, args: Sequence[Any] = ()) -> str:
    """The call's data as 0x-hex: selector and ABI-encoded arguments."""
    sel, types = _function(signature)
    return "0x" + (sel + encode(list(types), list(args))).hex()


def _tag(block: int | str) -> str:
    return hex(block) if isinstance(block, int) else block


@dataclass(frozen=True)
class Read:
    """One view call: `to.signature(*args)`, answering the ABI types `out`."""
    to: str
    signature: str
    args: tuple[Any, ...] = ()
    out: tuple[str, ...] = ("uint256",)

    def request(self, block: int | str) -> tuple[str, list[Any]]:
        return ("eth_call", [{"to": self.to, "data": calldata(self.signature, self.args)}, _tag(block)])

    def decode(self, raw: str) -> tuple[Any, ...]:
        return tuple(decode(list(self.out), bytes.fromhex(raw[2:])))


def read_many(rpc: Any, reads: Sequence[Read], block: int | str = "latest") -> list[tuple[Any, ...]]:
    """Every read at `block`, in JSON-RPC batches; answers in the order of `reads`. A
    node without the state of `block` raises MissingStateError (ninety.chain)."""
    if not reads:
        return []
    return [r.decode(raw) for r, raw in zip(reads, rpc.batch([r.request(block) for r in reads]))]


def eth_call(rpc: Any, contract: str, signature: str, args: Sequence[Any] = (), out: Sequence[str] = (),
             block: int | str = "latest") -> tuple[Any, ...]:
    """One view call through `rpc` at `block` (a single request, not a batch)."""
    read = Read(contract, signature, tuple(args), tuple(out))
    return read.decode(rpc.call(*read.request(block)))


# ------------------------------------------------------------------ the Marketplace's balances


def onchain_owed(rpc: Any, contract: str, block: int, keys: Sequence[tuple[str, str]]) -> list[int]:
    """owed(account, token) for each (account, token) at `block`."""
    return [int(v) for (v,) in read_many(rpc, [Read(contract, "owed(address,address)", k) for k in keys], block)]


def onchain_balances(rpc: Any, contract: str, block: int, accounts: list[tuple[str, str]],
                     splits: list[tuple[str, str]]) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """({(account, token): owed}, {(split id, token): splitBalance}) at `block`, in one batch."""
    reads = [Read(contract, "owed(address,address)", (a, t)) for a, t in accounts]
    reads += [Read(contract, "splitBalance(bytes32,address)", (bytes.fromhex(s[2:]), t)) for s, t in splits]
    values = [int(v) for (v,) in read_many(rpc, reads, block)]
    return dict(zip(accounts, values[: len(accounts)])), dict(zip(splits, values[len(accounts):]))


def onchain_pools(rpc: Any, contract: str, block: int, keys: Sequence[tuple[int, str]]) -> list[tuple[int, int]]:
    """(poolBalance, poolUnclaimed) for each (epoch, token) at `block`."""
    reads = [Read(contract, name, (e, t)) for name in ("poolBalance(uint256,address)", "poolUnclaimed(uint256,address)")
             for e, t in keys]
    values = [int(v) for (v,) in read_many(rpc, reads, block)]
    return list(zip(values[: len(keys)], values[len(keys):]))


def onchain_rules(rpc: Any, contract: str, block: int, epochs: Sequence[int]) -> list[str]:
    """poolRulesHash(epoch) at `block` for each epoch, as 0x-hex."""
    reads = [Read(contract, "poolRulesHash(uint256)", (e,), ("bytes32",)) for e in epochs]
    return ["0x" + bytes(h).hex() for (h,) in read_many(rpc, reads, block)]


def onchain_release_tracks(rpc: Any, contract: str, block: int, ids: Sequence[int]) -> list[list[int]]:
    """releaseTracks(id) at `block` for each id, in order (empty for a track); one batch."""
    reads = [Read(contract, "releaseTracks(uint256)", (i,), ("uint256[]",)) for i in ids]
    return [[int(t) for t in members] for (members,) in read_many(rpc, reads, block)]


def onchain_holdings(rpc: Any, contract: str, block: int, tokens: Sequence[str]) -> list[int]:
    """What `contract` holds of each token at `block`: its ETH balance for ETH (the zero
    address), `balanceOf(contract)` for an ERC-20; one batch."""
    reads = [None if t == ETH else Read(t, "balanceOf(address)", (contract,)) for t in tokens]
    calls = [("eth_getBalance", [contract, _tag(block)]) if r is None else r.request(block) for r in reads]
    return [int(raw, 16) if r is None else int(r.decode(raw)[0]) for r, raw in zip(reads, rpc.batch(calls))]
