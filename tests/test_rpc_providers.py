"""Ninety against hosted providers' limits: a proxy in front of the test Anvil
(tests/support/rpc_proxy.py) refuses eth_getLogs ranges in words nobody taught the client, caps
results and batches, refuses batches, rate-limits with 429 and -32005, or prunes old
state. Through each, `ninety index --once`, `ninety verify`, reconciliation, the epoch
job (`close_epoch`) and `ninety verify epoch` succeed, and what they produce matches the
chain read directly; on the pruned node, reconciliation and verify say plainly that they
need an archive node."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from web3 import Web3

from ninety.cli.epoch_close import close_epoch
from indexer.verify import verify
from ninety.chain import MissingStateError, Rpc, RpcError
from ninety.rpc_limits import http_provider
from ninety.cli.shared import dev_account
from ninety.config import DEV_MNEMONIC
from ninety.epochs.check import check_report
from ninety.market import ETH
from tests.support.activity import advance_epoch, pinned_world, random_activity, record_free_download
from tests.support.rpc_proxy import MODES, ProviderProxy
from tests.support.stack import Stack

NINETY = [sys.executable, "-m", "ninety.cli"]
OWNER, ARTIST, LISTENER, SPONSOR, SELLER = 0, 1, 2, 3, 4


def addr(i: int) -> str:
    return dev_account(DEV_MNEMONIC, i)[0]


def key(i: int) -> str:
    return dev_account(DEV_MNEMONIC, i)[1]


class Shared:
    """One world for every mode: random activity, then a free track (the listener's
    downloads) and a paid one (its qualifying purchases); one catalog key for every stack."""

    def __init__(self, anvil, ipfs_node, home: Path) -> None:
        self.world = pinned_world(anvil.url, ipfs_node.url)
        random_activity(self.world, 40, seed=16, pools=False)
        self.home = home
        self.base = Stack(anvil.url, ipfs_node.url, home, self.world)  # sets the catalog signer
        m, w = self.world.market, self.world
        m.send(m.contract.functions.setPlatformFee(500), w.owner)  # the activity may have set it to 0
        split = m.create_split([(addr(ARTIST), 1_000_000)], addr(ARTIST))
        self.free = m.register("bafkreifreeproviders", split, ETH, 0, addr(ARTIST),
                               w.attest("bafkreifreeproviders", addr(ARTIST), split))
        self.free_split = split
        seller_split = m.create_split([(addr(SELLER), 1_000_000)], addr(SELLER))
        self.paid = m.register("bafkreipaidproviders", seller_split, ETH, 10**16, addr(SELLER),
                               w.attest("bafkreipaidproviders", addr(SELLER), seller_split))
        self.anvil_url, self.ipfs_url = anvil.url, ipfs_node.url

    def stack(self, rpc_url: str, where: Path) -> "Stack":
        """A new ledger and API on `rpc_url`, sharing the catalog signer's key."""
        where.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.home / "catalog.key", where / "catalog.key")
        return Stack(rpc_url, self.ipfs_url, where, self.world)


@pytest.fixture(scope="module")
def shared(anvil, ipfs_node, tmp_path_factory):
    s = Shared(anvil, ipfs_node, tmp_path_factory.mktemp("providers"))
    yield s
    s.base.services.engine.dispose()


def record(stack, who: int, track: int, epoch: int, split_id: str) -> dict:
    """A signed free download, recorded as the API records it (at the current head)."""
    return record_free_download(stack, key(who), track, epoch, split_id)


def ninety(stack, *args: str, **env: str) -> subprocess.CompletedProcess:
    s = stack.settings
    full = {**os.environ, "NINETY_RPC_URL": s.rpc_url, "NINETY_IPFS_API": s.ipfs_api, "NINETY_DB_URL": s.db_url,
            "NINETY_CONTRACT_ADDRESS": stack.world.market.address, "NINETY_START_BLOCK": str(stack.world.deploy_block),
            "NINETY_DATA_DIR": str(s.data_dir), **env}
    return subprocess.run([*NINETY, *args], env=full, capture_output=True, text=True, timeout=120)


def said(p: subprocess.CompletedProcess) -> str:
    return " ".join((p.stdout + p.stderr).split())


def mine(shared: Shared, blocks: int) -> None:
    shared.world.w3.provider.make_request("anvil_mine", [hex(blocks)])


def cli_env(mode: str) -> dict[str, str]:
    # In the rate-limited mode, also cap our own pace (NINETY_RPC_RPS).
    return {"NINETY_RPC_RPS": "40"} if mode == "rate_limit" else {}


@pytest.mark.parametrize("mode", MODES)
def test_every_command_through_a_limited_provider(shared, mode, tmp_path):
    w, m = shared.world, shared.world.market
    with ProviderProxy(shared.anvil_url, mode) as proxy:
        stack = shared.stack(proxy.url, tmp_path / "api")
        try:
            if mode == "pruned":
                _pruned_node_is_named(shared, stack)
            # This epoch: a pool, a qualifying purchase and a signed free download.
            epoch = m.contract.functions.currentEpoch().call()
            m.deposit_to_pool(epoch, ETH, 10**16, addr(SPONSOR))
            m.buy(shared.paid, 2 * 10**16, addr(LISTENER))
            receipts = [record(stack, LISTENER, shared.free, epoch, shared.free_split)]
            advance_epoch(w)

            # `ninety index --once` and `ninety verify` through the provider...
            p = ninety(stack, "index", "--once", **cli_env(mode))
            assert p.returncode == 0, said(p)
            p = ninety(stack, "verify", **cli_env(mode))
            assert p.returncode == 0 and "ledger matches the chain" in said(p), said(p)
            # ...and the ledger matches the chain read directly, not through the proxy.
            height, diffs = verify(Rpc(shared.anvil_url), stack.services.engine, m.address, w.deploy_block)
            assert diffs == [] and height >= w.w3.eth.block_number - 1

            # The free track was listed straight on chain, not uploaded: mark it as the API
            # marks a recording it fingerprinted (the epoch rule counts only those).
            with stack.services.engine.begin() as conn:
                conn.execute(text("UPDATE track SET genuine = :yes WHERE track_id = :id"), {"yes": True, "id": shared.free})

            # Reconciliation through the provider.
            r = stack.client.get("/api/ledger/reconciliation")
            assert r.status_code == 200 and r.json()["ok"], r.text

            # The epoch job through the provider (web3 too), checked against the chain directly.
            w3 = Web3(http_provider(proxy.url))
            report = close_epoch(stack.services.engine, w3, stack.services.ipfs, stack.services.deployment, key(OWNER),
                                 say=lambda line: None)
            assert report["epoch"] == epoch
            fate = {(x["wallet"], x["track_id"]): x for x in report["listens"]}
            assert fate[(addr(LISTENER).lower(), shared.free)]["counted"], fate[(addr(LISTENER).lower(), shared.free)]["reason"]
            assert check_report(report, rpc=Rpc(shared.anvil_url), chain_id=31337, contract=m.address, epoch=epoch,
                                deploy_block=w.deploy_block, receipts=receipts) == []
            # `ninety verify epoch N` through the provider.
            (tmp_path / "receipts.json").write_text(json.dumps(receipts))
            p = ninety(stack, "verify", "epoch", str(epoch), "--receipts", str(tmp_path / "receipts.json"),
                       **cli_env(mode))
            assert p.returncode == 0 and f"epoch {epoch} checks out" in said(p), said(p)
        finally:
            stack.services.engine.dispose()

    # The provider's limit was really met, and kept to.
    s = proxy.stats
    if mode == "range":
        assert s["range_refused"] > 0 and proxy.largest_range > proxy.max_range
    elif mode == "results":
        assert s["results_refused"] > 0
    elif mode == "batch_cap":
        assert s["batch_refused"] > 0 and proxy.largest_batch > proxy.batch_cap
    elif mode == "no_batch":
        assert s["batch_refused"] > 0
    elif mode == "rate_limit":
        assert s["rate_limited"] >= 2, s
        assert not [e for e in proxy.early if e > 0.05], f"came back early despite Retry-After: {proxy.early}"
    elif mode == "pruned":
        assert s["pruned_refused"] > 0


def _pruned_node_is_named(shared: Shared, stack) -> None:
    """On a non-archive node, once the ledger's checkpoint is older than the state the node
    keeps: verify and reconciliation name the problem and the block."""
    p = ninety(stack, "index", "--once")
    assert p.returncode == 0, said(p)
    mine(shared, 40)
    block = _checkpoint_block(stack)
    p = ninety(stack, "verify")
    assert p.returncode == 1, said(p)
    assert f"this node is not an archive node; verify needs state at block {block}" in said(p), said(p)
    assert "missing trie node" in said(p)  # the node's own words too
    r = stack.client.get("/api/ledger/reconciliation")
    assert r.status_code == 503, r.text
    assert f"this node is not an archive node; reconciliation needs state at block {block}" in r.json()["detail"], r.text


def _checkpoint_block(stack) -> int:
    with stack.services.engine.connect() as conn:
        return int(conn.execute(text("SELECT block_number FROM checkpoint")).scalar_one())


# ------------------------------------------------------------------ the client, one limit at a time


def test_a_block_refused_alone_is_a_real_error_with_the_nodes_words(shared):
    with ProviderProxy(shared.anvil_url, "range", max_range=0) as proxy:
        rpc = Rpc(proxy.url)
        with pytest.raises(RpcError) as e:
            rpc.get_logs(shared.world.market.address, shared.world.deploy_block, shared.world.deploy_block + 40)
    assert "capped at 0 blocks per call on this plan" in str(e.value)
    assert f"block {shared.world.deploy_block}" in str(e.value)
    assert proxy.stats["range_refused"] <= 8  # 41 -> 20 -> 10 -> 5 -> 2 -> 1: bounded


def test_batches_follow_the_provider_and_its_words_are_reported(shared, caplog):
    calls = [("eth_getBlockByNumber", [hex(n), False]) for n in range(1, 60)]
    want = Rpc(shared.anvil_url).batch(calls)
    caplog.set_level(logging.WARNING, logger="ninety.rpc_limits")
    with ProviderProxy(shared.anvil_url, "no_batch") as proxy:
        rpc = Rpc(proxy.url, batch=100)
        assert rpc.batch(calls) == want
        assert rpc.batch(calls[:5]) == want[:5]
    assert proxy.stats["batch_refused"] == 1  # detected once, then single calls
    assert "batch requests are disabled on this plan" in caplog.text
    with ProviderProxy(shared.anvil_url, "batch_cap", batch_cap=10) as proxy:
        rpc = Rpc(proxy.url, batch=100)
        assert rpc.batch(calls) == want
        assert rpc.batch_size == 10 and proxy.stats["batch_refused"] == 1
    assert "accepts up to 10 calls per batch" in caplog.text
    # NINETY_RPC_BATCH chunks every batch.
    with ProviderProxy(shared.anvil_url, "batch_cap", batch_cap=1000) as proxy:
        assert Rpc(proxy.url, batch=7).batch(calls) == want
        assert proxy.largest_batch == 7


def test_requests_per_second_are_capped(shared):
    with ProviderProxy(shared.anvil_url, "batch_cap", batch_cap=1000) as proxy:
        rpc = Rpc(proxy.url, rps=20)
        started = time.monotonic()
        for _ in range(30):
            rpc.block_number()
        took = time.monotonic() - started
    assert took >= 29 / 20 - 0.05
    assert proxy.peak_rps <= 21


def test_missing_state_reads_name_the_block(shared):
    with ProviderProxy(shared.anvil_url, "pruned", pruned_depth=2) as proxy:
        mine(shared, 5)
        rpc = Rpc(proxy.url)
        old = rpc.block_number() - 4
        with pytest.raises(MissingStateError) as e:
            rpc.call("eth_getBalance", [shared.world.market.address, hex(old)])
        assert e.value.block == old
        assert f"this node is not an archive node; Ninety needs state at block {old}" in str(e.value)
        assert rpc.call("eth_getBalance", [shared.world.market.address, "latest"])
