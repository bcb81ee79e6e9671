"""A whole sponsor-pool epoch on real components: free downloads counted by the API
(once per wallet, track and epoch), sponsors' deposits, `ninety epoch close` pinning the
report to the real IPFS node and publishing the root, the indexer mirroring it, payees'
claims through the API's proofs, and `ninety verify epoch` passing on the real report and
catching a tampered one."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from media import wav_bytes
from test_catalog_flow import send, upload
from ninety.cli import dev_account
from ninety.config import DEV_MNEMONIC
from ninety.market import ETH

ARTIST, FAN, OTHER, COLLAB, SPONSOR = 1, 2, 3, 5, 6
NINETY = [sys.executable, "-m", "ninety.cli"]


def test_a_whole_epoch_from_free_downloads_to_claims_and_verification(stack, tmp_path):
    artist, _ = dev_account(DEV_MNEMONIC, ARTIST)
    collab, _ = dev_account(DEV_MNEMONIC, COLLAB)
    sponsor, _ = dev_account(DEV_MNEMONIC, SPONSOR)
    artist_h = stack.login(ARTIST)
    m, w3 = stack.world.market, stack.world.w3

    # Two free tracks (price 0) with different splits, one paid track.
    tracks = {}
    for title, split in (("Free One", [(artist, 1_000_000)]), ("Free Two", [(artist, 600_000), (collab, 400_000)])):
        r = upload(stack, artist_h, wav_bytes(2.0, 440.0), title=title, price="0",
                   split=json.dumps([{"address": a, "share_ppm": s} for a, s in split]))
        assert r.status_code == 201, r.text
        send(stack, r.json()["create_split_call"], artist)
        send(stack, r.json()["register_call"], artist)
    paid = upload(stack, artist_h, wav_bytes(2.0, 220.0), title="Paid")
    send(stack, paid.json()["create_split_call"], artist)
    send(stack, paid.json()["register_call"], artist)
    stack.sync()
    for t in stack.client.get("/api/tracks", params={"limit": 50}).json()["items"]:
        tracks[t["title"]] = t
    one, two = tracks["Free One"], tracks["Free Two"]

    # Free downloads: a paid track still needs a purchase; a repeat is counted once.
    fan_h, other_h = stack.login(FAN), stack.login(OTHER)
    assert stack.client.get(f"/api/tracks/{tracks['Paid']['track_id']}/download", headers=fan_h).status_code == 403
    assert stack.client.get(f"/api/tracks/{one['track_id']}/download").status_code == 401  # signed in only
    for headers, track in ((fan_h, one), (fan_h, one), (fan_h, two), (other_h, two)):
        r = stack.client.get(f"/api/tracks/{track['track_id']}/download", headers=headers)
        assert r.status_code == 200 and r.content[:4] == b"RIFF"
    assert stack.client.get("/api/pools").json()["epochs"][0] == {
        "epoch": 0, "published": False, "root": None, "report_cid": None, "published_block": None,
        "free_downloads": 3, "tokens": []}

    # Sponsors fund epoch 0 in ETH and mUSDC; one takes part back while it is open.
    m.deposit_to_pool(0, ETH, 10**18, sponsor)
    m.deposit_to_pool(0, stack.world.usdc.address, 30_000_000, sponsor)
    m.send(m.contract.functions.withdrawPoolDeposit(0, ETH, 10**17), sponsor)

    from backend.epochs import close_epoch

    report = close_epoch(stack.services.engine, w3, stack.services.ipfs, stack.services.deployment,
                         dev_account(DEV_MNEMONIC, 0)[1], 0, say=lambda line: None)
    stack.sync()
    fee_bps = m.contract.functions.platformFeeBps().call()
    eth_pool = 9 * 10**17
    eth_fee = eth_pool * fee_bps // 10_000
    # 3 downloads: split of "Free One" gets 1/3, split of "Free Two" 2/3 (rounded down).
    want = {one["split_id"]: (eth_pool - eth_fee) * 1 // 3, two["split_id"]: (eth_pool - eth_fee) * 2 // 3}
    got = {a["split_id"]: int(a["amount"]) for a in report["allocations"] if a["token"] == ETH}
    assert got == want
    epoch0 = next(e for e in stack.client.get("/api/pools").json()["epochs"] if e["epoch"] == 0)
    assert epoch0["published"] and epoch0["root"] == report["root"] == "0x" + m.contract.functions.epochRoot(0).call().hex()
    assert epoch0["report_cid"].startswith("baf")
    eth_row = next(t for t in epoch0["tokens"] if t["token"] == ETH)
    assert eth_row["settled_pool"] == str(eth_pool) and eth_row["platform_fee"] == str(eth_fee)
    assert int(eth_row["carried_over"]) == eth_pool - eth_fee - sum(want.values())
    assert stack.client.get("/api/pools").json()["open_epoch"] == 1

    # The collaborator claims through the API's proofs, then withdraws like after a sale.
    mine = stack.client.get("/api/pools/0/allocations", params={"payee": collab}).json()["allocations"]
    assert {a["split_id"] for a in mine} == {two["split_id"]} and not any(a["claimed"] for a in mine)
    before = m.owed(collab, ETH)
    for a in mine:
        m.send(m.contract.functions.claimFromPool(0, a["split_id"], w3.to_checksum_address(a["token"]), int(a["amount"]),
                                                  a["proof"]), collab)
        m.distribute(a["split_id"], a["token"], collab)
    stack.sync()
    eth_claim = next(int(a["amount"]) for a in mine if a["token"] == ETH)
    assert m.owed(collab, ETH) - before == eth_claim * 400_000 // 1_000_000
    assert all(a["claimed"] for a in stack.client.get("/api/pools/0/allocations", params={"payee": collab}).json()["allocations"])
    assert stack.client.get("/api/ledger/reconciliation").json()["ok"] is True
    # Downloads now count toward epoch 1.
    stack.client.get(f"/api/tracks/{one['track_id']}/download", headers=other_h)
    assert stack.client.get("/api/pools").json()["epochs"][0]["free_downloads"] == 1

    # Anyone can check the epoch: from the chain and IPFS alone.
    env = {**os.environ, "NINETY_RPC_URL": stack.settings.rpc_url, "NINETY_IPFS_API": stack.settings.ipfs_api,
           "NINETY_CONTRACT_ADDRESS": m.address, "NINETY_START_BLOCK": str(stack.world.deploy_block),
           "NINETY_DATA_DIR": str(tmp_path)}
    ok = subprocess.run([*NINETY, "verify", "epoch", "0"], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "epoch 0 checks out" in ok.stdout + ok.stderr
    # A tampered copy: one split's download count raised. The CID no longer matches, and
    # the recomputed allocation and root disagree with the report and the chain.
    tampered = json.loads(json.dumps(report))
    tampered["downloads"][0]["count"] += 5
    tampered["splits"] = [{"split_id": s["split_id"], "downloads": s["downloads"] + (5 if s["split_id"] == tampered["downloads"][0]["split_id"] else 0)}
                          for s in tampered["splits"]]
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    bad = subprocess.run([*NINETY, "verify", "epoch", "0", "--report", str(tmp_path / "tampered.json")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    said = " ".join((bad.stdout + bad.stderr).split())  # rich wraps long lines
    assert "is not the report the chain names" in said
    assert "by its rules" in said and "Merkle root" in said


def test_free_downloads_count_once_per_wallet_track_and_epoch_up_to_a_cap(stack, monkeypatch):
    import backend.api.tracks as tracks_api

    monkeypatch.setattr(tracks_api, "MAX_COUNTED_FREE_DOWNLOADS", 2)
    artist, _ = dev_account(DEV_MNEMONIC, ARTIST)
    artist_h = stack.login(ARTIST)
    for title in ("A", "B", "C"):
        r = upload(stack, artist_h, wav_bytes(1.0, 300.0), title=title, price="0")
        send(stack, r.json()["create_split_call"], artist)
        send(stack, r.json()["register_call"], artist)
    stack.sync()
    ids = sorted(t["track_id"] for t in stack.client.get("/api/tracks").json()["items"])
    fan_h = stack.login(FAN)
    for tid in ids + ids:  # every track twice
        assert stack.client.get(f"/api/tracks/{tid}/download", headers=fan_h).status_code == 200
    assert stack.client.get("/api/pools").json()["epochs"][0]["free_downloads"] == 2  # served 6, counted 2
