"""HTTP-level attacks on the live API, as an attacker would make them with nothing but a
socket: oversized sign-in messages, CSV exports that are never read, and a JSON-RPC
proxy in front of the chain that counts calls and can throttle like a paid provider.

Each attack is a function of the running `LiveApi`; the concurrent test runs several of
them at once (see ATTACKS in test_http_concurrent.py)."""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import requests
from sqlalchemy import insert, select
from sqlmodel import SQLModel

from tests.support.activity import random_activity

T = SQLModel.metadata.tables
MAX_BODY = 64 * 1024
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


# ------------------------------------------------------------------ sign-in blow-up


def blowup_login_body(size: int = MAX_BODY - 64) -> bytes:
    """A login body of about `size` bytes (under the 64 KiB cap, so it reaches the
    parser): an EIP-4361 message whose resource list goes on and on. siwe's ABNF parser
    needs time and memory growing with the square of its length; its regular expression
    backtracks exponentially on resources like these."""
    head = (f"127.0.0.1:8000 wants you to sign in with your Ethereum account:\n{ADDRESS}\n\n\n"
            "URI: http://127.0.0.1:8000\nVersion: 1\nChain ID: 31337\nNonce: abcdef1234567890\n"
            f"Issued At: {datetime.now(timezone.utc).isoformat().replace('+00:00', 'Z')}\nResources:")
    def body(units: int) -> bytes:
        return json.dumps({"message": head + "\n- a:" * units, "signature": "0x" + "00" * 65}).encode()

    units = (size - len(body(0))) // len(json.dumps("\n- a:")[1:-1])  # each unit is 6 bytes of JSON
    return body(units)


def post_blowup(api: Any, body: bytes | None = None, timeout: float = 120) -> tuple[int, float]:
    """(status, seconds) of one blown-up login attempt (status 0: no answer in time)."""
    body = body if body is not None else blowup_login_body()
    started = time.perf_counter()
    try:
        r = httpx.post(f"{api.url}/api/auth/login", content=body, timeout=timeout,
                       headers={"Content-Type": "application/json", "Origin": "http://127.0.0.1:8000"})
        status = r.status_code
    except httpx.HTTPError:
        status = 0
    return status, time.perf_counter() - started


# ------------------------------------------------------------------ a large ledger


def index(api: Any) -> Any:
    """Run the real indexer over the server's ledger up to the head; its engine."""
    from indexer.runner import Indexer
    from indexer.store import Ledger
    from ninety.chain import Rpc
    from ninety.db import make_engine

    engine = make_engine(api.db_url)
    Indexer(Rpc(api.env["NINETY_RPC_URL"]), Ledger(engine, api.world.market.address),
            start_block=api.world.deploy_block, chain_id=31337).run(once=True)
    return engine


def big_ledger(api: Any, extra_sales: int = 20_000, steps: int = 25) -> tuple[Any, int]:
    """Real activity, indexed; then `extra_sales` more sale rows at the checkpoint block,
    written straight into the table (a ledger of this size would take many minutes of
    real transactions, and these attacks are about its size, not its content).
    Returns (engine, checkpoint block)."""
    random_activity(api.world, steps, seed=5)
    engine = index(api)
    cp = T["checkpoint"]
    with engine.begin() as conn:
        block, block_hash = conn.execute(select(cp.c.block_number, cp.c.block_hash)).one()
        rows = [{"track_id": 1, "buyer": "0x" + "b" * 40, "token": "0x" + "0" * 40, "amount": "1000000000000000",
                 "platform_fee": "50000000000000", "split_id": "0x" + "5" * 64, "artist": "0x" + "a" * 40,
                 "fee_recipient": "0x" + "f" * 40, "block_time": 1_700_000_000, "block_number": block,
                 "block_hash": block_hash, "tx_hash": "0x" + f"{i:064x}", "log_index": 100_000 + i}
                for i in range(extra_sales)]
        for i in range(0, len(rows), 5000):
            conn.execute(insert(T["sale"]), rows[i : i + 5000])
    return engine, int(block)


# ------------------------------------------------------------------ stalled CSV readers


@dataclass
class StalledReaders:
    """`n` clients that ask for the whole sales ledger as CSV and never read a byte of it
    (a tiny receive buffer, so the server's writes stall almost at once)."""

    api: Any
    n: int = 20
    path: str = "/api/ledger/sales?format=csv&order=asc"
    sockets: list[socket.socket] = field(default_factory=list)

    def __enter__(self) -> "StalledReaders":
        for _ in range(self.n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            s.connect(("127.0.0.1", self.api.port))
            s.sendall(f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/csv\r\n\r\n".encode())
            self.sockets.append(s)
        return self

    def first_bytes(self, timeout: float = 30) -> list[bytes]:
        """The first bytes each got (proof that the server started answering)."""
        out = []
        for s in self.sockets:
            s.settimeout(timeout)
            try:
                out.append(s.recv(64))
            except OSError:
                out.append(b"")
        return out

    def __exit__(self, *exc: object) -> None:
        for s in self.sockets:
            s.close()


def stalled_readers(api: Any, stop: threading.Event, report: dict[str, Any]) -> None:
    """Attack for the concurrent test: keep twenty never-read CSV exports open."""
    with StalledReaders(api) as readers:
        report["stalled_csv_readers"] = len(readers.sockets)
        stop.wait()


def signin_blowups(api: Any, stop: threading.Event, report: dict[str, Any]) -> None:
    """Attack for the concurrent test: 64 KiB sign-in messages, one after another."""
    body = blowup_login_body()
    statuses, times = [], []
    while not stop.is_set():
        status, seconds = post_blowup(api, body, timeout=60)
        statuses.append(status)
        times.append(seconds)
    report["signin_blowups"] = {"sent": len(statuses), "statuses": sorted(set(statuses)),
                                "slowest_s": round(max(times, default=0), 3)}


# ------------------------------------------------------------------ an RPC provider


class RpcProxy:
    """A JSON-RPC endpoint in front of Anvil, at a URL with an API key in its path like a
    paid provider's. It counts the calls it forwards and, when `throttle` is set, answers
    HTTP 429 as providers do past their quota."""

    KEY = "k3y-0f-the-0perat0r-7f1d2c"

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.throttle = False
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if proxy.throttle:
                    self.send_response(429)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                payload = json.loads(body)
                with proxy.lock:
                    for call in payload if isinstance(payload, list) else [payload]:
                        proxy.calls[call["method"]] = proxy.calls.get(call["method"], 0) + 1
                answer = requests.post(proxy.upstream, data=body, headers={"Content-Type": "application/json"},
                                       timeout=30).content
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v3/{self.KEY}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, method: str) -> int:
        with self.lock:
            return self.calls.get(method, 0)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
