"""Token symbols and decimals, for showing amounts next to their unit."""
from __future__ import annotations

import threading

from eth_abi import decode

from ninety.chain import Rpc
from ninety.contract import ETH, Deployment

_SYMBOL = "0x95d89b41"  # symbol()
_DECIMALS = "0x313ce567"  # decimals()


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
                raw_symbol, raw_decimals = rpc.batch_chunked([
                    ("eth_call", [{"to": token, "data": _SYMBOL}, "latest"]),
                    ("eth_call", [{"to": token, "data": _DECIMALS}, "latest"]),
                ])
                symbol = decode(["string"], bytes.fromhex(raw_symbol[2:]))[0][:20]
                decimals = int(decode(["uint8"], bytes.fromhex(raw_decimals[2:]))[0])
            except Exception:  # not an ERC-20 with metadata, or the node is down
                return symbol, decimals  # not cached: try again next time
        with self._lock:
            self._cache[token] = (symbol, decimals)
        return symbol, decimals
