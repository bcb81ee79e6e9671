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
  the provider (a batch is one request), web3.py's included (`http_provider`).
- A state read at a block the node has pruned raises `MissingStateError` ("this node is
  not an archive node; … needs state at block N").
"""
from __future__ import annotations

import email.utils
import itertools
import json
import logging
import os
import random
import re
import threading
import time
from typing import Any, Callable, Mapping, Sequence, TypeVar

import requests

from ninety.errors import ChainError

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_BATCH = 100
DEFAULT_MAX_RANGE = 50_000
INITIAL_RANGE = 2_000
RATE_LIMIT_ATTEMPTS = 8  # answers "slow down" in a row before giving up (the caller may retry on)
MAX_WAIT = 60.0  # the longest Retry-After honoured (seconds)

# Words providers use for "slow down" (HTTP 200 answers with a JSON-RPC error).
_RATE_WORDS = ("rate limit", "rate-limit", "ratelimit", "too many requests", "request rate", "requests per second",
               "exceeded the rate", "capacity", "throughput", "compute units", "slow down", "try again in",
               "daily request count", "rate exceeded", "retry after", "retry-after", "per second")
# Words nodes use when the state of an old block is gone (Geth, Erigon, Nethermind, Besu,
# Reth and hosted providers).
_PRUNED_WORDS = ("missing trie node", "header not found", "state not available", "state is not available",
                 "pruned", "historical state", "not an archive", "archive node", "state histories",
                 "world state not available", "state unavailable", "no state available", "unknown block",
                 "state at block", "required historical state", "state for block")
_STATE_METHODS = {"eth_call": 1, "eth_getBalance": 1, "eth_getCode": 1, "eth_getStorageAt": 2,
                  "eth_getTransactionCount": 1, "eth_estimateGas": 1, "eth_getProof": 2}


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


# ------------------------------------------------------------------ settings and shared state


def _env_number(env: Mapping[str, str], name: str, default: float, cast: Callable[[str], float]) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return cast(raw)
    except ValueError:
        from ninety.errors import ConfigError

        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def rpc_settings(env: Mapping[str, str] | None = None) -> tuple[int, int, float]:
    """(batch size, largest getLogs range, requests per second or 0) from the environment:
    NINETY_RPC_BATCH, NINETY_INDEX_MAX_RANGE, NINETY_RPC_RPS."""
    env = os.environ if env is None else env
    batch = int(_env_number(env, "NINETY_RPC_BATCH", DEFAULT_BATCH, lambda s: int(s, 0)))
    max_range = int(_env_number(env, "NINETY_INDEX_MAX_RANGE", DEFAULT_MAX_RANGE, lambda s: int(s, 0)))
    rps = float(_env_number(env, "NINETY_RPC_RPS", 0.0, float))
    return max(1, batch), max(1, max_range), max(0.0, rps)


class _Pacer:
    """At most `rps` requests per second from this process to one provider (0: no cap)."""

    def __init__(self, rps: float) -> None:
        self.rps = rps
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.rps <= 0:
            return
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + 1.0 / self.rps
        if at > now:
            time.sleep(at - now)


class Provider:
    """What this process has learnt about one RPC endpoint; shared by every `Rpc` (and
    web3 provider) pointed at the same URL, so one caller's discovery serves the others."""

    def __init__(self, batch: int, max_range: int, rps: float) -> None:
        self.lock = threading.Lock()
        self.batch_size = batch
        self.batches = True  # False once the provider refused a batch and took a single call
        self.batch_note = ""  # the provider's answer that taught us the above
        self.max_range = max_range
        self.span = min(INITIAL_RANGE, max_range)  # the next getLogs range to try
        self.largest_ok = 0  # the largest getLogs range that worked
        self.refused = False  # a getLogs range was refused: grow no further than largest_ok
        self.pacer = _Pacer(rps)

    def logs_worked(self, size: int) -> None:
        with self.lock:
            self.largest_ok = max(self.largest_ok, size)
            if size >= self.span:
                cap = self.largest_ok if self.refused else self.max_range
                self.span = max(self.span, min(cap, self.max_range, self.span * 2))

    def logs_refused(self, size: int) -> int:
        with self.lock:
            self.refused = True
            self.span = max(1, min(self.span, size // 2))
            return self.span


_providers: dict[tuple[str, int, int, float], Provider] = {}
_providers_lock = threading.Lock()


def provider_for(url: str, batch: int | None = None, max_range: int | None = None, rps: float | None = None) -> Provider:
    env_batch, env_range, env_rps = rpc_settings()
    key = (url, batch or env_batch, max_range or env_range, env_rps if rps is None else rps)
    with _providers_lock:
        p = _providers.get(key)
        if p is None:
            p = _providers[key] = Provider(key[1], key[2], key[3])
        return p


# ------------------------------------------------------------------ classifying answers


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _backoff(attempt: int, hinted: float | None) -> float:
    if hinted is not None:
        return min(MAX_WAIT, hinted) + random.uniform(0, 0.25)  # a little later than asked, never earlier
    return min(10.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random())


def _hint_from_error(error: Mapping[str, Any]) -> float | None:
    """A "try again in Ns / N ms" or {"backoff_seconds": N} hint in a JSON-RPC error."""
    data = error.get("data")
    if isinstance(data, dict):
        for where in (data, data.get("rate")):
            if isinstance(where, dict):
                for k in ("backoff_seconds", "retry_after", "retryAfter"):
                    if isinstance(where.get(k), (int, float)):
                        return float(where[k])
    m = re.search(r"(?:try again|retry)[^0-9]{0,20}([0-9.]+)\s*(ms|s|sec|seconds?)\b", str(error.get("message", "")), re.I)
    if m:
        value = float(m.group(1))
        return value / 1000 if m.group(2).lower() == "ms" else value
    return None


def _is_rate_limit(error: Mapping[str, Any]) -> bool:
    message = str(error.get("message", "")).lower()
    code = error.get("code")
    if code == 429 or any(w in message for w in _RATE_WORDS):
        return True
    # -32005 is "limit exceeded": a rate limit unless it is about the size of a query.
    return code == -32005 and not any(w in message for w in ("result", "range", "block", "size", "response"))


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        message = str(error.get("message", error))
        data = error.get("data")
        if isinstance(data, str) and data and data not in message:
            message += f" ({data})"
        return message
    return str(error)


def _describe(answer: Any, limit: int = 300) -> str:
    """The provider's own words in an answer that is not what we asked for."""
    if isinstance(answer, dict) and "error" in answer:
        e = answer["error"]
        code = f" (code {e.get('code')})" if isinstance(e, dict) and e.get("code") is not None else ""
        return f"{_error_text(e)[:limit]}{code}"
    if isinstance(answer, list) and answer and all(isinstance(a, dict) and a.get("error") for a in answer):
        return _describe(answer[0], limit)
    text = answer if isinstance(answer, str) else json.dumps(answer)
    return text[:limit]


class _RateLimited(Exception):
    def __init__(self, what: str, delay: float | None) -> None:
        super().__init__(what)
        self.delay = delay


class _NotABatch(Exception):
    """The provider answered a batch with something else; `text` is its own words."""

    def __init__(self, text: str, size: int | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.size = size  # how many calls it did answer, when it answered fewer


# ------------------------------------------------------------------ the client


class Rpc:
    def __init__(self, url: str, *, timeout: float = 15.0, batch: int | None = None, max_range: int | None = None,
                 rps: float | None = None) -> None:
        """`batch`, `max_range` and `rps` default to NINETY_RPC_BATCH, NINETY_INDEX_MAX_RANGE
        and NINETY_RPC_RPS."""
        self.url = url
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
            except _RateLimited as e:
                if attempt >= RATE_LIMIT_ATTEMPTS:
                    raise RpcRateLimitedError(f"{self.url} kept rate-limiting us ({e}); set NINETY_RPC_RPS below "
                                              "the provider's limit") from None
                delay = _backoff(attempt, e.delay)
                log.info("%s: %s; waiting %.2f s", self.url, e, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _post_once(self, payload: Any) -> Any:
        try:
            resp = self._http.post(self.url, json=payload, timeout=self.timeout)
        except requests.Timeout as e:
            raise RpcTransientError(f"{self.url} did not answer within {self.timeout:g} s") from e
        except requests.RequestException as e:
            raise RpcTransientError(f"cannot reach {self.url}: {e.__class__.__name__}") from e
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        if resp.status_code == 429:
            raise _RateLimited(f"HTTP 429 {_describe(body) if body is not None else resp.text[:120]}".strip(),
                               _retry_after(resp.headers))
        if body is not None:
            rate = self._rate_error(body)
            if rate is not None:
                raise _RateLimited(_describe(rate), _retry_after(resp.headers) or _hint_from_error(rate))
        if resp.status_code == 413:
            raise RpcTooBigError(f"{self.url} answered HTTP 413 (request too large): {resp.text[:200]}")
        if resp.status_code >= 500 and body is None:
            raise RpcTransientError(f"{self.url} answered HTTP {resp.status_code}: {resp.text[:200]}")
        if resp.status_code != 200 and body is None:
            raise RpcError(f"{self.url} answered HTTP {resp.status_code}: {resp.text[:200]}")
        if body is None:
            raise RpcTransientError(f"{self.url} answered something that is not JSON: {resp.text[:120]!r}")
        if resp.status_code >= 500:
            code = body["error"].get("code") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
            raise RpcTransientError(f"{self.url} answered HTTP {resp.status_code}: {_describe(body)}", code)
        return body

    @staticmethod
    def _rate_error(body: Any) -> dict[str, Any] | None:
        """The error object if the answer (or every element of a batch answer, or any)
        says "slow down"."""
        items = body if isinstance(body, list) else [body]
        for a in items:
            if isinstance(a, dict) and isinstance(a.get("error"), dict) and _is_rate_limit(a["error"]):
                return a["error"]
        return None

    def _next_ids(self, n: int) -> int:
        with self._id_lock:
            first = next(self._ids)
            for _ in range(n - 1):
                next(self._ids)
        return first

    @staticmethod
    def _result(answer: Any, method: str, params: Sequence[Any] = ()) -> Any:
        if not isinstance(answer, dict):
            raise RpcTransientError(f"{method}: malformed answer {_describe(answer)}")
        error = answer.get("error")
        if error:
            message = _error_text(error)
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
            raise RpcTransientError(f"{method}: answer without a result: {_describe(answer)}")
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
                self._smaller_batches(size, f"{e}", None)
                continue
            except _NotABatch as e:
                self._smaller_batches(size, e.text, e.size)
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
            raise _NotABatch(_describe(answers))
        errors = [a for a in answers if isinstance(a, dict) and a.get("error")]
        if answers and len(errors) == len(answers) and "batch" in _describe(errors[0]).lower():
            raise _NotABatch(_describe(errors[0]))  # the same complaint about the batch, per call
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        missing = [i for i in range(len(calls)) if first + i not in by_id]
        if missing:
            if errors and len(errors) == len(answers):  # one batch-level complaint, in a list
                raise _NotABatch(_describe(errors[0]))
            answered = len(calls) - len(missing)
            raise _NotABatch(f"answered {answered} of {len(calls)} calls" + (f": {_describe(errors[0])}" if errors else ""),
                             answered if answered > 0 else None)
        return [self._result(by_id[first + i], m, p) for i, (m, p) in enumerate(calls)]

    def _smaller_batches(self, size: int, text: str, answered: int | None) -> None:
        """The provider did not take a batch of `size`: follow its cap down, or stop
        batching once even a batch of 2 is refused."""
        p = self.provider
        stated = [int(n) for n in re.findall(r"\b(\d{1,5})\b", text) if 1 <= int(n) < size]
        refused = any(w in text.lower() for w in ("not supported", "not allowed", "unsupported", "disabled",
                                                  "not available", "refused", "not permitted"))
        with p.lock:
            if refused or size <= 2:
                new = 1
            elif answered:
                new = answered
            elif stated and "batch" in text.lower():
                new = max(stated)
            else:
                new = size // 2
            new = min(new, p.batch_size)
            if new <= 1:
                if p.batches:
                    p.batches = False
                    p.batch_note = text
                    log.warning("%s does not take JSON-RPC batches (it answered: %s); sending single calls",
                                self.url, text)
            elif new < p.batch_size:
                p.batch_size = new
                p.batch_note = text
                log.warning("%s did not take a batch of %d calls (it answered: %s); now at most %d per batch",
                            self.url, size, text, new)

    # ---------------------------------------------------------------- eth_getLogs

    def get_logs(self, address: str, from_block: int, to_block: int,
                 topics: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Every log of `address` (matching `topics`) in [from_block, to_block], in order,
        in as many queries as the provider needs: a refused range of more than one block is
        halved and retried, whatever the provider's words; a refused single block is a real
        error with the node's own message. Rate limits are waited out inside; transient
        failures (a 5xx, an unreachable node) propagate for the caller to retry."""
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
                    raise RpcError(f"eth_getLogs: the answer is not a list of logs: {_describe(logs)}")
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
            low = high + 1
        return out

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


# ------------------------------------------------------------------ web3.py


def http_provider(url: str, timeout: float = 30.0) -> Any:
    """A web3.py HTTP provider that keeps to NINETY_RPC_RPS and waits out 429 and
    -32005-style answers (honouring Retry-After) like `Rpc` does."""
    from web3 import HTTPProvider

    from web3.providers.rpc.utils import REQUEST_RETRY_ALLOWLIST, check_if_retry_on_failure

    class _Paced(HTTPProvider):
        def _make_request(self, method: Any, request_data: bytes) -> bytes:
            pacer = provider_for(url).pacer
            for attempt in itertools.count(1):
                pacer.wait()
                try:
                    raw: bytes = self._request_session_manager.make_post_request(
                        self.endpoint_uri, request_data, **self.get_request_kwargs())
                except requests.HTTPError as e:
                    resp = e.response
                    if resp is None or resp.status_code != 429 or attempt >= RATE_LIMIT_ATTEMPTS:
                        raise
                    time.sleep(_backoff(attempt, _retry_after(resp.headers)))
                    continue
                except (requests.ConnectionError, requests.Timeout):
                    if attempt >= 5 or not check_if_retry_on_failure(method, REQUEST_RETRY_ALLOWLIST):
                        raise
                    time.sleep(_backoff(attempt, None))
                    continue
                try:
                    body = json.loads(raw)
                except ValueError:
                    return raw
                rate = Rpc._rate_error(body)
                if rate is None or attempt >= RATE_LIMIT_ATTEMPTS:
                    return raw
                time.sleep(_backoff(attempt, _hint_from_error(rate)))
            raise AssertionError("unreachable")

    return _Paced(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
