"""The fast word decoder agrees with eth_abi on every Marketplace event shape."""
from __future__ import annotations

import random

from eth_abi import encode

from ninety.ledger.events import Decoder, _normalise


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
