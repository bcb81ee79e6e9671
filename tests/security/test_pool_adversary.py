"""Adversarial review of the rebuilt sponsor pools (issue 15), on the real stack: `ninety
serve` over Anvil and the IPFS node, a ledger indexed from the chain, `ninety epoch close`
publishing from the owner's key, and `ninety.epochs.check.check_report` (what `ninety verify
epoch` runs) re-checking the result.

Each was a real hole when written (the tests failed), and is fixed:

- The receipt bound only (listener, track, epoch). Whoever writes the report (the
  operator, the one party the receipts are meant to hold to account) could leave an
  honest, receipted download in the report but make it not count, by publishing it with
  a signature that does not recover or with a block at which the track did not exist
  yet. Now the receipt binds the block and the signature, and verify flags any download
  the API could not have recorded.
- `verify --receipts` checked receipts against the catalog signer *now*: once the owner
  rotated the catalog signer, every genuine receipt of every earlier epoch was rejected,
  and with it a correct report. Now: the signer as of the receipt's block.
- Wallets that hold nothing and never bought were recorded (one SIWE sign-in each, no
  funds), and every such row became a leaf, a proof and a chain call of the epoch's close
  and of every `verify`: the report grew without bound at no cost to the sender. Now only
  wallets that qualify (a real purchase from someone else) are recorded.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update
from sqlmodel import SQLModel

from ninety.chain import Rpc
from ninety.epochs.check import check_report
from ninety.market import ETH
from tests.support.listings import FAN, SPONSOR, VICTIM, sync, wallet
from tests.support.pools import close_epoch, db_url, list_track, post, recorded, sign, start

import backend.models  # noqa: F401  (the free_download and epoch_report tables)

T = SQLModel.metadata.tables
OWNER = 0
OTHER = 20  # a dev-mnemonic account Anvil never funded
UNFUNDED = range(21, 29)  # 8 sign-ins (nonce + login each) fill the default 20/minute with the artist's and the fan's


def engine_of(api):
    from ninety.db import make_engine

    return make_engine(db_url(api))


def report_of(api, epoch: int) -> dict:
    engine = engine_of(api)
    try:
        with engine.connect() as conn:
            er = T["epoch_report"]
            (raw,) = conn.execute(select(er.c.report_json).where(er.c.epoch == epoch)).one()
    finally:
        engine.dispose()
    return json.loads(raw)


def verify(api, world, report: dict, receipts: list[dict]) -> list[str]:
    return check_report(report, rpc=Rpc(api.env["NINETY_RPC_URL"]), chain_id=31337, contract=world.market.address,
                        epoch=0, deploy_block=world.deploy_block, receipts=receipts)


def honest_round(live_api, world, **env):
    """A qualified fan signs a free download of an honest artist's track in a funded epoch 0
    and keeps the server's receipt."""
    api = start(live_api, world, **env)
    free = list_track(api, world, VICTIM, "Honest free", 0, 700.0)
    registered_at = world.w3.eth.block_number
    paid = list_track(api, world, VICTIM, "Honest paid", 10**16, 750.0)
    world.market.buy(paid, 10**16, wallet(FAN))  # 0.01 ETH, fee 0.0005 ETH: qualifies, cap 0.000125 ETH
    world.market.deposit_to_pool(0, ETH, 10**18, wallet(SPONSOR))
    sync(api, world)
    signature = sign(world, FAN, free, 0)
    r = post(api, free, {"epoch": 0, "signature": signature}, api.login(FAN))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["counted"] is True and got["receipt"], got
    receipt = {"wallet": wallet(FAN).lower(), "track_id": free, "epoch": 0, "receipt": got["receipt"],
               "block_number": got["block_number"], "signature": signature}
    return api, free, registered_at, receipt


def listed(api, world, headers: dict[str, str], title: str, price: int, freq: float) -> int:
    """list_track with one sign-in for all of an artist's tracks (sign-ins are rate limited)."""
    from tests.support.media import wav_bytes

    r = api.upload(headers, wav_bytes(2.0, freq), title=title, price=str(price))
    assert r.status_code == 201, r.text
    for call in (r.json()["create_split_call"], r.json()["register_call"]):
        tx = world.w3.eth.send_transaction({"from": wallet(VICTIM), "to": call["to"], "data": call["data"]})
        assert world.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    return world.market.contract.functions.trackCount().call()


# ------------------------------------------------------------------ (d)/(f) a receipted download uncounted

@pytest.mark.parametrize("how", ["signature", "block"])
def test_an_operator_uncounting_a_receipted_download_is_caught_by_verify(live_api, world, how):
    api, free, registered_at, receipt = honest_round(live_api, world)
    # The operator, before `ninety epoch close`, rewrites what it recorded: another wallet's
    # signature of the same message, or the block just before the track was registered
    # (still inside epoch 0). Nothing the listener holds names either.
    change = ({"signature": sign(world, OTHER, free, 0)} if how == "signature"
              else {"block_number": registered_at - 1})
    engine = engine_of(api)
    with engine.begin() as conn:
        fd = T["free_download"]
        assert conn.execute(update(fd).where(fd.c.wallet == wallet(FAN).lower()).values(**change)).rowcount == 1
    engine.dispose()
    close_epoch(api, 0)
    report = report_of(api, 0)

    # The download is in the report (so its leaf is in the listens root and the fan's
    # receipt check says "included"), but it counts nothing and the artist gets nothing.
    (listen,) = report["listens"]
    assert (listen["wallet"], listen["track_id"], listen["counted"]) == (wallet(FAN).lower(), free, False)
    assert report["allocations"] == []
    sync(api, world)
    mine = api.get("/api/pools/0/listens", params={"wallet": wallet(FAN)}).json()["listens"]
    assert [(x["track_id"], x["counted"]) for x in mine] == [(free, False)]

    # Verify catches it: the download could not have been recorded so, and the fan's
    # receipt names the block and signature that were.
    diffs = verify(api, world, report, [receipt])
    assert any("could not have been recorded by the API" in d for d in diffs), diffs
    assert any("was recorded at block" in d for d in diffs), diffs
    assert verify(api, world, report, []) != []  # even without the receipt


# ------------------------------------------------------------------ (d) a correct report rejected

def test_rotating_the_catalog_signer_leaves_earlier_receipts_valid(live_api, world):
    api, _, _, receipt = honest_round(live_api, world)
    close_epoch(api, 0)
    report = report_of(api, 0)
    assert report["allocations"] and verify(api, world, report, [receipt]) == []
    # The owner rotates the catalog key (a routine key change, or a compromise).
    world.market.set_catalog_signer(wallet(OTHER), world.owner)
    assert verify(api, world, report, [receipt]) == []


# ------------------------------------------------------------------ (e)/(b) free rows, paid for by the close

def test_unfunded_wallets_cannot_grow_the_report(live_api, world):
    api = start(live_api, world, NINETY_RATE_LIMITS="on")
    artist = api.login(VICTIM)
    tracks = [listed(api, world, artist, f"Free {i}", 0, 300.0 + 50 * i) for i in range(3)]
    paid = listed(api, world, artist, "Paid", 10**16, 900.0)
    world.market.buy(paid, 10**16, wallet(FAN))
    world.market.deposit_to_pool(0, ETH, 10**18, wallet(SPONSOR))
    sync(api, world)
    for index in UNFUNDED:
        assert world.w3.eth.get_balance(wallet(index)) == 0
        h = api.login(index)
        for tid in tracks:
            r = post(api, tid, {"epoch": 0, "signature": sign(world, index, tid, 0)}, h)
            assert r.status_code == 200 and r.json()["receipt"] is None and "Not recorded" in r.json()["reason"], r.text
    fan = api.login(FAN)
    assert post(api, tracks[0], {"epoch": 0, "signature": sign(world, FAN, tracks[0], 0)}, fan).json()["counted"]
    assert len(recorded(api)) == 1
    assert all(world.w3.eth.get_balance(wallet(i)) == 0 for i in UNFUNDED)  # not a wei spent

    close_epoch(api, 0)
    report = report_of(api, 0)
    buyers = {wallet(FAN).lower()}
    # Every free row is in the published report, with its proof, judged on chain one by one.
    strangers = [x for x in report["listens"] if x["wallet"] not in buyers]
    assert len(strangers) == 0, f"{len(strangers)} of {len(report['listens'])} report entries are from wallets " \
                                "that hold nothing and never bought"
