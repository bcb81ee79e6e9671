"""Token symbols and decimals, for showing amounts next to their unit."""
from __future__ import annotations

import threading

from ninety.chain import Rpc
from ninety.contract import ETH, Deployment
from ninety.reads import Read, read_many


class Tokens:
    def __init__(self, rpc: Rpc | None, deployment: Deployment | None) -> None:
        self._rpc = rpc
        self._cache: dict[str, tuple[str, int]] = {ETH: ("ETH", 18)}
        self._lock = threading.Lock()
        for token in (deployment.tokens.values() if deployment else ()):
            self._cache[token.address.lower()] = (token.symbol, token.decimals)

    def info(self, token: str) -> tuple[str, int]:
        token = token.lower()
        with self._lock:
            if token in self._cache:
                return self._cache[token]
        rpc = self._rpc
        symbol, decimals = "?", 0
        if rpc is not None:
            try:
                (raw_symbol,), (raw_decimals,) = read_many(rpc, [Read(token, "symbol()", out=("string",)),
                                                                 Read(token, "decimals()", out=("uint8",))])
                symbol, decimals = raw_symbol[:20], int(raw_decimals)
            except Exception:  # not an ERC-20 with metadata, or the node is down
                return symbol, decimals  # not cached: try again next time
        with self._lock:
            self._cache[token] = (symbol, decimals)
        return symbol, decimals
