"""The indexer against real Anvil and real SQLite/PostgreSQL: exact mirror of the chain,
idempotent replays, following the head, reorgs, and refusals."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, text, update
from sqlmodel import SQLModel

from indexer.runner import ReorgTooDeepError
from indexer.verify import verify
from ninety.chain import Rpc
from ninety.db import SchemaError, ensure_schema, make_engine
from ninety.market import ETH
from tests.support.activity import random_activity
from tests.support.indexing import dump, make_indexer

T = SQLModel.metadata.tables


def test_random_activity_is_mirrored_exactly(anvil, world, engine):
    random_activity(world, 120, seed=7)
    ix = make_indexer(anvil.url, engine, world)
    ix.run(once=True)
    assert ix.stats.indexed == world.w3.eth.block_number
    height, diffs = verify(Rpc(anvil.url), engine, world.market.address, world.deploy_block)
    assert diffs == []
    # Spot-check the aggregates against the contract itself.
    with engine.connect() as conn:
        balances = conn.execute(select(T["account_balance"])).mappings().all()
        sales = conn.execute(select(T["sale"])).mappings().all()
    assert balances and sales
    for b in balances:
        assert b["credited"] - b["withdrawn"] == world.market.owed(b["account"], b["token"])
    assert len(sales) == len([1 for _ in sales])
    assert all(s["amount"] >= s["platform_fee"] * 10 for s in sales)
    # The activity changes splits (at once, and by consent), and withdraws to others.
    with engine.connect() as conn:
        changes = conn.execute(select(T["track_split_change"])).mappings().all()
        statuses = {r[0] for r in conn.execute(select(T["split_proposal"].c.status))}
        consents = conn.execute(select(T["split_consent"])).all()
        paid_elsewhere = conn.execute(select(T["withdrawal"]).where(
            T["withdrawal"].c.paid_to != T["withdrawal"].c.account)).all()
        tracks = {r["track_id"]: r["split_id"] for r in conn.execute(select(T["track"])).mappings()}
    assert changes and consents and paid_elsewhere and {"applied", "pending"} <= statuses, (len(changes), statuses)
    for tid, split_id in tracks.items():
        assert world.market.track_split(tid) == split_id


def test_verify_names_a_tampered_row(anvil, world, engine):
    random_activity(world, 40, seed=3)
    make_indexer(anvil.url, engine, world).run(once=True)
    with engine.begin() as conn:
        sale = conn.execute(select(T["sale"]).limit(1)).mappings().first()
        conn.execute(update(T["sale"]).where(T["sale"].c.id == sale["id"]).values(amount=int(sale["amount"]) + 1))
    _, diffs = verify(Rpc(anvil.url), engine, world.market.address, world.deploy_block)
    assert any(sale["tx_hash"] in d and "amount" in d for d in diffs), diffs


def test_reindexing_indexed_blocks_changes_nothing(anvil, world, engine):
    random_activity(world, 60, seed=11)
    make_indexer(anvil.url, engine, world).run(once=True)
    before = dump(engine)
    # Move the cursor back to the start: every block is indexed a second time.
    with engine.begin() as conn:
        conn.execute(update(T["checkpoint"]).values(block_number=world.deploy_block - 1, block_hash=""))
    make_indexer(anvil.url, engine, world).run(once=True)
    after = dump(engine)
    after["checkpoint"] = before["checkpoint"] = []  # reorg counter and time aside
    assert after == before


def test_following_picks_up_a_new_sale(anvil, world, engine):
    random_activity(world, 10, seed=5)
    ix = make_indexer(anvil.url, engine, world, poll_interval=0.25)
    thread = threading.Thread(target=ix.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while ix.stats.indexed < world.w3.eth.block_number and time.monotonic() < deadline:
            time.sleep(0.05)
        tid, token, price = world.tracks[0]
        receipt = world.market.buy(tid, price, world.accounts[3], token)
        tx = "0x" + bytes(receipt["transactionHash"]).hex()
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(select(T["sale"].c.id).where(T["sale"].c.tx_hash == tx)).first():
                    break
            time.sleep(0.02)
        else:
            pytest.fail("the sale never reached the database")
    finally:
        ix.stop_event.set()
        thread.join(10)


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_reorgs_while_following_are_undone_and_reindexed(anvil, world, engine, depth):
    random_activity(world, 15, seed=depth)
    w3 = world.w3
    ix = make_indexer(anvil.url, engine, world, poll_interval=0.05)
    thread = threading.Thread(target=ix.run, daemon=True)
    thread.start()
    try:
        def caught_up():
            deadline = time.monotonic() + 30
            while ix.stats.indexed < w3.eth.block_number:
                assert time.monotonic() < deadline, "indexer did not catch up"
                time.sleep(0.02)

        caught_up()
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
        tid, token, price = world.tracks[0]
        doomed = [world.market.buy(tid, price + i + 1, world.accounts[4], token) for i in range(depth)]
        caught_up()
        with engine.connect() as conn:
            assert conn.execute(select(T["sale"]).where(T["sale"].c.amount == price + 1)).first() is not None
        # Replace those blocks: the chain forks below them and grows longer.
        assert w3.provider.make_request("evm_revert", [snapshot])["result"]
        for i in range(depth + 1):
            world.market.buy(tid, price + 1000 + i, world.accounts[5], token)
        caught_up()
        time.sleep(0.3)
    finally:
        ix.stop_event.set()
        thread.join(10)
    assert ix.stats.reorgs >= 1
    orphaned = {"0x" + bytes(r["transactionHash"]).hex() for r in doomed}
    with engine.connect() as conn:
        txs = {r[0] for r in conn.execute(select(T["sale"].c.tx_hash))}
    assert not orphaned & txs
    _, diffs = verify(Rpc(anvil.url), engine, world.market.address, world.deploy_block)
    assert diffs == []


def test_a_reorg_deeper_than_the_window_stops_the_indexer(anvil, world, engine):
    random_activity(world, 5, seed=9)
    w3 = world.w3
    make_indexer(anvil.url, engine, world, reorg_window=3).run(once=True)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    tid, token, price = world.tracks[0]
    for i in range(5):
        world.market.buy(tid, price + i, world.accounts[4], token)
    make_indexer(anvil.url, engine, world, reorg_window=3).run(once=True)
    w3.provider.make_request("evm_revert", [snapshot])
    for i in range(6):
        world.market.buy(tid, price + 100 + i, world.accounts[5], token)
    with pytest.raises(ReorgTooDeepError, match="reorg window"):
        make_indexer(anvil.url, engine, world, reorg_window=3).run(once=True)


def test_a_database_at_another_schema_revision_is_refused(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(SchemaError, match="ninety migrate"):
        ensure_schema(engine)


def test_a_foreign_database_is_refused(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE something_else (x int)"))
    with pytest.raises(SchemaError, match="no Ninety schema"):
        ensure_schema(engine)


def test_sales_of_eth_and_tokens_keep_their_token(anvil, world, engine):
    m = world.market
    a = world.accounts
    sid = m.create_split([(a[1], 600_000), (a[2], 400_000)], a[1])
    eth_track = m.register("bafkreieth", sid, ETH, 10, a[1])
    usdc_track = m.register("bafkreiusdc", sid, world.usdc.address, 7, a[1])
    m.buy(eth_track, 1000, a[3])
    m.buy(usdc_track, 2000, a[3], world.usdc.address)
    m.distribute(sid, ETH, a[3])
    make_indexer(anvil.url, engine, world).run(once=True)
    with engine.connect() as conn:
        sales = {r["track_id"]: r for r in conn.execute(select(T["sale"])).mappings()}
        owed = {(r["account"], r["token"]): r["credited"] - r["withdrawn"]
                for r in conn.execute(select(T["account_balance"])).mappings()}
    assert sales[eth_track]["token"] == ETH and sales[eth_track]["amount"] == 1000
    assert sales[usdc_track]["token"] == world.usdc.address.lower() and sales[usdc_track]["amount"] == 2000
    assert sales[eth_track]["platform_fee"] == 50 and sales[eth_track]["artist"] == a[1].lower()
    assert owed[(a[1].lower(), ETH)] == 570 and owed[(a[2].lower(), ETH)] == 380
    assert owed[(a[9].lower(), ETH)] == 50


def test_a_reorg_undoes_a_split_change_and_reopens_the_proposal_it_applied(anvil, world, engine):
    m, w3 = world.market, world.w3
    artist, collaborator = world.accounts[1], world.accounts[2]
    even = m.create_split([(artist, 500_000), (collaborator, 500_000)], artist)
    solo = m.create_split([(artist, 1_000_000)], artist)  # the collaborator loses: needs consent
    raise_ = m.create_split([(artist, 400_000), (collaborator, 600_000)], artist)  # only the artist loses: at once
    tid = m.register("bafkreisplitreorg", even, ETH, 10**15, artist)
    assert m.propose_split(tid, solo, artist) is False
    ix = make_indexer(anvil.url, engine, world)
    ix.run(once=True)

    def ledger():
        with engine.connect() as conn:
            track = conn.execute(select(T["track"].c.split_id).where(T["track"].c.track_id == tid)).scalar()
            proposals = [tuple(r) for r in conn.execute(select(T["split_proposal"].c.split_id, T["split_proposal"].c.status))]
            changes = [tuple(r) for r in conn.execute(select(T["track_split_change"].c.previous_split_id,
                                                             T["track_split_change"].c.split_id))]
            consents = conn.execute(select(T["split_consent"].c.payee)).scalars().all()
        return track, proposals, changes, consents

    assert ledger() == (even, [(solo, "pending")], [], [])
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    assert m.accept_split(tid, solo, collaborator) is True
    make_indexer(anvil.url, engine, world).run(once=True)
    assert ledger() == (solo, [(solo, "applied")], [(even, solo)], [collaborator.lower()])

    # Another history replaces the consent: the artist raises the collaborator instead,
    # which lands at once and voids the proposal; the new chain is longer.
    assert w3.provider.make_request("evm_revert", [snapshot])["result"]
    assert m.propose_split(tid, raise_, artist) is True
    for i in range(2):
        m.buy(tid, 10**15 + i, world.accounts[3])
    ix = make_indexer(anvil.url, engine, world)
    ix.run(once=True)
    assert ix.stats.reorgs >= 1
    assert ledger() == (raise_, [(solo, "superseded")], [(even, raise_)], [])
    _, diffs = verify(Rpc(anvil.url), engine, m.address, world.deploy_block)
    assert diffs == []


def test_verify_names_a_tampered_split_change_and_proposal(anvil, world, engine):
    m = world.market
    artist, collaborator = world.accounts[1], world.accounts[2]
    even = m.create_split([(artist, 500_000), (collaborator, 500_000)], artist)
    solo = m.create_split([(artist, 1_000_000)], artist)
    raise_ = m.create_split([(artist, 400_000), (collaborator, 600_000)], artist)
    tid = m.register("bafkreisplittamper", even, ETH, 10**15, artist)
    assert m.propose_split(tid, raise_, artist) is True
    assert m.propose_split(tid, solo, artist) is False
    make_indexer(anvil.url, engine, world).run(once=True)
    with engine.begin() as conn:
        change = conn.execute(select(T["track_split_change"])).mappings().one()
        conn.execute(update(T["track_split_change"]).values(split_id=solo))
        proposal = conn.execute(select(T["split_proposal"])).mappings().one()
        conn.execute(update(T["split_proposal"]).values(status="applied"))
    _, diffs = verify(Rpc(anvil.url), engine, m.address, world.deploy_block)
    assert any(d.startswith(f"track_split_change {change['tx_hash']}") and "split_id" in d for d in diffs), diffs
    assert any(d.startswith(f"split_proposal {proposal['tx_hash']}") and "status" in d for d in diffs), diffs


def test_a_reorg_undoes_a_cancellation_and_the_proposals_are_pending_again(anvil, world, engine):
    m, w3 = world.market, world.w3
    artist, collaborator = world.accounts[1], world.accounts[2]
    even = m.create_split([(artist, 500_000), (collaborator, 500_000)], artist)
    solo = m.create_split([(artist, 1_000_000)], artist)
    tid = m.register("bafkreicancelreorg", even, ETH, 10**15, artist)
    assert m.propose_split(tid, solo, artist) is False
    make_indexer(anvil.url, engine, world).run(once=True)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    m.cancel_split_proposals(tid, artist)
    make_indexer(anvil.url, engine, world).run(once=True)

    def statuses():
        with engine.connect() as conn:
            return conn.execute(select(T["split_proposal"].c.status)).scalars().all(), \
                conn.execute(select(T["split_proposal_cancellation"].c.track_id)).scalars().all()

    assert statuses() == (["cancelled"], [tid])
    assert m.pending_split_change(tid, solo, collaborator) == (0, False)
    assert w3.provider.make_request("evm_revert", [snapshot])["result"]
    for i in range(2):
        m.buy(tid, 10**15 + i, world.accounts[3])
    ix = make_indexer(anvil.url, engine, world)
    ix.run(once=True)
    assert ix.stats.reorgs >= 1
    assert statuses() == (["pending"], [])
    assert m.pending_split_change(tid, solo, collaborator) == (1, True)
    _, diffs = verify(Rpc(anvil.url), engine, m.address, world.deploy_block)
    assert diffs == []


def test_the_split_queries_the_api_makes_read_the_same_on_every_database(anvil, world, engine):
    """backend.splits against the indexer's own tables, on SQLite and PostgreSQL."""
    from sqlmodel import Session

    from backend.splits import pending_counts, split_data, to_accept, track_proposals

    m = world.market
    artist, collaborator, other = (a.lower() for a in world.accounts[1:4])
    even = m.create_split([(artist, 500_000), (collaborator, 500_000)], artist)
    trio = m.create_split([(artist, 500_000), (collaborator, 250_000), (other, 250_000)], artist)
    solo = m.create_split([(artist, 1_000_000)], artist)
    tid = m.register("bafkreisplitqueries", even, ETH, 10**15, artist)
    assert m.propose_split(tid, trio, artist) is False
    assert m.accept_split(tid, trio, collaborator) is True
    assert m.propose_split(tid, solo, artist) is False
    assert m.accept_split(tid, solo, other) is False
    make_indexer(anvil.url, engine, world).run(once=True)
    with Session(engine) as db:
        assert split_data(db, [trio])[trio] == ([a.lower() for a in m.split_data(trio)[0]], m.split_data(trio)[1])
        assert pending_counts(db, [tid, 999]) == {tid: 1}
        assert [(p["split_id"], p["status"], p["accepted"], p["missing"]) for p in track_proposals(db, tid)] == [
            (solo, "pending", [other], 1), (trio, "applied", [collaborator], 0)]
        assert [(a["split_id"], a["missing"], a["current_shares_ppm"]) for a in to_accept(db, collaborator)] == [
            (solo, 1, m.split_data(trio)[1])]
        assert to_accept(db, other) == [] and to_accept(db, artist) == []
