"""Indexer benchmark: Ninety's `ninety index --once` against the floor (a fresh Python process
that only fetches the Sale logs with eth_getLogs and parses the JSON) and, with --peers,
Ponder, all on one saved chain of N sales, each as a fresh process timed from spawn to exit
(Ponder: to its /ready answering 200), fresh database each run. Every row's count is
checked against the chain's before any speed is printed. Then the head-following latency.

The chain is generated once per N (about 500 sales per block) and kept as an Anvil state
dump in bench/.chains/ (gitignored); later runs load it. `--regenerate` makes a new one.

Run: `make bench-indexer` (N=100,000), `make bench-indexer PEERS=1` (adds Ponder), or
`.venv/bin/python bench/indexer.py --sales 10000 --runs 3 [--peers] [--verify]`.
PostgreSQL from NINETY_BENCH_PG_URL (default: the local test database)."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
from eth_utils import keccak  # noqa: E402
from sqlalchemy import text  # noqa: E402

from ninety.cli.supervisor import free_port  # noqa: E402
from ninety.config import DEV_MNEMONIC  # noqa: E402
from ninety.contract import ETH  # noqa: E402
from ninety.db import make_engine  # noqa: E402
from ninety.market import Market, deploy_direct, web3_for  # noqa: E402
from ninety.paths import NODE_MODULES  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
CHAINS = ROOT / "bench" / ".chains"
PONDER = ROOT / "bench" / "peers" / "ponder"
PYTHON = ROOT / ".venv" / "bin" / "python"
NINETY = ROOT / ".venv" / "bin" / "ninety"
SALE_TOPIC = "0x" + keccak(text="Sale(uint256,address,address,uint256,uint256,bytes32)").hex()
PER_BLOCK = 500
EMPTY_TAIL = 64
# Bumped when a saved chain's layout changes: older saves are then generated again.
CHAIN_FORMAT = 2
# The floor asks for this many blocks per eth_getLogs (2,500 logs). Swept on the saved 100,000-sale
# chain (two rounds, seconds for the whole range): 1 block 1.17-1.44, 2: 1.38-1.46, 5: 1.16-1.22,
# 10: 1.78-1.94, 20: 1.48-2.04, 100: 1.92-1.99, 300: 1.89-1.99; bigger answers also cost memory.
FLOOR_BLOCKS = 5


# ---------------------------------------------------------------- the chain


def rpc(url: str, method: str, params: list[Any] | None = None, timeout: float = 600) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        answer = json.loads(r.read())
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def rpc_batch(url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        answers = sorted(json.loads(r.read()), key=lambda a: a["id"])
    errors = [a["error"] for a in answers if "error" in a]
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(calls)} calls failed, first: {errors[0]}")
    return [a["result"] for a in answers]


class Anvil:
    """An Anvil of our own (its own process group), optionally from a saved state."""

    def __init__(self, log: Path, *, load: Path | None = None, dump: Path | None = None) -> None:
        binary = NODE_MODULES / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
        if not binary.exists():
            binary = NODE_MODULES / ".bin" / "anvil"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A block gas limit far above 500 buys keeps every block under EIP-1559's target, so
        # the base fee falls instead of growing 12.5 % a block over thousands of full blocks.
        argv = [str(binary), "--host", "127.0.0.1", "--port", str(self.port), "--mnemonic", DEV_MNEMONIC,
                "--chain-id", "31337", "--accounts", "10", "--balance", "1000000", "--gas-limit", "1000000000",
                "--cache-path", str(log.parent / "anvil-cache")]
        if load is not None:
            argv += ["--load-state", str(load)]
        if dump is not None:
            argv += ["--dump-state", str(dump)]
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 600  # loading a big state takes a while
        while True:
            try:
                rpc(self.url, "eth_chainId", timeout=5)
                break
            except (OSError, urllib.error.URLError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"anvil did not start (see {log})") from None
                time.sleep(0.1)

    def stop(self, timeout: float = 600) -> None:
        """SIGTERM (Anvil writes --dump-state then), SIGKILL after `timeout`."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> "Anvil":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Chain:
    sales: int
    address: str
    start_block: int
    end_block: int
    end_hash: str
    track: int
    format: int = CHAIN_FORMAT

    @classmethod
    def paths(cls, sales: int) -> tuple[Path, Path]:
        return CHAINS / f"sales-{sales}.state.json", CHAINS / f"sales-{sales}.meta.json"


def generate(url: str, sales: int) -> Chain:
    """Deploy, then `sales` ETH buys mined PER_BLOCK a block, sent in JSON-RPC batches."""
    w3 = web3_for(url)
    accounts = [str(a) for a in w3.eth.accounts]
    market, _ = deploy_direct(w3, accounts[0], accounts[9])
    start = market.from_block
    sid = market.create_split([(accounts[1], 700_000), (accounts[2], 300_000)], accounts[1])
    track = market.register("bafkreibench", sid, ETH, 1000, accounts[1])
    rpc(url, "evm_setAutomine", [False])
    data = market.contract.encode_abi("buy", [track, 1000])
    buyers = accounts[3:9]
    nonces = {b: int(rpc(url, "eth_getTransactionCount", [b, "pending"]), 16) for b in buyers}
    sent = 0
    t0 = time.monotonic()
    while sent < sales:
        n = min(PER_BLOCK, sales - sent)
        calls: list[tuple[str, list[Any]]] = []
        for i in range(n):
            buyer = buyers[(sent + i) % len(buyers)]
            calls.append(("eth_sendTransaction", [{"from": buyer, "to": market.address, "data": data,
                                                   "value": hex(1000), "gas": hex(100_000),
                                                   "nonce": hex(nonces[buyer])}]))
            nonces[buyer] += 1
        rpc_batch(url, calls)
        rpc(url, "evm_mine")
        sent += n
        if sent % 20_000 == 0 or sent == sales:
            spent = time.monotonic() - t0
            print(f"  generated {sent:,}/{sales:,} sales ({spent:.0f} s, about "
                  f"{spent / sent * (sales - sent):.0f} s to go)", file=sys.stderr, flush=True)
    rpc(url, "evm_setAutomine", [True])
    # Empty blocks after the last sale: Ponder backfills only up to the head minus its
    # finality depth (30 blocks on chain 31337) and indexes the rest as live blocks after
    # /ready; with these, every sale is in its backfill, as on a real chain.
    rpc(url, "anvil_mine", [hex(EMPTY_TAIL)])
    pending = rpc(url, "txpool_status")
    if int(pending["pending"], 16) or int(pending["queued"], 16):
        raise RuntimeError(f"transactions left unmined: {pending}")
    end = int(rpc(url, "eth_blockNumber"), 16)
    head = rpc(url, "eth_getBlockByNumber", [hex(end), False])
    return Chain(sales, market.address, start, end, head["hash"], track)


def saved_chain(sales: int, work: Path, regenerate: bool) -> Chain:
    """The saved chain of `sales` sales, generated (and saved) first when there is none."""
    state, meta = Chain.paths(sales)
    if meta.exists() and state.exists() and not regenerate:
        saved = json.loads(meta.read_text())
        if saved.get("format") == CHAIN_FORMAT:
            return Chain(**saved)
    CHAINS.mkdir(parents=True, exist_ok=True)
    meta.unlink(missing_ok=True)
    partial = state.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    print(f"generating a chain of {sales:,} sales (saved to {state.relative_to(ROOT)} for later runs)",
          file=sys.stderr, flush=True)
    with Anvil(work / "anvil-generate.log", dump=partial) as anvil:
        chain = generate(anvil.url, sales)
    # Anvil wrote the dump on SIGTERM (in __exit__); the metadata last, so a run cut short
    # leaves nothing that looks complete.
    if not partial.exists():
        raise RuntimeError("anvil left no state dump")
    partial.rename(state)
    meta.write_text(json.dumps(chain.__dict__, indent=1) + "\n")
    print(f"  saved ({state.stat().st_size / 1e6:,.0f} MB)", file=sys.stderr, flush=True)
    return chain


def anvil_rss_mb(anvil: Anvil) -> float:
    for line in Path(f"/proc/{anvil.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def check_loaded(url: str, chain: Chain) -> None:
    """The loaded chain is the saved one: same head, same head hash (so the same history)."""
    head = int(rpc(url, "eth_blockNumber"), 16)
    block = rpc(url, "eth_getBlockByNumber", [hex(chain.end_block), False])
    if head != chain.end_block or block is None or block["hash"] != chain.end_hash:
        raise RuntimeError(f"the loaded chain is not the saved one (head {head}, expected {chain.end_block} "
                           f"{chain.end_hash}); rerun with --regenerate")


# ---------------------------------------------------------------- timed processes


@dataclass
class Timed:
    seconds: float
    rss_kib: int
    returncode: int
    output: str


# Spawns the measured command and waits for it, from a small Python of its own (-I -S: the
# standard library only). Linux carries a process's peak RSS across exec, so a command forked
# straight from this bench (web3 and all imported: ~120 MB) would report the bench's size as
# its own; forked from this launcher it starts from a few MB. It writes the fork's time
# (CLOCK_MONOTONIC, shared by every process), then seconds to exit, peak RSS (KiB) and exit
# code. It ignores SIGTERM, which the bench sends to the group to stop a server (Ponder).
LAUNCHER = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
out = open(sys.argv[1], "w")
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.execv(sys.argv[2], sys.argv[2:])
out.write(f"{t0}\\n"); out.flush()
_, status, usage = os.wait4(pid, 0)
out.write(f"{time.monotonic() - t0} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}\\n")
"""


def launch(argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> tuple[subprocess.Popen[bytes], Path]:
    result = log.with_suffix(".timed")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", LAUNCHER, str(result), *argv], env=env, cwd=cwd,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, result


def launched_at(result: Path, proc: subprocess.Popen[bytes]) -> float:
    while True:
        lines = result.read_text().splitlines() if result.exists() else []
        if lines:
            return float(lines[0])
        if proc.poll() is not None:
            raise RuntimeError("the launcher failed")
        time.sleep(0.001)


def run_timed(argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> Timed:
    """Run to exit; seconds from spawn to exit, and peak RSS."""
    proc, result = launch(argv, env, log, cwd)
    proc.wait()
    seconds, rss, code = result.read_text().splitlines()[1].split()
    return Timed(float(seconds), int(rss), int(code), log.read_text(errors="replace"))


def run_floor(chain: Chain, url: str, work: Path) -> tuple[int, Timed]:
    argv = [str(PYTHON), str(ROOT / "bench" / "floor.py"), url, chain.address, SALE_TOPIC,
            str(chain.start_block), str(chain.end_block), str(FLOOR_BLOCKS)]
    t = run_timed(argv, dict(os.environ), work / "floor.log")
    if t.returncode != 0:
        raise RuntimeError(f"the floor failed:\n{t.output}")
    return int(t.output.strip().splitlines()[-1]), t


def fresh_pg_schema(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop_pg_schema(base: str, schema: str) -> None:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def count_sales(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM sale")).scalar() or 0)
    finally:
        engine.dispose()


def ninety_env(url: str, db_url: str, chain: Chain, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NINETY_")}
    env.update(NINETY_RPC_URL=url, NINETY_DB_URL=db_url, NINETY_CONTRACT_ADDRESS=chain.address,
               NINETY_START_BLOCK=str(chain.start_block), NINETY_DATA_DIR=str(data_dir),
               NINETY_DEPLOYMENTS_DIR=str(data_dir / "deployments"))
    # No NINETY_IPFS_API: no metadata fetching (the bench's one track has no real metadata).
    return env


def run_ninety(chain: Chain, url: str, db_url: str, work: Path, tag: str) -> tuple[int, Timed]:
    data_dir = work / f"ninety-{tag}"
    data_dir.mkdir()
    t = run_timed([str(NINETY), "index", "--once"], ninety_env(url, db_url, chain, data_dir), work / f"ninety-{tag}.log")
    if t.returncode != 0:
        raise RuntimeError(f"ninety index --once failed ({t.returncode}):\n{t.output[-3000:]}")
    return count_sales(db_url), t


# ---------------------------------------------------------------- Ponder


def ponder_version() -> str:
    return str(json.loads((PONDER / "node_modules" / "ponder" / "package.json").read_text())["version"])


def fresh_pg_database(base: str) -> tuple[str, str]:
    """Ponder keeps its RPC cache in a `ponder_sync` schema shared by every schema of a
    database: a fresh database per run, so no run reads another's cache."""
    name = f"bench_ponder_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    head, _, query = base.partition("?")
    return head.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else ""), name


def drop_pg_database(base: str, name: str) -> None:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run_ponder(chain: Chain, url: str, work: Path, tag: str, database_url: str | None) -> tuple[int, Timed]:
    """`ponder start` on a fresh .ponder dir (and, given `database_url`, on that fresh
    PostgreSQL database; else its default PGlite); timed from spawn until /ready answers
    200 (historical backfill done). The row count is read from the running Ponder."""
    shutil.rmtree(PONDER / ".ponder", ignore_errors=True)
    port = free_port()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_PRIVATE_URL")}
    env.update(BENCH_RPC_URL=url, BENCH_CONTRACT_ADDRESS=chain.address, BENCH_START_BLOCK=str(chain.start_block),
               PONDER_TELEMETRY_DISABLED="1", NO_COLOR="1", CI="1")
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    argv = [str(PONDER / "node_modules" / ".bin" / "ponder"), "start", "--schema", schema, "--port", str(port),
            "--hostname", "127.0.0.1", "--log-format", "json"]
    log = work / f"ponder-{tag}.log"
    timeout = 120 + chain.sales / 1000
    proc, result = launch(argv, env, log, cwd=PONDER)
    try:
        t0 = launched_at(result, proc)
        seconds = None
        while seconds is None:
            if proc.poll() is not None:
                raise RuntimeError(f"ponder exited before it was ready:\n{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"ponder not ready after {timeout:.0f} s (see {log})")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as r:
                    if r.status == 200:
                        seconds = time.monotonic() - t0
            except (OSError, urllib.error.URLError):
                pass
            if seconds is None:
                time.sleep(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/sale-count", timeout=60) as r:
            rows = int(json.loads(r.read())["count"])
    finally:
        # Ponder (and whatever it started) get SIGTERM; the launcher outlives it to report.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(PONDER / ".ponder", ignore_errors=True)
    lines = result.read_text().splitlines()
    rss = int(lines[1].split()[1]) if len(lines) > 1 else 0
    if database_url is not None:
        # Counted by us as well: the table Ponder wrote, in the schema it was given.
        with psycopg.connect(database_url) as conn:
            direct = conn.execute(f'SELECT count(*) FROM "{schema}"."sale"').fetchone()[0]  # type: ignore[index]
        if direct != rows:
            raise RuntimeError(f"ponder said {rows} rows, its PostgreSQL schema holds {direct}")
    return rows, Timed(seconds, rss, 0, "")


# ---------------------------------------------------------------- following the head


def follow_latency_polling(rpc_url: str, db_url: str, address: str, start_block: int, market: Market, track: int,
                           samples: int = 200) -> list[float]:
    """Used while bench/follow.py is absent: the in-process indexer's polling loop (250 ms)."""
    from sqlalchemy import select

    from indexer.runner import Indexer
    from indexer.store import Ledger
    from ninety.chain import Rpc
    from ninety.db import ensure_schema
    from ninety.models.chain import Sale

    engine = make_engine(db_url)
    ensure_schema(engine)
    ix = Indexer(Rpc(rpc_url), Ledger(engine, address), start_block=start_block, chain_id=31337, poll_interval=0.25)
    ix.run(once=True)
    thread = threading.Thread(target=ix.run, daemon=True)
    thread.start()
    latencies = []
    try:
        for _ in range(samples):
            receipt = market.buy(track, 1000, str(market.w3.eth.accounts[4]))
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


def follow_function() -> tuple[Callable[..., list[float]], str]:
    try:
        from follow import follow_latency  # bench/follow.py
    except ImportError:
        return follow_latency_polling, "polling every 250 ms (bench/follow.py absent)"
    return follow_latency, "bench/follow.py"


# ---------------------------------------------------------------- the run


def git_head() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cI"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "indexer", "ninety"],
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + (" (indexer/ninety modified in the checkout)" if dirty else "")
    except OSError:
        return "?"


def install_ponder() -> None:
    if not (PONDER / "node_modules" / ".bin" / "ponder").exists():
        print("installing Ponder into bench/peers/ponder (npm ci)", file=sys.stderr, flush=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PONDER, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sales", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1, help="repeat the timed rows K times, report the median")
    parser.add_argument("--peers", action="store_true", help="also run Ponder (installed into bench/peers/ponder)")
    parser.add_argument("--no-pg", action="store_true", help="leave out the PostgreSQL rows")
    parser.add_argument("--verify", action="store_true",
                        help="run `ninety verify` on Ninety's SQLite ledger (always with 1,000,000 sales or more)")
    parser.add_argument("--follow-samples", type=int, default=200, help="sales timed while following (0: skip)")
    parser.add_argument("--regenerate", action="store_true", help="generate and save a new chain")
    parser.add_argument("--save", action=argparse.BooleanOptionalAction, default=None,
                        help="save the chain for later runs (default: below 1,000,000 sales; a million sales "
                             "make a ~3.5 GB dump that Anvil needs ~14 GB to load, so that run generates the "
                             "chain and benches on the same Anvil)")
    args = parser.parse_args()
    pg = os.environ.get("NINETY_BENCH_PG_URL", PG_DEFAULT)
    verify = args.verify or args.sales >= 1_000_000
    if args.peers:
        install_ponder()

    with tempfile.TemporaryDirectory(prefix="bench-indexer-") as tmp:
        work = Path(tmp)
        save = args.save if args.save is not None else args.sales < 1_000_000
        if save:
            chain = saved_chain(args.sales, work, args.regenerate)
            anvil = Anvil(work / "anvil.log", load=Chain.paths(args.sales)[0])
            check_loaded(anvil.url, chain)
        else:
            print(f"generating a chain of {args.sales:,} sales on the Anvil this run uses (not saved)",
                  file=sys.stderr, flush=True)
            anvil = Anvil(work / "anvil.log")
            chain = generate(anvil.url, args.sales)
        anvil_mb = anvil_rss_mb(anvil)
        print(f"  anvil holds the chain in {anvil_mb:,.0f} MB", file=sys.stderr, flush=True)
        with anvil:
            contenders: list[tuple[str, Callable[[int], tuple[int, Timed]]]] = [
                ("floor: eth_getLogs + orjson", lambda k: run_floor(chain, anvil.url, work)),
                ("Ninety -> SQLite", lambda k: run_ninety(chain, anvil.url, f"sqlite:///{work}/ninety-{k}.sqlite3",
                                                          work, f"sqlite-{k}")),
            ]
            pg_schemas: list[str] = []

            def ninety_pg(k: int) -> tuple[int, Timed]:
                db, schema = fresh_pg_schema(pg)
                pg_schemas.append(schema)
                try:
                    return run_ninety(chain, anvil.url, db, work, f"pg-{k}")
                finally:
                    drop_pg_schema(pg, pg_schemas.pop())

            def ponder_pg(k: int) -> tuple[int, Timed]:
                db, name = fresh_pg_database(pg)
                try:
                    return run_ponder(chain, anvil.url, work, f"pg-{k}", db)
                finally:
                    drop_pg_database(pg, name)

            if not args.no_pg:
                contenders.append(("Ninety -> PostgreSQL", ninety_pg))
            if args.peers:
                version = ponder_version()
                contenders.append((f"Ponder {version} -> PGlite", lambda k: run_ponder(chain, anvil.url, work,
                                                                                        f"pglite-{k}", None)))
                if not args.no_pg:
                    contenders.append((f"Ponder {version} -> PostgreSQL", ponder_pg))

            results: dict[str, list[Timed]] = {name: [] for name, _ in contenders}
            # Taken once the chain is ready (generating a million sales takes minutes).
            head_at_start = git_head()
            for k in range(args.runs):
                for name, run in contenders:
                    rows, timed = run(k)
                    # A speed is only worth printing for a complete ledger.
                    if rows != chain.sales:
                        raise RuntimeError(f"{name}: {rows:,} rows, the chain has {chain.sales:,} sales")
                    results[name].append(timed)
                    print(f"  run {k + 1}/{args.runs}: {name:<32} {timed.seconds:7.2f} s  "
                          f"peak RSS {timed.rss_kib / 1024:6.0f} MB", file=sys.stderr, flush=True)

            # The timed rows first, so a failure below loses none of them.
            print_table(chain, contenders, results, args.runs, save, anvil_mb, head_at_start)
            failed = False
            last_sqlite = f"sqlite:///{work}/ninety-{args.runs - 1}.sqlite3"
            if verify:
                (work / "ninety-verify").mkdir()
                env = ninety_env(anvil.url, last_sqlite, chain, work / "ninety-verify")
                t = run_timed([str(NINETY), "verify"], env, work / "verify.log")
                last = t.output.strip().splitlines()[-1] if t.output.strip() else ""
                print(f"\nninety verify on Ninety's SQLite ledger of the last run: "
                      f"{'matches' if t.returncode == 0 else 'DIFFERS'} ({t.seconds:.1f} s, peak RSS "
                      f"{t.rss_kib / 1024:.0f} MB): {last}", flush=True)
                if t.returncode != 0:
                    print(t.output[-3000:])
                    failed = True

            if args.follow_samples:
                follow, follow_how = follow_function()
                market = Market(web3_for(anvil.url), chain.address, from_block=chain.start_block)
                try:
                    # On the backfilled SQLite ledger, so following starts at the head at once.
                    lat = sorted(follow(anvil.url, last_sqlite, chain.address, chain.start_block, market, chain.track,
                                        samples=args.follow_samples))
                except Exception as e:  # noqa: BLE001 - reported, and the run fails
                    print(f"\nfollowing the head failed: {e}")
                    failed = True
                else:
                    print(f"\nfollowing the head ({follow_how}, SQLite): a mined sale is in the database after "
                          f"p50 {lat[len(lat) // 2] * 1000:.0f} ms, "
                          f"p99 {lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000:.0f} ms, "
                          f"max {lat[-1] * 1000:.0f} ms ({len(lat)} sales)")
    head_at_end = git_head()
    if head_at_end != head_at_start:
        print(f"\nthe checkout changed during the run (now {head_at_end}): the rows may have measured different code")
    if failed:
        sys.exit(1)


def print_table(chain: Chain, contenders: list[tuple[str, Any]], results: dict[str, list[Timed]], runs: int,
                save: bool, anvil_mb: float, head: str) -> None:
    floor = statistics.median(t.seconds for t in results[contenders[0][0]])
    print(f"\n{chain.sales:,} sales in {chain.end_block - chain.start_block + 1:,} blocks; indexer at {head}; "
          f"median of {runs} run{'s' if runs > 1 else ''}, each a fresh process (start-up included); "
          f"Anvil {'loaded the saved chain' if save else 'generated the chain this run'} ({anvil_mb:,.0f} MB)")
    print(f"{'what':<36} {'rows':>9} {'seconds':>8} {'events/s':>9} {'x floor':>8} {'peak RSS':>9}")
    print(f"{'-' * 36} {'-' * 9} {'-' * 8} {'-' * 9} {'-' * 8} {'-' * 9}")
    for name, _ in contenders:
        times = results[name]
        secs = statistics.median(t.seconds for t in times)
        rss = max(t.rss_kib for t in times) / 1024
        spread = f"  ({min(t.seconds for t in times):.2f} to {max(t.seconds for t in times):.2f})" if len(times) > 1 else ""
        print(f"{name:<36} {chain.sales:>9,} {secs:>8.2f} {chain.sales / secs:>9,.0f} {secs / floor:>7.1f}x "
              f"{rss:>6.0f} MB{spread}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
