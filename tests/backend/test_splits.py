"""Splits and split changes through the API: a split's data (the contract keeps only its
hash), a track's split history and proposals, and what a payee must consent to. The
expectations come from the chain (the contract's views and logs)."""
from __future__ import annotations

import pytest

from indexer.verify import verify
from ninety.chain import Rpc
from ninety.market import ETH

PRICE = 10**15


@pytest.fixture
def changes(stack):
    """A track whose split moved twice (a raise at once, a cut by consent) with one
    proposal voided by the other change and one still waiting for a consent."""
    w = stack.world
    m = w.market
    artist, collab, other = (a.lower() for a in w.accounts[1:4])
    s = {
        "even": m.create_split([(artist, 500_000), (collab, 500_000)], artist),
        "raise": m.create_split([(artist, 400_000), (collab, 600_000)], artist),
        "solo": m.create_split([(artist, 1_000_000)], artist),
        "trio": m.create_split([(artist, 500_000), (collab, 250_000), (other, 250_000)], artist),
    }
    cid = "bafkreisplitchanges"
    tid = m.register(cid, s["even"], ETH, PRICE, artist, w.attest(cid, artist, s["even"]))
    assert m.propose_split(tid, s["raise"], artist) is True  # only the artist loses: at once
    assert m.propose_split(tid, s["solo"], artist) is False  # cuts the collaborator
    assert m.propose_split(tid, s["trio"], artist) is False
    assert m.accept_split(tid, s["trio"], collab) is True  # lands, and voids the "solo" proposal
    assert m.propose_split(tid, s["solo"], artist) is False  # again, now cutting two payees
    assert m.accept_split(tid, s["solo"], other) is False
    m.buy(tid, PRICE, w.accounts[5])
    stack.sync()
    return stack, tid, s, (artist, collab, other)


def test_a_split_reads_as_its_split_created_event(changes):
    stack, _, s, (artist, collab, other) = changes
    m = stack.world.market
    for split_id in s.values():
        r = stack.client.get(f"/api/splits/{split_id}")
        assert r.status_code == 200, r.text
        got = r.json()
        recipients, shares = m.split_data(split_id)
        assert got["split_id"] == split_id and got["recipients"] == [a.lower() for a in recipients]
        assert got["shares_ppm"] == shares and sum(shares) == 1_000_000
        log = stack.world.w3.eth.get_logs({"address": m.address, "fromBlock": stack.world.deploy_block,
                                           "topics": [None, split_id]})
        assert got["created_block"] == log[0]["blockNumber"] and got["tx_hash"] == "0x" + bytes(log[0]["transactionHash"]).hex()
    assert stack.client.get(f"/api/splits/{s['trio'].upper().replace('0X', '0x')}").json()["split_id"] == s["trio"]
    assert stack.client.get("/api/splits/0x" + "ab" * 32).status_code == 404
    for bad in ("0x12", "nothex", "0x" + "zz" * 32, "0x" + "ab" * 33):
        r = stack.client.get(f"/api/splits/{bad}")
        assert r.status_code == 422 and "split id" in r.json()["detail"], bad


def test_a_tracks_split_history_and_proposals(changes):
    stack, tid, s, (artist, collab, other) = changes
    m = stack.world.market
    r = stack.client.get(f"/api/ledger/tracks/{tid}/splits")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["track_id"] == tid and body["split_id"] == s["trio"] == m.track_split(tid)
    history = body["history"]
    assert [(h["previous_split_id"], h["split_id"]) for h in history] == [
        (None, s["even"]), (s["even"], s["raise"]), (s["raise"], s["trio"])]
    for h in history:
        recipients, shares = m.split_data(h["split_id"])
        assert h["recipients"] == [a.lower() for a in recipients] and h["shares_ppm"] == shares
        assert h["block_number"] > 0 and h["tx_hash"].startswith("0x") and h["log_index"] >= 0
    assert history[0]["block_number"] < history[1]["block_number"] < history[2]["block_number"]

    proposals = body["proposals"]  # newest first
    assert [(p["split_id"], p["status"]) for p in proposals] == [
        (s["solo"], "pending"), (s["trio"], "applied"), (s["solo"], "superseded")]
    waiting, applied, voided = proposals
    assert sorted(waiting["must_consent"]) == sorted([collab, other]) and waiting["accepted"] == [other]
    assert waiting["missing"] == 1 == m.pending_split_change(tid, s["solo"], collab)[0]
    assert applied["must_consent"] == [collab] and applied["accepted"] == [collab] and applied["missing"] == 0
    assert voided["must_consent"] == [collab] and voided["accepted"] == [] and voided["missing"] == 1
    assert waiting["recipients"] == [artist] and waiting["shares_ppm"] == [1_000_000]
    assert waiting["block_number"] > applied["block_number"] > voided["block_number"]

    # Cached per ledger checkpoint, like the summaries.
    assert stack.client.get(f"/api/ledger/tracks/{tid}/splits",
                            headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert stack.client.get("/api/ledger/tracks/99999/splits").status_code == 404
    assert stack.client.get("/api/ledger/tracks/0/splits").status_code == 422
    _, diffs = verify(Rpc(stack.settings.rpc_url), stack.services.engine, m.address, stack.world.deploy_block)
    assert diffs == []


def test_a_payee_sees_what_to_consent_to_and_can_distribute_from_the_summary(changes):
    stack, tid, s, (artist, collab, other) = changes
    m = stack.world.market
    mine = stack.client.get(f"/api/ledger/artists/{collab}").json()
    assert mine["proposals_to_accept"] == [{
        "track_id": tid, "split_id": s["solo"], "recipients": [artist], "shares_ppm": [1_000_000],
        "current_recipients": [a.lower() for a in m.split_data(s["trio"])[0]],
        "current_shares_ppm": m.split_data(s["trio"])[1], "missing": 1}]
    # The other payee already consented; the artist never has to.
    assert stack.client.get(f"/api/ledger/artists/{other}").json()["proposals_to_accept"] == []
    assert stack.client.get(f"/api/ledger/artists/{artist}").json()["proposals_to_accept"] == []

    # The sale went to the current split: distribute() takes the data the summary gives.
    waiting = [u for u in mine["undistributed"] if u["split_id"] == s["trio"]]
    assert len(waiting) == 1 and int(waiting[0]["amount"]) == m.contract.functions.splitBalance(s["trio"], ETH).call()
    u = waiting[0]
    before = m.owed(collab, ETH)
    m.distribute(u["split_id"], u["token"], u["recipients"], u["shares_ppm"], stack.world.accounts[6])
    assert m.owed(collab, ETH) - before == int(u["amount"]) * 250_000 // 1_000_000
    # Nothing left: a second distribute is a no-op (no event), not a revert.
    receipt = m.distribute(u["split_id"], u["token"], u["recipients"], u["shares_ppm"], stack.world.accounts[6])
    assert receipt["logs"] == []

    # The last consent lands the change: nothing is left to accept, the history grows.
    assert m.accept_split(tid, s["solo"], collab) is True
    stack.sync()
    assert stack.client.get(f"/api/ledger/artists/{collab}").json()["proposals_to_accept"] == []
    body = stack.client.get(f"/api/ledger/tracks/{tid}/splits").json()
    assert body["split_id"] == s["solo"] and body["history"][-1]["previous_split_id"] == s["trio"]
    assert body["proposals"][0]["status"] == "applied" and body["proposals"][0]["missing"] == 0
    assert stack.client.get("/api/ledger/reconciliation").json()["ok"] is True


def test_the_artist_withdrawing_the_proposals_cancels_them_everywhere(changes):
    stack, tid, s, (artist, collab, other) = changes
    m = stack.world.market
    m.cancel_split_proposals(tid, artist)
    stack.sync()
    body = stack.client.get(f"/api/ledger/tracks/{tid}/splits").json()
    assert [p["status"] for p in body["proposals"]] == ["cancelled", "applied", "superseded"]
    assert body["split_id"] == s["trio"] == m.track_split(tid)  # nothing moved
    assert stack.client.get(f"/api/ledger/artists/{collab}").json()["proposals_to_accept"] == []
    assert m.pending_split_change(tid, s["solo"], collab) == (0, False)
    # Proposed again, it is a new proposal: the consent given to the old one does not count.
    assert m.propose_split(tid, s["solo"], artist) is False
    stack.sync()
    body = stack.client.get(f"/api/ledger/tracks/{tid}/splits").json()
    assert [(p["status"], p["accepted"], p["missing"]) for p in body["proposals"][:2]] == [
        ("pending", [], 2), ("cancelled", [other], 1)]
    asks = stack.client.get(f"/api/ledger/artists/{other}").json()["proposals_to_accept"]
    assert [(a["track_id"], a["split_id"], a["missing"]) for a in asks] == [(tid, s["solo"], 2)]
    _, diffs = verify(Rpc(stack.settings.rpc_url), stack.services.engine, m.address, stack.world.deploy_block)
    assert diffs == []


def test_withdrawals_to_another_address_are_in_the_ledger(changes):
    stack, tid, s, (artist, collab, other) = changes
    m = stack.world.market
    split_id = m.track_split(tid)
    m.distribute(split_id, ETH, stack.world.accounts[6])
    owed = m.owed(collab, ETH)
    receipt = m.withdraw_to(stack.world.accounts[7], [ETH], collab)
    # Nothing owed any more: withdrawing again does nothing (no event), by anyone.
    assert m.withdraw(collab, [ETH], stack.world.accounts[6])["logs"] == []
    stack.sync()
    items = stack.client.get("/api/ledger/withdrawals", params={"account": collab}).json()["items"]
    assert [(i["tx_hash"], i["amount"], i["paid_to"]) for i in items] == [
        ("0x" + bytes(receipt["transactionHash"]).hex(), str(owed), stack.world.accounts[7].lower())]
    assert m.owed(collab, ETH) == 0
    assert stack.client.get("/api/ledger/reconciliation").json()["ok"] is True
    p = stack.client.get(f"/api/ledger/proofs/{items[0]['tx_hash']}/{items[0]['log_index']}").json()
    assert p["table"] == "withdrawal" and p["matches"] is True and p["decoded"]["args"]["to"] == items[0]["paid_to"]


def test_the_openapi_describes_the_split_routes(stack):
    schema = stack.client.get("/openapi.json").json()
    paths = schema["paths"]
    assert "/api/splits/{split_id}" in paths and "/api/ledger/tracks/{track_id}/splits" in paths
    models = schema["components"]["schemas"]
    assert {"recipients", "shares_ppm", "created_block", "tx_hash"} <= set(models["SplitOut"]["properties"])
    assert {"history", "proposals", "split_id"} <= set(models["TrackSplits"]["properties"])
    assert "proposals_to_accept" in models["ArtistSummary"]["properties"]
    assert {"recipients", "shares_ppm"} <= set(models["Undistributed"]["properties"])
    assert {"recipients", "shares_ppm"} <= set(models["AllocationOut"]["properties"])
    assert "pending_split_changes" in models["TrackOut"]["properties"]
    assert "paid_to" in models["WithdrawalItem"]["properties"]
