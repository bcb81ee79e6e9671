"""Following-latency benchmark: how long after a sale is mined its row is in the ledger,
with `ninety index` (a child process, wired as the command wires it) following the head
on `newHeads` over WebSocket, and by polling every 250 ms, on SQLite and PostgreSQL.

Each sample: send one buy, poll eth_getTransactionReceipt at ~1 ms until it answers (the
sale is mined), then poll the database at ~1 ms until the row is there. Sales are spaced
by a random 10-260 ms so they fall at every phase of a 250 ms poll.

Run: `.venv/bin/python bench/follow.py [--samples 200]` (under `flock /tmp/h22/heavy.lock`
on a shared machine). PostgreSQL: NINETY_BENCH_PG_URL (default: the local test database)."""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from sqlalchemy import text  # noqa: E402

from ninety.db import make_engine  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
WARM_UP = 3  # sales not counted: the first ones pay for cold caches in the child


def _sigint_default() -> None:  # in the child: a shell that backgrounded us may have SIGINT ignored
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _rpc(http: requests.Session, url: str, method: str, params: list[Any]) -> Any:
    answer = http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=30).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def follow_latency(rpc_url: str, db_url: str, address: str, start_block: int, market: object, track: int,
                   samples: int = 200, *, ws: bool = True, poll_interval: float | None = None,
                   price: int = 1000) -> list[float]:
    """Seconds from each sale's receipt to its row, `samples` sales on `track` (ETH, `price`
    wei). `ninety index` follows on newHeads (`ws`, with its poll as a safety net, 1 s unless
    `poll_interval`) or polls only (every `poll_interval`, 0.25 s unless given)."""
    poll = poll_interval if poll_interval is not None else (1.0 if ws else 0.25)
    w3 = market.w3  # type: ignore[attr-defined]
    buyer = str(w3.eth.accounts[4])
    data = market.contract.encode_abi("buy", [track, price])  # type: ignore[attr-defined]
    http = requests.Session()
    head = int(_rpc(http, rpc_url, "eth_blockNumber", []), 16)
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "NINETY_DATA_DIR": data_dir, "NINETY_RPC_URL": rpc_url, "NINETY_DB_URL": db_url,
               "NINETY_CONTRACT_ADDRESS": address, "NINETY_START_BLOCK": str(start_block),
               "NINETY_POLL_INTERVAL": f"{poll:g}", "NINETY_RPC_WS_URL": "" if ws else "off"}
        log_path = Path(data_dir) / "index.log"
        with open(log_path, "wb") as log_file:
            child = subprocess.Popen([sys.executable, "-m", "ninety.cli", "index"], env=env, stdout=log_file,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_sigint_default)
        engine = make_engine(db_url)
        try:
            _wait_until_following(child, engine, address, head, log_path, ws)
            latencies: list[float] = []
            # Autocommit: each poll is one round trip, and sees every commit (a SQLite reader
            # inside a transaction would keep seeing the snapshot it started with).
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for i in range(samples + WARM_UP):
                    time.sleep(random.uniform(0.01, 0.26))  # any phase of a 250 ms poll
                    tx = _rpc(http, rpc_url, "eth_sendTransaction",
                              [{"from": buyer, "to": address, "data": data, "value": hex(price), "gas": hex(200_000)}])
                    while _rpc(http, rpc_url, "eth_getTransactionReceipt", [tx]) is None:
                        time.sleep(0.001)
                    mined = time.perf_counter()
                    deadline = mined + 30
                    while True:
                        found = conn.execute(text("SELECT 1 FROM sale WHERE tx_hash = :tx"), {"tx": tx}).first()
                        if found:
                            break
                        if time.perf_counter() > deadline:
                            raise RuntimeError(f"sale {tx} not indexed within 30 s; see {log_path}:\n"
                                               + log_path.read_text()[-2000:])
                        time.sleep(0.001)
                    if i >= WARM_UP:
                        latencies.append(time.perf_counter() - mined)
            return latencies
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
                try:
                    child.wait(15)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            engine.dispose()


def _wait_until_following(child: subprocess.Popen[bytes], engine: Any, address: str, head: int, log_path: Path,
                          ws: bool, timeout: float = 600.0) -> None:
    """Until the child has indexed to `head` (its backfill) and, with `ws`, subscribed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"`ninety index` exited ({child.returncode}):\n{log_path.read_text()[-2000:]}")
        try:
            with engine.connect() as conn:
                at = conn.execute(text("SELECT block_number FROM checkpoint WHERE contract = :c"),
                                  {"c": address.lower()}).scalar()
        except Exception:  # no schema yet
            at = None
        if at is not None and at >= head and (not ws or b"following new heads" in log_path.read_bytes()):
            return
        time.sleep(0.05)
    raise RuntimeError(f"`ninety index` not following within {timeout:.0f} s:\n{log_path.read_text()[-2000:]}")


def _fresh_pg(base: str) -> tuple[str, Any, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", admin, schema


def _percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-p * len(ordered) // 100)) - 1))]


def main() -> None:
    from ninety.cli.services import anvil_service
    from ninety.cli.supervisor import Supervisor
    from ninety.contract import ETH
    from ninety.market import deploy_direct, web3_for

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    pg = os.environ.get("NINETY_BENCH_PG_URL", PG_DEFAULT)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, Supervisor(Path(tmp)) as sup:
        anvil = sup.start(anvil_service(Path(tmp), port=None))
        w3 = web3_for(anvil.url)
        accounts = [str(a) for a in w3.eth.accounts]
        start = w3.eth.block_number + 1
        market, _ = deploy_direct(w3, accounts[0], accounts[9])
        split = market.create_split([(accounts[1], 700_000), (accounts[2], 300_000)], accounts[1])
        track = market.register("bafkreifollowbench", split, ETH, 1000, accounts[1])
        for db in args.databases.split(","):
            for ws, label in ((True, "newHeads over WebSocket (1 s poll as safety net)"),
                              (False, "polling every 250 ms")):
                admin = None
                if db == "sqlite":
                    url = f"sqlite:///{tmp}/follow-{uuid.uuid4().hex[:6]}.sqlite3"
                else:
                    url, admin, schema = _fresh_pg(pg)
                try:
                    print(f"  {db}, {label}: {args.samples} sales ...", file=sys.stderr, flush=True)
                    lat = follow_latency(anvil.url, url, market.address, start, market, track, args.samples, ws=ws)
                finally:
                    if admin is not None:
                        with admin.begin() as conn:
                            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                        admin.dispose()
                rows.append((label, "SQLite" if db == "sqlite" else "PostgreSQL", lat))
    print("\nfollowing the head: a mined sale (its receipt) to its row in the ledger, `ninety index`")
    print(f"{'following':<50} {'database':<11} {'sales':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    print(f"{'-' * 50} {'-' * 11} {'-' * 6} {'-' * 7} {'-' * 7} {'-' * 7}")
    for label, db, lat in rows:
        print(f"{label:<50} {db:<11} {len(lat):>6} {_percentile(lat, 50) * 1000:>7.1f} "
              f"{_percentile(lat, 99) * 1000:>7.1f} {max(lat) * 1000:>7.1f}")


if __name__ == "__main__":
    main()
