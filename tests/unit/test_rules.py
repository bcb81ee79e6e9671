"""ninety.epochs.rules: the rules document, its committed hash, and the epoch clock."""
from __future__ import annotations

import pytest
from eth_utils import keccak

from ninety.epochs.rules import EpochClock, Rules, canonical, default_rules, rules_hash

USDC = "0x" + "aB" * 20


def test_the_default_rules_hold_lower_case_tokens_and_amounts_as_text():
    rules = default_rules(500, {USDC: 10**6, "0x" + "00" * 20: 10**15})
    assert rules["version"] == 2 and rules["window_epochs"] == 4 and rules["multiplier"] == 1
    assert rules["platform_fee_bps"] == 500
    assert rules["qualifying_amount"] == {"0x" + "00" * 20: "1000000000000000", USDC.lower(): "1000000"}
    assert Rules.parse(rules) == Rules(window=4, multiplier=1, fee_bps=500,
                                       qualifying={"0x" + "00" * 20: 10**15, USDC.lower(): 10**6})


def test_the_committed_bytes_are_sorted_compact_ascii_json_and_the_hash_is_their_keccak():
    doc = {"b": 1, "a": {"z": "é", "y": [1, 2]}}
    assert canonical(doc) == b'{"a":{"y":[1,2],"z":"\\u00e9"},"b":1}'
    assert rules_hash(doc) == keccak(b'{"a":{"y":[1,2],"z":"\\u00e9"},"b":1}')
    assert rules_hash({"a": {"y": [1, 2], "z": "é"}, "b": 1}) == rules_hash(doc)  # key order does not matter


@pytest.mark.parametrize("change, message", [
    ({"window_epochs": 0}, "out of range"),
    ({"window_epochs": 53}, "out of range"),
    ({"multiplier": -1}, "out of range"),
    ({"platform_fee_bps": 1001}, "out of range"),
    ({"qualifying_amount": {USDC: "0"}}, "above zero"),
    ({"qualifying_amount": ["not", "a", "map"]}, "not Ninety pool rules"),
    ({"window_epochs": "four"}, "not Ninety pool rules"),
    ({"multiplier": None}, "not Ninety pool rules"),
])
def test_rules_out_of_range_or_of_another_shape_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        Rules.parse({**default_rules(500, {USDC: 1}), **change})


def test_rules_without_a_field_are_refused():
    rules = default_rules(500, {USDC: 1})
    del rules["multiplier"]
    with pytest.raises(ValueError, match="not Ninety pool rules"):
        Rules.parse(rules)


def test_the_clock_cuts_block_time_into_half_open_epochs():
    clock = EpochClock(start=1000, seconds=3600)
    assert [clock.epoch_at(t) for t in (0, 999, 1000, 4599, 4600, 8200)] == [0, 0, 0, 0, 1, 2]
    assert clock.start_of(2) == 8200 and clock.end_of(2) == 11800
    assert clock.start_of(-3) == 1000  # before epoch 0 is epoch 0's start
    assert clock.window(5, 4) == (8200, 22600)  # epochs 2..5
    assert clock.window(1, 4) == (1000, 8200)  # a window reaching before epoch 0 starts at 0
