"""The claim "any standard Ethereum node" kept honest: the rest of the suite runs on Anvil;
this runs the same path on a second implementation, Hardhat's node (Hardhat Network,
from npm): deploy, random Marketplace activity, `ninety index --once`, `ninety verify`
and the API's reconciliation, once with the dev chain id and once with a non-dev one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from ninety.market import deploy_direct, web3_for
from ninety.cli.supervisor import free_port
from tests.support.activity import World, random_activity
from tests.support.processes import wait_dead

ROOT = Path(__file__).resolve().parent.parent
HARDHAT = ROOT / "node_modules" / ".bin" / "hardhat"
CONFIG = Path(__file__).resolve().parent / "hardhat" / "hardhat.config.js"
NINETY = [sys.executable, "-m", "ninety.cli"]

pytestmark = pytest.mark.skipif(not HARDHAT.exists(), reason=f"{HARDHAT} is not installed: run `npm ci` "
                                "(hardhat is a devDependency) to test against a second node implementation")


def start_hardhat(chain_id: int, scratch: Path) -> tuple[subprocess.Popen, str]:
    """Hardhat's node on 127.0.0.1 and a free port; returns it once it answers eth_chainId."""
    port = free_port()
    env = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "NINETY_HARDHAT_CHAIN_ID": str(chain_id),
           "NINETY_HARDHAT_SCRATCH": str(scratch)}
    log = open(scratch / "hardhat.log", "w")
    proc = subprocess.Popen([str(HARDHAT), "--config", str(CONFIG), "node", "--hostname", "127.0.0.1", "--port", str(port)],
                            cwd=CONFIG.parent, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 2})).eth.chain_id == chain_id:
                return proc, url
        except Exception:
            pass
        time.sleep(0.3)
    stop(proc)
    raise AssertionError(f"Hardhat's node did not come up on {url}:\n" + (scratch / "hardhat.log").read_text()[-3000:])


def stop(proc: subprocess.Popen) -> None:
    """Stop the node we started (its process group: npx-style launchers may fork)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        if not wait_dead(proc.pid, 10):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def world_on(url: str) -> World:
    """`activity.new_world`, by hand: fee 500 bps, rules computed locally (no IPFS)."""
    w3 = web3_for(url)
    accounts = [str(a) for a in w3.eth.accounts]
    start = w3.eth.block_number
    market, usdc = deploy_direct(w3, accounts[0], accounts[9], 500)
    world = World(w3, market, usdc, accounts, deploy_block=start + 1)
    for a in accounts[1:8]:
        usdc.functions.mint(a, 10**15).transact({"from": accounts[0]})
        usdc.functions.approve(market.address, 2**256 - 1).transact({"from": a})
    return world


@pytest.mark.parametrize("chain_id", [31337, 424242])
def test_index_verify_and_reconcile_on_hardhat(chain_id, tmp_path):
    proc, url = start_hardhat(chain_id, tmp_path)
    try:
        client_version = web3_for(url).client_version
        assert "HardhatNetwork" in client_version, client_version  # really the second implementation
        world = world_on(url)
        assert world.w3.eth.chain_id == chain_id
        random_activity(world, 150, seed=16)  # sales, splits, withdrawals, moderation, sponsor pools and epochs
        assert world.tracks and world.splits

        env = {**os.environ, "NINETY_DATA_DIR": str(tmp_path / "data"), "NINETY_RPC_URL": url,
               "NINETY_DB_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
               "NINETY_CONTRACT_ADDRESS": world.market.address, "NINETY_START_BLOCK": str(world.deploy_block)}
        env.pop("NINETY_IPFS_API", None)
        indexed = subprocess.run([*NINETY, "index", "--once"], env=env, capture_output=True, text=True, timeout=120)
        assert indexed.returncode == 0, indexed.stdout + indexed.stderr
        verified = subprocess.run([*NINETY, "verify"], env=env, capture_output=True, text=True, timeout=120)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        said = verified.stdout + verified.stderr  # the CLI's console writes to stderr
        assert "ledger matches the chain" in said and f"(chain {chain_id}," in said, said

        from backend.app import build_services, create_app
        from ninety.config import load_settings

        services = build_services(load_settings(env), public_url="http://127.0.0.1:8000")
        try:
            assert services.chain_id == chain_id
            r = TestClient(create_app(services), raise_server_exceptions=False).get("/api/ledger/reconciliation")
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["ok"] is True and body["differences"] == [], body
            assert body["block"] == world.w3.eth.block_number
            assert body["accounts_checked"] > 0 and body["splits_checked"] > 0, body
            assert {t["token"].lower() for t in body["tokens"]} >= {world.usdc.address.lower()}, body
        finally:
            services.engine.dispose()
    finally:
        stop(proc)
