"""Following the head on push (indexer/heads.py): woken by Anvil's `newHeads` over
WebSocket, polling when there is no subscription, and back on push after a drop, with
every block and every sale in the ledger exactly once.

A poll interval of an hour makes "arrived without polling" a fact, not a timing: the
only thing that can end such a wait within the test's lifetime is an announcement."""
from __future__ import annotations

import logging
import os
import select as select_module
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from indexer.heads import HeadWatcher, ws_url_for
from indexer.service import follow_heads
from indexer.verify import verify
from ninety.chain import Rpc
from ninety.config import load_settings
from ninety.ledger.events import Decoder
from tests.support.activity import random_activity
from tests.support.faulty_rpc import FaultyRpc
from tests.support.indexing import make_indexer
from tests.support.processes import like_a_terminal

HOUR = 3600.0
sale = SQLModel.metadata.tables["sale"]
checkpoint = SQLModel.metadata.tables["checkpoint"]


def settings_for(rpc_url: str, poll: float, ws_url: str | None = None):
    env = {"NINETY_RPC_URL": rpc_url, "NINETY_POLL_INTERVAL": str(poll)}
    if ws_url:
        env["NINETY_RPC_WS_URL"] = ws_url
    return load_settings(env)


def until(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


def has_sale(engine, tx_hash: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(sale.c.id).where(sale.c.tx_hash == tx_hash)).first() is not None


def buy(world, buyer: int = 3) -> str:
    track, _, price = next(t for t in world.tracks if t[1] == "0x0000000000000000000000000000000000000000")
    receipt = world.market.buy(track, price, world.accounts[buyer])
    return "0x" + bytes(receipt["transactionHash"]).hex()


def list_an_eth_track(world) -> None:
    m = world.market
    split = m.create_split([(world.accounts[1], 600_000), (world.accounts[2], 400_000)], world.accounts[1])
    world.splits.append(split)
    tid = m.register("bafkreiheads", split, "0x0000000000000000000000000000000000000000", 10**15, world.accounts[1])
    world.tracks.append((tid, "0x0000000000000000000000000000000000000000", 10**15))


class Following:
    """An indexer run the way `ninety index` follows (service.follow_heads), on a thread."""

    def __init__(self, ix, watcher) -> None:
        self.ix = ix
        self.watcher = watcher
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.ix.run()
        except BaseException as e:  # surfaced by stop()
            self.errors.append(e)

    def __enter__(self) -> "Following":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.ix.stop_event.set()
        self.thread.join(30)
        if self.watcher is not None:
            self.watcher.close()
        assert not self.thread.is_alive(), "the indexer did not stop"
        assert not self.errors, self.errors


def caught_up(ix, world) -> bool:
    return ix.stats.indexed >= world.w3.eth.block_number


def assert_ledger_is_the_chain(anvil, engine, world) -> None:
    """Every block and every sale exactly once: the chain is the oracle."""
    head = world.w3.eth.block_number
    rpc = Rpc(anvil.url)
    logs = rpc.get_logs(world.market.address, world.deploy_block, head)
    chain_sales = {(e.tx_hash, e.log_index) for e in Decoder().decode_all(logs) if e.name == "Sale"}
    with engine.connect() as conn:
        rows = conn.execute(select(sale.c.tx_hash, sale.c.log_index)).all()
        at = conn.execute(select(checkpoint.c.block_number)
                          .where(checkpoint.c.contract == world.market.address.lower())).scalar()
        distinct = conn.execute(select(func.count()).select_from(
            select(sale.c.tx_hash, sale.c.log_index).distinct().subquery())).scalar()
    assert at == head
    assert len(rows) == distinct == len(chain_sales)
    assert {(t, i) for t, i in rows} == chain_sales
    _, diffs = verify(rpc, engine, world.market.address, world.deploy_block)
    assert diffs == []


# ---------------------------------------------------------------- the fault injector


class CuttableProxy:
    """A fault injector: a loopback TCP proxy in front of Anvil's WebSocket port that the
    test can cut (every open connection closed, new ones closed on arrival) and restore.
    A dropped subscription cannot be caused on Anvil itself."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname, parts.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}"
        self.down = False
        self.accepted = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.down:
                client.close()
                continue
            self.accepted += 1
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select_module.select([a, b], [], [], 1.0)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        self.down = True
        with self._lock:
            conns, self._open = self._open, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self) -> None:
        self.down = False

    def close(self) -> None:
        self.cut()
        self.listener.close()


# ---------------------------------------------------------------- tests


def test_ws_url_comes_from_the_setting_or_from_the_rpc_url():
    assert ws_url_for(None, "http://127.0.0.1:8545") == "ws://127.0.0.1:8545"
    assert ws_url_for(None, "https://node.example/v3/key") == "wss://node.example/v3/key"
    assert ws_url_for("wss://node.example/ws/v3/key", "https://node.example/v3/key") == "wss://node.example/ws/v3/key"
    assert ws_url_for("off", "http://127.0.0.1:8545") is None
    assert ws_url_for(None, None) is None
    assert load_settings({"NINETY_RPC_WS_URL": "ws://127.0.0.1:1"}).rpc_ws_url == "ws://127.0.0.1:1"
    with pytest.raises(Exception, match="NINETY_RPC_WS_URL"):
        load_settings({"NINETY_RPC_WS_URL": "http://127.0.0.1:8545"})


def test_a_sale_arrives_on_the_head_announcement_with_an_hour_between_polls(anvil, world, engine):
    list_an_eth_track(world)
    ix = make_indexer(anvil.url, engine, world, poll_interval=HOUR)
    watcher = follow_heads(ix, settings_for(anvil.url, HOUR))
    assert watcher is not None and ws_url_for(None, anvil.url) == watcher.url
    with Following(ix, watcher):
        until(lambda: caught_up(ix, world) and watcher.subscribed, what="caught up and subscribed")
        for buyer in (3, 4, 5):
            tx = buy(world, buyer)
            # The indexer waits an hour between polls: only the announcement can wake it.
            until(lambda: has_sale(engine, tx), what=f"sale {tx} in the ledger")
        assert watcher.heads >= 3
    assert_ledger_is_the_chain(anvil, engine, world)


def test_an_rpc_without_websocket_is_polled_and_still_indexed(anvil, world, engine, caplog):
    list_an_eth_track(world)
    # An HTTP-only JSON-RPC server (no faults): the ws:// derived from its URL gets its
    # upgrade refused (HTTP 501), as a plain HTTP endpoint would.
    with FaultyRpc(anvil.url, fault_rate=0.0, max_log_range=10**9) as http_only, caplog.at_level(logging.WARNING, "indexer.heads"):
        ix = make_indexer(http_only.url, engine, world, poll_interval=0.1)
        watcher = follow_heads(ix, settings_for(http_only.url, 0.1))
        assert watcher is not None
        with Following(ix, watcher):
            until(lambda: "unavailable" in caplog.text, what="the fallback logged")
            tx = buy(world)
            until(lambda: has_sale(engine, tx), what="the sale indexed by polling")
            random_activity(world, 15, seed=31)
            until(lambda: caught_up(ix, world), what="caught up")
            assert not watcher.subscribed and watcher.subscriptions == 0
    # Logged once, not once per retry.
    assert caplog.text.count("head subscription at") == 1, caplog.text
    assert_ledger_is_the_chain(anvil, engine, world)


def test_a_dropped_subscription_falls_back_to_polling_and_comes_back(anvil, world, engine, caplog):
    list_an_eth_track(world)
    proxy = CuttableProxy(anvil.url)
    ix = make_indexer(anvil.url, engine, world, poll_interval=0.2)
    watcher = follow_heads(ix, settings_for(anvil.url, 0.2, ws_url=proxy.url))
    assert watcher is not None
    watcher.retry_min = watcher.retry_max = 0.5  # re-subscribe within the test's patience
    try:
        with caplog.at_level(logging.INFO, "indexer.heads"), Following(ix, watcher):
            until(lambda: caught_up(ix, world) and watcher.subscribed, what="subscribed")
            random_activity(world, 20, seed=41)
            proxy.cut()
            until(lambda: not watcher.subscribed, what="the drop noticed")
            # While the subscription is down (and every reconnection refused), polling indexes.
            random_activity(world, 20, seed=42)
            tx = buy(world)
            until(lambda: has_sale(engine, tx), what="a sale indexed while polling")
            assert watcher.subscriptions == 1 and "dropped" in caplog.text
            proxy.restore()
            until(lambda: watcher.subscriptions == 2 and watcher.subscribed, what="subscribed again")
            # Back on push: with an hour between polls from the next wait on, only an
            # announcement can bring the next sale in.
            ix.poll_interval = HOUR
            until(lambda: caught_up(ix, world), what="caught up")
            time.sleep(0.3)  # the last short wait (0.2 s) is over: every wait is an hour now
            heads = watcher.heads
            tx = buy(world, 4)
            until(lambda: has_sale(engine, tx), what="a sale indexed after re-subscribing")
            assert watcher.heads > heads
            random_activity(world, 10, seed=43)
            until(lambda: caught_up(ix, world), what="caught up at the end")
    finally:
        proxy.close()
    assert "following again" in caplog.text
    assert_ledger_is_the_chain(anvil, engine, world)


def test_stopping_the_indexer_ends_the_head_watcher(anvil, world, engine):
    ix = make_indexer(anvil.url, engine, world, poll_interval=HOUR)
    watcher = follow_heads(ix, settings_for(anvil.url, HOUR))
    assert watcher is not None
    following = Following(ix, watcher).__enter__()
    until(lambda: watcher.subscribed, what="subscribed")
    # The stop flag alone (as a test or an embedding program sets it from another thread)
    # ends both the hour-long wait and the watcher's thread, before any close().
    ix.stop_event.set()
    following.thread.join(30)
    assert not following.thread.is_alive()
    until(lambda: not watcher.alive, timeout=10, what="the watcher thread ended")
    watcher.close()  # and closing after that is harmless
    assert not watcher.alive


def test_closing_a_watcher_that_cannot_connect_ends_its_thread():
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    watcher = HeadWatcher(f"ws://127.0.0.1:{port}", stop, retry_min=HOUR).start()  # refused, then a long backoff
    until(lambda: watcher.subscriptions == 0 and not watcher.subscribed, what="started")
    watcher.close()
    assert not watcher.alive
    # With no subscription its wait is the poll interval, and a stopped indexer never waits.
    assert watcher.wait(0.01) is False


def test_ninety_index_follows_on_new_heads_and_stops_on_ctrl_c(anvil, world, tmp_path):
    list_an_eth_track(world)
    db_url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    env = {**os.environ, "NINETY_RPC_URL": anvil.url, "NINETY_DB_URL": db_url,
           "NINETY_CONTRACT_ADDRESS": world.market.address, "NINETY_START_BLOCK": str(world.deploy_block),
           "NINETY_POLL_INTERVAL": str(HOUR)}
    from ninety.db import make_engine

    engine = make_engine(db_url)
    proc = subprocess.Popen([sys.executable, "-m", "ninety.cli", "index"], env=env, preexec_fn=like_a_terminal,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        until(lambda: any("following new heads" in line for line in lines), what="subscribed")
        tx = buy(world)
        until(lambda: _has_sale_when_schema(engine, tx), what="the sale indexed by `ninety index`")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        until(lambda: any("stopped" in line for line in lines), timeout=5, what="the stop message")
    finally:
        if proc.poll() is None:
            proc.kill()
        engine.dispose()


def _has_sale_when_schema(engine, tx: str) -> bool:
    try:
        return has_sale(engine, tx)
    except Exception:  # the schema is not there yet
        return False
