"""A ring of accomplices farming a sponsor pool, attacked for real through the API, the
epoch close and the chain (issue 15).

Mallory lists free tracks (her splits collect whatever the pool directs to them). Her
ring qualifies the cheap way: each ring wallet buys a track listed by an accomplice, who
gets 95% of it straight back, so a fake listener really costs only the platform fee. Each
then signs free downloads of Mallory's tracks, in an epoch with a 10 ETH pool. The rule
caps what a listener directs at what it paid the platform (m = 1, spread over the 4-epoch
window), so the ring's haul is at most a quarter of its fees in this epoch, at most its
fees over the whole window: farming never pays."""
from __future__ import annotations

import json

from sqlalchemy import select
from sqlmodel import SQLModel

from ninety.chain import Rpc
from ninety.db import make_engine
from ninety.epochs.check import check_report
from ninety.market import ETH
from tests.support.listings import FAN, MALLORY, SPONSOR, VICTIM, sync, wallet
from tests.support.pools import close_epoch, list_track, post, sign, start

ACCOMPLICE = 4
RING = (5, 7, 8)
E18 = 10**18


def test_a_ring_buying_from_an_accomplice_directs_at_most_the_fees_it_paid(live_api, world):
    api = start(live_api, world)
    m, f = world.market, world.market.contract.functions
    farm = [list_track(api, world, MALLORY, f"Farm {i}", 0, 310.0 + 45 * i) for i in range(2)]
    bait = list_track(api, world, ACCOMPLICE, "Accomplice", 10**17, 520.0)
    honest_free = list_track(api, world, VICTIM, "Honest free", 0, 730.0)
    honest_paid = list_track(api, world, VICTIM, "Honest paid", 10**16, 810.0)
    for index in RING:
        m.buy(bait, 10**17, wallet(index))  # 0.1 ETH each; the accomplice's split pays 0.095 back
    m.buy(honest_paid, 10**16, wallet(FAN))
    m.deposit_to_pool(0, ETH, 10 * E18, wallet(SPONSOR))
    sync(api, world)

    for index in RING:
        h = api.login(index)
        for tid in farm:
            answer = post(api, tid, {"epoch": 0, "signature": sign(world, index, tid, 0)}, h).json()
            assert answer["counted"] is True and answer["receipt"], answer  # they do qualify
    fan = api.login(FAN)
    assert post(api, honest_free, {"epoch": 0, "signature": sign(world, FAN, honest_free, 0)}, fan).json()["counted"]

    close_epoch(api, 0)
    sync(api, world)
    bps = f.platformFeeBps().call()
    fees_paid = {index: 10**17 * bps // 10_000 for index in RING}  # what each ring wallet really lost
    split_of = {tid: "0x" + bytes(f.tracks(tid).call()[1]).hex() for tid in [*farm, honest_free]}
    allocations = {a["split_id"]: int(a["amount"]) for a in api.get("/api/pools/0/allocations").json()["allocations"]}
    haul = sum(allocations.get(split, 0) for split in {split_of[t] for t in farm})  # one split, both tracks
    # Each ring wallet directs a quarter of its fees (m = 1 over a 4-epoch window), spread
    # over Mallory's two tracks; the 10 ETH pool could have paid far more.
    assert haul == sum(fee // 4 // 2 * 2 for fee in fees_paid.values()) > 0
    assert 4 * haul <= sum(fees_paid.values())  # even if repeated in every epoch of the window
    # The honest fan's artist is paid by the same rule, and the rest of the pool carries over.
    assert allocations[split_of[honest_free]] == (10**16 * bps // 10_000) // 4
    carried = m.contract.functions.poolBalance(f.currentEpoch().call(), ETH).call()
    assert carried > 9 * E18

    # And the published report checks out from the chain alone.
    engine = make_engine(api.env["NINETY_DB_URL"])
    try:
        with engine.connect() as conn:
            er = SQLModel.metadata.tables["epoch_report"]
            (raw,) = conn.execute(select(er.c.report_json).where(er.c.epoch == 0)).one()
    finally:
        engine.dispose()
    assert check_report(json.loads(raw), rpc=Rpc(api.env["NINETY_RPC_URL"]), chain_id=31337, contract=m.address,
                        epoch=0, deploy_block=world.deploy_block) == []
