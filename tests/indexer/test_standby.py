"""One writer, a hot standby: two `ninety index` processes on one ledger (SQLite and
PostgreSQL). The second stands by naming the first; the first is SIGKILLed in the middle of
its backfill; the second takes over within seconds and finishes, and `ninety verify`
accepts the ledger: nothing lost, nothing doubled, no IntegrityError."""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from indexer.lock import FileLock, PgAdvisoryLock, ledger_lock
from ninety.db import make_engine
from tests.support.activity import random_activity
from tests.support.postgres import PG_URL
from tests.support.processes import like_a_terminal

NINETY = [sys.executable, "-m", "ninety.cli"]
checkpoint = SQLModel.metadata.tables["checkpoint"]


class Output:
    """A child's merged output, read on a thread so the child never blocks on a full pipe."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._new.put(line)
        self._new.put(None)

    def wait_for(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._new.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n{self.text()}")

    def text(self) -> str:
        while True:
            try:
                line = self._new.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "".join(self.lines)


def indexed_to(engine, contract: str) -> int | None:
    try:
        with engine.connect() as conn:
            return conn.execute(select(checkpoint.c.block_number)
                                .where(checkpoint.c.contract == contract.lower())).scalar()
    except Exception:  # no schema yet
        return None


def start_index(env: dict[str, str]) -> tuple[subprocess.Popen, Output]:
    proc = subprocess.Popen([*NINETY, "index"], env=env, preexec_fn=like_a_terminal, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    return proc, Output(proc)


@pytest.fixture
def own_chain(tmp_path):
    """An Anvil of its own: the thousands of empty blocks below would otherwise each keep a
    copy of the shared chain's (large) state on disk."""
    from tests.support.activity import new_world
    from ninety.cli.services import anvil_service
    from ninety.cli.supervisor import Supervisor

    with Supervisor(tmp_path / "chain") as sup:
        anvil = sup.start(anvil_service(tmp_path / "chain", port=None))
        yield anvil, new_world(anvil.url)


def test_a_standby_takes_over_from_a_killed_writer_mid_backfill(own_chain, db_url):
    anvil, world = own_chain
    w3 = world.w3
    random_activity(world, 40, seed=3)
    # Empty blocks make the backfill last (two blocks per commit), so the writer is killed
    # in the middle of it; the events after them are written by whoever writes then.
    for _ in range(6):  # in parts: one call for all of them outlasts web3's timeout on a busy machine
        w3.provider.make_request("anvil_mine", [hex(500)])
    random_activity(world, 40, seed=4)
    head = w3.eth.block_number
    contract = world.market.address
    env = {**os.environ, "NINETY_RPC_URL": anvil.url, "NINETY_DB_URL": db_url,
           "NINETY_CONTRACT_ADDRESS": contract, "NINETY_START_BLOCK": str(world.deploy_block),
           "NINETY_INDEX_MAX_RANGE": "2", "NINETY_POLL_INTERVAL": "0.05"}

    probe = make_engine(db_url)
    writer, writer_out = start_index(env)
    standby = None
    try:
        writer_out.wait_for(r"^indexing 0x", 60)
        standby, standby_out = start_index(env)
        line = standby_out.wait_for(r"standing by", 60)
        # It says what it waits for: the writer, by PID, and the lock.
        assert f"pid {writer.pid}" in line and "lock" in line, line
        assert standby.poll() is None

        # Kill the writer while it is writing: once it has moved on since the standby came.
        seen = indexed_to(probe, contract) or world.deploy_block
        deadline = time.monotonic() + 60
        while (indexed_to(probe, contract) or 0) < seen + 20:
            assert time.monotonic() < deadline, "the writer stopped writing:\n" + writer_out.text()
            assert writer.poll() is None, writer_out.text()
            time.sleep(0.02)
        at_kill = indexed_to(probe, contract)
        assert at_kill is not None and at_kill < head - 500, f"backfill nearly done before the kill ({at_kill}/{head})"
        writer.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        writer.wait(10)

        standby_out.wait_for(r"taking over", 30)
        took = time.monotonic() - killed  # measured, not asserted: it polls the lock every second
        deadline = time.monotonic() + 180
        while (indexed_to(probe, contract) or 0) < head:
            assert time.monotonic() < deadline, standby_out.text()
            assert standby.poll() is None, standby_out.text()
            time.sleep(0.1)
        standby.send_signal(signal.SIGINT)
        standby.wait(20)
        said = writer_out.text() + standby_out.text()
        assert "IntegrityError" not in said and "Traceback" not in said, said
        print(f"killed at block {at_kill} of {head}; took over in {took:.2f} s\n{standby_out.text()}")
    finally:
        for proc in (writer, standby):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        probe.dispose()

    checked = subprocess.run([*NINETY, "verify"], env=env, capture_output=True, text=True, timeout=180)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ledger matches the chain" in checked.stdout + checked.stderr


def test_the_lock_excludes_a_second_holder_names_the_first_and_passes_on_release(db_url, tmp_path):
    engine = make_engine(db_url)
    try:
        first, second = ledger_lock(engine, 31337, "0x" + "ab" * 20), ledger_lock(engine, 31337, "0x" + "ab" * 20)
        other = ledger_lock(engine, 31337, "0x" + "cd" * 20)
        assert isinstance(first, PgAdvisoryLock if db_url.startswith("postgresql") else FileLock)
        assert first.try_acquire()
        first.check()
        assert not second.try_acquire()
        assert f"pid {os.getpid()}" in (second.holder() or "")
        if isinstance(other, PgAdvisoryLock):  # keyed by contract (and chain and schema)
            assert other.try_acquire()
            other.release()
        first.release()
        assert second.try_acquire()
        second.check()
        second.release()
    finally:
        engine.dispose()


def test_a_replaced_lock_file_is_noticed_before_the_next_commit(tmp_path):
    from indexer.lock import LockLostError

    lock = FileLock(tmp_path / "ledger.sqlite3.lock")
    assert lock.try_acquire()
    (tmp_path / "ledger.sqlite3.lock").unlink()
    with pytest.raises(LockLostError, match="removed or replaced"):
        lock.check()
    lock.release()


@pytest.mark.skipif(not PG_URL, reason="needs NINETY_TEST_PG_URL")
def test_a_lost_advisory_lock_session_is_noticed_before_the_next_commit():
    from sqlalchemy import text

    from indexer.lock import LockLostError

    engine = make_engine(PG_URL)
    lock = ledger_lock(engine, 31337, "0x" + "ef" * 20)
    try:
        assert lock.try_acquire()
        backend = lock._conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend})
        with pytest.raises(LockLostError, match="lost"):
            lock.check()
    finally:
        lock.release()
        engine.dispose()
