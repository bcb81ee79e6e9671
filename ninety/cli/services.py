"""The services `ninety up` (and the tests) run as children of a Supervisor: Anvil (the
local chain), a js-ipfs node, the indexer and the API, each with its readiness probe."""
from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy import text

from ninety.cli.supervisor import LOCALHOST, Service, free_port
from ninety.config import DEV_MNEMONIC
from ninety.db import make_engine
from ninety.errors import ServiceError
from ninety.paths import NODE_BIN, NODE_MODULES

log = logging.getLogger(__name__)


def _http_post_ok(url: str, body: bytes | None = None, timeout: float = 1.0) -> bool:
    req = urllib.request.Request(url, data=body or b"", method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except urllib.error.URLError:
        return False


def anvil_service(
    data_dir: Path,
    *,
    port: int | None = 8545,
    mnemonic: str = DEV_MNEMONIC,
    chain_id: int = 31337,
    state_file: Path | None = None,
    block_time: float | None = None,
    strict_port: bool = False,
) -> Service:
    """Anvil on 127.0.0.1; with `state_file` the chain survives restarts."""
    port = free_port(port, strict=strict_port)
    # The npm package's launcher is a node script; run the binary it would start, so
    # signals reach Anvil itself (it saves its state on SIGTERM).
    binary = NODE_MODULES / "@foundry-rs" / f"anvil-linux-{'amd64' if platform.machine() in ('x86_64', 'AMD64') else 'arm64'}" / "bin" / "anvil"
    argv = [
        str(binary if sys.platform.startswith("linux") and binary.exists() else NODE_BIN / "anvil"),
        "--host", LOCALHOST,
        "--port", str(port),
        "--mnemonic", mnemonic,
        "--chain-id", str(chain_id),
        "--accounts", "10",
        "--balance", "10000",
    ]
    # Anvil keeps older blocks' states on disk (for eth_call at old blocks); by default in
    # ~/.foundry/anvil/tmp, where a killed Anvil leaves gigabytes behind. Keep them in the
    # data dir instead, where `--reset` (or a test's temporary dir) removes them.
    cache = data_dir / "chain" / "anvil-cache"
    cache.mkdir(parents=True, exist_ok=True)
    argv += ["--cache-path", str(cache)]
    if state_file is not None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        _keep_chain_state(state_file)
        argv += ["--state", str(state_file), "--state-interval", "5"]
    if block_time:
        argv += ["--block-time", str(block_time)]
    url = f"http://{LOCALHOST}:{port}"
    probe = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    return Service(
        name="anvil",
        what="local chain",
        argv=argv,
        port=port,
        url=url,
        data_dir=data_dir,
        ready=lambda: _http_post_ok(url, probe),
    )


def _keep_chain_state(state_file: Path) -> None:
    """Anvil rewrites its state file in place; a crash during a write leaves it empty or
    cut short, and Anvil then refuses to start. Keep the last good copy beside it and
    fall back to it."""
    backup = state_file.with_name(state_file.name + ".good")

    def valid(path: Path) -> bool:
        try:
            json.loads(path.read_bytes())
            return True
        except (OSError, ValueError):
            return False

    if not state_file.exists():
        return
    if valid(state_file):
        shutil.copyfile(state_file, backup)
    elif backup.exists() and valid(backup):
        log.warning("the chain state %s is damaged (interrupted write); restoring the last good copy", state_file)
        shutil.copyfile(backup, state_file)
    else:
        raise ServiceError(f"the chain state {state_file} is damaged and there is no good copy; "
                           "`ninety up --reset` starts a new chain")


def _configure_ipfs_repo(repo: Path, api_port: int, gateway_port: int, swarm_port: int, rpc_port: int) -> None:
    """Loopback only, no bootstrap peers, no delegates, no discovery (see TOOLCHAIN.md)."""
    config_path = repo / "config"
    config = json.loads(config_path.read_text())
    addresses = config.setdefault("Addresses", {})
    addresses["Swarm"] = [f"/ip4/{LOCALHOST}/tcp/{swarm_port}"]
    addresses["API"] = f"/ip4/{LOCALHOST}/tcp/{api_port}"
    addresses["Gateway"] = f"/ip4/{LOCALHOST}/tcp/{gateway_port}"
    addresses["RPC"] = f"/ip4/{LOCALHOST}/tcp/{rpc_port}"
    addresses["Delegates"] = []
    addresses["Announce"] = []
    config["Bootstrap"] = []
    discovery = config.setdefault("Discovery", {})
    discovery.setdefault("MDNS", {})["Enabled"] = False
    discovery.setdefault("webRTCStar", {})["Enabled"] = False
    config_path.write_text(json.dumps(config, indent=2))


def ipfs_service(data_dir: Path, *, api_port: int | None = 5001, strict_port: bool = False) -> Service:
    """A js-ipfs node, offline, with its repo under `<data dir>/ipfs`."""
    repo = data_dir / "ipfs"
    cli = NODE_MODULES / "ipfs" / "src" / "cli.js"
    env = {"IPFS_PATH": str(repo)}
    if not (repo / "config").exists():
        repo.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["node", str(cli), "init", "--empty-repo"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise ServiceError(f"ipfs init failed in {repo}: {result.stderr.strip() or result.stdout.strip()}")
    api = free_port(api_port, strict=strict_port)
    others = [free_port() for _ in range(3)]
    _configure_ipfs_repo(repo, api, *others)
    url = f"http://{LOCALHOST}:{api}"
    return Service(
        name="ipfs",
        what="IPFS node",
        # --enable-preload=false: otherwise every added CID is announced to public
        # preload nodes over HTTPS, which is traffic off this machine.
        argv=["node", str(cli), "daemon", "--offline", "--enable-preload=false"],
        port=api,
        url=url,
        data_dir=data_dir,
        env=env,
        ready=lambda: _http_post_ok(f"{url}/api/v0/id"),
        ready_timeout=90.0,
    )


def indexer_service(data_dir: Path, env: dict[str, str], database_url: str, contract: str,
                    caught_up_to: int) -> Service:
    """`ninety index` as a child process; ready once the ledger reaches `caught_up_to`."""
    engine = make_engine(database_url)

    def ready() -> bool:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT block_number FROM checkpoint WHERE contract = :c"),
                               {"c": contract.lower()}).first()
            return row is not None and row[0] >= caught_up_to

    return Service(
        name="indexer",
        argv=[sys.executable, "-m", "ninety.cli", "index"],
        port=0,
        data_dir=data_dir,
        env=env,
        ready=ready,
        ready_timeout=120.0,
    )


def api_service(data_dir: Path, env: dict[str, str], port: int | None = 8000, *, strict_port: bool = False,
                public_url: str | None = None) -> Service:
    """`ninety serve` as a child process, on 127.0.0.1; ready when /api/status answers."""
    port = free_port(port, strict=strict_port)
    url = f"http://{LOCALHOST}:{port}"
    # Sign-in messages name the site the user sees: this URL unless one is configured
    # (Settings.public_url, NINETY_PUBLIC_URL).
    env = {**env, "NINETY_PUBLIC_URL": public_url or url}

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/api/status", timeout=2) as resp:
            return resp.status == 200

    return Service(
        name="api",
        what="API and web app",
        argv=[sys.executable, "-m", "ninety.cli", "serve", "--host", LOCALHOST, "--port", str(port)],
        port=port,
        url=url,
        data_dir=data_dir,
        env=env,
        ready=ready,
        ready_timeout=60.0,
    )
