"""Migrations that add aggregates backfill them from the rows already in the ledger; the
snapshot an empty database is created from is exactly what the migrations build."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

import ninety.db

from indexer.verify import verify
from ninety.chain import Rpc
from ninety.db import SNAPSHOTS, _alembic_config, current_revision, ensure_schema, head_revision, make_engine, migrate
from tests.support.activity import random_activity
from tests.support.indexing import make_indexer
from tests.support.postgres import fresh_schema


def test_upgrading_an_existing_ledger_backfills_the_new_aggregates(anvil, world, engine):
    # No pool activity: downgrading below 0005 drops the pool tables with their rows
    # (there is nothing to backfill them from), so this is about 0003 and 0004. The one
    # pool row there is, the deployment's PoolRulesSet, goes with pool_rules (0009); split
    # proposals, consents and cancellations go with their tables, and where withdrawTo
    # paid with its column (0010).
    # Split changes come back: the earlier shape kept them in track_update.
    random_activity(world, 50, seed=12, pools=False)
    make_indexer(anvil.url, engine, world).run(once=True)
    cfg = _alembic_config(engine)
    command.downgrade(cfg, "0002")  # before artist_buyer, track_day and track_split existed
    assert current_revision(engine) == "0002"
    command.upgrade(cfg, "head")
    assert current_revision(engine) == head_revision()
    _, diffs = verify(Rpc(anvil.url), engine, world.market.address, world.deploy_block)
    lost = [d for d in diffs if d.startswith(("pool_rules: missing row", "split_proposal: missing row",
                                              "split_consent: missing row", "split_proposal_cancellation: missing row"))
            or ": paid_to is " in d]
    assert lost == diffs and any(d.startswith("pool_rules") for d in diffs), diffs


def test_the_migrations_build_exactly_the_schema_the_models_declare(db_url):
    """No drift: a table, column or index added to a model without a migration (or the
    reverse) fails here, on SQLite and PostgreSQL."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import backend.models  # noqa: F401
    import backend.ratelimit  # noqa: F401

    engine = make_engine(db_url)
    migrate(engine)  # the migrations themselves: ensure_schema would run the snapshot
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    # Server defaults exist only to backfill added columns; the models set their own.
    assert [d for d in diff if "server_default" not in str(d)] == []


def test_0009_backfills_pool_rows_from_the_earlier_contract_and_drops_unsigned_downloads(db_url):
    """A ledger written from the earlier contract: its settlements carried into epoch + 1
    and its epochs had no listens root; unsigned free-download counts cannot be kept."""
    from sqlalchemy import text

    from ninety.db import make_engine

    engine = make_engine(db_url)
    cfg = _alembic_config(engine)
    command.upgrade(cfg, "0008")
    ref = {"block_hash": "0x" + "11" * 32, "block_time": 1_700_000_000}
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO pool_settlement (block_number, block_hash, tx_hash, log_index, epoch, token, pool, allocated,"
            " platform_fee, carried_over, fee_recipient, block_time) VALUES (7, :block_hash, :tx, 0, 3, :token, :pool,"
            " :alloc, :fee, :carry, :token, :block_time)"),
            {**ref, "tx": "0x" + "22" * 32, "token": "0x" + "00" * 20, "pool": 100, "alloc": 80, "fee": 8, "carry": 12})
        conn.execute(text(
            "INSERT INTO epoch (block_number, block_hash, tx_hash, log_index, epoch, root, report_cid, block_time)"
            " VALUES (7, :block_hash, :tx, 1, 3, :root, 'bafkreireport', :block_time)"),
            {**ref, "tx": "0x" + "22" * 32, "root": "0x" + "33" * 32})
        conn.execute(text("INSERT INTO free_download (epoch, track_id, wallet, split_id, created_at)"
                          " VALUES (3, 1, '0xabc', '0xsplit', 1.5)"))
    command.upgrade(cfg, "0009")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT epoch, carried_to_epoch FROM pool_settlement")).all() == [(3, 4)]
        assert conn.execute(text("SELECT listens_root FROM epoch")).scalar() == "0x" + "00" * 32
        assert conn.execute(text("SELECT count(*) FROM free_download")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM pool_rules")).scalar() == 0
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO free_download (epoch, track_id, wallet, split_id, signature, block_number, block_time,"
            " receipt, created_at) VALUES (5, 2, '0xabc', '0xsplit', :sig, 9, 1700000100, :sig, 2.5)"),
            {"sig": "0x" + "ab" * 65})
    # And back: the signed download keeps its old-shape columns.
    command.downgrade(cfg, "0008")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT epoch, track_id, wallet FROM free_download")).all() == [(5, 2, "0xabc")]
        assert conn.execute(text("SELECT epoch FROM pool_settlement")).all() == [(3,)]
    command.upgrade(cfg, "head")
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_0010_keeps_split_changes_made_by_earlier_updates_and_backfills_where_withdrawals_went(db_url):
    """A ledger written from the contract before issue 17: its TrackUpdated carried the
    split, so the updates that moved it become split changes; its withdrawals all paid
    the account itself."""
    from sqlalchemy import text

    from ninety.db import make_engine

    engine = make_engine(db_url)
    cfg = _alembic_config(engine)
    command.upgrade(cfg, "0009")
    a, b, c = ("0x" + d * 64 for d in "abc")
    ref = {"block_hash": "0x" + "11" * 32}
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO track (block_number, block_hash, tx_hash, log_index, track_id, artist, split_id, token, price,"
            " listed, metadata_cid, registered_price, registered_split_id, block_time, metadata_status,"
            " metadata_attempts, metadata_next_attempt, genuine, blocked, price_sort, sales) VALUES (5, :block_hash,"
            " :tx, 0, 1, '0xartist', :c, '0x00', 10, true, 'bafkreix', 10, :a, 1700000000, 'pending', 0, 0, false,"
            " false, '', 0)"), {**ref, "tx": "0x" + "01" * 32, "a": a, "c": c})
        for block, split_id, price in ((6, a, 20), (7, b, 20), (8, b, 30), (9, c, 30)):
            conn.execute(text(
                "INSERT INTO track_update (block_number, block_hash, tx_hash, log_index, track_id, split_id, price,"
                " listed) VALUES (:n, :block_hash, :tx, 0, 1, :s, :p, true)"),
                {**ref, "n": block, "tx": "0x" + f"{block:02x}" * 32, "s": split_id, "p": price})
        conn.execute(text(
            "INSERT INTO withdrawal (block_number, block_hash, tx_hash, log_index, account, token, amount, block_time)"
            " VALUES (9, :block_hash, :tx, 1, '0xpayee', '0x00', 5, 1700000009)"), {**ref, "tx": "0x" + "09" * 32})
    command.upgrade(cfg, "0010")
    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT block_number, previous_split_id, split_id FROM track_split_change ORDER BY block_number")).all() == [
            (7, a, b), (9, b, c)]
        assert conn.execute(text("SELECT account, paid_to FROM withdrawal")).all() == [("0xpayee", "0xpayee")]
    # And back: each update carries the split the track had after it again.
    command.downgrade(cfg, "0009")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT block_number, split_id FROM track_update ORDER BY block_number")).all() == [
            (6, a), (7, b), (8, b), (9, c)]
    command.upgrade(cfg, "head")
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_a_first_migration_killed_at_any_moment_leaves_sqlite_empty_or_complete(tmp_path):
    """Found while testing issue 17: Python's sqlite3 driver commits before every CREATE,
    so SIGKILL during the very first migration left tables without a schema version,
    which the next start refuses ("tables but no Ninety schema version"). Migrations now
    run in one SQLite transaction. SIGKILL is the fault here: a real process, killed at
    moments spread over how long a whole migration takes on this machine."""
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from ninety.paths import ROOT

    def start(path):
        code = f"from ninety.db import make_engine, migrate; migrate(make_engine('sqlite:///{path}'))"
        return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)

    began = time.monotonic()
    assert start(tmp_path / "whole.sqlite3").wait(timeout=120) == 0
    whole = time.monotonic() - began
    states = []
    for i in range(10):
        path = tmp_path / f"killed{i}.sqlite3"
        p = start(path)
        time.sleep(whole * (0.3 + 0.07 * i))  # from before the first CREATE to about the end
        p.send_signal(signal.SIGKILL)
        p.wait()
        with sqlite3.connect(path) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = db.execute("SELECT version_num FROM alembic_version").fetchall() if "alembic_version" in tables else []
        states.append("empty" if not tables else "complete" if version == [(head_revision(),)] else f"half ({len(tables)})")
    print("states after SIGKILL:", states)
    assert set(states) <= {"empty", "complete"}, states


# ------------------------------------------------------------------ the schema snapshot


def _schema(engine: Engine) -> dict[str, Any]:
    """A schema as the database itself describes it: every table, column, type, default,
    index and constraint, the row count of every table, and the revision stamped."""
    with engine.connect() as conn:
        tables = sorted(inspect(conn).get_table_names())
        out: dict[str, Any] = {
            "rows": {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables},
            "revision": conn.execute(text("SELECT version_num FROM alembic_version")).all(),
        }
        if engine.dialect.name == "sqlite":
            out["objects"] = sorted(conn.execute(text(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name != 'sqlite_sequence'")).all())
            return out
        schema = conn.execute(text("SELECT current_schema()")).scalar()

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(str(v).replace(f"{schema}.", "") for v in r) for r in conn.execute(text(sql))]

        # In order, without ordinal_position: a column a migration dropped leaves a gap in
        # the numbering that a table created whole does not have.
        out["columns"] = rows(
            "SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision, numeric_scale,"
            " is_nullable, column_default FROM information_schema.columns"
            " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position")
        out["indexes"] = rows("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                              " ORDER BY 2")
        out["constraints"] = rows(
            "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(c.oid) FROM pg_constraint c"
            " JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = current_schema() ORDER BY 2")
        out["sequences"] = rows(
            "SELECT s.relname, d.refobjid::regclass::text, a.attname, q.seqtypid::regtype::text, q.seqstart,"
            " q.seqincrement, q.seqmin, q.seqmax, q.seqcache, q.seqcycle FROM pg_class s JOIN pg_namespace n"
            " ON n.oid = s.relnamespace JOIN pg_sequence q ON q.seqrelid = s.oid"
            " LEFT JOIN pg_depend d ON d.objid = s.oid AND d.deptype = 'a'"
            " LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
            " WHERE s.relkind = 'S' AND n.nspname = current_schema() ORDER BY 1")
        # Logged or not (an UNLOGGED table is emptied after a crash), and every relation's kind.
        out["relations"] = rows("SELECT c.relname, c.relkind, c.relpersistence FROM pg_class c JOIN pg_namespace n"
                                " ON n.oid = c.relnamespace WHERE n.nspname = current_schema() ORDER BY 1")
        return out


@contextlib.contextmanager
def _empty_database(dialect: str, folder: Path, name: str) -> Iterator[Engine]:
    if dialect == "sqlite":
        engine = make_engine(f"sqlite:///{folder / name}.sqlite3")
        yield engine
        engine.dispose()
        return
    with fresh_schema() as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_an_empty_database_gets_from_the_snapshot_exactly_what_the_migrations_build(dialect, tmp_path):
    """The snapshot is current: after a new migration, `tools/schema_snapshot.py` must be run
    (this fails until it is), and a fresh ledger is never a different schema from a
    migrated one."""
    assert (SNAPSHOTS / f"{dialect}.sql").read_text().splitlines()[0] == ninety.db.snapshot_header(head_revision()), \
        "the snapshot is not at the head revision: run tools/schema_snapshot.py"
    with _empty_database(dialect, tmp_path, "migrated") as migrated, \
            _empty_database(dialect, tmp_path, "snapshot") as snapshot:
        migrate(migrated)
        ensure_schema(snapshot)
        assert current_revision(snapshot) == head_revision()
        want, got = _schema(migrated), _schema(snapshot)
        assert got["objects" if dialect == "sqlite" else "columns"], "nothing was compared"
        assert got == want


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_snapshot_that_fails_half_way_leaves_the_database_empty(dialect, tmp_path, monkeypatch):
    """One transaction: a crash or an error in the middle of creating the schema leaves no
    table behind (a half-made schema with no revision would be refused for good)."""
    head = head_revision()
    good = (SNAPSHOTS / f"{dialect}.sql").read_text()
    (tmp_path / f"{dialect}.sql").write_text(good.replace("CREATE TABLE sale (", "SELECT no_such_function();\nCREATE TABLE sale ("))
    monkeypatch.setattr(ninety.db, "SNAPSHOTS", tmp_path)
    with _empty_database(dialect, tmp_path, "ledger") as engine:
        with pytest.raises(Exception):
            ensure_schema(engine)
        assert inspect(engine).get_table_names() == []
        # A snapshot for another revision is not used: the migrations build the schema.
        (tmp_path / f"{dialect}.sql").write_text(good.replace(f"revision {head}:", "revision 0001:"))
        ensure_schema(engine)
        assert current_revision(engine) == head
        assert "sale" in inspect(engine).get_table_names()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_processes_creating_the_schema_at_once_all_end_on_it(dialect, tmp_path):
    """An API and an indexer started together on a new database both create the schema: one
    does, the others wait for it and find it made, and none fails."""
    import threading

    with _empty_database(dialect, tmp_path, "ledger") as first:
        url = first.url.render_as_string(hide_password=False)
        engines = [first] + [make_engine(url) for _ in range(3)]
        start = threading.Barrier(len(engines))
        errors: list[BaseException] = []

        def create(engine: Engine) -> None:
            start.wait()
            try:
                ensure_schema(engine)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=create, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert current_revision(first) == head_revision()
        with first.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        for e in engines[1:]:
            e.dispose()
