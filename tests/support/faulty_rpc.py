"""A JSON-RPC proxy on loopback that misbehaves like real providers do: drops
connections, answers late, returns HTTP 429 and 500, and refuses eth_getLogs over too
many blocks with the "more than 10000 results" error. A test double of a flaky network,
in front of the real Anvil: these faults cannot be caused on Anvil itself."""
from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class FaultyRpc:
    def __init__(self, upstream: str, *, seed: int = 0, fault_rate: float = 0.3, max_log_range: int = 7,
                 slow_seconds: float = 3.0) -> None:
        self.upstream = upstream
        self.rng = random.Random(seed)
        self.fault_rate = fault_rate
        self.max_log_range = max_log_range
        self.slow_seconds = slow_seconds
        self.counts: dict[str, int] = {"drop": 0, "slow": 0, "429": 0, "500": 0, "too_big": 0, "ok": 0}
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fault = proxy._pick()
                if fault == "drop":
                    self.connection.close()  # no answer at all
                    return
                if fault in ("429", "500"):
                    self.send_response(int(fault))
                    self.end_headers()
                    return
                if fault == "slow":
                    time.sleep(proxy.slow_seconds)
                payload = json.loads(body)
                too_big = proxy._too_big(payload)
                if too_big is not None:
                    answer = json.dumps(too_big).encode()
                else:
                    answer = requests.post(proxy.upstream, data=body,
                                           headers={"Content-Type": "application/json"}, timeout=30).content
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting: that was the point of "slow"

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _pick(self) -> str:
        with self.lock:
            fault = "ok"
            if self.rng.random() < self.fault_rate:
                fault = self.rng.choice(["drop", "slow", "429", "500"])
            self.counts[fault] += 1
            return fault

    def _too_big(self, payload: object) -> object | None:
        calls = payload if isinstance(payload, list) else [payload]
        for call in calls:
            if isinstance(call, dict) and call.get("method") == "eth_getLogs":
                f = call["params"][0]
                if int(f["toBlock"], 16) - int(f["fromBlock"], 16) + 1 > self.max_log_range:
                    with self.lock:
                        self.counts["too_big"] += 1
                    return {"jsonrpc": "2.0", "id": call.get("id"),
                            "error": {"code": -32005, "message": "query returned more than 10000 results"}}
        return None

    def __enter__(self) -> "FaultyRpc":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
