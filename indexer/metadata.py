"""Listing metadata from IPFS: fetched after TrackRegistered or ReleaseRegistered, verified
against its CID.

Separate from the ledger transaction on purpose: an unreachable node or a bad JSON
never blocks or rolls back the ledger; the track is retried later with backoff.

The CID is chosen by whoever registered the track, so it is read as hostile: streamed
from the node and abandoned as soon as it passes MAX_METADATA_BYTES (nothing past the
cap is read), and `ninety index` fetches on a `MetadataWorker`'s own threads, apart
from the loop that indexes events: a CID that hangs until the node's timeout, or a huge
object, delays only its own track's title, never a sale. New registrations are fetched
before retries of old failures, a few at a time, so a batch of hostile CIDs cannot keep
honest tracks waiting for long either.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, and_, func, select, tuple_, update
from sqlmodel import SQLModel

from ninety.errors import CidMismatchError, IpfsError, IpfsUnavailableError
from ninety.ipfs import Ipfs

log = logging.getLogger(__name__)
MAX_METADATA_BYTES = 256 * 1024
MAX_RELEASE_TRACKS = 100  # the contract's MAX_RELEASE_TRACKS
RELEASE = "release"
MAX_ATTEMPTS = 20
FETCH_DEADLINE = 60.0  # seconds for one metadata object, however the node trickles it


class MetadataTooLargeError(ValueError):
    """The object behind a metadata CID is larger than MAX_METADATA_BYTES."""


def _cid(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value.removeprefix("ipfs://").split("/", 1)[0] or None


def parse_metadata(raw: bytes) -> dict[str, Any]:
    """The listing's fields (track columns) of an ERC-721-style metadata JSON with music
    fields: a track's, or a release's (`properties.kind` 'release': no audio, preview or
    duration of its own)."""
    return parse_listing(raw)[0]


def parse_listing(raw: bytes) -> tuple[dict[str, Any], list[int] | None]:
    """(the fields as `parse_metadata` gives them, the release's track ids in order or
    None for a track's metadata). ValueError for metadata that is not usable at all."""
    if len(raw) > MAX_METADATA_BYTES:
        raise MetadataTooLargeError(f"metadata is {len(raw)} bytes, more than {MAX_METADATA_BYTES}")
    try:
        doc = json.loads(raw)
    except RecursionError:
        # Deep nesting ([[[…]]] under the size cap) exhausts the parser's stack: invalid like
        # any other malformed JSON, not an error that stops the fetcher (it would retry the
        # same listing first, forever, and hold up every listing behind it).
        raise ValueError("metadata JSON nests too deeply") from None
    if not isinstance(doc, dict):
        raise ValueError("metadata is not a JSON object")
    props = doc.get("properties") if isinstance(doc.get("properties"), dict) else {}

    def pick(*names: str) -> Any:
        for n in names:
            for source in (doc, props):
                if source.get(n) not in (None, ""):
                    return source[n]
        return None

    title = pick("title", "name")
    if not isinstance(title, str):
        raise ValueError("metadata has no title/name")
    release = props.get("kind") == RELEASE
    duration = None if release else pick("duration")
    fields = {
        "title": title[:300],
        "artist_name": str(pick("artist") or "")[:300] or None,
        "genre": str(pick("genre") or "")[:100] or None,
        "duration": float(duration) if isinstance(duration, (int, float)) else None,
        "artwork_cid": _cid(pick("artwork_cid", "image")),
        "preview_cid": None if release else _cid(pick("preview_cid", "animation_url")),
        "audio_cid": None if release else _cid(pick("audio_cid")),
        "uploaded_by": str(props.get("uploaded_by") or "").lower()[:42] or None,
    }
    return fields, (_release_tracks(props.get("tracks")) if release else None)


def _release_tracks(value: Any) -> list[int]:
    """A release's `properties.tracks`: 1 to MAX_RELEASE_TRACKS track ids (JSON integers)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RELEASE_TRACKS:
        raise ValueError(f"release metadata needs properties.tracks: a list of 1 to {MAX_RELEASE_TRACKS} track ids")
    # Ids past the ledger's 32-bit id column would fail the statement that stores the
    # metadata (and be tried again and again) instead of being judged.
    if not all(isinstance(t, int) and not isinstance(t, bool) and 0 < t < 2**31 for t in value):
        raise ValueError("release metadata: properties.tracks holds something other than track ids")
    return value


def read_capped(ipfs: Ipfs, cid: str, cap: int = MAX_METADATA_BYTES, deadline: float = FETCH_DEADLINE) -> bytes:
    """The bytes of `cid`, verified against it, streamed: MetadataTooLargeError as soon as
    more than `cap` bytes have arrived (the rest is never read)."""
    buf = bytearray()
    started = time.monotonic()
    chunks = ipfs.stream(cid)
    try:
        for chunk in chunks:
            buf += chunk
            if len(buf) > cap:
                raise MetadataTooLargeError(f"metadata is more than {cap:,} bytes; not read further")
            if time.monotonic() - started > deadline:
                raise IpfsError(f"metadata took more than {deadline:g} s to arrive")
    except (IpfsError, ValueError):
        raise
    except Exception as e:  # a read timeout or a reset in the middle of the HTTP body
        raise IpfsUnavailableError(f"reading {cid} from the IPFS node failed ({type(e).__name__})") from e
    finally:
        chunks.close()  # closes the HTTP response: the node stops sending
    return bytes(buf)


def _due(engine: Engine, limit: int, now: float, skip: frozenset[int] | set[int] = frozenset()) -> list[Any]:
    track = SQLModel.metadata.tables["track"]
    stmt = (select(track.c.track_id, track.c.metadata_cid, track.c.metadata_attempts)
            .where(track.c.metadata_status != "ok", track.c.metadata_next_attempt <= now,
                   track.c.metadata_attempts < MAX_ATTEMPTS)
            # Never tried first: a retry of an old failure waits behind new registrations.
            .order_by(track.c.metadata_attempts, track.c.metadata_next_attempt).limit(limit + len(skip)))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [r for r in rows if r.track_id not in skip][:limit]


def _genuine(fields: dict[str, Any], tracks: list[int] | None) -> Any:
    """Genuine: the metadata is of the row's kind and names the row's registrant as its
    uploader; a track's has every file; a release's has its artwork and lists exactly the
    chain's members, in order. A SQL expression, so it is decided against the row's own
    `kind`, `artist` and `release_track` rows in the statement that stores it."""
    track = SQLModel.metadata.tables["track"]
    if not fields.get("uploaded_by"):
        return False
    if tracks is None:
        if not all(fields.get(k) for k in ("audio_cid", "preview_cid", "artwork_cid")):
            return False
        return and_(track.c.kind == "track", track.c.artist == fields["uploaded_by"])
    if not fields.get("artwork_cid"):
        return False
    rt = SQLModel.metadata.tables["release_track"]
    members = select(func.count()).select_from(rt).where(rt.c.release_id == track.c.track_id)
    listed = members.where(tuple_(rt.c.position, rt.c.track_id).in_(list(enumerate(tracks))))
    return and_(track.c.kind == RELEASE, track.c.artist == fields["uploaded_by"],
                members.scalar_subquery() == len(tracks), listed.scalar_subquery() == len(tracks))


def fetch_one(engine: Engine, ipfs: Ipfs, track_id: int, cid: str, attempts: int, now: float | None = None) -> bool:
    """Fetch, check and store one listing's metadata; on failure schedule a retry."""
    track = SQLModel.metadata.tables["track"]
    now = time.time() if now is None else now
    values: dict[str, Any]
    ok = False
    try:
        raw = read_capped(ipfs, cid)  # verified against the CID
        fields, tracks = parse_listing(raw)
        values = {**fields, "metadata_json": raw.decode("utf-8"), "metadata_status": "ok", "metadata_error": None,
                  "genuine": _genuine(fields, tracks)}
        ok = True
    except (IpfsError, CidMismatchError, ValueError, UnicodeDecodeError) as e:
        retry_in = min(3600.0, 2.0 ** attempts)
        if isinstance(e, MetadataTooLargeError):
            retry_in = 3600.0  # a CID names fixed bytes: this will not change
        status = "pending" if isinstance(e, IpfsError) and not isinstance(e, CidMismatchError) else "invalid"
        values = {"metadata_status": status, "metadata_error": str(e)[:500],
                  "metadata_next_attempt": now + retry_in}
        log.warning("metadata of listing %s (%s): %s; retrying in %.0f s", track_id, cid, e, retry_in)
    values["metadata_attempts"] = attempts + 1
    with engine.begin() as conn:
        # Only if the listing is still the one we fetched for (a reorg may have replaced it).
        conn.execute(update(track).where(track.c.track_id == track_id, track.c.metadata_cid == cid).values(**values))
    return ok


def fetch_pending(engine: Engine, ipfs: Ipfs, *, limit: int = 20, now: float | None = None) -> int:
    """Fetch metadata of up to `limit` tracks that need it, one after the other, in the
    caller's thread; returns how many succeeded."""
    now = time.time() if now is None else now
    return sum(fetch_one(engine, ipfs, r.track_id, r.metadata_cid, r.metadata_attempts, now)
               for r in _due(engine, limit, now))


class MetadataWorker:
    """Fetches pending metadata on `concurrency` threads of its own until stopped.
    `wake()` after indexing a TrackRegistered; it also looks every `interval` seconds
    for retries that came due."""

    def __init__(self, engine: Engine, ipfs: Ipfs, *, concurrency: int = 4, interval: float = 1.0) -> None:
        self.engine = engine
        self.ipfs = ipfs
        self.concurrency = concurrency
        self.interval = interval
        self.fetched = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._inflight: dict[int, Future[bool]] = {}
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="metadata")
        self._thread = threading.Thread(target=self._run, name="metadata-dispatch", daemon=True)

    def start(self) -> "MetadataWorker":
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop dispatching; fetches under way finish in the background (each is bounded
        by the node's timeout) and are not waited for beyond `timeout`."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._dispatch()
            except Exception:  # the database may be busy or away: look again later
                log.exception("metadata worker: looking for pending tracks failed")
            self._wake.wait(self.interval)

    def _dispatch(self) -> None:
        for track_id, future in list(self._inflight.items()):
            if future.done():
                del self._inflight[track_id]
                if future.cancelled():
                    continue
                if future.exception() is not None:
                    log.error("metadata of track %s: %r", track_id, future.exception())
                elif future.result():
                    self.fetched += 1
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            return
        for r in _due(self.engine, free, time.time(), skip=set(self._inflight)):
            future = self._pool.submit(fetch_one, self.engine, self.ipfs, r.track_id, r.metadata_cid,
                                       r.metadata_attempts)
            future.add_done_callback(lambda _: self._wake.set())
            self._inflight[r.track_id] = future
