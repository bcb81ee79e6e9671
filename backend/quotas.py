"""Per-wallet upload quotas, and the collection of uploads nobody registered.

An upload pins up to a few hundred MB that stay pinned until someone unpins them, and
signing in is free: so per wallet, uploads in the last 24 hours and bytes pinned but not
yet registered are capped (NINETY_UPLOADS_PER_DAY, NINETY_MAX_UNREGISTERED_BYTES), track
and release uploads together (a release's artwork and metadata count like a track's
audio: both are pinned here, and both are what a throwaway wallet would pile up), and
an upload (a track's or a release's) still unregistered NINETY_UPLOAD_TTL seconds after
it was made is unpinned and forgotten. "Registered" means a row of the ledger's `track`
table with the upload's metadata CID and the upload's wallet as artist.

Everything is counted from the database, so the caps hold across API worker processes.
The count that decides is taken under a per-wallet lock in the transaction that records
the upload (`lock_wallet`, then `check_upload_quota` on the same session), so two
uploads racing in two workers cannot both take the last place; the same check made
early, before anything is decoded, refuses most excess uploads cheaply.

Expiry is judged against what the ledger has indexed: an upload is collected only once
the ledger covers the chain up to its expiry time, so a registration mined in time but
not yet indexed never loses its files.
"""
from __future__ import annotations

import logging
import threading
import time
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterable

from fastapi import FastAPI
from sqlalchemy import Engine, and_, delete, exists, func, literal, or_, select, text
from sqlmodel import Session, SQLModel

import ninety.models  # noqa: F401  (registers the ledger's `track` and `checkpoint` tables)
from backend.errors import ApiError
from backend.models import ArtistProfile, ReleaseUpload, Transcode, Upload  # noqa: F401  (registers the tables read through T below)
from backend.services import Services
from ninety.errors import IpfsError

log = logging.getLogger(__name__)
DAY = 86_400.0
T = SQLModel.metadata.tables


def _unregistered(table: str = "upload") -> Any:
    """Uploads (`upload`, or a release's `release_upload`) with no listing of theirs in the
    ledger (same metadata CID, same artist)."""
    track, upload = T["track"], T[table]
    return ~exists().where(and_(track.c.artist == upload.c.artist, track.c.metadata_cid == upload.c.metadata_cid))


@dataclass(frozen=True)
class Usage:
    uploads_today: int
    oldest_today: float | None
    unregistered_bytes: int
    oldest_unregistered: float | None


def usage(db: Session | Engine, wallet: str, now: float | None = None) -> Usage:
    """What `wallet` has used of its quotas at `now`: track uploads (`upload`, their
    audio's bytes) and release uploads (`release_upload`, their artwork's and metadata's
    bytes) together, since both pin files this server keeps."""
    now = time.time() if now is None else now
    wallet = wallet.lower()
    queries = []
    for table in ("upload", "release_upload"):
        t = T[table]
        queries.append((
            select(func.count(), func.min(t.c.created_at)).where(t.c.artist == wallet, t.c.created_at > now - DAY),
            select(func.coalesce(func.sum(t.c.size), 0), func.min(t.c.created_at)).where(
                t.c.artist == wallet, _unregistered(table))))

    def run(conn: Any) -> Usage:
        count = size = 0
        oldest: list[float] = []
        oldest_pending: list[float] = []
        for today, pending in queries:
            n, first = conn.execute(today).one()
            b, first_pending = conn.execute(pending).one()
            count, size = count + int(n), size + int(b)
            oldest += [first] if first is not None else []
            oldest_pending += [first_pending] if first_pending is not None else []
        return Usage(count, min(oldest, default=None), size, min(oldest_pending, default=None))

    if isinstance(db, Session):
        return run(db)
    with db.connect() as conn:
        return run(conn)


def check_upload_quota(db: Session | Engine, wallet: str, settings: Any, incoming_bytes: int = 0,
                       now: float | None = None) -> None:
    """Refuse (ApiError 429 with Retry-After) an upload of `incoming_bytes` by `wallet`
    that would pass its daily count or its unregistered bytes. Call it with the engine
    before decoding anything, and again on the session that records the upload, after
    `lock_wallet` on it."""
    now = time.time() if now is None else now
    per_day = int(getattr(settings, "uploads_per_day", 0) or 0)
    max_bytes = int(getattr(settings, "max_unregistered_bytes", 0) or 0)
    if not per_day and not max_bytes:
        return
    used = usage(db, wallet, now)
    if per_day and used.uploads_today >= per_day:
        wait = (used.oldest_today or now) + DAY - now
        raise ApiError(429, f"{wallet} has made {used.uploads_today} uploads in the last 24 hours (tracks and releases "
                            "together), this server's limit (NINETY_UPLOADS_PER_DAY); the next is possible in "
                            f"{_span(wait)}",
                       headers={"Retry-After": str(_seconds(wait))})
    if max_bytes and used.unregistered_bytes + max(0, incoming_bytes) > max_bytes:
        ttl = float(getattr(settings, "upload_ttl", DAY))
        wait = (used.oldest_unregistered or now) + ttl - now
        raise ApiError(429, f"{wallet} has {used.unregistered_bytes:,} bytes uploaded but not registered; with "
                            f"{max(0, incoming_bytes):,} more that passes this server's limit of {max_bytes:,} "
                            "(NINETY_MAX_UNREGISTERED_BYTES): register your pending tracks and releases first, or wait "
                            f"until unregistered uploads expire (the oldest in {_span(wait)})",
                       headers={"Retry-After": str(_seconds(wait))})


def lock_wallet(db: Session, wallet: str) -> None:
    """Serialise quota decisions for `wallet` across processes until `db` commits or
    rolls back: a transaction-scoped advisory lock on PostgreSQL; on SQLite, the
    database's write lock, taken now rather than at the first insert."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 0x5A1E_0000_0000 + zlib.crc32(wallet.lower().encode())})
    else:
        # Any write statement takes SQLite's RESERVED lock for the rest of the transaction.
        db.execute(delete(T["upload"]).where(T["upload"].c.id == -1))


def _seconds(wait: float) -> int:
    return max(1, int(wait + 0.999))


def _span(seconds: float) -> str:
    seconds = max(1, int(seconds))
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# ---------------------------------------------------------------- expiry


def ledger_covers_until(engine: Engine, rpc: Any, contract: str) -> float:
    """Unix time up to which every registration on chain is in the ledger: its last
    block's timestamp, or, if that block is the head (a later block will be stamped at
    least now), now; 0 if nothing is indexed yet."""
    with engine.connect() as conn:
        cp = conn.execute(select(T["checkpoint"].c.block_number).where(
            T["checkpoint"].c.contract == contract.lower())).scalar()
    if cp is None or cp < 0:
        return 0.0
    head = rpc.block_number()
    stamped = float(int(rpc.headers([cp])[0]["timestamp"], 16))
    return max(stamped, time.time()) if cp >= head else stamped


# Every column of this server's tables that holds a CID it pinned. A CID is content, so
# two rows of any of these may hold the same one (an avatar downloaded and uploaded again
# as a track's artwork re-encodes to the very same file): a pin may go only when none does.
_PINNED_COLUMNS = {
    "upload": ("metadata_cid", "audio_cid", "preview_cid", "artwork_cid"),
    "release_upload": ("metadata_cid", "artwork_cid"),
    "artist_profile": ("avatar_cid", "profile_cid"),
    "transcode": ("cid",),  # encrypted with a key of its own: listed so that this stays the one rule
}


def referenced(conn: Any, cid: str) -> bool:
    """Whether any row of this server's tables refers to `cid` (see _PINNED_COLUMNS)."""
    for table, columns in _PINNED_COLUMNS.items():
        t = T[table]
        where = [t.c[c] == cid for c in columns]
        if conn.execute(select(literal(1)).select_from(t).where(or_(*where)).limit(1)).first() is not None:
            return True
    return False


def lock_cid(db: Session | Any, cid: str) -> None:
    """Serialise "is `cid` still referenced? then unpin it" against a transaction that
    stores a row referring to `cid`, until `db` commits or rolls back (as lock_wallet:
    an advisory lock on PostgreSQL, the write lock on SQLite). A writer that takes it
    before committing and pins `cid` again after (idempotent) cannot lose its pin to an
    unpin that checked before its commit."""
    dialect = (db.get_bind() if isinstance(db, Session) else db).dialect.name
    if dialect == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 0xC1D0_0000_0000 + zlib.crc32(cid.encode())})
    else:
        db.execute(delete(T["upload"]).where(T["upload"].c.id == -1))


def unpin_unreferenced(engine: Engine, ipfs: Any, cids: Iterable[str]) -> list[str]:
    """Unpin those of `cids` that no row refers to (an upload of a track or a release, an
    artist profile's avatar or JSON, a cached transcode); returns the ones unpinned. The
    check and the unpin hold `lock_cid`."""
    done = []
    for cid in dict.fromkeys(c for c in cids if c):
        with engine.begin() as conn:
            lock_cid(conn, cid)
            if not referenced(conn, cid) and ipfs.unpin(cid):
                done.append(cid)
    return done


def collect_expired_uploads(engine: Engine, ipfs: Any, rpc: Any, contract: str, ttl: float,
                            now: float | None = None, limit: int = 500) -> list[str]:
    """Unpin and forget uploads unregistered `ttl` seconds after they were made (once
    the ledger covers that moment). Returns the metadata CIDs of those forgotten. Safe to
    run from several processes at once; an IPFS outage leaves the rest for next time."""
    now = time.time() if now is None else now
    if not ipfs.ping():  # rows are deleted before their pins: do neither while the node is away
        return []
    cutoff = min(now, ledger_covers_until(engine, rpc, contract)) - ttl
    upload = T["upload"]
    with engine.connect() as conn:
        expired = conn.execute(
            select(upload.c.id, upload.c.metadata_cid, upload.c.audio_cid, upload.c.preview_cid, upload.c.artwork_cid)
            .where(upload.c.created_at < cutoff, _unregistered()).order_by(upload.c.created_at).limit(limit)
        ).all()
    forgotten = []
    for row in expired:
        with engine.begin() as conn:
            # Re-checked at delete time: the track may have been indexed meanwhile.
            gone = conn.execute(delete(upload).where(upload.c.id == row.id, _unregistered())).rowcount
        if not gone:
            continue
        try:
            unpin_unreferenced(engine, ipfs, (row.metadata_cid, row.audio_cid, row.preview_cid, row.artwork_cid))
        except IpfsError as e:
            # The row is gone, so these pins are orphans now: say which, for an operator.
            log.warning("upload %s expired but its files could not be unpinned (%s): %s", row.metadata_cid, e,
                        " ".join((row.metadata_cid, row.audio_cid, row.preview_cid, row.artwork_cid)))
        forgotten.append(row.metadata_cid)
    forgotten += _collect_expired_releases(engine, ipfs, cutoff, limit)
    if forgotten:
        log.info("forgot %d upload(s) unregistered after %.0f s", len(forgotten), ttl)
    return forgotten


def _collect_expired_releases(engine: Engine, ipfs: Any, cutoff: float, limit: int) -> list[str]:
    """Release uploads (POST /api/releases) made before `cutoff` and never registered:
    their rows deleted, their metadata and artwork unpinned unless another upload uses
    them (a release's cover is often its track's)."""
    release = T["release_upload"]
    with engine.connect() as conn:
        expired = conn.execute(select(release.c.id, release.c.metadata_cid, release.c.artwork_cid)
                               .where(release.c.created_at < cutoff, _unregistered("release_upload"))
                               .order_by(release.c.created_at).limit(limit)).all()
    forgotten = []
    for row in expired:
        with engine.begin() as conn:
            gone = conn.execute(delete(release).where(release.c.id == row.id, _unregistered("release_upload"))).rowcount
        if not gone:
            continue
        try:
            unpin_unreferenced(engine, ipfs, (row.metadata_cid, row.artwork_cid))
        except IpfsError as e:
            log.warning("release upload %s expired but its files could not be unpinned (%s): %s", row.metadata_cid, e,
                        f"{row.metadata_cid} {row.artwork_cid}")
        forgotten.append(row.metadata_cid)
    return forgotten


def gc_interval(ttl: float) -> float:
    return min(600.0, max(1.0, ttl / 4))


def install_upload_gc(app: FastAPI, services: Services) -> None:
    """Run `collect_expired_uploads` every few minutes while the server runs (from the
    app's lifespan: not in tests that never start the server)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        stop = threading.Event()
        thread = threading.Thread(target=_gc_loop, args=(services, stop), name="upload-gc", daemon=True)
        thread.start()
        try:
            async with inner(a) as state:
                yield state
        finally:
            stop.set()

    app.router.lifespan_context = lifespan


def _gc_loop(services: Services, stop: threading.Event) -> None:
    ttl = float(services.settings.upload_ttl)
    while not stop.wait(gc_interval(ttl)):
        if services.ipfs is None or services.rpc is None or services.deployment is None:
            continue
        try:
            collect_expired_uploads(services.engine, services.ipfs, services.rpc, services.deployment.address, ttl)
        except Exception:  # never let the thread die: try again next round
            log.exception("collecting expired uploads failed")
