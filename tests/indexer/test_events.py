"""Ninety's own ABI decoding gives, for every Marketplace event shape, the values eth_abi
encoded, as the ledger keeps them; malformed data is refused."""
from __future__ import annotations

import random
from typing import Any

import pytest
from eth_abi import encode

from ninety.ledger.events import Decoder, _text


def _normalise(abi_type: str, value: Any) -> Any:
    """A value given to eth_abi's encoder, as the ledger keeps it."""
    if abi_type.endswith("[]"):
        return [_normalise(abi_type[:-2], v) for v in value]
    if abi_type == "string":
        return _text(value.encode() if isinstance(value, str) else bytes(value))
    if abi_type == "address":
        return str(value).lower()
    if abi_type.startswith("bytes"):
        return "0x" + bytes(value).hex()
    return value


def test_fast_decoding_matches_eth_abi_for_every_event():
    rng = random.Random(1)
    decoder = Decoder()

    def value(t: str):
        if t.endswith("[]"):
            return [value(t[:-2]) for _ in range(rng.randint(0, 3))]
        if t == "address":
            return "0x" + rng.randbytes(20).hex()
        if t == "bool":
            return rng.random() < 0.5
        if t == "bytes32":
            return rng.randbytes(32)
        if t == "string":
            return "bafkrei" + rng.randbytes(8).hex()
        bits = int(t.removeprefix("uint"))
        return rng.choice([0, 1, (1 << bits) - 1, rng.getrandbits(bits)])

    for topic0, abi in decoder.events.items():
        for _ in range(20):
            values = {i["name"]: value(i["type"]) for i in abi["inputs"]}
            indexed = [i for i in abi["inputs"] if i["indexed"]]
            plain = [i for i in abi["inputs"] if not i["indexed"]]
            log = {
                "topics": [topic0] + ["0x" + encode([i["type"]], [values[i["name"]]]).hex() for i in indexed],
                "data": "0x" + encode([i["type"] for i in plain], [values[i["name"]] for i in plain]).hex(),
                "blockNumber": "0x5", "blockHash": "0x" + "ab" * 32, "transactionHash": "0x" + "cd" * 32,
                "logIndex": "0x2", "blockTimestamp": "0x10",
            }
            event = decoder.decode(log)
            assert event is not None and event.name == abi["name"]
            expected = {i["name"]: _normalise(i["type"], values[i["name"]]) for i in abi["inputs"]}
            assert event.args == expected
            # The bulk path (compiled per kind for static data) gives the very same Event.
            assert decoder.decode_all([log]) == [event]


def test_logs_of_unknown_events_are_skipped():
    assert Decoder().decode({"topics": ["0x" + "00" * 32], "data": "0x"}) is None


def test_event_strings_that_are_not_utf8_or_hold_nul_are_kept_the_same_on_every_database():
    """The contract stores whatever bytes a caller sends as a string; eth_abi refused bytes
    that are not UTF-8 (so one listing stopped every ledger at its block) and PostgreSQL
    text refuses NUL. Both become U+FFFD, whichever database the ledger is on."""
    decoder = Decoder()
    topic0, abi = next((t, a) for t, a in decoder.events.items() if a["name"] == "TrackRegistered")
    indexed = [i for i in abi["inputs"] if i["indexed"]]
    plain = [i for i in abi["inputs"] if not i["indexed"]]
    raw = b"bafy\x00nul\xff\xfeend"

    def word(t: str, n: int):
        return b"\x11" * 32 if t == "bytes32" else ("0x" + "22" * 20 if t == "address" else n)

    values = [raw if i["type"] == "string" else word(i["type"], 7) for i in plain]
    log = {
        "topics": [topic0] + ["0x" + encode([i["type"]], [word(i["type"], 3)]).hex() for i in indexed],
        "data": "0x" + encode(["bytes" if i["type"] == "string" else i["type"] for i in plain], values).hex(),
        "blockNumber": "0x5", "blockHash": "0x" + "ab" * 32, "transactionHash": "0x" + "cd" * 32,
        "logIndex": "0x2", "blockTimestamp": "0x10",
    }
    (event,) = decoder.decode_all([log])
    strings = [event.args[i["name"]] for i in plain if i["type"] == "string"]
    assert strings and all(s == "bafy\ufffdnul\ufffd\ufffdend" for s in strings)


def test_malformed_dynamic_data_is_refused_not_misread():
    """An offset or a length pointing past the data (a lying or broken node: the contract
    never emits one) raises, rather than giving a short string or list."""
    decoder = Decoder()
    topic0, abi = next((t, a) for t, a in decoder.events.items() if a["name"] == "SplitCreated")
    indexed = [i for i in abi["inputs"] if i["indexed"]]
    plain = [i for i in abi["inputs"] if not i["indexed"]]
    good = encode([i["type"] for i in plain], [["0x" + "22" * 20, "0x" + "33" * 20], [600_000, 400_000]])
    base = {"topics": [topic0] + ["0x" + "00" * 32] * len(indexed), "blockNumber": "0x5",
            "blockHash": "0x" + "ab" * 32, "transactionHash": "0x" + "cd" * 32, "logIndex": "0x2"}
    assert decoder.decode({**base, "data": "0x" + good.hex()}).args["sharesPpm"] == [600_000, 400_000]
    truncated = good[:-32]
    huge_length = good[:64] + (2**64).to_bytes(32, "big") + good[96:]
    far_offset = (10**6).to_bytes(32, "big") + good[32:]
    for data in (truncated, huge_length, far_offset, b""):
        with pytest.raises(ValueError):
            decoder.decode({**base, "data": "0x" + data.hex()})
