"""Decoding Marketplace logs, in bulk, from the ABI (no RPC call per event)."""
from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Callable, Iterable

from ninety.contract import load_abi


# Not frozen: a frozen dataclass is built through object.__setattr__ per field, and a
# backfill builds hundreds of thousands (1.2 us each against 0.2 us). Nothing changes one.
@dataclass(slots=True)
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


def _expression(abi_type: str, value: str, *, topic: bool) -> str:
    """Python source converting `value` (a topic, "0x" and 64 hex digits, or a data word of
    64 hex digits) of a static `abi_type`, as `_word` does; a non-static indexed value is
    only its hash, kept as the topic."""
    word = f"{value}[2:]" if topic else value
    if abi_type not in _STATIC:
        return f"{value}.lower()"
    if abi_type == "address":
        return f"'0x' + {value}[{26 if topic else 24}:].lower()"
    if abi_type == "bool":
        return f"int({word}, 16) != 0"
    if abi_type == "bytes32":
        return f"{value}.lower()" if topic else f"'0x' + {value}.lower()"
    if abi_type.startswith("uint"):
        return f"int({word}, 16)"
    return f"_word({abi_type!r}, {word})"


def _compiled(name: str, indexed: list[dict[str, Any]], plain: list[dict[str, Any]]
              ) -> Callable[[list[str], str, int, str, int | None, str, int], "Event"]:
    """`f(topics, data, block_number, block_hash, block_time, tx_hash, log_index)`: the Event
    of a log of one kind whose data is static words only, as one expression compiled from
    its ABI entry (a loop over the arguments with a converter each made a backfill's decoding
    twice as slow). The names compiled are the ABI's own, written as literals."""
    args = [f"{i['name']!r}: {_expression(i['type'], f't[{n}]', topic=True)}" for n, i in enumerate(indexed, start=1)]
    args += [f"{i['name']!r}: {_expression(i['type'], f'd[{2 + 64 * n}:{66 + 64 * n}]', topic=False)}"
             for n, i in enumerate(plain)]
    source = f"lambda t, d, bn, bh, bt, tx, li: Event({name!r}, {{{', '.join(args)}}}, bn, bh, bt, tx, li)"
    return eval(source, {"Event": Event, "_word": _word})  # noqa: S307


_POSITION = attrgetter("block_number", "log_index")


def _keccak(text: str) -> bytes:
    """keccak256, from pycryptodome when it is there: eth_utils costs a third of a second
    to import, and `ninety index` needs it only for the event signatures."""
    try:
        from Crypto.Hash import keccak
    except ImportError:  # pragma: no cover - eth-hash's other backends
        from eth_utils import keccak as eth_keccak

        return bytes(eth_keccak(text=text))
    return keccak.new(digest_bits=256, data=text.encode()).digest()


def _text(raw: bytes) -> str:
    """An event's string as the ledger keeps it, the same on SQLite and PostgreSQL: bytes that
    are not UTF-8, and NUL (which PostgreSQL text cannot hold), become U+FFFD. Before, one
    listing whose metadata CID held a NUL stopped a PostgreSQL ledger at its block for good
    (and invalid UTF-8 stopped both): anyone may list when no catalog signer is set."""
    return raw.decode("utf-8", "replace").replace("\x00", "\ufffd")


def _dynamic(types: list[str], data: str) -> list[Any]:
    """Event data with dynamic types (string, bytes, arrays of static types), as the ledger
    keeps each value; bounds-checked, a malformed encoding raises ValueError. eth_abi did this
    at a 50 ms import cost; the tests check both agree on every event shape."""
    raw = bytes.fromhex(data[2:])

    def word(at: int) -> bytes:
        if at < 0 or at + 32 > len(raw):
            raise ValueError(f"ABI data of {len(raw)} bytes has no word at {at}")
        return raw[at:at + 32]

    def number(at: int) -> int:
        return int.from_bytes(word(at), "big")

    out: list[Any] = []
    for n, t in enumerate(types):
        if t in _STATIC:
            out.append(_word(t, word(32 * n).hex()))
            continue
        start = number(32 * n)
        length = number(start)
        if t in ("string", "bytes"):
            if start + 32 + length > len(raw):
                raise ValueError(f"ABI {t} of {length} bytes at {start} runs past the data")
            value = raw[start + 32:start + 32 + length]
            out.append(_text(value) if t == "string" else "0x" + value.hex())
        elif t.endswith("[]") and t[:-2] in _STATIC:
            if start + 32 + 32 * length > len(raw):
                raise ValueError(f"ABI {t} of {length} items at {start} runs past the data")
            out.append([_word(t[:-2], word(start + 32 + 32 * i).hex()) for i in range(length)])
        else:
            raise ValueError(f"ABI type {t} is not one the Marketplace's events use")
    return out


class Decoder:
    """topic0 -> event ABI, for the Marketplace's events."""

    def __init__(self, abi: list[dict[str, Any]] | None = None) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        for item in abi or load_abi("Marketplace"):
            if item.get("type") != "event":
                continue
            signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            self.events["0x" + _keccak(signature).hex()] = item
        # topic0 -> (topics a log of it has, its compiled decoder), for the kinds whose data
        # is static words only; the others (dynamic data: eth_abi) go through `decode`.
        self._fast: dict[str, tuple[int, Callable[..., Event]]] = {}
        for topic, item in self.events.items():
            indexed = [i for i in item["inputs"] if i["indexed"]]
            plain = [i for i in item["inputs"] if not i["indexed"]]
            if all(i["type"] in _STATIC for i in plain):
                self._fast[topic] = (len(indexed) + 1, _compiled(item["name"], indexed, plain))

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
            for inp, value in zip(plain, _dynamic([i["type"] for i in plain], data)):
                args[inp["name"]] = value
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
        """Every log this contract version defines, as Events in chain order. Static-only
        events (sales, distributions, withdrawals: nearly every log of a busy contract) take
        a path with the converters chosen ahead; the rest go through `decode`."""
        events = []
        fast, slow = self._fast, self.decode
        for log in logs:
            if log.get("removed"):
                continue
            topics = log.get("topics")
            spec = (fast.get(topics[0]) or fast.get(topics[0].lower())) if topics else None
            if spec is None or len(topics) != spec[0]:
                e = slow(log)
                if e is not None:
                    events.append(e)
                continue
            stamp = log.get("blockTimestamp")
            events.append(spec[1](topics, log.get("data") or "0x", int(log["blockNumber"], 16),
                                  log["blockHash"].lower(), int(stamp, 16) if stamp else None,
                                  log["transactionHash"].lower(), int(log["logIndex"], 16)))
        events.sort(key=_POSITION)
        return events
