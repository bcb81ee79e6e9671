"""The one JSON-RPC client for EVM nodes: batching, adaptive eth_getLogs, rate limits and
classified errors.

web3.py is used where convenience matters (deploys, transactions); every read Ninety makes
in bulk (eth_getLogs, block headers, eth_call at a block) goes through `Rpc`, which fits
itself to what the provider accepts, whatever words its errors use:

- `get_logs` splits a range the node refuses (any error, any wording) and retries the
  halves; a one-block range that still fails is a real error, shown with the node's own
  message. The largest range that worked is remembered, per provider, for every caller.
  `NINETY_INDEX_MAX_RANGE` caps it.
- `batch` sends at most `NINETY_RPC_BATCH` calls per request; a provider that caps
  batches lower is followed down, one that refuses them is detected from its answer once
  and gets single calls from then on. Its own error text is logged and reported.
- HTTP 429 and -32005-style "rate limit" answers are retried with jittered backoff,
  honouring `Retry-After`; `NINETY_RPC_RPS` caps the HTTP requests each process makes to
  the provider (a batch is one request), web3.py's included (`ninety.rpc_limits.http_provider`,
  where what is learnt about each provider is kept).
- A state read at a block the node has pruned raises `MissingStateError` ("this node is
  not an archive node; … needs state at block N").
"""
from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from typing import Any, Callable, Sequence, TypeVar

import orjson
import requests

from ninety.errors import ChainError
from ninety.rpc_limits import (RATE_LIMIT_ATTEMPTS, RateLimited, backoff, describe, error_text, hint_from_error,
                               provider_for, rate_error, retry_after)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Words nodes use when the state of an old block is gone (Geth, Erigon, Nethermind, Besu,
# Reth and hosted providers).
_PRUNED_WORDS = ("missing trie node", "header not found", "state not available", "state is not available",
                 "pruned", "historical state", "not an archive", "archive node", "state histories",
                 "world state not available", "state unavailable", "no state available", "unknown block",
                 "state at block", "required historical state", "state for block")
_STATE_METHODS = {"eth_call": 1, "eth_getBalance": 1, "eth_getCode": 1, "eth_getStorageAt": 2,
                  "eth_getTransactionCount": 1, "eth_estimateGas": 1, "eth_getProof": 2}


_JSON = {"Content-Type": "application/json"}
# The longest answer read: memory stays bounded even when a range turns out far denser than
# the ranges before it (an eth_getLogs answer is parsed whole). ~100,000 logs.
MAX_ANSWER_BYTES = 96 * 1024 * 1024


class RpcError(ChainError):
    """The node answered with a JSON-RPC error (the node's own message is in the text)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class RpcTransientError(RpcError, ConnectionError):
    """Worth retrying: connection refused or reset, timeout, HTTP 429 or 5xx."""


class RpcRateLimitedError(RpcTransientError):
    """The provider kept saying "slow down" (429, -32005) past our patience."""


class RpcTooBigError(RpcError):
    """The query asked for too much at once (HTTP 413 or a known "too big" answer)."""


class MissingStateError(RpcError):
    """The node has no state for the block asked about: it is not an archive node."""

    def __init__(self, block: int, node_message: str, code: int | None = None, what: str = "Ninety") -> None:
        self.block = block
        self.node_message = node_message
        self.what = what
        super().__init__(f"this node is not an archive node; {what} needs state at block {block} (the node "
                         f"answered: {node_message}). Point NINETY_RPC_URL at an archive node (any provider's "
                         "archive endpoint, or a node run with --gcmode=archive)", code)

    def needs(self, what: str) -> "MissingStateError":
        """The same error, naming what needed the state ("reconciliation", "verify")."""
        return MissingStateError(self.block, self.node_message, self.code, what)


# ------------------------------------------------------------------ the client


class _NotABatch(Exception):
    """The provider answered a batch with something else; `text` is its own words."""

    def __init__(self, text: str, size: int | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.size = size  # how many calls it did answer, when it answered fewer


class Rpc:
    def __init__(self, url: str, *, timeout: float = 15.0, batch: int | None = None, max_range: int | None = None,
                 rps: float | None = None, max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        """`batch`, `max_range` and `rps` default to NINETY_RPC_BATCH, NINETY_INDEX_MAX_RANGE
        and NINETY_RPC_RPS. An answer longer than `max_answer_bytes` is abandoned while it
        arrives and counts as "too big" (eth_getLogs then splits its range)."""
        self.url = url
        self.max_answer_bytes = max_answer_bytes
        self.timeout = timeout
        self.provider = provider_for(url, batch, max_range, rps)
        self._http = requests.Session()
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    @property
    def log_span(self) -> int:
        """The getLogs range this provider is known to take (it grows while it does)."""
        return self.provider.span

    @property
    def batch_size(self) -> int:
        return self.provider.batch_size if self.provider.batches else 1

    # ---------------------------------------------------------------- transport

    def _send(self, payload: Any) -> Any:
        """One HTTP request, paced, with "slow down" answers waited out (bounded)."""
        for attempt in itertools.count(1):
            self.provider.pacer.wait()
            try:
                return self._post_once(payload)
            except RateLimited as e:
                if attempt >= RATE_LIMIT_ATTEMPTS:
                    raise RpcRateLimitedError(f"{self.url} kept rate-limiting us ({e}); set NINETY_RPC_RPS below "
                                              "the provider's limit") from None
                delay = backoff(attempt, e.delay)
                log.info("%s: %s; waiting %.2f s", self.url, e, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _post_once(self, payload: Any) -> Any:
        try:
            # orjson both ways: an eth_getLogs answer of 10,000 logs is ~7 MB of JSON, and the
            # standard library's parser took a third of a backfill's time on it.
            resp = self._http.post(self.url, data=orjson.dumps(payload), headers=_JSON, timeout=self.timeout,
                                   stream=True)
            content = self._read(resp)
        except requests.Timeout as e:
            raise RpcTransientError(f"{self.url} did not answer within {self.timeout:g} s") from e
        except requests.RequestException as e:
            raise RpcTransientError(f"cannot reach {self.url}: {e.__class__.__name__}") from e
        try:
            body: Any = orjson.loads(content)
        except ValueError:  # orjson.JSONDecodeError is one
            body = None
        if resp.status_code == 429:
            raise RateLimited(f"HTTP 429 {describe(body) if body is not None else _text(content)[:120]}".strip(),
                               retry_after(resp.headers))
        if body is not None:
            rate = rate_error(body)
            if rate is not None:
                raise RateLimited(describe(rate), retry_after(resp.headers) or hint_from_error(rate))
        if resp.status_code == 413:
            raise RpcTooBigError(f"{self.url} answered HTTP 413 (request too large): {_text(content)[:200]}")
        if resp.status_code >= 500 and body is None:
            raise RpcTransientError(f"{self.url} answered HTTP {resp.status_code}: {_text(content)[:200]}")
        if resp.status_code != 200 and body is None:
            raise RpcError(f"{self.url} answered HTTP {resp.status_code}: {_text(content)[:200]}")
        if body is None:
            raise RpcTransientError(f"{self.url} answered something that is not JSON: {_text(content)[:120]!r}")
        if resp.status_code >= 500:
            code = body["error"].get("code") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
            raise RpcTransientError(f"{self.url} answered HTTP {resp.status_code}: {describe(body)}", code)
        return body

    def _read(self, resp: requests.Response) -> bytes:
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_answer_bytes:
            resp.close()
            raise RpcTooBigError(f"{self.url} answered {int(declared):,} bytes, more than the {self.max_answer_bytes:,} "
                                 "read at once")
        chunks, size = [], 0
        for chunk in resp.iter_content(1 << 20):
            size += len(chunk)
            if size > self.max_answer_bytes:
                resp.close()
                raise RpcTooBigError(f"{self.url} answered more than the {self.max_answer_bytes:,} bytes read at once")
            chunks.append(chunk)
        return b"".join(chunks)

    def _next_ids(self, n: int) -> int:
        with self._id_lock:
            first = next(self._ids)
            for _ in range(n - 1):
                next(self._ids)
        return first

    @staticmethod
    def _result(answer: Any, method: str, params: Sequence[Any] = ()) -> Any:
        if not isinstance(answer, dict):
            raise RpcTransientError(f"{method}: malformed answer {describe(answer)}")
        error = answer.get("error")
        if error:
            message = error_text(error)
            code = error.get("code") if isinstance(error, dict) else None
            lowered = message.lower()
            if method in _STATE_METHODS and any(w in lowered for w in _PRUNED_WORDS):
                block = _block_of(method, params)
                if block is not None:
                    raise MissingStateError(block, message, code)
            if code == -32603 or "timeout" in lowered or "timed out" in lowered or "busy" in lowered:
                raise RpcTransientError(f"{method}: {message}", code)
            raise RpcError(f"{method}: {message}", code)
        if "result" not in answer:
            raise RpcTransientError(f"{method}: answer without a result: {describe(answer)}")
        return answer["result"]

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        answer = self._send({"jsonrpc": "2.0", "id": self._next_ids(1), "method": method, "params": list(params)})
        if isinstance(answer, list) and len(answer) == 1:
            answer = answer[0]
        return self._result(answer, method, params)

    # ---------------------------------------------------------------- batches

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Any number of calls, results in the order of `calls`: sent in batches of at most
        NINETY_RPC_BATCH (or what the provider was found to take), or one by one to a
        provider that refuses batches."""
        out: list[Any] = []
        i = 0
        while i < len(calls):
            p = self.provider
            if not p.batches:
                out += [self.call(m, params) for m, params in calls[i:]]
                break
            size = min(p.batch_size, len(calls) - i)
            part = calls[i:i + size]
            if size == 1:
                out.append(self.call(*part[0]))
                i += 1
                continue
            try:
                out += self._batch_once(part)
            except RpcTooBigError as e:
                self.provider.batch_refused(self.url, size, f"{e}", None)
                continue
            except _NotABatch as e:
                self.provider.batch_refused(self.url, size, e.text, e.size)
                continue
            i += size
        return out

    def batch_chunked(self, calls: Sequence[tuple[str, Sequence[Any]]], chunk: int | None = None) -> list[Any]:
        """Kept for callers written before `batch` chunked by itself."""
        return self.batch(calls)

    def _batch_once(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        first = self._next_ids(len(calls))
        payload = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)]
        answers = self._send(payload)
        if not isinstance(answers, list):
            raise _NotABatch(describe(answers))
        errors = [a for a in answers if isinstance(a, dict) and a.get("error")]
        if answers and len(errors) == len(answers) and "batch" in describe(errors[0]).lower():
            raise _NotABatch(describe(errors[0]))  # the same complaint about the batch, per call
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        missing = [i for i in range(len(calls)) if first + i not in by_id]
        if missing:
            if errors and len(errors) == len(answers):  # one batch-level complaint, in a list
                raise _NotABatch(describe(errors[0]))
            answered = len(calls) - len(missing)
            raise _NotABatch(f"answered {answered} of {len(calls)} calls" + (f": {describe(errors[0])}" if errors else ""),
                             answered if answered > 0 else None)
        return [self._result(by_id[first + i], m, p) for i, (m, p) in enumerate(calls)]

    # ---------------------------------------------------------------- eth_getLogs

    def get_logs(self, address: str, from_block: int, to_block: int,
                 topics: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Every log of `address` (matching `topics`) in [from_block, to_block], in order,
        in as many queries as the provider needs: a refused range of more than one block is
        halved and retried, whatever the provider's words; a refused single block is a real
        error with the node's own message. Rate limits are waited out inside; transient
        failures (a 5xx, an unreachable node) propagate for the caller to retry."""
        return self.get_logs_until(address, from_block, to_block, topics)[0]

    def get_logs_until(self, address: str, from_block: int, to_block: int, topics: Sequence[Any] | None = None,
                       max_logs: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """As `get_logs`, but stops after the query that brings the logs to `max_logs` or
        more: (the logs, the last block they cover). What one caller holds is then bounded
        by `max_logs` plus one answer (itself capped in bytes), however many logs the range
        turns out to hold: a burst after a quiet stretch, whose density nobody could know."""
        out: list[dict[str, Any]] = []
        low = from_block
        refusals = 0
        while low <= to_block:
            size = min(self.provider.span, to_block - low + 1)
            high = low + size - 1
            query: dict[str, Any] = {"address": address, "fromBlock": hex(low), "toBlock": hex(high)}
            if topics is not None:
                query["topics"] = list(topics)
            try:
                logs = self.call("eth_getLogs", [query])
                if not isinstance(logs, list):
                    raise RpcError(f"eth_getLogs: the answer is not a list of logs: {describe(logs)}")
            except RpcRateLimitedError:
                raise
            except RpcTransientError as e:
                # A timeout or a JSON-RPC error may mean "too much at once"; a refused
                # connection or a bare 5xx does not.
                if size <= 1 or not ("did not answer" in str(e) or e.code is not None):
                    raise
                self._refused(size, e)
                refusals += 1
                continue
            except RpcError as e:
                if size <= 1:
                    raise RpcError(f"eth_getLogs for block {low} failed even alone, so it is not about the range: "
                                   f"{e}", e.code) from None
                refusals += 1
                if refusals > 64:
                    raise RpcError(f"eth_getLogs kept failing while splitting the range ({e})", e.code) from None
                self._refused(size, e)
                continue
            self.provider.logs_worked(size)
            refusals = 0  # the bound is on refusals in a row (each halves the range)
            out += logs
            if max_logs is not None and len(out) >= max_logs and high < to_block:
                return out, high
            low = high + 1
        return out, to_block

    def _refused(self, size: int, e: Exception) -> None:
        span = self.provider.logs_refused(size)
        log.info("eth_getLogs over %d blocks refused (%s); now %d blocks per query", size, e, span)

    # ---------------------------------------------------------------- typed helpers

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def get_code(self, address: str) -> str:
        return str(self.call("eth_getCode", [address, "latest"]))

    def headers(self, numbers: Sequence[int]) -> list[dict[str, Any]]:
        """Block headers (no transactions) for `numbers`, in batches."""
        blocks = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        for n, b in zip(numbers, blocks):
            if b is None:
                raise RpcTransientError(f"block {n} is not available (yet)")
        return blocks


def _text(content: bytes) -> str:
    return content.decode("utf-8", "replace")


def _block_of(method: str, params: Sequence[Any]) -> int | None:
    i = _STATE_METHODS.get(method)
    if i is None or len(params) <= i:
        return None
    tag = params[i]
    if isinstance(tag, dict):
        tag = tag.get("blockNumber")
    if isinstance(tag, str) and tag.startswith("0x"):
        return int(tag, 16)
    if isinstance(tag, int):
        return tag
    return None


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
