"""A small JSON-RPC client for EVM nodes: batching, timeouts and classified errors.

web3.py is used where convenience matters (deploys, contract calls); the indexer's hot
path (eth_getLogs, block headers) goes through this client, which makes one HTTP request
per batch and tells "retry later" apart from "ask for less".
"""
from __future__ import annotations

import itertools
import logging
import random
import time
from typing import Any, Callable, Sequence, TypeVar

import requests

from ninety.errors import ChainError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Messages nodes and providers use when a getLogs query is too big (Geth, Erigon, Alchemy,
# Infura, QuickNode, Anvil...). Matching is case-insensitive.
_TOO_BIG = (
    "too many", "more than", "limit exceeded", "range", "response size", "query timeout",
    "block range", "exceed", "too large", "10000 results",
)


class RpcError(ChainError):
    """The node answered with a JSON-RPC error."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class RpcTransientError(RpcError, ConnectionError):
    """Worth retrying: connection refused or reset, timeout, HTTP 429 or 5xx."""


class RpcTooBigError(RpcError):
    """The query asked for too much at once: ask for a smaller block range."""


BATCH_CHUNK = 100  # calls per JSON-RPC batch in batch_chunked


class Rpc:
    def __init__(self, url: str, *, timeout: float = 15.0) -> None:
        self.url = url
        self.timeout = timeout
        self._http = requests.Session()
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._http.close()

    def _post(self, payload: Any) -> Any:
        try:
            resp = self._http.post(self.url, json=payload, timeout=self.timeout)
        except requests.Timeout as e:
            raise RpcTransientError(f"{self.url} did not answer within {self.timeout:g} s") from e
        except requests.RequestException as e:
            raise RpcTransientError(f"cannot reach {self.url}: {e.__class__.__name__}") from e
        if resp.status_code == 429 or resp.status_code >= 500:
            raise RpcTransientError(f"{self.url} answered HTTP {resp.status_code}")
        if resp.status_code == 413:
            raise RpcTooBigError(f"{self.url} answered HTTP 413 (request too large)")
        if resp.status_code != 200:
            raise RpcError(f"{self.url} answered HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            return resp.json()
        except ValueError as e:
            raise RpcTransientError(f"{self.url} answered something that is not JSON") from e

    @staticmethod
    def _result(answer: dict[str, Any], method: str) -> Any:
        error = answer.get("error")
        if error:
            message = str(error.get("message", error))
            code = error.get("code")
            lowered = message.lower()
            if method == "eth_getLogs" and (code in (-32005, -32602) or any(s in lowered for s in _TOO_BIG)):
                raise RpcTooBigError(f"{method}: {message}", code)
            if code in (-32603, 429) or "rate" in lowered or "timeout" in lowered or "busy" in lowered:
                raise RpcTransientError(f"{method}: {message}", code)
            raise RpcError(f"{method}: {message}", code)
        if "result" not in answer:
            raise RpcTransientError(f"{method}: answer without a result")
        return answer["result"]

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        answer = self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        if not isinstance(answer, dict):
            raise RpcTransientError(f"{method}: malformed answer")
        return self._result(answer, method)

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several calls in one HTTP request; results in the order of `calls`."""
        if not calls:
            return []
        first = next(self._ids)
        payload = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)]
        for _ in range(len(calls) - 1):
            next(self._ids)
        answers = self._post(payload)
        if not isinstance(answers, list) or len(answers) != len(calls):
            raise RpcTransientError("batch answer does not match the request")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        return [self._result(by_id.get(first + i, {}), m) for i, (m, _) in enumerate(calls)]

    def batch_chunked(self, calls: Sequence[tuple[str, Sequence[Any]]], chunk: int = BATCH_CHUNK) -> list[Any]:
        """Any number of calls, sent as batches of at most `chunk` (providers cap batch
        sizes, commonly at 100, and a huge batch is one huge request); results in order.
        A batch the provider finds too large is split in two and sent again."""
        out: list[Any] = []
        for i in range(0, len(calls), chunk):
            part = calls[i : i + chunk]
            try:
                out += self.batch(part)
            except RpcTooBigError:
                if len(part) == 1:
                    raise
                out += self.batch_chunked(part, max(1, len(part) // 2))
        return out

    # Typed helpers used by the indexer.

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def get_code(self, address: str) -> str:
        return str(self.call("eth_getCode", [address, "latest"]))

    def headers(self, numbers: Sequence[int]) -> list[dict[str, Any]]:
        """Block headers (no transactions) for `numbers`, in one batch."""
        blocks = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        for n, b in zip(numbers, blocks):
            if b is None:
                raise RpcTransientError(f"block {n} is not available (yet)")
        return blocks

    def get_logs(self, address: str, from_block: int, to_block: int) -> list[dict[str, Any]]:
        return list(self.call("eth_getLogs", [{"address": address, "fromBlock": hex(from_block), "toBlock": hex(to_block)}]))


def with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    attempts: int | None = 8,
    base_delay: float = 0.2,
    max_delay: float = 10.0,
    on_retry: Callable[[Exception, float], None] | None = None,
) -> T:
    """Call `fn`, retrying transient RPC errors with exponential backoff and jitter.

    `attempts=None` retries forever (the indexer following the head waits out an outage)."""
    for attempt in itertools.count(1):
        try:
            return fn()
        except RpcTransientError as e:
            if attempts is not None and attempt >= attempts:
                raise
            delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            if on_retry:
                on_retry(e, delay)
            else:
                log.warning("%s failed (%s); retrying in %.1f s", what, e, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")
