"""Decoding Marketplace logs, in bulk, from the ABI (no RPC call per event)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from eth_abi import decode
from eth_utils import keccak

from ninety.contract import load_abi


@dataclass(frozen=True)
class Event:
    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    block_time: int | None
    tx_hash: str
    log_index: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.tx_hash, self.log_index)

    @property
    def position(self) -> tuple[int, int]:
        return (self.block_number, self.log_index)


_STATIC = ("address", "bool", "bytes32") + tuple(f"uint{n}" for n in range(8, 257, 8)) + tuple(f"int{n}" for n in range(8, 257, 8))


def _word(abi_type: str, word: str) -> Any:
    """A 32-byte ABI word (64 hex digits) as a value; only for static types. Much faster
    than eth_abi for the hot path, and checked against it in the tests."""
    if abi_type == "address":
        return "0x" + word[24:].lower()
    if abi_type == "bool":
        return int(word, 16) != 0
    if abi_type == "bytes32":
        return "0x" + word.lower()
    value = int(word, 16)
    if abi_type.startswith("int") and value >= 1 << 255:
        value -= 1 << 256
    return value


def _normalise(abi_type: str, value: Any) -> Any:
    if abi_type.endswith("[]"):
        return [_normalise(abi_type[:-2], v) for v in value]
    if abi_type == "address":
        return str(value).lower()
    if abi_type.startswith("bytes"):
        return "0x" + bytes(value).hex()
    return value


class Decoder:
    """topic0 -> event ABI, for the Marketplace's events."""

    def __init__(self, abi: list[dict[str, Any]] | None = None) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        for item in abi or load_abi("Marketplace"):
            if item.get("type") != "event":
                continue
            signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            self.events["0x" + keccak(text=signature).hex()] = item

    @property
    def topics(self) -> list[str]:
        return list(self.events)

    def decode(self, log: dict[str, Any]) -> Event | None:
        """An Event, or None for a log this contract version does not define."""
        topics = log.get("topics") or []
        abi = self.events.get(topics[0].lower()) if topics else None
        if abi is None:
            return None
        indexed = [i for i in abi["inputs"] if i["indexed"]]
        plain = [i for i in abi["inputs"] if not i["indexed"]]
        args: dict[str, Any] = {}
        for inp, topic in zip(indexed, topics[1:]):
            # Indexed dynamic values are only their hash: kept as the topic.
            args[inp["name"]] = _word(inp["type"], topic[2:]) if inp["type"] in _STATIC else topic.lower()
        data = log.get("data") or "0x"
        if plain and all(i["type"] in _STATIC for i in plain):
            for n, inp in enumerate(plain):
                args[inp["name"]] = _word(inp["type"], data[2 + 64 * n : 66 + 64 * n])
        elif plain:
            values = decode([i["type"] for i in plain], bytes.fromhex(data[2:]))
            for inp, value in zip(plain, values):
                args[inp["name"]] = _normalise(inp["type"], value)
        stamp = log.get("blockTimestamp")
        return Event(
            name=abi["name"],
            args=args,
            block_number=int(log["blockNumber"], 16),
            block_hash=log["blockHash"].lower(),
            block_time=int(stamp, 16) if stamp else None,
            tx_hash=log["transactionHash"].lower(),
            log_index=int(log["logIndex"], 16),
        )

    def decode_all(self, logs: Iterable[dict[str, Any]]) -> list[Event]:
        events = [e for e in (self.decode(log) for log in logs if not log.get("removed")) if e is not None]
        events.sort(key=lambda e: e.position)
        return events
