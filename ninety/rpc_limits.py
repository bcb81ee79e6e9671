"""What each RPC endpoint accepts, and how fast: the limits `ninety.chain.Rpc` learns and
keeps to, and web3.py's HTTP provider kept to the same ones (`http_provider`).

- Limits start from Settings (NINETY_RPC_BATCH, NINETY_INDEX_MAX_RANGE, NINETY_RPC_RPS) and
  are learnt per endpoint: one `Provider` per URL in this process, so one caller's
  discovery (a batch cap, a getLogs range the node refuses) serves the others.
- "Slow down" answers (HTTP 429, -32005-style JSON-RPC errors, whatever words the
  provider uses) are recognised here and waited out with jittered backoff, honouring
  `Retry-After` and "try again in N s" hints, never longer than MAX_WAIT.
"""
from __future__ import annotations

import email.utils
import itertools
import json
import logging
import random
import re
import threading
import time
from typing import Any, Mapping

import functools

import requests

from ninety.config import load_settings

log = logging.getLogger(__name__)

INITIAL_RANGE = 2_000
RATE_LIMIT_ATTEMPTS = 8  # answers "slow down" in a row before giving up (the caller may retry on)
MAX_WAIT = 60.0  # the longest Retry-After honoured (seconds)

# Words providers use for "slow down" (HTTP 200 answers with a JSON-RPC error).
_RATE_WORDS = ("rate limit", "rate-limit", "ratelimit", "too many requests", "request rate", "requests per second",
               "exceeded the rate", "capacity", "throughput", "compute units", "slow down", "try again in",
               "daily request count", "rate exceeded", "retry after", "retry-after", "per second")
# Words in a refused batch's answer that mean "no batches at all", not "fewer calls".
_NO_BATCH_WORDS = ("not supported", "not allowed", "unsupported", "disabled", "not available", "refused",
                   "not permitted")


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

    def batch_refused(self, url: str, size: int, text: str, answered: int | None) -> None:
        """The provider did not take a batch of `size` (its answer: `text`; it answered
        `answered` calls, if it said): follow its cap down, or stop batching once even a
        batch of 2 is refused."""
        stated = [int(n) for n in re.findall(r"\b(\d{1,5})\b", text) if 1 <= int(n) < size]
        refused = any(w in text.lower() for w in _NO_BATCH_WORDS)
        with self.lock:
            if refused or size <= 2:
                new = 1
            elif answered:
                new = answered
            elif stated and "batch" in text.lower():
                new = max(stated)
            else:
                new = size // 2
            new = min(new, self.batch_size)
            if new <= 1:
                if self.batches:
                    self.batches = False
                    self.batch_note = text
                    log.warning("%s does not take JSON-RPC batches (it answered: %s); sending single calls", url, text)
            elif new < self.batch_size:
                self.batch_size = new
                self.batch_note = text
                log.warning("%s did not take a batch of %d calls (it answered: %s); now at most %d per batch",
                            url, size, text, new)


_providers: dict[tuple[str, int, int, float], Provider] = {}
_providers_lock = threading.Lock()


def provider_for(url: str, batch: int | None = None, max_range: int | None = None, rps: float | None = None) -> Provider:
    """The one Provider of `url` with these limits (each None: the Settings' value)."""
    settings = load_settings()
    key = (url, batch or settings.rpc_batch, max_range or settings.index_max_range,
           settings.rpc_rps if rps is None else rps)
    with _providers_lock:
        p = _providers.get(key)
        if p is None:
            p = _providers[key] = Provider(key[1], key[2], key[3])
        return p


# ------------------------------------------------------------------ reading "slow down" answers


class RateLimited(Exception):
    """The provider said "slow down"; `delay` is the wait it asked for, if it said."""

    def __init__(self, what: str, delay: float | None) -> None:
        super().__init__(what)
        self.delay = delay


def retry_after(headers: Mapping[str, str]) -> float | None:
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


def backoff(attempt: int, hinted: float | None) -> float:
    if hinted is not None:
        return min(MAX_WAIT, hinted) + random.uniform(0, 0.25)  # a little later than asked, never earlier
    return min(10.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random())


def hint_from_error(error: Mapping[str, Any]) -> float | None:
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


def is_rate_limit(error: Mapping[str, Any]) -> bool:
    message = str(error.get("message", "")).lower()
    code = error.get("code")
    if code == 429 or any(w in message for w in _RATE_WORDS):
        return True
    # -32005 is "limit exceeded": a rate limit unless it is about the size of a query.
    return code == -32005 and not any(w in message for w in ("result", "range", "block", "size", "response"))


def rate_error(body: Any) -> dict[str, Any] | None:
    """The error object if the answer (or every element of a batch answer, or any)
    says "slow down"."""
    items = body if isinstance(body, list) else [body]
    for a in items:
        if isinstance(a, dict) and isinstance(a.get("error"), dict) and is_rate_limit(a["error"]):
            return a["error"]
    return None


def error_text(error: Any) -> str:
    if isinstance(error, dict):
        message = str(error.get("message", error))
        data = error.get("data")
        if isinstance(data, str) and data and data not in message:
            message += f" ({data})"
        return message
    return str(error)


def describe(answer: Any, limit: int = 300) -> str:
    """The provider's own words in an answer that is not what we asked for."""
    if isinstance(answer, dict) and "error" in answer:
        e = answer["error"]
        code = f" (code {e.get('code')})" if isinstance(e, dict) and e.get("code") is not None else ""
        return f"{error_text(e)[:limit]}{code}"
    if isinstance(answer, list) and answer and all(isinstance(a, dict) and a.get("error") for a in answer):
        return describe(answer[0], limit)
    text = answer if isinstance(answer, str) else json.dumps(answer)
    return text[:limit]


# ------------------------------------------------------------------ web3.py


@functools.cache
def _paced_provider_class() -> type:
    """The provider class, made on first use: web3 is imported only by what talks to the
    chain through it (the API, the CLI), not by `ninety index`, which starts faster without
    it (web3 was its largest start-up cost)."""
    from web3 import HTTPProvider
    from web3.providers.rpc.utils import REQUEST_RETRY_ALLOWLIST, check_if_retry_on_failure

    class _PacedHTTPProvider(HTTPProvider):
        """web3.py's HTTP provider, paced by the endpoint's Provider and waiting out "slow
        down" answers (bounded) as `Rpc` does."""

        _pacer: _Pacer | None = None

        def _make_request(self, method: Any, request_data: bytes) -> bytes:
            if self._pacer is None:  # looked up once: the settings do not change while a process runs
                self._pacer = provider_for(str(self.endpoint_uri)).pacer
            pacer = self._pacer
            for attempt in itertools.count(1):
                pacer.wait()
                try:
                    raw: bytes = self._request_session_manager.make_post_request(
                        self.endpoint_uri, request_data, **self.get_request_kwargs())
                except requests.HTTPError as e:
                    resp = e.response
                    if resp is None or resp.status_code != 429 or attempt >= RATE_LIMIT_ATTEMPTS:
                        raise
                    time.sleep(backoff(attempt, retry_after(resp.headers)))
                    continue
                except (requests.ConnectionError, requests.Timeout):
                    if attempt >= 5 or not check_if_retry_on_failure(method, REQUEST_RETRY_ALLOWLIST):
                        raise
                    time.sleep(backoff(attempt, None))
                    continue
                try:
                    body = json.loads(raw)
                except ValueError:
                    return raw
                rate = rate_error(body)
                if rate is None or attempt >= RATE_LIMIT_ATTEMPTS:
                    return raw
                time.sleep(backoff(attempt, hint_from_error(rate)))
            raise AssertionError("unreachable")
    return _PacedHTTPProvider


def http_provider(url: str, timeout: float = 30.0) -> Any:
    """A web3.py HTTP provider that keeps to NINETY_RPC_RPS and waits out 429 and
    -32005-style answers (honouring Retry-After) like `Rpc` does."""
    return _paced_provider_class()(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
