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
            args[inp["name"]] = _normalise(inp["type"], decode([inp["type"]], bytes.fromhex(topic[2:]))[0])
        data = bytes.fromhex(log["data"][2:]) if log.get("data", "0x") != "0x" else b""
        if plain:
            values = decode([i["type"] for i in plain], data)
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
