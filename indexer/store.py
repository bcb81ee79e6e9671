"""Writing the ledger: rows, aggregates, recent blocks and the checkpoint, together.

Every `commit` is one database transaction. A reorg's undo and the canonical blocks that
replace it go in the same transaction, so a reader never sees a half-undone ledger and a
crash at any moment leaves either the old state or the new one.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from operator import itemgetter
from typing import Any, Iterable, Sequence

from sqlalchemy import Connection, Engine, Table, and_, delete, or_, select, tuple_, update
from sqlmodel import SQLModel

import ninety.models  # noqa: F401  (registers the tables)
from ninety.errors import NinetyError
from ninety.models.types import U256
from ninety.ledger.aggregates import Deltas, deltas
from ninety.ledger.events import Event
from ninety.ledger.mapping import map_events
from ninety.ledger.registry import AGGREGATES, EVENT_TABLES, INSERT_ORDER, SUMMED
from ninety.ledger.rows import APPLIED, CANCELLED, PENDING, SUPERSEDED, Context, Rows, price_sort

log = logging.getLogger(__name__)
T: dict[str, Table] = SQLModel.metadata.tables  # type: ignore[assignment]
CHUNK = 500
SQLITE_CACHE_KIB = 65_536
# WAL pages after which a commit checkpoints by itself (SQLite's default is 1,000, which a
# backfill step of 10,000 sales passes every time): the checkpointer thread normally keeps
# the WAL short long before, this only bounds it (64 MiB of 4 KiB pages) if it falls behind.
SQLITE_WRITER_CHECKPOINT_PAGES = 16_384


class _Checkpointer:
    """Copies the SQLite WAL back into the database on a thread and connection of its own,
    after each commit (a PASSIVE checkpoint: it never blocks the writer or a reader). The
    writer's own automatic checkpoint, with its fsyncs, took a quarter of a backfill step's
    time on the thread everything else waits for. Durability is unchanged: a commit is in the
    WAL, which survives a crash, before this thread ever looks at it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._due = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="ninety-checkpoint", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._due.set()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stop:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as e:  # the writer's own checkpoints still bound the WAL
                    log.debug("background checkpoint failed: %s", e)
        finally:
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._due.set()
        self._thread.join(timeout=30)



class LedgerError(NinetyError, RuntimeError):
    """The ledger in the database does not fit the chain or the settings."""


class Ledger:
    def __init__(self, engine: Engine, contract: str) -> None:
        self.engine = engine
        self.contract = contract.lower()
        self._splits: dict[str, list[tuple[str, int]]] = {}
        self._artists: dict[int, str] = {}
        self._fee_recipient: str | None = None
        # Started at the first commit (a Ledger that only reads needs none); stopped by
        # `close`, or when this Ledger is collected.
        self._checkpointer: _Checkpointer | None = None

    def close(self) -> None:
        """Stop the background checkpointer (the engine is the caller's)."""
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None

    def _checkpoints(self) -> _Checkpointer | None:
        db = self.engine.url.database
        # A plain file path only (not :memory:, nor a file: URI, which sqlite3 would take as a name).
        plain = bool(db) and db != ":memory:" and not db.startswith("file:") and "uri" not in self.engine.url.query
        if self._checkpointer is None and self.engine.dialect.name == "sqlite" and plain:
            self._checkpointer = _Checkpointer(db)
            weakref.finalize(self, self._checkpointer.close)
        return self._checkpointer

    # ---------------------------------------------------------------- reads

    def checkpoint(self) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(T["checkpoint"]).where(T["checkpoint"].c.contract == self.contract)).mappings().first()
            return dict(row) if row else None

    def recent_blocks(self) -> dict[int, str]:
        with self.engine.connect() as conn:
            return {n: h for n, h in conn.execute(select(T["indexed_block"].c.number, T["indexed_block"].c.hash))}

    def _split_recipients(self, conn: Connection, split_id: str) -> list[tuple[str, int]]:
        if split_id not in self._splits:
            sr = T["split_recipient"]
            rows = conn.execute(
                select(sr.c.recipient, sr.c.share_ppm).where(sr.c.split_id == split_id).order_by(sr.c.position)
            ).all()
            if not rows:
                raise LedgerError(f"split {split_id} is used before it was created: the ledger is incomplete")
            self._splits[split_id] = [(r, int(s)) for r, s in rows]
        return self._splits[split_id]

    def _track_artist(self, conn: Connection, track_id: int) -> str:
        if track_id not in self._artists:
            artist = conn.execute(select(T["track"].c.artist).where(T["track"].c.track_id == track_id)).scalar()
            if artist is None:
                raise LedgerError(f"track {track_id} is sold before it was registered: the ledger is incomplete")
            self._artists[track_id] = artist
        return self._artists[track_id]

    def _current_fee_recipient(self, conn: Connection) -> str:
        if self._fee_recipient is None:
            frc = T["fee_recipient_change"]
            latest = conn.execute(
                select(frc.c.new_recipient).order_by(frc.c.block_number.desc(), frc.c.log_index.desc()).limit(1)
            ).scalar()
            # Before the constructor's FeeRecipientChanged nothing can be sold.
            self._fee_recipient = latest or "0x" + "00" * 20
        return self._fee_recipient

    def _forget_caches(self) -> None:
        self._splits.clear()
        self._artists.clear()
        self._fee_recipient = None

    # ---------------------------------------------------------------- writes

    def init(self, chain_id: int, start_block: int) -> dict[str, Any]:
        """Create the checkpoint for a fresh ledger (just before `start_block`)."""
        existing = self.checkpoint()
        if existing:
            if existing["chain_id"] != chain_id:
                raise LedgerError(
                    f"this database holds the ledger of chain {existing['chain_id']}, not {chain_id}: "
                    "use another NINETY_DB_URL"
                )
            return existing
        row = {"contract": self.contract, "chain_id": chain_id, "start_block": start_block,
               "block_number": start_block - 1, "block_hash": "", "reorgs": 0, "updated_at": time.time()}
        with self.engine.begin() as conn:
            conn.execute(T["checkpoint"].insert(), [row])
        return row

    def commit(
        self,
        events: Sequence[Event],
        *,
        to_block: int,
        to_hash: str,
        block_times: dict[int, int],
        recent: Iterable[dict[str, Any]] = (),
        keep_blocks_from: int = 0,
        rollback_to: int | None = None,
    ) -> Rows:
        """Undo above `rollback_to` (if given), add `events`, record `recent` block headers,
        move the checkpoint to (`to_block`, `to_hash`): all in one transaction."""
        try:
            with self.engine.begin() as conn:
                if conn.dialect.name == "sqlite":
                    # A backfill step updates a dozen indexes of a growing table: with SQLite's
                    # default 2 MB page cache the step spilled and re-read pages (measured:
                    # 100,000 sales inserted in 5.8 s, 3.5 s with this). Per connection, and
                    # only the pages used are allocated.
                    conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
                    if self._checkpoints() is not None:
                        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={SQLITE_WRITER_CHECKPOINT_PAGES}")
                if rollback_to is not None:
                    self._rollback(conn, rollback_to)
                rows = self._insert(conn, events, block_times)
                self._record_blocks(conn, recent, keep_blocks_from)
                values: dict[str, Any] = {"block_number": to_block, "block_hash": to_hash, "updated_at": time.time()}
                if rollback_to is not None:
                    values["reorgs"] = T["checkpoint"].c.reorgs + 1
                conn.execute(update(T["checkpoint"]).where(T["checkpoint"].c.contract == self.contract).values(**values))
            if self._checkpointer is not None:
                self._checkpointer.poke()
            return rows
        except BaseException:
            self._forget_caches()  # they may hold what the rolled-back transaction added
            raise

    def _insert(self, conn: Connection, events: Sequence[Event], block_times: dict[int, int]) -> Rows:
        ctx = Context(
            fee_recipient=self._current_fee_recipient(conn),
            split_recipients=lambda sid: self._split_recipients(conn, sid),
            track_artist=lambda tid: self._track_artist(conn, tid),
        )
        rows = map_events(events, ctx, block_times)
        self._fee_recipient = ctx.fee_recipient
        if events:
            low, high = events[0].block_number, events[-1].block_number
            for table, new in rows.tables.items():
                rows.tables[table] = self._without_existing(conn, table, new, low, high)
        for table in INSERT_ORDER:  # a split (with its recipients) before the tracks using it
            new = rows.tables.get(table)
            if not new:
                continue
            _bulk_insert(conn, table, new)
            if table == "split":
                created = {r["split_id"] for r in new}
                _bulk_insert(conn, "split_recipient", [r for r in rows.split_recipients if r["split_id"] in created])
                for r in new:
                    self._splits.pop(r["split_id"], None)
            elif table == "track" and rows.release_tracks:
                # Members of the releases inserted now (not of replayed ones, already there).
                created = {r["track_id"] for r in new if r["kind"] == "release"}
                members = [r for r in rows.release_tracks if r["release_id"] in created]
                if members:
                    _bulk_insert(conn, "release_track", members)
        for track_id, price, listed in rows.track_state:
            conn.execute(update(T["track"]).where(T["track"].c.track_id == track_id)
                         .values(price=price, listed=listed, price_sort=price_sort(price)))
        for track_id, split_id in rows.split_state:
            conn.execute(update(T["track"]).where(T["track"].c.track_id == track_id).values(split_id=split_id))
        self._close_proposals(conn, rows.proposal_closes)
        for track_id, blocked, reason_cid in rows.block_state:
            conn.execute(update(T["track"]).where(T["track"].c.track_id == track_id)
                         .values(blocked=blocked, block_reason_cid=reason_cid if blocked else None))
        d = deltas(rows.tables, ctx.split_recipients)
        self._apply(conn, d)
        return rows

    @staticmethod
    def _close_proposals(conn: Connection, closes: Iterable[tuple[int, str | None, int, int]]) -> None:
        """A split change or a cancellation ends every proposal of its track still pending
        before it (in chain order, so each is closed by the first one after it). Idempotent."""
        sp = T["split_proposal"]
        for track_id, split_id, block, log_index in closes:
            before = or_(sp.c.block_number < block, and_(sp.c.block_number == block, sp.c.log_index < log_index))
            base = (sp.c.track_id == track_id, sp.c.status == PENDING, before)
            if split_id is None:
                conn.execute(update(sp).where(*base).values(status=CANCELLED))
                continue
            conn.execute(update(sp).where(*base, sp.c.split_id == split_id).values(status=APPLIED))
            conn.execute(update(sp).where(*base, sp.c.split_id != split_id).values(status=SUPERSEDED))

    def _without_existing(self, conn: Connection, table: str, new: list[dict[str, Any]], low: int, high: int) -> list[dict[str, Any]]:
        """Drop rows already in the ledger: replaying indexed blocks changes nothing."""
        if not new:
            return new
        t = T[table]
        have = set(conn.execute(select(t.c.tx_hash, t.c.log_index).where(t.c.block_number.between(low, high))).all())
        return [r for r in new if (r["tx_hash"], r["log_index"]) not in have] if have else new

    def _apply(self, conn: Connection, d: Deltas) -> None:
        for a in AGGREGATES:
            self._add(conn, a.table, a.keys, a.columns, d[a.table])
        # The catalog orders by sales: the count is kept on the track row too.
        track = T["track"]
        for (track_id, _token), (count, *_rest) in d["track_stats"].items():
            if count:
                conn.execute(update(track).where(track.c.track_id == track_id).values(sales=track.c.sales + count))

    @staticmethod
    def _add(conn: Connection, table: str, keys: tuple[str, ...], cols: tuple[str, ...],
             changes: dict[Any, list[int]]) -> None:
        """Add `changes` to the aggregate rows (read, add, write: SQLite stores these as
        text, so the arithmetic is done here, exactly, in Python)."""
        t = T[table]
        items = [(k, v) for k, v in changes.items() if any(v)]
        key_cols = [t.c[k] for k in keys]
        for i in range(0, len(items), CHUNK):
            chunk = dict(items[i : i + CHUNK])
            existing = {
                tuple(row[:len(keys)]): list(row[len(keys):])
                for row in conn.execute(select(*key_cols, *[t.c[c] for c in cols]).where(tuple_(*key_cols).in_(list(chunk))))
            }
            inserts = []
            for key, delta in chunk.items():
                if key in existing:
                    values = {c: int(old) + dv for c, old, dv in zip(cols, existing[key], delta)}
                    if any(v < 0 for v in values.values()):
                        raise LedgerError(f"{table} {key} would go negative: {values}")
                    where = [kc == kv for kc, kv in zip(key_cols, key)]
                    if any(values.values()):
                        conn.execute(update(t).where(*where).values(**values))
                    else:  # back to nothing (a reorg undid it): no row, as if never there
                        conn.execute(delete(t).where(*where))
                else:
                    if any(v < 0 for v in delta):
                        raise LedgerError(f"{table} {key} would go negative: {delta}")
                    inserts.append({**dict(zip(keys, key)), **dict(zip(cols, delta))})
            if inserts:
                conn.execute(t.insert(), inserts)

    def _record_blocks(self, conn: Connection, headers: Iterable[dict[str, Any]], keep_from: int) -> None:
        ib = T["indexed_block"]
        rows = [{"number": int(h["number"], 16), "hash": h["hash"].lower(), "parent_hash": h["parentHash"].lower(),
                 "timestamp": int(h["timestamp"], 16)} for h in headers]
        if rows:
            conn.execute(delete(ib).where(ib.c.number.in_([r["number"] for r in rows])))
            conn.execute(ib.insert(), rows)
        conn.execute(delete(ib).where(ib.c.number < keep_from))

    def _rollback(self, conn: Connection, ancestor: int) -> None:
        """Remove every row above block `ancestor` and what it added to the aggregates."""
        self._forget_caches()
        above = {name: conn.execute(select(T[name]).where(T[name].c.block_number > ancestor)).mappings().all()
                 for name in SUMMED}
        d = deltas(above, lambda sid: self._split_recipients(conn, sid), sign=-1)
        self._apply(conn, d)
        tu, tb, tsc, sp = T["track_update"], T["track_block"], T["track_split_change"], T["split_proposal"]
        spc = T["split_proposal_cancellation"]
        touched = {r[0] for r in conn.execute(select(tu.c.track_id).where(tu.c.block_number > ancestor))}
        resplit = {r[0] for r in conn.execute(select(tsc.c.track_id).where(tsc.c.block_number > ancestor))}
        resplit |= {r[0] for r in conn.execute(select(spc.c.track_id).where(spc.c.block_number > ancestor))}
        reblocked = {r[0] for r in conn.execute(select(tb.c.track_id).where(tb.c.block_number > ancestor))}
        orphan_splits = [r[0] for r in conn.execute(select(T["split"].c.split_id).where(T["split"].c.block_number > ancestor))]
        # A release's members go before it (they reference its row).
        track, rt = T["track"], T["release_track"]
        conn.execute(delete(rt).where(rt.c.release_id.in_(select(track.c.track_id).where(track.c.block_number > ancestor))))
        for name in EVENT_TABLES:
            conn.execute(delete(T[name]).where(T[name].c.block_number > ancestor))
        if orphan_splits:
            conn.execute(delete(T["split_recipient"]).where(T["split_recipient"].c.split_id.in_(orphan_splits)))
        # Tracks registered before the fork point go back to their last surviving state.
        for tid in touched:
            reg = conn.execute(select(track.c.registered_price).where(track.c.track_id == tid)).first()
            if reg is None:
                continue
            state = {"price": int(reg[0]), "listed": True}
            last = conn.execute(select(tu.c.price, tu.c.listed).where(tu.c.track_id == tid)
                                .order_by(tu.c.block_number.desc(), tu.c.log_index.desc()).limit(1)).first()
            if last is not None:
                state = {"price": int(last[0]), "listed": bool(last[1])}
            conn.execute(update(track).where(track.c.track_id == tid).values(**state, price_sort=price_sort(state["price"])))
        for tid in resplit:
            reg = conn.execute(select(track.c.registered_split_id).where(track.c.track_id == tid)).first()
            if reg is None:
                continue
            last = conn.execute(select(tsc.c.split_id, tsc.c.block_number, tsc.c.log_index).where(tsc.c.track_id == tid)
                                .order_by(tsc.c.block_number.desc(), tsc.c.log_index.desc()).limit(1)).first()
            conn.execute(update(track).where(track.c.track_id == tid).values(split_id=last[0] if last else reg[0]))
            # Proposals after the last surviving change or cancellation were closed by an
            # undone one: open again.
            cancel = conn.execute(select(spc.c.block_number, spc.c.log_index).where(spc.c.track_id == tid)
                                  .order_by(spc.c.block_number.desc(), spc.c.log_index.desc()).limit(1)).first()
            closed = max([(int(r[-2]), int(r[-1])) for r in (last, cancel) if r is not None], default=None)
            reopened = [sp.c.track_id == tid, sp.c.status != PENDING]
            if closed is not None:
                reopened.append(or_(sp.c.block_number > closed[0], and_(sp.c.block_number == closed[0],
                                                                        sp.c.log_index > closed[1])))
            conn.execute(update(sp).where(*reopened).values(status=PENDING))
        for tid in reblocked:
            last = conn.execute(select(tb.c.blocked, tb.c.reason_cid).where(tb.c.track_id == tid)
                                .order_by(tb.c.block_number.desc(), tb.c.log_index.desc()).limit(1)).first()
            blocked = bool(last[0]) if last is not None else False
            conn.execute(update(track).where(track.c.track_id == tid)
                         .values(blocked=blocked, block_reason_cid=last[1] if blocked and last is not None else None))
        conn.execute(delete(T["indexed_block"]).where(T["indexed_block"].c.number > ancestor))
        self._forget_caches()


def _bulk_insert(conn: Connection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` on the transaction's own DBAPI connection: COPY on PostgreSQL, one
    prepared executemany on SQLite. SQLAlchemy's per-row parameter processing cost more than
    the inserts themselves in a backfill. Values are converted as the column types would:
    uint256 columns as decimal text on SQLite (exact; NUMERIC(78,0) on PostgreSQL)."""
    if not rows:
        return
    t = T[table]
    first = rows[0].keys()
    columns = list(first)
    # Rows of one table normally share their keys; compared as sets, not by count, so two
    # rows with as many but different keys cannot put a value under another column.
    uneven = any(r.keys() != first for r in rows)
    if uneven:
        columns = list(dict.fromkeys(c for r in rows for c in r))
    # The columns' own defaults, as SQLAlchemy's insert would fill them in (a track's
    # metadata status, say); only constant ones exist on these tables.
    defaults = {c.name: c.default.arg for c in t.c if c.name not in columns and c.default is not None}
    if not all(c.default.is_scalar for c in t.c if c.name in defaults):
        conn.execute(t.insert(), list(rows))
        return
    sqlite = conn.dialect.name == "sqlite"
    if uneven:
        tuples = [tuple(r.get(c) for c in columns) for r in rows]
    else:  # in C: a comprehension per row cost more than SQLite's own insert
        get = itemgetter(*columns)
        tuples = list(map(get, rows)) if len(columns) > 1 else [(get(r),) for r in rows]

    def exact(v: Any) -> Any:
        return None if v is None else str(int(v)) if sqlite else int(v)

    for i, c in enumerate(columns):
        if not isinstance(t.c[c].type, U256):
            continue
        column = [v[i] for v in tuples]
        # Plain ints go as they are: SQLite's text affinity stores an integer as its decimal
        # text, as str() would, but binds only 64 bits; PostgreSQL takes any int.
        if set(map(type, column)) == {int} and (not sqlite or -(1 << 63) <= min(column) <= max(column) < 1 << 63):
            continue
        tuples = [(*v[:i], exact(v[i]), *v[i + 1:]) for v in tuples]
    tail = tuple(defaults.values())
    if tail:
        tuples = [(*v, *tail) for v in tuples]
    written = [*columns, *defaults]
    names = ", ".join(f'"{c}"' for c in written)
    raw = conn.connection.driver_connection
    assert raw is not None
    if sqlite:
        marks = ", ".join("?" * len(written))
        raw.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', tuples)
        return
    with raw.cursor() as cur, cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for v in tuples:
            copy.write_row(v)
