"""Indexer benchmark: N sales on a private Anvil, backfilled into SQLite and PostgreSQL by
Ninety's indexer and by a naive baseline measured in the same run (web3's
`contract.events.Sale.get_logs` per fixed block range, one ORM insert per row).
Also the head-following latency: time from a sale being mined to its row existing.

Run: `make bench-indexer` (N=100,000), or `.venv/bin/python bench/indexer.py --sales 10000`.
PostgreSQL is used when NINETY_BENCH_PG_URL is set (default: the local test database)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from indexer.runner import Indexer  # noqa: E402
from indexer.store import Ledger  # noqa: E402
from ninety.chain import Rpc  # noqa: E402
from ninety.cli.services import anvil_service  # noqa: E402
from ninety.cli.supervisor import Supervisor  # noqa: E402
from ninety.contract import ETH  # noqa: E402
from ninety.db import ensure_schema, make_engine  # noqa: E402
from ninety.market import deploy_direct, web3_for  # noqa: E402
from ninety.models.chain import Sale  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def generate(url: str, sales: int) -> tuple[str, int, int, object]:
    """Deploy, then `sales` ETH buys mined ~500 per block, sent in JSON-RPC batches."""
    w3 = web3_for(url)
    accounts = [str(a) for a in w3.eth.accounts]
    market, _ = deploy_direct(w3, accounts[0], accounts[9])
    start = w3.eth.block_number - 2
    sid = market.create_split([(accounts[1], 700_000), (accounts[2], 300_000)], accounts[1])
    track = market.register("bafkreibench", sid, ETH, 1000, accounts[1])
    rpc = Rpc(url, timeout=120)
    rpc.call("evm_setAutomine", [False])
    data = market.contract.encode_abi("buy", [track, 1000])
    buyers = accounts[3:9]
    nonces = {b: int(rpc.call("eth_getTransactionCount", [b, "pending"]), 16) for b in buyers}
    sent = 0
    t0 = time.monotonic()
    while sent < sales:
        n = min(500, sales - sent)
        calls = []
        for i in range(n):
            buyer = buyers[(sent + i) % len(buyers)]
            calls.append(("eth_sendTransaction", [{"from": buyer, "to": market.address, "data": data,
                                                   "value": hex(1000), "gas": hex(100_000),
                                                   "nonce": hex(nonces[buyer])}]))
            nonces[buyer] += 1
        rpc.batch(calls)
        rpc.call("evm_mine")
        sent += n
        if sent % 10_000 == 0 or sent == sales:
            print(f"  generated {sent:,}/{sales:,} sales", file=sys.stderr, flush=True)
    rpc.call("evm_setAutomine", [True])
    print(f"  ({time.monotonic() - t0:.0f} s)", file=sys.stderr)
    return market.address, start, track, market


def fresh_pg(base: str) -> tuple[str, object]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", (admin, schema)


def drop_pg(handle: object) -> None:
    admin, schema = handle  # type: ignore[misc]
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def run_ninety(rpc_url: str, db_url: str, address: str, start: int) -> tuple[int, float]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    ix = Indexer(Rpc(rpc_url, timeout=120), Ledger(engine, address), start_block=start, chain_id=31337,
                 initial_range=2_000, max_range=50_000)
    t0 = time.perf_counter()
    ix.run(once=True)
    elapsed = time.perf_counter() - t0
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(Sale.__table__)).scalar()
    engine.dispose()
    return int(count or 0), elapsed


def run_baseline(market: object, db_url: str, start: int, end: int, step: int = 20) -> tuple[int, float]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    contract = market.contract  # type: ignore[attr-defined]
    w3 = market.w3  # type: ignore[attr-defined]
    count = 0
    t0 = time.perf_counter()
    for low in range(start, end + 1, step):
        logs = contract.events.Sale.get_logs(from_block=low, to_block=min(end, low + step - 1))
        with Session(engine) as s:
            for log in logs:
                s.add(Sale(
                    track_id=log["args"]["trackId"], buyer=log["args"]["buyer"].lower(), token=log["args"]["token"].lower(),
                    amount=log["args"]["amount"], platform_fee=log["args"]["platformFee"],
                    split_id="0x" + log["args"]["splitId"].hex(), artist="", fee_recipient="", block_time=0,
                    block_number=log["blockNumber"], block_hash="0x" + log["blockHash"].hex(),
                    tx_hash="0x" + log["transactionHash"].hex(), log_index=log["logIndex"],
                ))
                s.flush()  # one INSERT per row, as a naive ORM loop does
                count += 1
            s.commit()
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return count, elapsed


def follow_latency(rpc_url: str, db_url: str, address: str, start: int, market: object, track: int,
                   samples: int = 20) -> list[float]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    ix = Indexer(Rpc(rpc_url), Ledger(engine, address), start_block=start, chain_id=31337, poll_interval=0.25)
    ix.run(once=True)
    thread = threading.Thread(target=ix.run, daemon=True)
    thread.start()
    w3 = market.w3  # type: ignore[attr-defined]
    latencies = []
    try:
        for _ in range(samples):
            receipt = market.buy(track, 1000, str(w3.eth.accounts[4]))  # type: ignore[attr-defined]
            mined = time.perf_counter()
            tx = "0x" + bytes(receipt["transactionHash"]).hex()
            while True:
                with engine.connect() as conn:
                    if conn.execute(select(Sale.__table__.c.id).where(Sale.__table__.c.tx_hash == tx)).first():
                        break
                time.sleep(0.005)
            latencies.append(time.perf_counter() - mined)
            time.sleep(0.1)
    finally:
        ix.stop_event.set()
        thread.join(10)
        engine.dispose()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sales", type=int, default=100_000)
    parser.add_argument("--baseline-sales", type=int, default=10_000,
                        help="the naive baseline indexes only the first N sales (it is slow)")
    args = parser.parse_args()
    pg = os.environ.get("NINETY_BENCH_PG_URL", PG_DEFAULT)
    with tempfile.TemporaryDirectory() as tmp, Supervisor(Path(tmp)) as sup:
        anvil = sup.start(anvil_service(Path(tmp), port=None))
        # Room for 500 buys per block.
        address, start, track, market = generate(anvil.url, args.sales)
        end = market.w3.eth.block_number  # type: ignore[attr-defined]
        baseline_end = start + 4 + (args.baseline_sales + 499) // 500
        rows = []
        for name in ("SQLite", "PostgreSQL"):
            handle = None
            if name == "SQLite":
                db = f"sqlite:///{tmp}/ninety-{uuid.uuid4().hex[:6]}.sqlite3"
                db_base = f"sqlite:///{tmp}/baseline-{uuid.uuid4().hex[:6]}.sqlite3"
            else:
                db, handle = fresh_pg(pg)
                db_base, handle2 = fresh_pg(pg)
            count, secs = run_ninety(anvil.url, db, address, start)
            rows.append((f"Ninety indexer -> {name}", count, secs))
            bcount, bsecs = run_baseline(market, db_base, start, min(end, baseline_end))
            rows.append((f"naive web3 get_logs + ORM -> {name}", bcount, bsecs))
            if handle is not None:
                drop_pg(handle)
                drop_pg(handle2)
        lat = sorted(follow_latency(anvil.url, f"sqlite:///{tmp}/follow.sqlite3", address, start, market, track))
    print(f"\n{'indexer':<40} {'sales':>9} {'seconds':>9} {'events/s':>10}")
    print(f"{'-' * 40} {'-' * 9} {'-' * 9} {'-' * 10}")
    for name, count, secs in rows:
        print(f"{name:<40} {count:>9,} {secs:>9.2f} {count / secs:>10,.0f}")
    print(f"\nfollowing the head (SQLite, 250 ms poll): a mined sale is in the database after "
          f"p50 {lat[len(lat) // 2] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms ({len(lat)} sales)")


if __name__ == "__main__":
    main()
