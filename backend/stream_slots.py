"""Caps on long downloads held open at once, per wallet and per client address.

A release's zip reads and decrypts up to 100 originals from IPFS for as long as its
client keeps reading, and a free release's zip is open to any signed-in wallet (signing
in costs nothing): without a cap, one client could hold any number open. A rate limit
counts how often downloads start, not how many are running; this counts the running
ones. Each takes one slot of its wallet and one of its client address; past either cap
the answer is 429 with Retry-After.

A slot is taken before the first byte is fetched and given back exactly once: when the
stream ends, fails, or its client goes away, or when the request fails before a stream
was made (`release` is idempotent, and callers call it on every path).

The counts are this process's (like NINETY_MAX_DECODES): with `ninety serve --workers N`
a wallet may hold up to N times the cap, still a fixed bound. A cap of 0 means none."""
from __future__ import annotations

import threading
from typing import Any, Iterator

from starlette.responses import StreamingResponse

from backend.errors import ApiError

Scope = dict[str, Any]
RETRY_AFTER = 30  # seconds: long enough for a short download to finish


class Slot:
    """One running download's places; `release` gives them back (once)."""

    def __init__(self, owner: "StreamSlots", keys: tuple[str, ...]) -> None:
        self._owner = owner
        self._keys = keys
        self._released = False

    def release(self) -> None:
        self._owner._give_back(self)

    def guard(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """`chunks`, releasing the slot when they end, raise, or are closed unfinished."""
        try:
            yield from chunks
        finally:
            self.release()


class StreamSlots:
    """Running downloads of one kind (`what`, for the refusal), counted per wallet and
    per client address."""

    def __init__(self, what: str, per_wallet: int, per_client: int, wallet_setting: str, client_setting: str) -> None:
        self.what = what
        self.per_wallet = max(0, per_wallet)
        self.per_client = max(0, per_client)
        self._settings = {"wallet": wallet_setting, "client": client_setting}
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}

    def held(self, wallet: str | None = None, client: str | None = None) -> int:
        """How many slots `wallet` (or `client`) holds now."""
        key = f"wallet:{wallet.lower()}" if wallet is not None else f"client:{client}"
        with self._lock:
            return self._held.get(key, 0)

    def take(self, wallet: str, client: str) -> Slot:
        """A slot for `wallet` at `client`, or ApiError 429 if either has its cap running."""
        checks = (("wallet", f"wallet:{wallet.lower()}", self.per_wallet),
                  ("client", f"client:{client}", self.per_client))
        with self._lock:
            for kind, key, cap in checks:
                if cap and self._held.get(key, 0) >= cap:
                    who = "your wallet" if kind == "wallet" else "your address"
                    raise ApiError(429, f"{who} already has {cap} {self.what} downloading, this server's limit "
                                        f"({self._settings[kind]}); let one finish, then try again",
                                   headers={"Retry-After": str(RETRY_AFTER)})
            keys = tuple(key for _, key, cap in checks if cap)
            for key in keys:
                self._held[key] = self._held.get(key, 0) + 1
        return Slot(self, keys)

    def _give_back(self, slot: Slot) -> None:
        with self._lock:
            if slot._released:
                return
            slot._released = True
            for key in slot._keys:
                left = self._held.get(key, 0) - 1
                if left > 0:
                    self._held[key] = left
                else:
                    self._held.pop(key, None)


class SlotStreamingResponse(StreamingResponse):
    """A StreamingResponse that gives its slot back however the response ends: Starlette
    stops iterating a body whose client went away without closing the iterator, so the
    iterator's own `finally` may run only when it is garbage-collected."""

    def __init__(self, content: Iterator[bytes], slot: Slot, **kwargs: Any) -> None:
        super().__init__(slot.guard(content), **kwargs)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()
