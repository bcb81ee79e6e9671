"""The sponsor-pool rule on a small epoch, by hand-computed numbers, on real Anvil, IPFS and
the real indexer: who qualifies, the fee-paid caps, spreading over tracks, the fee on what
is allocated and the carry-over; then `ninety verify epoch` passes on the published report
and catches each way a publisher could cheat (a forged signature, a listener whose only
purchase paid itself, rules other than the committed ones, a dropped download whose
receipt the listener kept).

Downloads are written straight into the `free_download` table with real signatures, as
the API records them (tests/backend/test_pools.py covers the HTTP side): the subject here
is what `ninety epoch close` and `ninety verify epoch` make of them."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from eth_account import Account

from ninety.cli.epoch_close import close_epoch
from ninety.attest import FREE_DOWNLOAD_TYPES, domain
from ninety.chain import Rpc
from ninety.cli.shared import dev_account
from ninety.config import DEV_MNEMONIC
from ninety.epochs.check import check_report
from ninety.ipfs import Ipfs
from ninety.market import ETH
from tests.support.activity import advance_epoch, new_world, record_free_download
from tests.support.media import wav_bytes
from tests.support.stack import Stack, send, upload

OWNER, ARTIST, L1, L2, SYBIL, COLLAB, SELF_DEALER, SPONSOR, SELLER = 0, 1, 2, 3, 4, 5, 6, 7, 8
NINETY = [sys.executable, "-m", "ninety.cli"]
E18 = 10**18


def key(i: int) -> str:
    return dev_account(DEV_MNEMONIC, i)[1]


def addr(i: int) -> str:
    return dev_account(DEV_MNEMONIC, i)[0]


@pytest.fixture
def pinned(anvil, ipfs_node, tmp_path):
    with Ipfs(ipfs_node.url) as ipfs:
        world = new_world(anvil.url, pin=ipfs.add_bytes)
    s = Stack(anvil.url, ipfs_node.url, tmp_path, world)
    yield s
    s.services.engine.dispose()


def listed(stack: Stack, artist: int, split: list[tuple[int, int]], price: int, n: int) -> tuple[int, str]:
    """A track uploaded through the API (a genuine recording) and listed by `artist`."""
    r = upload(stack, stack.login(artist), wav_bytes(2.0, 200.0 + 90 * n), title=f"Rule {n}", price=str(price),
               split=json.dumps([{"address": addr(i), "share_ppm": s} for i, s in split]))
    assert r.status_code == 201, r.text
    send(stack, r.json()["create_split_call"], addr(artist))
    send(stack, r.json()["register_call"], addr(artist))
    track_id = stack.world.market.contract.functions.trackCount().call()
    return track_id, "0x" + stack.world.market.contract.functions.tracks(track_id).call()[1].hex()


def record(stack: Stack, who: int, track: int, epoch: int, split_id: str) -> dict:
    """A signed free download, recorded as the API records it (at the current head)."""
    return record_free_download(stack, key(who), track, epoch, split_id)


def test_a_small_epoch_by_hand_and_every_way_to_cheat_on_it_is_caught(pinned, tmp_path):
    stack, m, w3 = pinned, pinned.world.market, pinned.world.w3
    f1, split_a = listed(stack, ARTIST, [(ARTIST, 1_000_000)], 0, 1)
    f2, split_ac = listed(stack, ARTIST, [(ARTIST, 600_000), (COLLAB, 400_000)], 0, 2)
    paid, _ = listed(stack, SELLER, [(SELLER, 1_000_000)], 10**16, 3)
    own, _ = listed(stack, SELF_DEALER, [(SELF_DEALER, 1_000_000)], 10**16, 4)
    # L1 pays 0.02 ETH (fee 0.001), L2 0.01 ETH (fee 0.0005): both qualify (0.001 ETH is
    # the default qualifying amount). The self-dealer pays 1 ETH to its own split: that
    # proves nothing. The sybil never buys.
    m.buy(paid, 2 * 10**16, addr(L1))
    m.buy(paid, 10**16, addr(L2))
    m.buy(own, E18, addr(SELF_DEALER))
    m.deposit_to_pool(0, ETH, E18, addr(SPONSOR))
    receipts = [record(stack, L1, f1, 0, split_a), record(stack, L1, f2, 0, split_ac), record(stack, L2, f1, 0, split_a),
                record(stack, SYBIL, f1, 0, split_a), record(stack, SELF_DEALER, f2, 0, split_ac),
                record(stack, ARTIST, f1, 0, split_a)]  # the artist's own track pays it: never counts
    stack.sync()
    assert m.contract.functions.currentEpoch().call() == 0
    advance_epoch(stack.world)

    report = close_epoch(stack.services.engine, w3, stack.services.ipfs, stack.services.deployment, key(OWNER),
                         say=lambda line: None)
    # D = 0.95 ETH; N = 2 qualified listeners, so each could direct 0.475 ETH, but each is
    # capped at the fee it paid / 4: L1 0.00025 ETH over 2 tracks, L2 0.000125 ETH.
    l1_part, l2_part = 10**15 // 4 // 2, 5 * 10**14 // 4
    want = {split_a: l1_part + l2_part, split_ac: l1_part}
    assert {a["split_id"]: int(a["amount"]) for a in report["allocations"]} == want
    allocated = sum(want.values())
    fee = allocated * 500 // 9500
    (settled,) = report["settlements"]
    assert (int(settled["allocated"]), int(settled["platform_fee"])) == (allocated, fee)
    assert int(settled["carried_over"]) == E18 - allocated - fee
    assert fee * 9 <= allocated  # the platform's part: at most 10% of what is paid out
    fate = {(x["wallet"], x["track_id"]): x for x in report["listens"]}
    assert [fate[(addr(L1).lower(), f1)]["counted"], fate[(addr(L2).lower(), f1)]["counted"]] == [True, True]
    assert "no purchase" in fate[(addr(SYBIL).lower(), f1)]["reason"]
    assert "no purchase" in fate[(addr(SELF_DEALER).lower(), f2)]["reason"]  # its sale paid itself
    assert "pays this listener" in fate[(addr(ARTIST).lower(), f1)]["reason"]
    # The carry-over went to the epoch current at publication; the contract agrees.
    assert m.contract.functions.poolBalance(1, ETH).call() == E18 - allocated - fee
    assert m.contract.functions.epochRoot(0).call().hex() == report["root"][2:]

    rpc = Rpc(stack.settings.rpc_url)
    check = lambda r, **kw: check_report(r, rpc=rpc, chain_id=31337, contract=m.address, epoch=0,  # noqa: E731
                                         deploy_block=stack.world.deploy_block, **kw)
    assert check(report, receipts=receipts) == []

    def tampered(change) -> list[str]:
        copy = json.loads(json.dumps(report))
        change(copy)
        return check(copy, receipts=receipts)

    # A forged signature: L2's download "signed" by someone else.
    forged = Account.sign_typed_data(key(SYBIL), domain_data=domain(31337, m.address), message_types=FREE_DOWNLOAD_TYPES,
                                     message_data={"trackId": f1, "epoch": 0}).signature
    diffs = tampered(lambda r: next(x for x in r["listens"] if x["wallet"] == addr(L2).lower())
                     .update(signature="0x" + bytes(forged).hex()))
    assert any(f"by {addr(L2).lower()}: counted=True in the report, False by the chain" in d for d in diffs), diffs

    # The self-dealer counted, as if its 1 ETH to its own split were a purchase.
    def self_dealing(r):
        x = next(x for x in r["listens"] if x["wallet"] == addr(SELF_DEALER).lower())
        x.update(counted=True, reason="")
        who = next(x for x in r["listeners"] if x["wallet"] == addr(SELF_DEALER).lower())
        who.update(qualified=True, reason="")
    diffs = tampered(self_dealing)
    assert any(addr(SELF_DEALER).lower() in d and "counted=True in the report" in d for d in diffs), diffs
    assert any("qualified=True in the report" in d for d in diffs), diffs

    # L2's download un-counted by republishing it at a block before the track existed (or
    # with another wallet's signature): the report could not come from the API, and L2's
    # receipt names the block and signature that were recorded.
    first_block = stack.world.deploy_block
    diffs = tampered(lambda r: next(x for x in r["listens"] if x["wallet"] == addr(L2).lower())
                     .update(block_number=first_block, counted=False, reason="the track did not exist"))
    assert any("could not have been recorded by the API" in d for d in diffs), diffs
    assert any(f"by {addr(L2).lower()} was recorded at block" in d for d in diffs), diffs

    # Rules other than the committed ones (a larger multiplier would let listeners direct more).
    diffs = tampered(lambda r: r["rules"].update(multiplier=100))
    assert any("the rules committed on chain for epoch 0" in d for d in diffs), diffs

    # A dropped download: L2's is left out of the report; its receipt proves it was recorded.
    diffs = tampered(lambda r: r.update(listens=[x for x in r["listens"] if x["wallet"] != addr(L2).lower()]))
    assert any("was recorded (the receipt is signed by the catalog signer) but the report leaves it out" in d
               for d in diffs), diffs

    # The same checks from the command line, with the receipts a listener kept.
    (tmp_path / "receipts.json").write_text(json.dumps(receipts))
    env = {**os.environ, "NINETY_RPC_URL": stack.settings.rpc_url, "NINETY_IPFS_API": stack.settings.ipfs_api,
           "NINETY_CONTRACT_ADDRESS": m.address, "NINETY_START_BLOCK": str(stack.world.deploy_block),
           "NINETY_DATA_DIR": str(tmp_path)}
    ok = subprocess.run([*NINETY, "verify", "epoch", "0", "--receipts", str(tmp_path / "receipts.json")], env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    said = " ".join((ok.stdout + ok.stderr).split())
    assert "epoch 0 checks out" in said and "6 signed downloads (3 counted)" in said

    # Receipts files that are not receipts: said in words, not a traceback.
    for name, body, words in (("garbage.json", "{not json", "cannot read the receipts"),
                              ("object.json", json.dumps({"receipt": "0x"}), "expected a JSON list"),
                              ("partial.json", json.dumps([{"wallet": addr(L2), "track_id": f1, "epoch": 0}]),
                               "is incomplete"),
                              ("numbers.json", "[1]", "a receipt is not an object"),
                              ("bad-epoch.json", json.dumps([{"epoch": "x"}]), "is incomplete")):
        (tmp_path / name).write_text(body)
        bad = subprocess.run([*NINETY, "verify", "epoch", "0", "--receipts", str(tmp_path / name)], env=env,
                             capture_output=True, text=True, timeout=120)
        said = " ".join((bad.stdout + bad.stderr).split())
        assert bad.returncode != 0 and words in said and "Traceback" not in said, said
