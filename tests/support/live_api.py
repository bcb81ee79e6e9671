"""`ninety serve` (uvicorn, in its own process) over a real chain, a real IPFS node and a
real ledger, and what an attacker needs to talk to it (a signed-in wallet, multipart
uploads), plus a process memory watch."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from ninety.cli.supervisor import free_port
from tests.support.media import png_bytes
from tests.support.siwe import PUBLIC_URL, sign_in

# The server runs with a cap on its address space: an attack that would make it allocate
# without bound fails there (a 500) instead of taking memory from the whole machine.
SERVER_ADDRESS_SPACE = 6 * 1024**3


def rss(pid: int) -> int:
    """Resident bytes of a process (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return out


class MemoryWatch:
    """Peak resident memory of a process (and, separately, of its children) while the
    `with` block runs, sampled every few milliseconds."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self.pid = pid
        self.interval = interval
        self.before = 0
        self.peak = 0
        self.children_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss(self.pid))
            self.children_peak = max(self.children_peak, sum(rss(c) for c in children(self.pid)))
            time.sleep(self.interval)

    def __enter__(self) -> "MemoryWatch":
        self.before = rss(self.pid)
        self.peak = self.before
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.before) / 1e6


def _limit_address_space() -> None:  # runs in the server's process before exec
    resource.setrlimit(resource.RLIMIT_AS, (SERVER_ADDRESS_SPACE, SERVER_ADDRESS_SPACE))


class LiveApi:
    """`ninety serve` on a free loopback port, with its own data dir and SQLite ledger."""

    def __init__(self, world: Any, anvil_url: str, ipfs_url: str, data_dir: Path, workers: int = 1,
                 **env: str) -> None:
        self.world = world
        self.workers = workers  # `ninety serve --workers N`
        self.data_dir = data_dir
        self.db_url = f"sqlite:///{data_dir / 'ledger.sqlite3'}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "NINETY_DATA_DIR": str(data_dir), "NINETY_RPC_URL": anvil_url,
                    "NINETY_IPFS_API": ipfs_url, "NINETY_DB_URL": self.db_url,
                    "NINETY_CONTRACT_ADDRESS": world.market.address, "NINETY_START_BLOCK": str(world.deploy_block),
                    "NINETY_PUBLIC_URL": PUBLIC_URL,
                    # These tests send many uploads from one address: per-client rate limits
                    # are tested on their own, so they are off unless a test turns them on.
                    "NINETY_RATE_LIMITS": "off", **env}
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[str] | None = None
        self.helpers: list[subprocess.Popen[str]] = []
        self._engine: Any = None

    def start(self) -> "LiveApi":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "w")  # a file, not a pipe: an unread pipe would block the server
        self.process = subprocess.Popen([sys.executable, "-m", "ninety.cli", "serve", "--port", str(self.port),
                                         "--workers", str(self.workers)],
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT, text=True,
                                        preexec_fn=_limit_address_space)
        log.close()
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{self.url}/api/status", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and self.process.poll() is None, \
                "the API did not start:\n" + self.log_path.read_text()[-3000:]
            time.sleep(0.05)  # a start takes about a second: ask often

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        for proc in [*self.helpers, self.process]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)

    def log_tail(self, n: int = 3000) -> str:
        return self.log_path.read_text()[-n:] if self.log_path.exists() else ""

    def start_indexer(self, **env: str) -> subprocess.Popen[str]:
        """`ninety index` over this server's ledger, following the head; stopped with the server."""
        log = open(self.data_dir / "indexer.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "ninety.cli", "index"],
                                env={**self.env, "NINETY_POLL_INTERVAL": "0.2", **env}, stdout=log,
                                stderr=subprocess.STDOUT, text=True, preexec_fn=_limit_address_space)
        log.close()
        self.helpers.append(proc)
        return proc

    def track_row(self, track_id: int) -> dict[str, Any] | None:
        """The ledger's row of a track, read from the database (the API shows only
        tracks uploaded here)."""
        from sqlalchemy import select
        from sqlmodel import SQLModel

        import ninety.models  # noqa: F401  (the ledger's tables)
        from ninety.db import make_engine

        if self._engine is None:
            self._engine = make_engine(self.db_url)
        track = SQLModel.metadata.tables["track"]
        with self._engine.connect() as conn:
            row = conn.execute(select(track).where(track.c.track_id == track_id)).mappings().first()
        return dict(row) if row is not None else None

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=kwargs.pop("timeout", 30), **kwargs)

    def post_json(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, headers={"Origin": PUBLIC_URL, **(headers or {})}, timeout=30)

    def login(self, index: int) -> dict[str, str]:
        """A bearer token for dev account `index`, by Sign-In with Ethereum over HTTP."""
        got = httpx.get(f"{self.url}/api/auth/nonce", timeout=10)
        assert got.status_code == 200, got.text + "\n" + self.log_tail()
        message, signature = sign_in(index, got.json()["nonce"])
        r = httpx.post(f"{self.url}/api/auth/login", json={"message": message, "signature": signature},
                       headers={"Origin": PUBLIC_URL}, timeout=30)
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def upload(self, headers: dict[str, str], audio: bytes, *, name: str = "track.wav",
               content_type: str = "audio/wav", artwork: bytes | None = None, artwork_name: str = "cover.png",
               timeout: float = 180, **fields: str) -> httpx.Response:
        data = {"title": "Attack", "artist_name": "Mallory", "price": "1000", **fields}
        files = {"audio": (name, audio, content_type),
                 "artwork": (artwork_name, png_bytes() if artwork is None else artwork,
                             "image/jpeg" if artwork_name.endswith(".jpg") else "image/png")}
        return httpx.post(f"{self.url}/api/uploads", data=data, files=files, headers=headers, timeout=timeout)


def until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.02) -> Any:
    """Poll `condition` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(every)
