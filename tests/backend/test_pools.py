"""A whole sponsor-pool epoch through the API on real components: signed free downloads
recorded once per wallet, track and epoch (counted only for a listener who bought from
another artist), serving a file counting nothing, `/api/pools` with the epoch clock, the
committed rules and the caller's standing, `ninety epoch close` judging and publishing,
and each listener's inclusion proofs from `/api/pools/{epoch}/listens`."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlmodel import Session, select

from backend.models import FreeDownload
from ninety.cli.shared import dev_account
from ninety.config import DEV_MNEMONIC
from ninety.epochs.allocation import distributable
from ninety.ipfs import Ipfs
from ninety.market import ETH
from tests.support import activity
from tests.support.activity import new_world
from tests.support.media import wav_bytes
from tests.support.releases import register, release_form
from tests.support.stack import Stack, send, upload

ARTIST, FAN, OTHER, COLLAB, SPONSOR = 1, 2, 3, 5, 6
NINETY = [sys.executable, "-m", "ninety.cli"]


@pytest.fixture
def stack(anvil, ipfs_node, tmp_path):
    """The backend stack over a Marketplace whose committed pool rules are on the IPFS node
    (the API reads them from there to judge a listener's standing)."""
    with Ipfs(ipfs_node.url) as ipfs:
        world = new_world(anvil.url, pin=ipfs.add_bytes)
    s = Stack(anvil.url, ipfs_node.url, tmp_path, world)
    yield s
    s.services.engine.dispose()


def address(index: int) -> str:
    return dev_account(DEV_MNEMONIC, index)[0]


def sign_free_download(stack, index: int, track_id: int, epoch: int, *, chain_id: int = 31337,
                       contract: str | None = None, key: str | None = None) -> str:
    return activity.sign_free_download(key or dev_account(DEV_MNEMONIC, index)[1], chain_id,
                                       contract or stack.world.market.address, track_id, epoch)


def record(stack, headers, track_id: int, epoch: int, signature: str):
    return stack.client.post(f"/api/tracks/{track_id}/free-download", json={"epoch": epoch, "signature": signature},
                             headers=headers)


def rows(stack) -> list[tuple[int, int, str]]:
    with Session(stack.services.engine) as db:
        return sorted((r.epoch, r.track_id, r.wallet) for r in db.exec(select(FreeDownload)))


def list_track(stack, headers, index: int, title: str, price: int, split: list[tuple[str, int]] | None = None,
               freq: float = 440.0) -> None:
    fields = {"split": json.dumps([{"address": a, "share_ppm": s} for a, s in split])} if split else {}
    r = upload(stack, headers, wav_bytes(2.0, freq), title=title, price=str(price), **fields)
    assert r.status_code == 201, r.text
    send(stack, r.json()["create_split_call"], address(index))
    send(stack, r.json()["register_call"], address(index))


def test_a_whole_epoch_from_signed_free_downloads_to_proofs_and_claims(stack, tmp_path, monkeypatch):
    artist, collab, fan, other = address(ARTIST), address(COLLAB), address(FAN), address(OTHER)
    m, w3 = stack.world.market, stack.world.w3
    artist_h = stack.login(ARTIST)
    list_track(stack, artist_h, ARTIST, "Free One", 0, [(artist, 1_000_000)], 440.0)
    list_track(stack, artist_h, ARTIST, "Free Two", 0, [(artist, 600_000), (collab, 400_000)], 550.0)
    list_track(stack, artist_h, ARTIST, "Paid", 10**15, None, 220.0)
    stack.sync()
    tracks = {t["title"]: t for t in stack.client.get("/api/tracks", params={"limit": 50}).json()["items"]}
    one, two, paid = tracks["Free One"]["track_id"], tracks["Free Two"]["track_id"], tracks["Paid"]["track_id"]
    # The fan qualifies by buying another artist's track for the qualifying amount (10**15 wei).
    m.buy(paid, 10**15, fan)
    stack.sync()
    fan_h, other_h = stack.login(FAN), stack.login(OTHER)

    # Serving a free file counts nothing, however often.
    for _ in range(2):
        got = stack.client.get(f"/api/tracks/{one}/download", headers=fan_h)
        assert got.status_code == 200 and got.content[:4] == b"RIFF"
    assert rows(stack) == []

    pools = stack.client.get("/api/pools").json()
    assert pools["current_epoch"] == 0 and pools["you"] is None and "open_epoch" not in pools
    f = m.contract.functions
    assert pools["epoch_start"] == f.epochStart().call() and pools["epoch_seconds"] == f.epochSeconds().call() == 3600
    assert pools["next_epoch_to_publish"] == f.nextEpochToPublish().call() == 0
    now = pools["epochs"][0]
    assert now["epoch"] == 0 and now["starts_at"] == pools["epoch_start"]
    assert now["ends_at"] == pools["epoch_start"] + 3600
    assert now["rules_hash"] == "0x" + f.poolRulesHash(0).call().hex().removeprefix("0x") and now["rules_cid"]
    assert (now["qualified_listeners"], now["free_downloads"]) == (0, 0)

    # The fan signs and records two free downloads: counted, with the server's receipt.
    from ninety.attest import receipt_signer

    catalog = stack.services.catalog.address.lower()
    signed = sign_free_download(stack, FAN, one, 0)
    first = record(stack, fan_h, one, 0, signed)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body == {"track_id": one, "epoch": 0, "counted": True, "reason": "", "receipt": body["receipt"],
                    "block_number": w3.eth.block_number}
    # The receipt binds the block the download is judged at and the listener's signature.
    assert receipt_signer(31337, m.address, fan, one, 0, body["block_number"], signed, body["receipt"]) == catalog
    assert receipt_signer(31337, m.address, fan, one, 0, body["block_number"] - 1, signed, body["receipt"]) != catalog
    # A repeat (even with the same signature replayed) answers the same record; one row.
    again = record(stack, fan_h, one, 0, sign_free_download(stack, FAN, one, 0))
    assert again.status_code == 200 and again.json() == body
    assert record(stack, fan_h, two, 0, sign_free_download(stack, FAN, two, 0)).json()["counted"] is True
    # A wallet that never bought is not recorded (it can sign again once it qualifies).
    unq = record(stack, other_h, two, 0, sign_free_download(stack, OTHER, two, 0)).json()
    assert unq["counted"] is False and "purchase" in unq["reason"] and "Not recorded" in unq["reason"]
    assert unq["receipt"] is None and unq["block_number"] is None
    # The artist downloading a track whose split pays them: not recorded at all.
    own = record(stack, artist_h, two, 0, sign_free_download(stack, ARTIST, two, 0)).json()
    assert own["counted"] is False and own["receipt"] is None and "pays you" in own["reason"]
    assert rows(stack) == sorted([(0, one, fan.lower()), (0, two, fan.lower())])

    # Sponsors fund epoch 0; the Pools page shows the listeners and each wallet's standing.
    sponsor = address(SPONSOR)
    m.deposit_to_pool(0, ETH, 10**18, sponsor)
    stack.sync()
    pools = stack.client.get("/api/pools").json()
    now = next(e for e in pools["epochs"] if e["epoch"] == 0)
    assert (now["qualified_listeners"], now["free_downloads"]) == (1, 2)
    bps = f.platformFeeBps().call()
    fan_fee = 10**15 * bps // 10_000
    cap = fan_fee // 4  # multiplier 1 times the platform fees it paid, over the 4-epoch window
    directs = min(distributable(10**18, bps), cap)
    you = stack.client.get("/api/pools", headers=fan_h).json()["you"]
    assert you == {"wallet": fan.lower(), "qualifies": True, "reason": "", "free_downloads": 2,
                   "can_direct": [{"token": ETH, "token_symbol": "ETH", "token_decimals": 18, "amount": str(directs)}]}
    you = stack.client.get("/api/pools", headers=other_h).json()["you"]
    assert you["qualifies"] is False and you["reason"] and you["can_direct"] == [] and you["free_downloads"] == 0

    # Close epoch 0 (the dev chain's clock moves to its end); the indexer mirrors it.
    from ninety.cli.epoch_close import close_epoch

    report = close_epoch(stack.services.engine, w3, stack.services.ipfs, stack.services.deployment,
                         dev_account(DEV_MNEMONIC, 0)[1], 0, advance=True, say=lambda line: None)
    stack.sync()
    pools = stack.client.get("/api/pools").json()
    assert pools["current_epoch"] == 1 and pools["next_epoch_to_publish"] == 1
    epoch0 = next(e for e in pools["epochs"] if e["epoch"] == 0)
    assert epoch0["published"] and epoch0["root"] == report["root"] == "0x" + bytes(f.epochRoot(0).call()).hex()
    assert epoch0["listens_root"] == report["listens_root"] and epoch0["qualified_listeners"] is None
    eth0 = next(t for t in epoch0["tokens"] if t["token"] == ETH)
    settled = next(x for x in report["settlements"] if x["token"] == ETH)
    assert eth0["settled_pool"] == str(10**18) and eth0["allocated"] == settled["allocated"] == str(directs // 2 * 2)
    assert eth0["platform_fee"] == settled["platform_fee"] and eth0["carried_over"] == settled["carried_over"]
    assert eth0["carried_to_epoch"] == 1
    # A signature for the ended epoch is refused now, naming the current one.
    late = record(stack, fan_h, one, 0, sign_free_download(stack, FAN, one, 0))
    assert late.status_code == 409 and late.json()["current_epoch"] == 1 and "current epoch is 1" in late.json()["detail"]
    # Even through a chain RPC whose head still lags in epoch 0: it is published, closed.
    import backend.epochs

    with monkeypatch.context() as patch:
        patch.setattr(backend.epochs, "current_epoch", lambda services: (0, 1, pools["epoch_start"]))
        lagging = record(stack, other_h, one, 0, sign_free_download(stack, OTHER, one, 0))
    assert lagging.status_code == 409 and "already published" in lagging.json()["detail"], lagging.text
    assert (0, one, other.lower()) not in rows(stack)

    # Each listener's recorded downloads with proofs into the published listens root.
    from ninety.merkle import listen_leaf, verify

    root = bytes.fromhex(epoch0["listens_root"][2:])
    mine = stack.client.get("/api/pools/0/listens", params={"wallet": fan}).json()
    assert mine["epoch"] == 0 and mine["listens_root"] == epoch0["listens_root"] and mine["report_cid"] == epoch0["report_cid"]
    assert sorted((x["track_id"], x["counted"]) for x in mine["listens"]) == sorted([(one, True), (two, True)])
    for x in mine["listens"]:
        assert x["wallet"] == fan.lower() and x["block_number"] > 0 and x["signature"].startswith("0x")
        assert verify(root, [bytes.fromhex(p[2:]) for p in x["proof"]], listen_leaf(0, fan, x["track_id"]))
    assert stack.client.get("/api/pools/0/listens", params={"wallet": other.lower()}).json()["listens"] == []
    assert stack.client.get("/api/pools/0/listens", params={"wallet": artist}).json()["listens"] == []
    assert stack.client.get("/api/pools/1/listens", params={"wallet": fan}).status_code == 404
    for bad in ({}, {"wallet": "0x1234"}, {"wallet": "fan"}, {"wallet": fan + "00"}):
        assert stack.client.get("/api/pools/0/listens", params=bad).status_code == 422, bad

    # The fan's share, split evenly over the two tracks it downloaded, is claimable.
    part = directs // 2
    want = {tracks["Free One"]["split_id"]: part, tracks["Free Two"]["split_id"]: part}
    assert {a["split_id"]: int(a["amount"]) for a in report["allocations"] if a["token"] == ETH} == want
    mine = stack.client.get("/api/pools/0/allocations", params={"payee": collab}).json()["allocations"]
    assert [a["split_id"] for a in mine] == [tracks["Free Two"]["split_id"]]
    before = m.owed(collab, ETH)
    a = mine[0]
    m.send(f.claimFromPool(0, a["split_id"], w3.to_checksum_address(a["token"]), int(a["amount"]), a["proof"]), collab)
    assert (a["recipients"], a["shares_ppm"]) == ([x.lower() for x in m.split_data(a["split_id"])[0]],
                                                  m.split_data(a["split_id"])[1])
    m.distribute(a["split_id"], a["token"], a["recipients"], a["shares_ppm"], collab)  # as the web app does
    stack.sync()
    assert m.owed(collab, ETH) - before == part * 400_000 // 1_000_000
    assert stack.client.get("/api/ledger/reconciliation").json()["ok"] is True

    # Anyone can check the epoch from the chain and IPFS alone.
    env = {**os.environ, "NINETY_RPC_URL": stack.settings.rpc_url, "NINETY_IPFS_API": stack.settings.ipfs_api,
           "NINETY_CONTRACT_ADDRESS": m.address, "NINETY_START_BLOCK": str(stack.world.deploy_block),
           "NINETY_DATA_DIR": str(tmp_path)}
    ok = subprocess.run([*NINETY, "verify", "epoch", "0"], env=env, capture_output=True, text=True, timeout=180)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_recording_is_capped_per_wallet_and_epoch(stack, monkeypatch):
    import backend.api.free_downloads as free_downloads_api

    monkeypatch.setattr(free_downloads_api, "MAX_RECORDED_FREE_DOWNLOADS", 2)
    artist_h = stack.login(ARTIST)
    for i, title in enumerate(("A", "B", "C")):
        list_track(stack, artist_h, ARTIST, title, 0, None, 300.0 + 50 * i)
    list_track(stack, artist_h, ARTIST, "Paid", 10**15, None, 600.0)
    stack.sync()
    items = stack.client.get("/api/tracks").json()["items"]
    stack.world.market.buy(next(t["track_id"] for t in items if t["title"] == "Paid"), 10**15, address(FAN))
    stack.sync()  # the fan qualifies
    ids = sorted(t["track_id"] for t in items if t["title"] != "Paid")
    fan_h = stack.login(FAN)
    answers = [record(stack, fan_h, tid, 0, sign_free_download(stack, FAN, tid, 0)).json() for tid in ids]
    assert [a["receipt"] is not None for a in answers] == [True, True, False]
    assert answers[2]["counted"] is False and "2 free downloads" in answers[2]["reason"]
    assert len(rows(stack)) == 2
    # Recorded ones still answer as recorded.
    assert record(stack, fan_h, ids[0], 0, sign_free_download(stack, FAN, ids[0], 0)).json() == answers[0]


def test_a_release_purchase_qualifies_a_listener_like_any_purchase(stack):
    artist_h = stack.login(ARTIST)
    list_track(stack, artist_h, ARTIST, "Free", 0, None, 440.0)
    list_track(stack, artist_h, ARTIST, "On the album", 10**15, None, 330.0)
    stack.sync()
    ids = {t["title"]: t["track_id"] for t in stack.client.get("/api/tracks").json()["items"]}
    data, files = release_form([ids["On the album"]], title="Album", release_type="album")
    r = stack.client.post("/api/releases", data=data, files=files, headers=artist_h)
    assert r.status_code == 201, r.text
    album = register(stack.world, lambda path, body, headers: stack.client.post(path, json=body, headers=headers),
                     artist_h, r.json()["metadata_cid"], address(ARTIST), [ids["On the album"]], 10**15)
    stack.sync()
    fan_h = stack.login(FAN)
    # Before buying anything the fan does not qualify: the free download is not counted.
    before = record(stack, fan_h, ids["Free"], 0, sign_free_download(stack, FAN, ids["Free"], 0)).json()
    assert before["counted"] is False and before["receipt"] is None
    # Its only purchase is the album (the qualifying amount, from a split that does not pay it).
    stack.world.market.buy(album, 10**15, address(FAN))
    stack.sync()
    after = record(stack, fan_h, ids["Free"], 0, sign_free_download(stack, FAN, ids["Free"], 0)).json()
    assert after["counted"] is True and after["receipt"], after
    you = stack.client.get("/api/pools", headers=fan_h).json()["you"]
    assert you["qualifies"] is True and you["free_downloads"] == 1


def test_refusals_say_what_is_wrong(stack):
    artist_h = stack.login(ARTIST)
    list_track(stack, artist_h, ARTIST, "Free", 0, None, 440.0)
    list_track(stack, artist_h, ARTIST, "Paid", 10**15, None, 330.0)
    list_track(stack, artist_h, ARTIST, "Taken down", 0, None, 660.0)
    stack.sync()
    ids = {t["title"]: t["track_id"] for t in stack.client.get("/api/tracks").json()["items"]}
    free, paid, gone = ids["Free"], ids["Paid"], ids["Taken down"]
    m = stack.world.market
    m.block_track(gone, "bafkreitakedownreason", stack.world.owner)
    m.buy(paid, 10**15, address(FAN))  # the fan qualifies
    stack.sync()
    fan_h = stack.login(FAN)
    good = sign_free_download(stack, FAN, free, 0)

    def status(tid, epoch, signature, headers=fan_h):
        r = record(stack, headers, tid, epoch, signature)
        assert r.headers["content-type"].startswith("application/problem+json") or r.status_code == 200, r.text
        return r.status_code, r.json()

    assert status(free, 0, good, {})[0] == 401
    assert status(10**6, 0, sign_free_download(stack, FAN, 10**6, 0))[0] == 404
    code, body = status(paid, 0, sign_free_download(stack, FAN, paid, 0))
    assert code == 409 and "not free" in body["detail"]
    code, body = status(gone, 0, sign_free_download(stack, FAN, gone, 0))
    assert code == 451 and body["reason_cid"] == "bafkreitakedownreason"
    code, body = status(free, 1, sign_free_download(stack, FAN, free, 1))
    assert code == 409 and body["current_epoch"] == 0
    # Another wallet's signature, or one of another track, epoch, chain or contract: 403.
    for signature in (sign_free_download(stack, OTHER, free, 0), sign_free_download(stack, FAN, paid, 0),
                      sign_free_download(stack, FAN, free, 1), sign_free_download(stack, FAN, free, 0, chain_id=1),
                      sign_free_download(stack, FAN, free, 0, contract=stack.world.usdc.address)):
        code, body = status(free, 0, signature)
        assert code == 403 and "not" in body["detail"], body
    # Malformed bodies are 422 with a detail naming the field.
    for bad in ({"epoch": "0", "signature": good}, {"epoch": 0.0, "signature": good}, {"epoch": True, "signature": good},
                {"epoch": -1, "signature": good}, {"epoch": 2**64, "signature": good}, {"epoch": None, "signature": good},
                {"signature": good}, {"epoch": 0}, {"epoch": 0, "signature": good[2:]},
                {"epoch": 0, "signature": good[:-2]}, {"epoch": 0, "signature": good + "00"},
                {"epoch": 0, "signature": "0x" + "zz" * 65}, {"epoch": 0, "signature": 12},
                {"epoch": 0, "signature": good, "wallet": address(OTHER)}, [0, good], "x"):
        r = stack.client.post(f"/api/tracks/{free}/free-download", json=bad, headers=fan_h)
        assert r.status_code == 422 and r.json()["detail"], (bad, r.text)
    assert rows(stack) == []
    # Signed correctly: recorded.
    code, body = status(free, 0, good)
    assert code == 200 and body["receipt"] and len(rows(stack)) == 1


def test_the_openapi_describes_the_free_download_and_listens_routes(stack):
    spec = stack.client.get("/openapi.json").json()
    post = spec["paths"]["/api/tracks/{track_id}/free-download"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    schema = spec["components"]["schemas"][body]
    assert set(schema["required"]) == {"epoch", "signature"} and schema["additionalProperties"] is False
    out = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(spec["components"]["schemas"][out]["properties"]) == {"track_id", "epoch", "counted", "reason", "receipt",
                                                                     "block_number"}
    assert {"401", "403", "404", "409", "422", "429", "451", "503"} <= set(post["responses"])
    for code in ("403", "409"):
        assert "application/problem+json" in post["responses"][code]["content"]
    listens = spec["paths"]["/api/pools/{epoch}/listens"]["get"]
    assert {"200", "404", "422"} <= set(listens["responses"])
    pools = spec["components"]["schemas"]["PoolsOut"]["properties"]
    assert {"current_epoch", "next_epoch_to_publish", "epoch_start", "epoch_seconds", "you", "epochs"} <= set(pools)
    assert "open_epoch" not in pools


def test_unreadable_rules_answer_at_once_and_record_nothing(stack, monkeypatch):
    """IPFS down (or the rules' CID served by nobody): a download is not recorded (whether
    the wallet qualifies cannot be judged) and the answer says so, /api/pools still
    answers, and the failure is remembered for a while instead of every request waiting
    for the IPFS timeout again."""
    import backend.epochs
    from ninety.errors import IpfsUnavailableError

    calls = []

    def unreadable(services, epoch):
        calls.append(epoch)
        raise IpfsUnavailableError("the IPFS node timed out")

    monkeypatch.setattr(backend.epochs, "rules_for", unreadable)
    artist_h = stack.login(ARTIST)
    list_track(stack, artist_h, ARTIST, "Free", 0, None, 440.0)
    stack.sync()
    tid = stack.client.get("/api/tracks").json()["items"][0]["track_id"]
    fan_h = stack.login(FAN)
    r = record(stack, fan_h, tid, 0, sign_free_download(stack, FAN, tid, 0))
    assert r.status_code == 200, r.text
    # Whether the wallet qualifies cannot be judged: nothing is recorded, and it says so.
    assert r.json()["receipt"] is None and r.json()["counted"] is False
    assert "cannot be judged right now" in r.json()["reason"] and "Not recorded" in r.json()["reason"]
    assert rows(stack) == []
    for _ in range(3):
        pools = stack.client.get("/api/pools", headers=fan_h).json()
        assert pools["epochs"][0]["free_downloads"] is None and pools["epochs"][0]["qualified_listeners"] is None
        assert pools["you"]["free_downloads"] == 0 and "cannot be judged" in pools["you"]["reason"]
    assert calls == [0]  # tried once; remembered since

    # No rules committed for an epoch: nothing counts there, and the page says 0.
    import backend.standing

    backend.standing._unreadable.clear()

    def none_committed(services, epoch):
        raise LookupError(f"no pool rules are committed for epoch {epoch}")

    monkeypatch.setattr(backend.epochs, "rules_for", none_committed)
    pools = stack.client.get("/api/pools", headers=fan_h).json()
    assert (pools["epochs"][0]["free_downloads"], pools["epochs"][0]["qualified_listeners"]) == (0, 0)
    assert "no pool rules are committed for epoch 0" in pools["you"]["reason"]


def test_slow_rules_delay_an_answer_by_a_bounded_wait_only(stack, monkeypatch):
    """IPFS slow to serve the rules: the page answers after RULES_WAIT_SECONDS with the
    counts unknown, the fetch goes on, and once it lands the counts are back."""
    import threading
    import time

    import backend.standing
    import backend.epochs

    monkeypatch.setattr(backend.standing, "RULES_WAIT_SECONDS", 1.0)
    real, first = backend.epochs.rules_for, threading.Event()

    def slow(services, epoch):
        if not first.is_set():
            first.set()
            time.sleep(4)
        return real(services, epoch)

    monkeypatch.setattr(backend.epochs, "rules_for", slow)
    fan_h = stack.login(FAN)
    t0 = time.monotonic()
    pools = stack.client.get("/api/pools", headers=fan_h).json()
    assert time.monotonic() - t0 < 3.5
    assert pools["epochs"][0]["free_downloads"] is None and "cannot be judged" in pools["you"]["reason"]
    time.sleep(4)
    pools = stack.client.get("/api/pools", headers=fan_h).json()
    assert (pools["epochs"][0]["free_downloads"], pools["epochs"][0]["qualified_listeners"]) == (0, 0)
    assert "purchase" in pools["you"]["reason"]
