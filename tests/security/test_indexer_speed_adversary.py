"""Adversary tests for session 10's indexer speed work: the schema snapshot (ninety/db.py),
the slow start of backfill ranges, the compiled decoders and the hand-written ABI decoder
(ninety/ledger/events.py), the bulk inserts (itemgetter tuples, raw 64-bit ints on SQLite,
binary COPY on PostgreSQL, since reverted) and the background WAL checkpointer (indexer/store.py).

Real components throughout: the session's Anvil (or a chain of this module's own where the
clock must move to 2038), real SQLite files, the real PostgreSQL server. Each finding that
was fixed says so above its test, which now guards against its return.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
from sqlalchemy import Engine, select, text
from sqlmodel import SQLModel

from ninety.db import ensure_schema, make_engine
from ninety.market import ETH
from tests.support.activity import new_world
from tests.support.indexing import ledger_engine, make_indexer
from tests.support.indexing import mine_sales as support_mine_sales
from tests.support.postgres import PG_URL, fresh_schema

T = SQLModel.metadata.tables


@contextmanager
def database(dialect: str, tmp_path) -> Iterator[Engine]:
    if dialect == "sqlite":
        with ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as e:
            yield e
        return
    with fresh_schema() as url, ledger_engine(url) as e:
        yield e


def one_sale(world) -> str:
    """One ETH sale of a fresh track; its tx hash."""
    a = world.accounts
    split = world.market.create_split([(a[2], 1_000_000)], a[2])
    track = world.market.register(f"bafy-speed-adversary-{world.w3.eth.block_number}", split, ETH, 1000, a[2])
    (tx,) = support_mine_sales(world, track, 1000, 1, 1)
    assert world.w3.eth.get_transaction_receipt(tx)["status"] == 1
    return tx


# ------------------------------------------------------- binary COPY: the table's own types


# Fixed by going back to text COPY (binary COPY, e5e0334, packed a Python int into an int4
# column with no range check: a block time past 2**31-1 was stored wrapped, negative).
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_block_time_past_2038_is_stored_as_the_chain_says_or_refused(dialect, clock_anvil, tmp_path):
    """A sale in a block stamped 2**31 + 7 (Anvil sets the clock; an honest chain, nothing
    forged): the ledger keeps that time, or the indexer stops with an error. What it must not
    do is store another time without a word: statements group sales by their month."""
    world = new_world(clock_anvil.url)
    stamp = max(2**31 + 7, world.w3.eth.get_block("latest")["timestamp"] + 1)  # the chain's clock only moves on
    world.w3.provider.make_request("evm_setNextBlockTimestamp", [stamp])
    tx = one_sale(world)
    block = world.w3.eth.get_transaction_receipt(tx)["blockNumber"]
    want = world.w3.eth.get_block(block)["timestamp"]
    assert want >= stamp
    # Blocks after it, so that the sale's block is older than the reorg window when indexed
    # (the recent headers, written with a plain INSERT, are not part of its step).
    world.w3.provider.make_request("anvil_mine", [hex(40)])
    with database(dialect, tmp_path) as engine:
        ix = make_indexer(clock_anvil.url, engine, world, reorg_window=4)
        try:
            ix.run(once=True)
        except Exception:  # noqa: BLE001 - a loud refusal is an acceptable outcome ...
            pass
        # ... but whatever the ledger holds must be what the chain says.
        with engine.connect() as conn:
            stored = conn.execute(select(T["sale"].c.block_time).where(T["sale"].c.tx_hash == tx)).all()
            blocks = dict(conn.execute(select(T["indexed_block"].c.number, T["indexed_block"].c.timestamp)).all())
        assert stored in ([], [(want,)]), f"the chain says {want}, the ledger {stored}"
        assert all(t >= stamp for t in blocks.values()), blocks
        if dialect == "sqlite":
            assert stored == [(want,)]  # nothing stops SQLite: the sale must be there


# Fixed by going back to text COPY (binary COPY's column types, e5e0334, were read from
# current_schema() only, while COPY finds its table through the whole search_path).
def test_a_ledger_found_later_in_the_search_path_is_indexed(anvil, world):
    """The ledger lives in schema A; the URL's search_path is "B, A" with B an empty schema
    that exists (the default search_path is "$user", public: a schema named after the role,
    made after the ledger was, comes first in exactly this way). Every statement Ninety sends
    names its tables unqualified, so PostgreSQL finds them in A and the ledger works."""
    if not PG_URL:
        pytest.skip("needs NINETY_TEST_PG_URL")
    tx = one_sale(world)
    with fresh_schema() as url_a:
        schema_a = url_a.rsplit("%3D", 1)[1]
        with ledger_engine(url_a):
            pass
        with fresh_schema() as url_b:
            schema_b = url_b.rsplit("%3D", 1)[1]
            url = url_b.replace(f"%3D{schema_b}", f"%3D{schema_b},{schema_a}")
            engine = make_engine(url)
            try:
                ensure_schema(engine)  # finds A's schema at the head: nothing to do
                with engine.connect() as conn:
                    assert conn.execute(text("SELECT current_schema()")).scalar() == schema_b
                ix = make_indexer(anvil.url, engine, world)
                ix.run(once=True)
                with engine.connect() as conn:
                    hashes = {r[0] for r in conn.execute(select(T["sale"].c.tx_hash))}
                assert tx in hashes
            finally:
                engine.dispose()


# ------------------------------------------------------- the snapshot against the migrations


# Fixed: the comparison reads each relation's persistence and each sequence's parameters.
def test_the_snapshot_comparison_sees_an_unlogged_table_and_a_changed_sequence(tmp_path, monkeypatch):
    """Feeds ensure_schema a snapshot edited in two ways that matter (crash safety, ids) and
    asks the comparison the snapshot test relies on whether it differs from the migrations."""
    if not PG_URL:
        pytest.skip("needs NINETY_TEST_PG_URL")
    import ninety.db
    from ninety.db import SNAPSHOTS, migrate
    from tests.indexer.test_migrations import _schema

    good = (SNAPSHOTS / "postgresql.sql").read_text()
    seq = "CREATE SEQUENCE sale_id_seq\n    AS integer\n    START WITH 1\n"
    assert "CREATE TABLE sale (" in good and seq in good
    edited = good.replace("CREATE TABLE sale (", "CREATE UNLOGGED TABLE sale (").replace(
        seq, seq.replace("START WITH 1\n", "START WITH 1000000\n"))
    (tmp_path / "postgresql.sql").write_text(edited)
    monkeypatch.setattr(ninety.db, "SNAPSHOTS", tmp_path)
    with fresh_schema() as url_m, fresh_schema() as url_s:
        migrated, snapshot = make_engine(url_m), make_engine(url_s)
        try:
            migrate(migrated)
            ensure_schema(snapshot)
            with snapshot.connect() as conn:  # the edit took: the table is unlogged
                assert conn.execute(text("SELECT relpersistence FROM pg_class WHERE oid = 'sale'::regclass")).scalar() == "u"
            assert _schema(snapshot) != _schema(migrated)
        finally:
            migrated.dispose()
            snapshot.dispose()


# ------------------------------------------------------- what held (guards against regressions)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_uint256_columns_keep_the_exact_value_at_every_binding_boundary(dialect, tmp_path):
    """Held: the bulk insert binds a column of plain 64-bit ints as they are on SQLite and
    converts anything else; at 2**63 - 1, 2**63, -2**63, bools, ints mixed with decimal
    strings and 78-digit values the ledger keeps str(int(v)) (SQLite: as text, the
    column's affinity) and reads back int(v)."""
    from indexer.store import _bulk_insert

    base = dict(block_number=1, block_hash="0xb", log_index=0, track_id=1, buyer="0xb", token="0xt",
                split_id="0xs", artist="0xa", fee_recipient="0xf", block_time=1)
    batches = [[2**63 - 1, 0], [2**63, 5], [-(2**63), 1], [True, 2], [5, "7"], [2**256 - 1, 3], [0, 0]]
    want = {}
    with database(dialect, tmp_path) as engine:
        n = 0
        for batch in batches:
            rows = []
            for v in batch:
                n += 1
                rows.append({**base, "id": n, "tx_hash": f"0x{n:x}", "amount": v, "platform_fee": v})
                want[n] = int(v)
            with engine.begin() as conn:
                _bulk_insert(conn, "sale", rows)
        with engine.connect() as conn:
            if dialect == "sqlite":
                got = conn.execute(text("SELECT id, amount, typeof(amount), platform_fee FROM sale")).all()
                assert {r[0]: (r[1], r[2], r[3]) for r in got} == {k: (str(v), "text", str(v)) for k, v in want.items()}
            got = conn.execute(select(T["sale"].c.id, T["sale"].c.amount, T["sale"].c.platform_fee)).all()
            assert {r[0]: (int(r[1]), int(r[2])) for r in got} == {k: (v, v) for k, v in want.items()}


def test_malformed_dynamic_event_data_raises_value_error_at_once():
    """Held: the hand-written ABI decoder (e70c590) checks every offset and length against the
    data before reading or allocating: a lying RPC's huge lengths, offsets past the end, a
    head shorter than its types and odd hex all raise ValueError, quickly."""
    from ninety.ledger.events import _dynamic

    def w(n: int) -> str:
        return n.to_bytes(32, "big").hex()

    cases = [
        (["string"], "0x" + w(32) + w(2**256 - 1)),                    # length of 2**256 - 1
        (["string"], "0x" + w(2**255) + w(1)),                         # offset far past the end
        (["address[]"], "0x" + w(32) + w(2**250) + w(1)),              # 2**250 items
        (["uint32[]"], "0x" + w(32) + w(3) + w(1) + w(2)),             # one item short
        (["bytes32", "string"], "0x" + w(1)),                          # head shorter than the types
        (["string"], "0x" + w(32)[:-1]),                               # odd hex
        (["string"], "0x"),
    ]
    for types, data in cases:
        with pytest.raises(ValueError):
            _dynamic(types, data)
    # Overlapping values are decoded, each bounded by the data (no amplification past it).
    data = "0x" + w(64) + w(64) + w(2) + w(7) + w(8)
    assert _dynamic(["uint32[]", "uint32[]"], data) == [[7, 8], [7, 8]]
    assert _dynamic(["string"], "0x" + w(32) + w(3) + (b"a\x00\xff".hex() + "00" * 29)) == ["a\ufffd\ufffd"]
