"""`ninety` as a user runs it: help for every command, and `ninety up` as a subprocess:
comes up, deploys once, keeps its chain across restarts, stops on Ctrl-C leaving nothing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ninety.cli.supervisor import free_port
from tests.support.processes import alive, like_a_terminal

NINETY = [sys.executable, "-m", "ninety.cli"]


def test_every_command_has_help():
    for args in ([], ["up"], ["deploy"]):
        out = subprocess.run([*NINETY, *args, "--help"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "Usage" in out.stdout


def children_of(pid: int) -> set[int]:
    """Every live descendant of `pid` (sessions are new, so walk /proc by parent)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def start_up(data_dir: Path, *args: str, demo: bool = False) -> tuple[subprocess.Popen, str]:
    env = {
        **os.environ,
        "NINETY_DATA_DIR": str(data_dir),
        "NINETY_CHAIN_PORT": str(free_port()),
        "NINETY_IPFS_PORT": str(free_port()),
    }
    proc = subprocess.Popen([*NINETY, "up", *([] if demo else ["--no-demo"]), *args], env=env, preexec_fn=like_a_terminal, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + (360 if demo else 180)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Ctrl-C stops everything" in line:
            return proc, "".join(lines)
    proc.kill()
    raise AssertionError("ninety up did not come up:\n" + "".join(lines))


def stop_with_ctrl_c(proc: subprocess.Popen) -> set[int]:
    kids = children_of(proc.pid)
    assert kids, "ninety up should be running its services"
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    assert time.monotonic() - started < 10, "Ctrl-C must stop everything within 10 s"
    return kids


def test_up_deploys_once_keeps_the_chain_and_leaves_no_process(tmp_path):
    proc, out = start_up(tmp_path)
    assert "Marketplace" in out and "dev chain only" in out
    record = json.loads((tmp_path / "deployments" / "31337.json").read_text())
    assert record["address"] in out
    # Startup lines say what each service is.
    assert "anvil (local chain) ready on http://127.0.0.1:" in out and "ipfs (IPFS node) ready on" in out
    assert "indexer running (pid " in out and "ready on 0" not in out
    assert "api (API and web app) ready on http://127.0.0.1:" in out

    # A second `ninety up` on the same data dir (even with --reset) is refused before it
    # starts or deletes anything, naming the PID of the one running.
    kids = children_of(proc.pid)
    second = subprocess.run([*NINETY, "up", "--no-demo", "--reset"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "NINETY_DATA_DIR": str(tmp_path), "NINETY_CHAIN_PORT": str(free_port()),
                                 "NINETY_IPFS_PORT": str(free_port())})
    said = " ".join((second.stdout + second.stderr).split())
    assert second.returncode == 1, said
    assert f"already running on the data dir {tmp_path} (pid {proc.pid})" in said, said
    assert "Lock already being held" not in said and "removing" not in said and "ready on" not in said, said
    assert (tmp_path / "deployments" / "31337.json").exists() and (tmp_path / "ledger.sqlite3").exists()
    assert children_of(proc.pid) == kids and proc.poll() is None, "the running one is untouched"
    # The indexer runs as a child and has mirrored the deployment's own events.
    import sqlite3

    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM token_allowance").fetchone()[0] == 1
        assert db.execute("SELECT contract FROM checkpoint").fetchone()[0] == record["address"].lower()
    kids = stop_with_ctrl_c(proc)
    time.sleep(0.5)
    survivors = {k: Path(f"/proc/{k}/cmdline").read_bytes() for k in kids if alive(k)}
    assert not survivors, f"a service outlived ninety up: {survivors}"

    # Second run: same chain (state persisted), so no new deployment.
    proc, out = start_up(tmp_path)
    assert "already deployed" in out
    assert json.loads((tmp_path / "deployments" / "31337.json").read_text()) == record
    stop_with_ctrl_c(proc)

    # --reset starts from empty data.
    (tmp_path / "marker").write_text("x")
    proc, out = start_up(tmp_path, "--reset")
    assert not (tmp_path / "marker").exists()
    stop_with_ctrl_c(proc)


def api_url(out: str) -> str:
    line = next(line for line in out.splitlines() if line.strip().startswith("API ") and "/api/status" in line)
    return line.split()[1].removesuffix("/api/status")


def test_up_seeds_a_demo_catalog_once_and_stops_cleanly(tmp_path):
    import requests

    proc, out = start_up(tmp_path, demo=True)
    try:
        assert "Seeding the demo catalog" in out and "9 tracks and an album by 3 artists" in out
        api = api_url(out)
        tracks = requests.get(f"{api}/api/tracks", params={"limit": 100}, timeout=10).json()["items"]
        assert len(tracks) >= 9 and all(t["metadata_status"] == "ok" and t["title"] for t in tracks)
        assert len({t["artist"] for t in tracks}) >= 3
        assert {t["token_symbol"] for t in tracks} == {"ETH", "mUSDC"}
        assert len({t["audio_cid"] for t in tracks}) == len(tracks), "every track has its own audio"
        assert len({t["artwork_cid"] for t in tracks}) == len(tracks), "and its own artwork"
        # Splits with collaborators: some track pays more than one payee.
        summaries = [requests.get(f"{api}/api/ledger/tracks/{t['track_id']}", timeout=10).json() for t in tracks]
        assert any(len(s["payees"]) > 1 for s in summaries)
        sales = requests.get(f"{api}/api/ledger/sales", params={"limit": 100}, timeout=10).json()["items"]
        assert len(sales) >= 8 and {s["token_symbol"] for s in sales} == {"ETH", "mUSDC"}
        withdrawals = requests.get(f"{api}/api/ledger/withdrawals", timeout=10).json()["items"]
        assert len(withdrawals) == 2  # Ada Lovetone's, and Kyoto Tape Club's after its pool claim (below)
        # Each artist has a profile: a name, a bio, links and an avatar (re-encoded PNG), and
        # the ledger's sale rows carry the display name.
        profiles = [requests.get(f"{api}/api/artists/{a}", timeout=10).json() for a in {t["artist"] for t in tracks}]
        assert {p["name"] for p in profiles} == {"Ada Lovetone", "The Modular Ensemble", "Kyoto Tape Club"}
        assert all(p["bio"] and p["links"] and p["profile_cid"] and p["avatar_url"] for p in profiles)
        assert all(link["url"].startswith("https://") for p in profiles for link in p["links"])
        assert sum(p["supporters"] for p in profiles) >= 3 and any(p["paid"] for p in profiles)
        avatar = requests.get(api + profiles[0]["avatar_url"], timeout=10)
        assert avatar.status_code == 200 and avatar.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert {s["artist_name"] for s in sales} <= {p["name"] for p in profiles}
        # The album: three tracks of one artist, cheaper than bought one by one, sold once.
        (album,) = requests.get(f"{api}/api/releases", timeout=10).json()["items"]
        assert (album["title"], album["price"], album["available"]) == ("Modular Works", "9000000", True)
        assert [t["title"] for t in album["tracks"]] == ["Patch Bay", "Voltage Garden", "Low Pass Lullaby"]
        assert list(album["tracks_price_sum"].values()) == ["11000000"] and album["sales"] == 1
        assert any(s["kind"] == "release" and s["track_id"] == album["release_id"] for s in sales)
        # Split changes: a raise that landed at once, and a cut waiting for the producer.
        by_title = {t["title"]: t for t in tracks}
        raised = requests.get(f"{api}/api/ledger/tracks/{by_title['Paper Boats']['track_id']}/splits", timeout=10).json()
        assert len(raised["history"]) == 2
        assert sorted(raised["history"][-1]["shares_ppm"]) == [400_000, 600_000] and raised["proposals"] == []
        cut = by_title["Harbour Lights"]
        assert cut["pending_split_changes"] == 1
        proposal = requests.get(f"{api}/api/ledger/tracks/{cut['track_id']}/splits", timeout=10).json()["proposals"][0]
        assert proposal["status"] == "pending" and proposal["shares_ppm"] == [1_000_000] and proposal["missing"] == 1
        (producer,) = proposal["must_consent"]
        asks = requests.get(f"{api}/api/ledger/artists/{producer}", timeout=10).json()["proposals_to_accept"]
        assert [(a["track_id"], a["split_id"]) for a in asks] == [(cut["track_id"], proposal["split_id"])]
        preview = requests.get(f"{api}/api/tracks/{tracks[0]['track_id']}/preview", timeout=10)
        assert preview.status_code == 200 and preview.content[:4] == b"OggS"
        assert requests.get(f"{api}/api/ledger/reconciliation", timeout=30).json()["ok"] is True
        # The sponsor-pool round: epoch 0 published from two qualified fans' signed
        # downloads (the wallet that never bought was told why and not recorded), its
        # allocation claimed, the fee at most 1/9 of it, the next epoch funded.
        pools = requests.get(f"{api}/api/pools", timeout=30).json()
        first = next(e for e in pools["epochs"] if e["epoch"] == 0)
        (eth,) = first["tokens"]
        assert first["published"] and first["listens_root"] and first["report_cid"]
        assert int(eth["allocated"]) > 0 and int(eth["claimed"]) == int(eth["allocated"])
        assert 0 < 9 * int(eth["platform_fee"]) <= int(eth["allocated"])
        assert int(eth["carried_over"]) > 0 and eth["carried_to_epoch"] == pools["current_epoch"]
        now = next(e for e in pools["epochs"] if e["epoch"] == pools["current_epoch"])
        assert int(now["tokens"][0]["open_balance"]) > int(eth["carried_over"])  # carried over, and funded again
        allocations = requests.get(f"{api}/api/pools/0/allocations", timeout=30).json()["allocations"]
        assert len(allocations) == 1 and allocations[0]["claimed"]  # the free track's split
        # The claim was shared out and withdrawn: Kyoto Tape Club's statement for that month
        # credits it (not "waiting in splits") and lists the withdrawal.
        kyoto = next(p["address"] for p in profiles if p["name"] == "Kyoto Tape Club")
        (paid,) = [w for w in withdrawals if w["account"] == kyoto]
        month = time.strftime("%Y-%m", time.gmtime(paid["block_time"]))
        statement = requests.get(f"{api}/api/ledger/artists/{kyoto}/statements/{month}", timeout=30).json()
        (eth_month,) = [t for t in statement["tokens"] if t["token_symbol"] == "ETH"]
        assert int(eth_month["credited_from_pool_claims"]) > 0 and eth_month["withdrawals"] == paid["amount"]
        assert allocations[0]["split_id"] not in {w["split_id"] for w in eth_month["waiting"]}
        chain_rpc = next(line.split()[2] for line in out.splitlines() if line.strip().startswith("Chain RPC"))
        ipfs_api = next(line.split()[2] for line in out.splitlines() if line.strip().startswith("IPFS API"))
        env = {**os.environ, "NINETY_RPC_URL": chain_rpc, "NINETY_IPFS_API": ipfs_api,
               "NINETY_DEPLOYMENTS_DIR": str(tmp_path / "deployments"), "NINETY_DATA_DIR": str(tmp_path / "verifier")}
        checked = subprocess.run([*NINETY, "verify", "epoch", "0"], env=env, capture_output=True, text=True, timeout=120)
        said = " ".join((checked.stdout + checked.stderr).split())
        assert checked.returncode == 0 and "2 signed downloads (2 counted)" in said, said
    finally:
        kids = stop_with_ctrl_c(proc)
    time.sleep(0.5)
    assert not {k for k in kids if alive(k)}, "a service outlived ninety up"

    # Second run: same data, no second seeding.
    proc, out = start_up(tmp_path, demo=True)
    try:
        assert "Seeding" not in out and "seeded on the first run" in out
        tracks = requests.get(f"{api_url(out)}/api/tracks", params={"limit": 100}, timeout=10).json()["items"]
        assert len(tracks) == 9
    finally:
        stop_with_ctrl_c(proc)


@pytest.fixture
def own_anvil(tmp_path):
    """A chain of its own: a deployment here must not depend on what other tests did to
    the shared one (snapshots, reverts, thousands of blocks)."""
    from ninety.cli.services import anvil_service
    from ninety.cli.supervisor import Supervisor

    with Supervisor(tmp_path / "chain") as sup:
        yield sup.start(anvil_service(tmp_path / "chain", port=None))


def test_deploy_records_the_chain_and_refuses_a_second_deployment_unless_forced(own_anvil, tmp_path):
    anvil = own_anvil
    env = {**os.environ, "NINETY_DEPLOYMENTS_DIR": str(tmp_path), "NINETY_FEE_BPS": "250"}
    deploy = [*NINETY, "deploy", "--rpc-url", anvil.url]
    first = subprocess.run(deploy, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    record = json.loads((tmp_path / "31337.json").read_text())
    assert record["fee_bps"] == 250 and record["address"].startswith("0x")
    assert record["tokens"]["mUSDC"]["decimals"] == 6

    again = subprocess.run(deploy, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1
    assert "already has a Marketplace" in again.stderr + again.stdout
    assert json.loads((tmp_path / "31337.json").read_text()) == record

    forced = subprocess.run([*deploy, "--force"], env=env, capture_output=True, text=True, timeout=300)
    assert forced.returncode == 0, forced.stderr
    assert json.loads((tmp_path / "31337.json").read_text())["address"] != record["address"]


def test_deploy_runs_from_any_directory(own_anvil, tmp_path):
    """Brownie reads contract sources relative to the working directory: `ninety deploy`
    must not depend on it, nor on the caller having set up the compiler (SOLCX_BINARY_PATH,
    npm's binaries on PATH). Relative defaults (deployments/, .ninety/) land where it ran."""
    from web3 import Web3

    from ninety.paths import NODE_BIN, ROOT

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("SOLCX_BINARY_PATH", "NINETY_DEPLOYMENTS_DIR", "NINETY_DATA_DIR")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != NODE_BIN)
    out = subprocess.run([*NINETY, "deploy", "--rpc-url", own_anvil.url], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    record = json.loads((elsewhere / "deployments" / "31337.json").read_text())
    assert record["address"] in out.stdout + out.stderr
    assert (elsewhere / "deployments" / "31337-pool-rules.json").exists()
    assert Web3(Web3.HTTPProvider(own_anvil.url)).eth.get_code(record["address"]), "deployed for real"
    assert not (ROOT / "deployments" / "31337.json").exists() or \
        json.loads((ROOT / "deployments" / "31337.json").read_text())["address"] != record["address"]


def test_deploy_refuses_a_fee_above_the_cap(own_anvil, tmp_path):
    anvil = own_anvil
    env = {**os.environ, "NINETY_DEPLOYMENTS_DIR": str(tmp_path)}
    out = subprocess.run([*NINETY, "deploy", "--rpc-url", anvil.url, "--fee-bps", "1001"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert not (tmp_path / "31337.json").exists()


def test_up_on_real_infrastructure_starts_only_the_indexer_and_the_api(own_anvil, ipfs_node, tmp_path):
    """NINETY_RPC_URL, NINETY_IPFS_API, NINETY_DB_URL and a deployment record: `ninety up`
    uses them (PostgreSQL when this machine has it) and starts nothing else, no demo."""
    import requests
    from sqlalchemy import text

    from ninety.db import make_engine

    deployments = tmp_path / "deployments"
    env = {**os.environ, "NINETY_DEPLOYMENTS_DIR": str(deployments)}
    deployed = subprocess.run([*NINETY, "deploy", "--rpc-url", own_anvil.url], env=env, capture_output=True,
                              text=True, timeout=300)
    assert deployed.returncode == 0, deployed.stderr
    record = json.loads((deployments / "31337.json").read_text())
    db_url = f"sqlite:///{tmp_path / 'prod.sqlite3'}"
    pg = os.environ.get("NINETY_TEST_PG_URL")
    if pg:
        schema = f"up_{os.getpid()}_{int(time.time())}"
        with make_engine(pg).begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        db_url = f"{pg}{'&' if '?' in pg else '?'}options=-csearch_path%3D{schema}"
    proc = None
    try:
        env = {**env, "NINETY_RPC_URL": own_anvil.url, "NINETY_IPFS_API": ipfs_node.url, "NINETY_DB_URL": db_url,
               "NINETY_DATA_DIR": str(tmp_path / "data"), "NINETY_API_PORT": str(free_port())}
        proc = subprocess.Popen([*NINETY, "up"], env=env, preexec_fn=like_a_terminal, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        lines = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and "Ctrl-C stops everything" not in "".join(lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        out = "".join(lines)
        assert "Ninety is up" in out, out
        assert "anvil (" not in out and "ipfs (" not in out, "it must not start nodes of its own"
        assert "indexer running (pid" in out and "api (API and web app) ready on" in out
        assert "Dev wallets" not in out and "Seeding" not in out and "Demo" not in out
        assert record["address"] in out and own_anvil.url in out
        status = requests.get(f"{api_url(out)}/api/status", timeout=10).json()
        assert status["contract"] == record["address"].lower() and status["ipfs_reachable"] is True
        kids = children_of(proc.pid)
        cmdlines = [Path(f"/proc/{k}/cmdline").read_bytes().replace(b"\0", b" ").decode() for k in kids if alive(k)]
        assert sorted(c.split("ninety.cli ")[1].split()[0] for c in cmdlines) == ["index", "serve"], cmdlines
    finally:
        if proc is not None:
            stop_with_ctrl_c(proc)
        if pg:
            with make_engine(pg).begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
