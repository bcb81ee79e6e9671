"""One writer per ledger: the indexer takes a lock before it writes; a second indexer on
the same ledger stands by and takes over when the first one stops, however it stops.

- PostgreSQL: a session-level advisory lock, held on a connection of its own and keyed by
  the schema, chain id and contract. The server drops it the moment that session ends: the
  holder exiting, even by SIGKILL, closes its socket; a holder whose host vanishes is
  dropped by TCP keepalives (set short on that session) within about half a minute.
- SQLite: an exclusive `flock` on `<ledger file>.lock`, beside the database. The kernel
  drops it when the holder's process ends.

The holder writes who it is where the standby can read it (the lock session's
application_name, the lock file's content), so a standby can say what it waits for.
Before every commit the writer checks it still holds the lock (`check`); if not, it stops
writing and stands by again. The one-transaction commits and the checkpoint make a
takeover exact: the new writer resumes at the checkpoint the old one last committed.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import time
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from indexer.store import LedgerError


class LockLostError(LedgerError):
    """This indexer no longer holds its ledger's lock: another one may be writing."""


class LedgerLock(Protocol):
    what: str

    def try_acquire(self) -> bool: ...
    def holder(self) -> str | None: ...
    def check(self) -> None: ...
    def release(self) -> None: ...


def identity() -> str:
    """Who holds the lock, as a standby will show it."""
    return f"ninety index pid {os.getpid()} on {socket.gethostname()}"


def ledger_lock(engine: Engine, chain_id: int, contract: str) -> LedgerLock | None:
    """The lock guarding this ledger, or None where there is nothing to share (an
    in-memory SQLite database) or no lock we know how to take."""
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        return PgAdvisoryLock(engine, chain_id, contract)
    if backend == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            return None
        path = Path(database).resolve()
        return FileLock(path.with_name(path.name + ".lock"))
    return None


class FileLock:
    """An exclusive flock on a file; its content names the holder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.what = f"lock file {path}"
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        # The file must still be the one at `path` (not one removed after we opened it).
        if not self._same_file(fd):
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{identity()}, since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n".encode(), 0)
        self._fd = fd
        return True

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def holder(self) -> str | None:
        try:
            return self.path.read_text(errors="replace").strip() or None
        except OSError:
            return None

    def check(self) -> None:
        if self._fd is None:
            raise LockLostError(f"this indexer does not hold the {self.what}")
        if not self._same_file(self._fd):
            raise LockLostError(f"the {self.what} was removed or replaced while this indexer held it")

    def release(self) -> None:
        # The file stays: removing it while others wait on it would let two hold "it".
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class PgAdvisoryLock:
    """`pg_try_advisory_lock` on a connection of its own, kept open while writing."""

    def __init__(self, engine: Engine, chain_id: int, contract: str) -> None:
        # Its own engine, without a pool: the lock's session must never serve anything else.
        self._engine = create_engine(
            engine.url, poolclass=NullPool,
            # The holder notices a dead lock session within ~30 s rather than hours.
            connect_args={"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                          "keepalives_count": 3, "connect_timeout": 10,
                          "application_name": identity()[:63]},
        )
        self.chain_id = chain_id
        self.contract = contract.lower()
        self._conn: Connection | None = None
        self._key: int | None = None
        self._held = False
        self.what = f"PostgreSQL advisory lock for chain {chain_id}, contract {self.contract}"

    def _connect(self) -> Connection:
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        # The server side of this session: a holder whose host vanishes is dropped (and its
        # lock with it) after ~25 s of silence instead of the 2-hour default.
        for setting, value in (("tcp_keepalives_idle", 10), ("tcp_keepalives_interval", 5),
                               ("tcp_keepalives_count", 3)):
            conn.execute(text(f"SET {setting} = {value}"))
        if self._key is None:
            schema = conn.execute(text("SELECT current_schema()")).scalar() or ""
            self._key = lock_key(schema, self.chain_id, self.contract)
            self.what = f"PostgreSQL advisory lock {self._key} (schema {schema}, chain {self.chain_id}, " \
                        f"contract {self.contract})"
        return conn

    def try_acquire(self) -> bool:
        if self._conn is None:
            self._conn = self._connect()
        try:
            got = bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
        except Exception:
            self._drop()
            raise
        self._held = got
        return got

    def holder(self) -> str | None:
        if self._conn is None or self._key is None:
            return None
        unsigned = self._key & 0xFFFF_FFFF_FFFF_FFFF
        row = self._conn.execute(text(
            "SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start "
            "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND CAST(l.classid AS bigint) = :hi AND CAST(l.objid AS bigint) = :lo"
        ), {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF}).first()
        if row is None:
            return None
        pid, app, client, since = row
        parts = [app or "an unnamed client", f"server backend {pid}"]
        if client:
            parts.append(f"connected from {client}")
        if since is not None:
            parts.append(f"since {since:%Y-%m-%d %H:%M:%S %Z}".strip())
        return ", ".join(parts)

    def check(self) -> None:
        if self._conn is None or not self._held:
            raise LockLostError(f"this indexer does not hold the {self.what}")
        try:
            self._conn.execute(text("SELECT 1")).scalar()
        except Exception as e:
            self._drop()
            raise LockLostError(f"the {self.what} was lost with its database session "
                                f"({e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None

    def _drop(self) -> None:
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:
                pass

    def release(self) -> None:
        # Unlock first: closing the session releases the lock too, but the server ends the
        # session a moment after the socket closes, and a standby asking at once would be
        # refused.
        if self._conn is not None and self._held:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            except Exception:  # the session is gone already, and the lock with it
                pass
        self._drop()
        self._engine.dispose()


def lock_key(schema: str, chain_id: int, contract: str) -> int:
    """A signed 64-bit advisory-lock key for one ledger: schema, chain and contract."""
    digest = hashlib.sha256(f"ninety-indexer:{schema}:{chain_id}:{contract.lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
