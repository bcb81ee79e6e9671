"""Faults: a flaky RPC, SIGKILL at random moments, an RPC that is down, a wrong address.
Nothing may be lost or counted twice."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from indexer.verify import verify
from ninety.chain import Rpc
from ninety.db import ensure_schema, make_engine
from ninety.cli.supervisor import free_port
from tests.support.activity import random_activity
from tests.support.faulty_rpc import FaultyRpc
from tests.support.indexing import dump, make_indexer
from tests.support.processes import like_a_terminal


def test_a_flaky_rpc_loses_nothing_and_duplicates_nothing(anvil, world, tmp_path):
    # RPC faults do not depend on the database: SQLite alone keeps this test short.
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    ensure_schema(engine)
    random_activity(world, 60, seed=21)
    with FaultyRpc(anvil.url, seed=4, fault_rate=0.25, max_log_range=7, slow_seconds=1.2) as proxy:
        ix = make_indexer(proxy.url, engine, world, timeout=1.0, initial_range=64)
        ix.run(once=True)
    # Every kind of fault really happened.
    assert all(proxy.counts[k] > 0 for k in ("drop", "slow", "429", "500", "too_big")), proxy.counts
    assert ix.range <= 7
    _, diffs = verify(Rpc(anvil.url), engine, world.market.address, world.deploy_block)
    assert diffs == []


def index_env(anvil, world, db_url: str) -> dict[str, str]:
    return {**os.environ, "NINETY_RPC_URL": anvil.url, "NINETY_DB_URL": db_url,
            "NINETY_CONTRACT_ADDRESS": world.market.address, "NINETY_START_BLOCK": str(world.deploy_block),
            "NINETY_INDEX_MAX_RANGE": "3", "NINETY_POLL_INTERVAL": "0.05"}


def test_sigkill_at_random_moments_ends_identical_to_an_uninterrupted_run(anvil, world, db_url, tmp_path):
    random_activity(world, 150, seed=33)
    cmd = [sys.executable, "-m", "ninety.cli", "index"]
    env = index_env(anvil, world, db_url)
    rng = random.Random(5)
    kills = 0
    for _ in range(6):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 3.0))  # start-up is ~1 s; then it commits every 3 blocks
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(10)
    done = subprocess.run([*cmd, "--once"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert kills >= 3

    reference_url = f"sqlite:///{tmp_path / 'reference.sqlite3'}"
    ref = subprocess.run([*cmd, "--once"], env=index_env(anvil, world, reference_url),
                         capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr
    killed, reference = dump(make_engine(db_url)), dump(make_engine(reference_url))
    killed["checkpoint"] = reference["checkpoint"] = []
    assert killed == reference
    assert reference["sale"]


def test_an_rpc_down_at_start_is_retried_with_a_clear_message(tmp_path):
    port = free_port()
    env = {**os.environ, "NINETY_RPC_URL": f"http://127.0.0.1:{port}",
           "NINETY_DB_URL": f"sqlite:///{tmp_path / 'l.sqlite3'}"}
    proc = subprocess.Popen([sys.executable, "-m", "ninety.cli", "index"], env=env, preexec_fn=like_a_terminal,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        while "unreachable" not in line and line:
            line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line and "retrying in" in line
        assert proc.poll() is None  # still waiting, not crashed
    finally:
        proc.kill()
        proc.wait()


def test_an_address_without_code_is_refused_by_name(anvil, tmp_path):
    nowhere = "0x000000000000000000000000000000000000dEaD"
    env = {**os.environ, "NINETY_RPC_URL": anvil.url, "NINETY_CONTRACT_ADDRESS": nowhere,
           "NINETY_START_BLOCK": "0", "NINETY_DB_URL": f"sqlite:///{tmp_path / 'l.sqlite3'}"}
    out = subprocess.run([sys.executable, "-m", "ninety.cli", "index", "--once"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert nowhere in out.stdout + out.stderr and "no contract code" in out.stdout + out.stderr


def test_index_serves_metrics_and_verify_exits_by_result(anvil, world, tmp_path):
    import urllib.request

    from sqlalchemy import select, update
    from sqlmodel import SQLModel

    random_activity(world, 20, seed=2)
    head = world.w3.eth.block_number
    db_url = f"sqlite:///{tmp_path / 'l.sqlite3'}"
    env = index_env(anvil, world, db_url)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ninety.cli", "index", "--metrics-port", str(port)], env=env,
                            preexec_fn=like_a_terminal,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def indexed_to_head() -> bool:
        # The lag gauge reads 0.0 before the first measurement too: the checkpoint decides.
        try:
            with make_engine(db_url).connect() as conn:
                at = conn.execute(select(SQLModel.metadata.tables["checkpoint"].c.block_number)).scalar()
            return at is not None and at >= head
        except Exception:  # the indexer has not created the schema yet
            return False

    try:
        deadline = time.monotonic() + 60
        body = ""
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                if "ninety_indexer_lag_blocks 0.0" in body and indexed_to_head():
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert "ninety_indexer_lag_blocks 0.0" in body, body[-500:]
        assert "ninety_indexer_events_total" in body and "ninety_indexer_reorgs_total" in body
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)

    ok = subprocess.run([sys.executable, "-m", "ninety.cli", "verify"], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "matches" in ok.stdout + ok.stderr
    engine = make_engine(db_url)
    sale = SQLModel.metadata.tables["sale"]
    with engine.begin() as conn:
        first = conn.execute(select(sale.c.tx_hash)).first()
        assert first is not None, "the activity has sales and the ledger covers the head"
        victim = first[0]
        conn.execute(update(sale).where(sale.c.tx_hash == victim).values(buyer="0x" + "11" * 20))
    bad = subprocess.run([sys.executable, "-m", "ninety.cli", "verify"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert victim in bad.stdout + bad.stderr and "buyer" in bad.stdout + bad.stderr
