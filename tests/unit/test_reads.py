"""ninety.reads: calls encoded as the ABI says, many reads in one batch, answers decoded
in the order asked; against a recorded-answer RPC stand-in, no node."""
from __future__ import annotations

from typing import Any

from eth_abi import encode

from ninety.contract import ETH
from ninety.reads import Read, calldata, eth_call, onchain_balances, onchain_holdings, onchain_pools, onchain_rules

CONTRACT = "0x" + "c0" * 20
ALICE = "0x" + "a1" * 20
USDC = "0x" + "05" * 20
SPLIT = "0x" + "5b" * 32


class FakeRpc:
    """Answers eth_call from a table keyed by (to, data, block tag), and records batches."""

    def __init__(self, answers: dict[tuple[str, str, str], str], balances: dict[str, int] | None = None) -> None:
        self.answers = answers
        self.balances = balances or {}
        self.batches: list[list[tuple[str, list[Any]]]] = []
        self.calls: list[tuple[str, list[Any]]] = []

    def _answer(self, method: str, params: list[Any]) -> str:
        if method == "eth_getBalance":
            return hex(self.balances[params[0]])
        assert method == "eth_call"
        return self.answers[(params[0]["to"], params[0]["data"], params[1])]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[str]:
        self.batches.append(list(calls))
        return [self._answer(m, p) for m, p in calls]

    def call(self, method: str, params: list[Any]) -> str:
        self.calls.append((method, params))
        return self._answer(method, params)


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def test_calldata_is_the_selector_then_the_abi_encoded_arguments():
    assert calldata("balanceOf(address)", [ALICE]) == "0x70a08231" + "00" * 12 + "a1" * 20
    assert calldata("decimals()") == "0x313ce567"
    assert calldata("owed(address,address)", [ALICE, ETH]) == (
        "0x28079e4a" + encode(["address", "address"], [ALICE, ETH]).hex())


def test_a_read_decodes_its_answer_by_its_output_types():
    read = Read(CONTRACT, "poolRulesHash(uint256)", (3,), ("bytes32",))
    method, params = read.request(12)
    assert method == "eth_call" and params == [{"to": CONTRACT, "data": calldata("poolRulesHash(uint256)", [3])}, "0xc"]
    assert read.decode("0x" + "ab" * 32) == (b"\xab" * 32,)


def test_balances_are_read_in_one_batch_at_the_block_asked():
    block = 0x20
    rpc = FakeRpc({
        (CONTRACT, calldata("owed(address,address)", [ALICE, ETH]), hex(block)): word(7),
        (CONTRACT, calldata("owed(address,address)", [ALICE, USDC]), hex(block)): word(0),
        (CONTRACT, calldata("splitBalance(bytes32,address)", [bytes.fromhex(SPLIT[2:]), ETH]), hex(block)): word(2**200),
    })
    owed, splits = onchain_balances(rpc, CONTRACT, block, [(ALICE, ETH), (ALICE, USDC)], [(SPLIT, ETH)])
    assert owed == {(ALICE, ETH): 7, (ALICE, USDC): 0} and splits == {(SPLIT, ETH): 2**200}
    assert len(rpc.batches) == 1 and len(rpc.batches[0]) == 3 and not rpc.calls


def test_pools_pair_balance_with_unclaimed_per_key():
    keys = [(1, ETH), (2, USDC)]
    answers = {}
    for n, (e, t) in enumerate(keys):
        answers[(CONTRACT, calldata("poolBalance(uint256,address)", [e, t]), "0x5")] = word(100 + n)
        answers[(CONTRACT, calldata("poolUnclaimed(uint256,address)", [e, t]), "0x5")] = word(10 + n)
    assert onchain_pools(FakeRpc(answers), CONTRACT, 5, keys) == [(100, 10), (101, 11)]


def test_rules_hashes_come_back_as_hex():
    rpc = FakeRpc({(CONTRACT, calldata("poolRulesHash(uint256)", [4]), "0x9"): "0x" + "12" * 32})
    assert onchain_rules(rpc, CONTRACT, 9, [4]) == ["0x" + "12" * 32]


def test_holdings_read_eth_as_a_balance_and_a_token_with_balance_of_in_the_same_batch():
    rpc = FakeRpc({(USDC, calldata("balanceOf(address)", [CONTRACT]), "0x3"): word(55)}, balances={CONTRACT: 9})
    assert onchain_holdings(rpc, CONTRACT, 3, [ETH, USDC]) == [9, 55]
    assert [m for m, _ in rpc.batches[0]] == ["eth_getBalance", "eth_call"]


def test_nothing_to_read_sends_nothing():
    rpc = FakeRpc({})
    assert onchain_balances(rpc, CONTRACT, 1, [], []) == ({}, {})
    assert onchain_pools(rpc, CONTRACT, 1, []) == []
    assert rpc.batches == [] and rpc.calls == []


def test_a_single_call_is_one_request_at_latest_by_default():
    rpc = FakeRpc({(CONTRACT, calldata("epochSeconds()"), "latest"): word(3600)})
    assert eth_call(rpc, CONTRACT, "epochSeconds()", out=["uint32"]) == (3600,)
    assert len(rpc.calls) == 1 and not rpc.batches
