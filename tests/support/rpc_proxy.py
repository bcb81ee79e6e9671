"""A JSON-RPC proxy on loopback that imitates hosted providers' limits, in front of the
test Anvil (Anvil itself has none of them). One mode at a time:

- "range":      eth_getLogs over more than `max_range` blocks is refused, in words no
                client could have been taught ("… capped at 25 blocks per call on this plan").
- "results":    eth_getLogs returning more than `max_results` logs is refused with -32005
                "query returned more than N results" (Infura's wording).
- "batch_cap":  batches of more than `batch_cap` calls get one error object back, not a list.
- "no_batch":   any batch gets HTTP 400 and one error object ("batch requests are disabled").
- "rate_limit": every `burst_every`-th request starts a burst: HTTP 429 with Retry-After
                (or, every other burst, HTTP 200 with a -32005 "request rate exceeded" error
                and backoff_seconds) until `retry_after` seconds have passed. A request that
                comes back before then is counted in `early` (it ignored Retry-After).
- "pruned":     state reads (eth_call, eth_getBalance, …) at a block more than
                `pruned_depth` below the head answer "missing trie node", as a full
                (non-archive) Geth does.

`stats` counts what happened (refusals per kind, requests, the largest batch and getLogs
range forwarded, and requests per second) so tests can check the limit was really met.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

MODES = ("range", "results", "batch_cap", "no_batch", "rate_limit", "pruned")
STATE_METHODS = {"eth_call": 1, "eth_getBalance": 1, "eth_getCode": 1, "eth_getStorageAt": 2,
                 "eth_getTransactionCount": 1}


class ProviderProxy:
    def __init__(self, upstream: str, mode: str, *, max_range: int = 25, max_results: int = 20, batch_cap: int = 10,
                 burst_every: int = 30, retry_after: float = 1.0, pruned_depth: int = 32) -> None:
        assert mode in MODES, mode
        self.upstream = upstream
        self.mode = mode
        self.max_range = max_range
        self.max_results = max_results
        self.batch_cap = batch_cap
        self.burst_every = burst_every
        self.retry_after = retry_after
        self.pruned_depth = pruned_depth
        self.stats: Counter[str] = Counter()
        self.largest_batch = 0
        self.largest_range = 0
        self.early: list[float] = []  # how early (s) requests came back during a burst
        self._blocked_until = 0.0
        self._bursts = 0
        self._times: deque[float] = deque()
        self.peak_rps = 0
        self._lock = threading.Lock()
        self._http = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, answer = proxy._handle(body)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ---------------------------------------------------------------- plumbing

    def __enter__(self) -> "ProviderProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _upstream(self, payload: Any) -> Any:
        session = getattr(self._http, "session", None)
        if session is None:
            session = self._http.session = requests.Session()
        return session.post(self.upstream, json=payload, timeout=60).json()

    def _head(self) -> int:
        return int(self._upstream({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []})["result"], 16)

    @staticmethod
    def _error(call: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        return {"jsonrpc": "2.0", "id": call.get("id") if isinstance(call, dict) else None, "error": error}

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    # ---------------------------------------------------------------- the provider

    def _handle(self, body: bytes) -> tuple[int, dict[str, str], Any]:
        now = time.monotonic()
        with self._lock:
            self.stats["requests"] += 1
            self._times.append(now)
            while self._times and self._times[0] <= now - 1.0:
                self._times.popleft()
            self.peak_rps = max(self.peak_rps, len(self._times))
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {}, self._error(None, -32700, "parse error")
        if self.mode == "rate_limit":
            limited = self._rate_limit(now, payload)
            if limited is not None:
                return limited
        if isinstance(payload, list):
            with self._lock:
                self.largest_batch = max(self.largest_batch, len(payload))
            if self.mode == "no_batch":
                self._count("batch_refused")
                return 400, {}, self._error(None, -32600, "JSON-RPC batch requests are disabled on this plan")
            if self.mode == "batch_cap" and len(payload) > self.batch_cap:
                self._count("batch_refused")
                return 200, {}, self._error(None, -32600, f"batch too large: this endpoint accepts up to "
                                                          f"{self.batch_cap} calls per batch")
            return 200, {}, self._calls(payload)
        return 200, {}, self._calls([payload])[0]

    def _rate_limit(self, now: float, payload: Any) -> tuple[int, dict[str, str], Any] | None:
        with self._lock:
            if now < self._blocked_until:
                self.early.append(self._blocked_until - now)
                left = self._blocked_until - now
            elif self.stats["requests"] % self.burst_every == 0:
                self._blocked_until = now + self.retry_after
                self._bursts += 1
                left = self.retry_after
            else:
                return None
            http = self._bursts % 2 == 1
            self.stats["rate_limited"] += 1
        if http:
            return 429, {"Retry-After": str(max(1, round(left + 0.49)))}, {"error": "Too Many Requests"}
        error = self._error(payload if isinstance(payload, dict) else None, -32005, "request rate exceeded",
                            {"rate": {"allowed_rps": 10, "backoff_seconds": round(left + 0.49, 2)}})
        if isinstance(payload, list):
            error = [{**error, "id": c.get("id")} for c in payload if isinstance(c, dict)]
        return 200, {}, error

    def _calls(self, calls: list[Any]) -> list[Any]:
        """Answers in order: refusals made here, the rest from Anvil in one batch."""
        answers: list[Any] = [None] * len(calls)
        forward: list[int] = []
        head = self._head() if self.mode in ("range", "pruned") else 0
        for i, call in enumerate(calls):
            refusal = self._before(call, head)
            if refusal is None:
                forward.append(i)
            else:
                answers[i] = refusal
        if forward:
            got = self._upstream([calls[i] for i in forward])
            by_id = {a.get("id"): a for a in got}
            for i in forward:
                answers[i] = self._after(calls[i], by_id.get(calls[i].get("id")))
        return answers

    def _before(self, call: Any, head: int) -> dict[str, Any] | None:
        if not isinstance(call, dict):
            return self._error(None, -32600, "invalid request")
        method, params = call.get("method"), call.get("params") or []
        if method == "eth_getLogs" and self.mode == "range":
            f = params[0]
            low, high = _block(f.get("fromBlock", "latest"), head), _block(f.get("toBlock", "latest"), head)
            with self._lock:
                self.largest_range = max(self.largest_range, high - low + 1)
            if high - low + 1 > self.max_range:
                self._count("range_refused")
                return self._error(call, -32099, f"eth_getLogs is capped at {self.max_range} blocks per call "
                                                 "on this plan")
        if self.mode == "pruned" and method in STATE_METHODS and len(params) > STATE_METHODS[method]:
            tag = params[STATE_METHODS[method]]
            if isinstance(tag, str) and tag.startswith("0x") and int(tag, 16) < head - self.pruned_depth:
                self._count("pruned_refused")
                return self._error(call, -32000, "missing trie node 9f2c4e0b7d1a3c5e (path ) state "
                                                 f"0x{int(tag, 16):x} is not available")
        return None

    def _after(self, call: dict[str, Any], answer: Any) -> Any:
        if (self.mode == "results" and call.get("method") == "eth_getLogs" and isinstance(answer, dict)
                and isinstance(answer.get("result"), list) and len(answer["result"]) > self.max_results):
            self._count("results_refused")
            f = call["params"][0]
            return self._error(call, -32005, f"query returned more than {self.max_results} results. Try with this "
                                             f"block range [{f.get('fromBlock')}, {f.get('toBlock')}].")
        return answer


def _block(tag: Any, head: int) -> int:
    if tag in ("latest", "pending", "safe", "finalized", None):
        return head
    if tag == "earliest":
        return 0
    return int(tag, 16)
