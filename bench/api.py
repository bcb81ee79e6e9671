"""API benchmark: a ledger of N sales (1,000,000 by default; inserted directly, as the
issue allows), served by uvicorn, driven from a second process on loopback for a bounded
number of requests and time. Prints p50/p99 latency and requests/s for the artist
summary, the track summary, the first page and a deep page of sales, on SQLite and on
PostgreSQL; the baseline row is GET /api/status (one checkpoint read and one RPC call)
measured the same way. Summaries are served from the per-checkpoint store (ETag) on
repeat; the ", computed" rows come from a second server with that store off
(NINETY_API_SNAPSHOTS=0), which is what the first request after each new block costs.

Run: `make bench-api` or `.venv/bin/python bench/api.py --sales 100000`."""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

from backend.pagination import position_cursor  # noqa: E402
from indexer.runner import Indexer  # noqa: E402
from indexer.store import Ledger  # noqa: E402
from ninety.chain import Rpc  # noqa: E402
from ninety.cli.services import anvil_service  # noqa: E402
from ninety.cli.supervisor import Supervisor, free_port  # noqa: E402
from ninety.contract import ETH  # noqa: E402
from ninety.db import ensure_schema, make_engine  # noqa: E402
from ninety.ledger.aggregates import deltas, new_deltas  # noqa: E402
from ninety.ledger.registry import AGGREGATES  # noqa: E402
from ninety.market import deploy_direct, web3_for  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
TRACKS, ARTISTS, BUYERS, PER_BLOCK = 1000, 100, 20_000, 20
T = SQLModel.metadata.tables

DRIVER = r'''
import http.client, json, sys, threading, time
host, port, paths, count, seconds, threads = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
out = {}
for name, path in paths.items():
    lat, lock, left = [], threading.Lock(), [count]
    deadline = time.monotonic() + seconds
    def work():
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while True:
            with lock:
                if left[0] <= 0 or time.monotonic() > deadline:
                    return
                left[0] -= 1
            t = time.perf_counter()
            conn.request("GET", path)
            r = conn.getresponse(); body = r.read()
            if r.status != 200:
                raise SystemExit(f"{path}: HTTP {r.status} {body[:200]!r}")
            with lock:
                lat.append(time.perf_counter() - t)
    for _ in range(3):  # warm-up
        c = http.client.HTTPConnection(host, port, timeout=30); c.request("GET", path); c.getresponse().read()
    started = time.perf_counter()
    ts = [threading.Thread(target=work) for _ in range(threads)]
    [t.start() for t in ts]; [t.join() for t in ts]
    out[name] = {"latencies": lat, "elapsed": time.perf_counter() - started}
print(json.dumps(out))
'''


def fill(db_url: str, contract: str, sales: int) -> dict[str, str]:
    """Synthetic but consistent rows: tracks, splits, sales and the aggregates over them."""
    engine = make_engine(db_url)
    rng = random.Random(1)
    artists = [f"0x{rng.getrandbits(160):040x}" for _ in range(ARTISTS)]
    buyers = [f"0x{rng.getrandbits(160):040x}" for _ in range(BUYERS)]
    fee_recipient = f"0x{rng.getrandbits(160):040x}"
    splits = {}
    with engine.begin() as conn:
        for t in range(1, TRACKS + 1):
            artist = artists[t % ARTISTS]
            sid = f"0x{t:064x}"
            splits[t] = (sid, artist)
            ref = {"block_number": 1, "block_hash": "0x" + "11" * 32, "tx_hash": f"0x{t:060x}aaaa", "log_index": 0}
            conn.execute(T["split"].insert(), [{**ref, "split_id": sid, "recipient_count": 1}])
            conn.execute(T["split_recipient"].insert(), [{"split_id": sid, "position": 0, "recipient": artist, "share_ppm": 1_000_000}])
            conn.execute(T["track"].insert(), [{**ref, "tx_hash": f"0x{t:060x}bbbb", "track_id": t + 10_000, "artist": artist,
                                                "split_id": sid, "token": ETH, "price": 10**15, "listed": True,
                                                "metadata_cid": f"bafkreibench{t}", "registered_price": 10**15,
                                                "registered_split_id": sid, "block_time": 1_700_000_000,
                                                "title": f"Track {t}", "artist_name": f"Artist {t % ARTISTS}"}])
        # The aggregates come from the rows through the indexer's own `deltas`.
        sums = new_deltas()
        recipients = {sid: [(artist, 1_000_000)] for sid, artist in splits.values()}
        batch = []
        for i in range(sales):
            t = rng.randint(1, TRACKS)
            sid, artist = splits[t]
            buyer = buyers[rng.randrange(BUYERS)]
            amount = 10**15 + rng.randrange(10**12)
            fee = amount * 500 // 10_000
            block = 100 + i // PER_BLOCK
            batch.append({"block_number": block, "block_hash": f"0x{block:064x}", "tx_hash": f"0x{i:064x}",
                          "log_index": i % PER_BLOCK, "track_id": t + 10_000, "buyer": buyer, "token": ETH,
                          "amount": amount, "platform_fee": fee, "split_id": sid, "artist": artist,
                          "fee_recipient": fee_recipient, "block_time": 1_700_000_000 + block * 2})
            if len(batch) == 20_000 or i == sales - 1:
                conn.execute(T["sale"].insert(), batch)
                deltas({"sale": batch}, recipients.__getitem__, into=sums)
                batch = []
                print(f"  {i + 1:,} sales inserted", file=sys.stderr, flush=True)
        for agg in AGGREGATES:
            rows = [{**dict(zip(agg.keys, key)), **dict(zip(agg.columns, values))}
                    for key, values in sums[agg.table].items() if any(values)]
            for i in range(0, len(rows), 20_000):
                conn.execute(T[agg.table].insert(), rows[i : i + 20_000])
    if engine.dialect.name == "postgresql":
        # What autovacuum does on a live database: statistics and the visibility map.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    artist_stats = sums["artist_stats"]
    busiest = max(artist_stats, key=lambda key: artist_stats[key][0])[0]
    deep_block = 100 + (sales // PER_BLOCK) // 2
    deep = position_cursor(deep_block, 0, "desc")  # the API's own codec, not a copy
    return {
        "status (baseline)": "/api/status",
        "artist summary": f"/api/ledger/artists/{busiest}",
        "track summary": f"/api/ledger/tracks/{10_001}",
        "sales, first page": "/api/ledger/sales?limit=50",
        "sales, deep page": f"/api/ledger/sales?limit=50&cursor={deep}",
    }


def serve_and_drive(tmp: str, rpc_url: str, db: str, contract: str, extra: dict[str, str],
                    paths: dict[str, str], args: argparse.Namespace) -> dict[str, dict]:
    port = free_port()
    env = {**os.environ, "NINETY_DATA_DIR": tmp, "NINETY_RPC_URL": rpc_url, "NINETY_DB_URL": db,
           "NINETY_CONTRACT_ADDRESS": contract, "NINETY_START_BLOCK": "1", "NINETY_IPFS_API": "", **extra}
    server = subprocess.Popen([sys.executable, "-m", "ninety.cli", "serve", "--port", str(port),
                               "--workers", str(args.workers)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:  # until every worker has built its app and the port answers
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"ninety serve did not start (exit code {server.poll()})")
                time.sleep(0.5)
        time.sleep(2 if args.workers > 1 else 0)  # the other workers finish starting too
        driver = subprocess.run([sys.executable, "-c", DRIVER, "127.0.0.1", str(port), json.dumps(paths),
                                 str(args.requests), str(args.seconds), str(args.threads)],
                                capture_output=True, text=True, timeout=600)
        if driver.returncode != 0:
            raise SystemExit(driver.stderr or driver.stdout)
        return json.loads(driver.stdout)  # type: ignore[no-any-return]
    finally:
        server.terminate()
        server.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000, help="per endpoint (bounded)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per endpoint, at most")
    parser.add_argument("--threads", type=int, default=4, help="concurrent connections of the driver")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (ninety serve --workers)")
    parser.add_argument("--databases", default="SQLite,PostgreSQL", help="comma-separated subset")
    args = parser.parse_args()
    pg = os.environ.get("NINETY_BENCH_PG_URL", PG_DEFAULT)
    results = []
    with tempfile.TemporaryDirectory() as tmp, Supervisor(Path(tmp)) as sup:
        anvil = sup.start(anvil_service(Path(tmp), port=None))
        w3 = web3_for(anvil.url)
        accounts = [str(a) for a in w3.eth.accounts]
        market, _ = deploy_direct(w3, accounts[0], accounts[9])
        for name in args.databases.split(","):
            schema = None
            if name == "SQLite":
                db = f"sqlite:///{tmp}/bench-{uuid.uuid4().hex[:6]}.sqlite3"
            else:
                schema = f"bench_{uuid.uuid4().hex[:10]}"
                admin = make_engine(pg)
                with admin.begin() as conn:
                    conn.execute(text(f"CREATE SCHEMA {schema}"))
                db = f"{pg}{'&' if '?' in pg else '?'}options=-csearch_path%3D{schema}"
            engine = make_engine(db)
            ensure_schema(engine)
            Indexer(Rpc(anvil.url), Ledger(engine, market.address), start_block=1, chain_id=31337).run(once=True)
            print(f"{name}: filling {args.sales:,} sales", file=sys.stderr)
            paths = fill(db, market.address, args.sales)
            # Summaries are kept per checkpoint (ETag); a second server with the store off
            # measures what computing one costs, as after every new block.
            computed = {f"{k}, computed": v for k, v in paths.items() if "summary" in k}
            for extra, batch in (({}, paths), ({"NINETY_API_SNAPSHOTS": "0"}, computed)):
                for endpoint, r in serve_and_drive(tmp, anvil.url, db, market.address, extra, batch, args).items():
                    lat = sorted(r["latencies"])
                    results.append((name, endpoint, len(lat), statistics.median(lat) * 1000,
                                    lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, len(lat) / r["elapsed"]))
            if schema:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    print(f"\n{'database':<11} {'endpoint':<26} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    print(f"{'-' * 11} {'-' * 26} {'-' * 9} {'-' * 8} {'-' * 8} {'-' * 8}")
    for db, endpoint, n, p50, p99, rps in results:
        print(f"{db:<11} {endpoint:<26} {n:>9,} {p50:>8.1f} {p99:>8.1f} {rps:>8,.0f}")
    print(f"\n{args.sales:,} sales, {TRACKS:,} tracks, {ARTISTS} artists, {BUYERS:,} buyers; "
          f"driver: {args.threads} connections from a second process, "
          f"uvicorn with {args.workers} worker(s).")


if __name__ == "__main__":
    main()
