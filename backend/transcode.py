"""Downloads in other formats: FLAC, MP3, Ogg Vorbis and AAC made from the original on
first request, tagged, and cached encrypted at rest like the original.

How a format is made: the original is decrypted to a private temporary file and encoded
in a sandboxed child (`backend.sandbox`: memory, CPU, output size and wall-clock limits)
by real codec libraries: PyAV (FFmpeg: its FLAC encoder, LAME for MP3 at 320 kbit/s CBR,
its native AAC-LC encoder at 256 kbit/s in an .m4a) and libsndfile (libvorbis, quality
6, for Ogg Vorbis: the FFmpeg in PyAV's wheels has no libvorbis, and FFmpeg's own Vorbis
encoder is experimental). That untagged encode is kept (the format's base file); the
tags are then written into a copy of it with mutagen, in another sandboxed child (title,
artist's display name, album and track number when a genuine release holds the track,
artwork). Each file is encrypted with a key of its own (backend/crypto.py, wrapped by the
master key), pinned to IPFS and recorded in table `transcode`, one row per upload and
format ("mp3") and one per upload and base file ("mp3-untagged"); later requests stream
from there, Range supported. When the tags change (the artist renames itself, a release
appears), the next request only writes the new tags into the base file: no decode, no
encode (a rename must not cost an encode of every track of the artist). The children's
jobs are in backend/transcode_jobs.py, which imports none of this module's database layer.

The work happens in "$TMPDIR/ninety-transcode-<pid>-…" (the decrypted original, the
plaintext output): an API process starting removes those of processes that are gone, and
the sandbox child dies with its parent.

Cost bounds: the original was size- and duration-checked at upload, and the child
refuses again past NINETY_MAX_AUDIO_SECONDS of decoded audio; lossy outputs are at most
stereo and 48 kHz; an output past NINETY_TRANSCODE_MAX_BYTES is refused. At most
NINETY_TRANSCODE_WORKERS encodes run at once per API process, NINETY_TRANSCODE_QUEUE
more wait; a request beyond that is answered 503 with Retry-After. Concurrent requests
for the same file wait for one encode (single flight), whose result they all stream. A
request waits at most NINETY_TRANSCODE_WAIT seconds (then 503 with Retry-After: the encode
goes on, and the next request streams it from the cache), and at most
NINETY_TRANSCODE_WAITERS requests wait at once: each holds one of the API's threads. A
wallet starts at most NINETY_TRANSCODE_PER_WALLET conversions running or queued, a client
address NINETY_TRANSCODE_PER_CLIENT (429 past either), and starting one counts against
the `transcode` rate limit. A refused conversion is remembered (REFUSAL_TTL) and answered
422 without work.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from backend import sandbox
from backend.catalog import genuine_releases
from backend.crypto import CHUNK_SIZE, decrypt_range, encrypt_file, new_key
from backend.errors import ApiError
from backend.models import Transcode
from backend.names import names_for
from backend.sandbox import Refused

log = logging.getLogger(__name__)
T = SQLModel.metadata.tables


@dataclass(frozen=True)
class Format:
    ext: str
    content_type: str
    lossy: bool


FORMATS: dict[str, Format] = {
    "flac": Format("flac", "audio/flac", False),
    "mp3": Format("mp3", "audio/mpeg", True),
    "ogg": Format("ogg", "audio/ogg", True),
    "aac": Format("m4a", "audio/mp4", True),
}
# Bumped when the encoding or the tagging changes: cached files made before are made again.
RECIPE = 1
RETRY_AFTER = 15  # seconds: about one encode of a long track
DEFAULT_WAIT = 5.0  # a request waits at most this long for its encode (NINETY_TRANSCODE_WAIT)
JOB_SECONDS = 600  # the sandbox's CPU and wall-clock limits for one encode
# A conversion's private directory in the temporary directory: "ninety-transcode-<pid>-…",
# the pid of the API process working in it (see sweep_leftovers).
WORK_PREFIX = "ninety-transcode-"


# ---------------------------------------------------------------- the bounded worker

class Busy(Exception):
    """No answer now: every conversion place is taken (`making` False), or this request's
    file is being made and the request stopped waiting for it (`making` True: the
    conversion goes on and is cached, a later request gets it)."""

    def __init__(self, retry_after: int, making: bool = False) -> None:
        super().__init__(f"the file is being made; retry in {retry_after} s" if making else
                         f"the server is making other downloads; retry in {retry_after} s")
        self.retry_after = retry_after
        self.making = making


class Limited(Exception):
    """The wallet or client address asking already has its cap of conversions running or
    queued (HTTP 429)."""

    def __init__(self, who: str, cap: int, setting: str) -> None:
        super().__init__(f"{who} already has {cap} conversion{'' if cap == 1 else 's'} running or waiting, this "
                         f"server's limit ({setting}); download it once it is made, then ask for the next")
        self.retry_after = RETRY_AFTER


class Transcoder:
    """At most `workers` jobs at once, `queue` more waiting, one job per key: a request
    for a key already being made joins that job instead of starting its own. A wallet
    starts at most `per_wallet` jobs running or queued at once, a client address at most
    `per_client` (0: no cap): the global bound alone let one wallet (with a free track,
    four formats each) take every place and leave paying buyers a 503. The counts are
    this process's, like the bounds (backend/stream_slots.py's semantics).

    A request waits for its job at most `wait` seconds, and at most `waiters` requests
    wait at once: the routes are synchronous, so each waiting request holds one of the
    API's worker threads (anyio's 40, shared by every synchronous route); joiners take no
    queue place, so without this bound ~40 requests for one file would stall the API. A
    request that finds no waiting place, or whose wait ends first, is told Busy(making=True)
    and its job goes on."""

    def __init__(self, workers: int, queue: int, waiters: int = 8, per_wallet: int = 0, per_client: int = 0) -> None:
        self.workers, self.queue, self.waiters = workers, queue, waiters
        self.per_wallet, self.per_client = max(0, per_wallet), max(0, per_client)
        self._owners: dict[str, int] = {}  # "wallet:0x…" / "client:…" -> its jobs running or queued
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="transcode")
        # Reentrant: a job already done when its callback is added runs the callback at once,
        # in this thread, under the lock.
        self._lock = threading.RLock()
        self._running: dict[Any, Future[Any]] = {}
        self._waiting = 0

    def run(self, key: Any, job: Callable[[], Any], wait: float = DEFAULT_WAIT, wallet: str | None = None,
            client: str | None = None) -> tuple[Any, bool]:
        """`job()`'s result and whether this call started it (False: it joined one).
        `wallet` and `client` are who asks: a job they start counts against their caps
        until it ends; joining one costs no conversion and counts against nothing."""
        with self._lock:
            future = self._running.get(key)
            started = future is None
            if future is None:
                owners = self._owners_within_caps(wallet, client)
                if len(self._running) >= self.workers + self.queue:
                    raise Busy(RETRY_AFTER)
                future = self._pool.submit(job)
                self._running[key] = future
                for owner in owners:
                    self._owners[owner] = self._owners.get(owner, 0) + 1
                future.add_done_callback(lambda _f: self._forget(key, owners))
            if not future.done():
                if self._waiting >= self.waiters:
                    raise Busy(RETRY_AFTER, making=True)
                self._waiting += 1
                waiting = True
            else:
                waiting = False
        try:
            return future.result(timeout=max(0.0, wait)), started
        except FutureTimeout:
            # The job goes on (and is cached when done); this request stops waiting for it.
            raise Busy(RETRY_AFTER, making=True) from None
        finally:
            if waiting:
                with self._lock:
                    self._waiting -= 1

    def _owners_within_caps(self, wallet: str | None, client: str | None) -> tuple[str, ...]:
        """The counters a new job of `wallet` at `client` takes; Limited if one is full.
        Called under the lock."""
        checks = []
        if wallet is not None:
            checks.append((f"wallet:{wallet.lower()}", self.per_wallet, "your wallet", "NINETY_TRANSCODE_PER_WALLET"))
        if client is not None:
            checks.append((f"client:{client}", self.per_client, "your address", "NINETY_TRANSCODE_PER_CLIENT"))
        for owner, cap, who, setting in checks:
            if cap and self._owners.get(owner, 0) >= cap:
                raise Limited(who, cap, setting)
        return tuple(owner for owner, cap, _, _ in checks if cap)

    def _forget(self, key: Any, owners: tuple[str, ...] = ()) -> None:
        with self._lock:
            self._running.pop(key, None)
            for owner in owners:
                left = self._owners.get(owner, 0) - 1
                if left > 0:
                    self._owners[owner] = left
                else:
                    self._owners.pop(owner, None)

    def running(self, key: Any) -> bool:
        """Whether a job for `key` runs or is queued now."""
        with self._lock:
            return key in self._running

    def held(self, wallet: str | None = None, client: str | None = None) -> int:
        """How many jobs `wallet` (or `client`) started that run or are queued now."""
        owner = f"wallet:{wallet.lower()}" if wallet is not None else f"client:{client}"
        with self._lock:
            return self._owners.get(owner, 0)

    def pending(self) -> int:
        with self._lock:
            return len(self._running)

    def waiting(self) -> int:
        """Requests waiting for a job now (each holding a thread)."""
        with self._lock:
            return self._waiting


_transcoders: dict[tuple[int, int, int, int, int], Transcoder] = {}
_transcoders_lock = threading.Lock()


def transcoder(settings: Any) -> Transcoder:
    """This process's transcoder for the configured bounds."""
    key = (settings.transcode_workers, settings.transcode_queue, settings.transcode_waiters,
           settings.transcode_per_wallet, settings.transcode_per_client)
    with _transcoders_lock:
        if key not in _transcoders:
            _transcoders[key] = Transcoder(*key)
        return _transcoders[key]


# ---------------------------------------------------------------- making and caching

def untagged(fmt: str) -> str:
    """The `transcode.format` of a format's untagged base file."""
    return f"{fmt}-untagged"


# What a base file was made with: the recipe only (a new recipe makes it again).
BASE_DIGEST = hashlib.sha256(json.dumps(["untagged", RECIPE]).encode()).hexdigest()


def tags_digest(tags: dict[str, Any], artwork_cid: str | None) -> str:
    """What the cached file's tags were made from: when it changes, the file is made again."""
    return hashlib.sha256(json.dumps([RECIPE, tags, artwork_cid], sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Made:
    cid: str
    size: int
    chunk_size: int
    nonce_prefix: str
    wrapped_key: str
    duration: float


def _work_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"{WORK_PREFIX}{os.getpid()}-")


def _decrypt_to(ipfs: Any, key: bytes, cid: str, nonce_prefix: str, size: int, chunk_size: int, path: Path) -> None:
    with open(path, "wb") as f:
        if size:
            for chunk in decrypt_range(lambda off, n: ipfs.cat(cid, offset=off, length=n), key,
                                       bytes.fromhex(nonce_prefix), size, 0, size - 1, chunk_size):
                f.write(chunk)


def _keep(services: Any, work: Path, path: Path, duration: float) -> Made:
    """Encrypt `path` under a new key and pin it."""
    size = path.stat().st_size
    file_key = new_key()
    encrypted = work / "out.enc"
    with open(path, "rb") as plain, open(encrypted, "wb") as out:
        prefix = encrypt_file(plain, out, size, file_key)
    cid = services.ipfs.add_file(encrypted)
    return Made(cid, size, CHUNK_SIZE, prefix.hex(), services.master_key.wrap(file_key), duration)


def _sandboxed(job: str, upload_id: int, fmt: str, settings: Any, output: Path, **kwargs: Any) -> Any:
    """Run a job writing `output`; a refusal (or an output past the size cap) is remembered."""
    try:
        done = sandbox.run(job, fmt=fmt, output=settings.transcode_max_bytes, wall=float(JOB_SECONDS),
                           cpu=JOB_SECONDS, **kwargs)
    except Refused as e:
        _remember_refusal(upload_id, fmt, settings, f"this track cannot be made into {fmt}: {e}")
        raise _cannot(fmt, f"this track cannot be made into {fmt}: {e}") from e
    if output.stat().st_size > settings.transcode_max_bytes:
        _remember_refusal(upload_id, fmt, settings, f"the {fmt} file would be larger than this server's limit")
        raise _cannot(fmt, f"the {fmt} file would be larger than this server's limit")
    return done


def make(services: Any, upload: Any, fmt: str) -> Made:
    """Decrypt the original, encode (untagged), encrypt and pin: the format's base file,
    which `retag` tags."""
    ipfs, settings = services.ipfs, services.settings
    with _work_dir() as tmp:
        work = Path(tmp)
        src = work / f"original.{upload.file_name.rsplit('.', 1)[-1].lower()[:8] or 'audio'}"
        _decrypt_to(ipfs, services.master_key.unwrap(upload.wrapped_key), upload.audio_cid, upload.nonce_prefix,
                    upload.size, upload.chunk_size, src)
        dst = work / f"out.{FORMATS[fmt].ext}"
        started = time.monotonic()
        done = _sandboxed("backend.transcode_jobs:encode_job", upload.id, fmt, settings, dst, src=str(src),
                          dst=str(dst), max_seconds=settings.max_audio_seconds, tags=None, artwork=None)
        log.info("made %s of upload %s in %.2f s (%d bytes)", fmt, upload.id, time.monotonic() - started,
                 dst.stat().st_size)
        return _keep(services, work, dst, done["frames"] / done["rate"] if done["rate"] else 0.0)


def retag(services: Any, upload: Any, base: Any, fmt: str, tags: dict[str, Any]) -> Made:
    """The base file of `fmt` with `tags` and the artwork written in (mutagen, in the
    sandbox: no decode, no encode), encrypted under a key of its own and pinned."""
    ipfs, settings = services.ipfs, services.settings
    with _work_dir() as tmp:
        work = Path(tmp)
        dst = work / f"out.{FORMATS[fmt].ext}"
        _decrypt_to(ipfs, services.master_key.unwrap(base["wrapped_key"]), base["cid"], base["nonce_prefix"],
                    base["size"], base["chunk_size"], dst)
        artwork = None
        if upload.artwork_cid:
            artwork = work / "artwork"
            artwork.write_bytes(ipfs.cat(upload.artwork_cid))
        started = time.monotonic()
        _sandboxed("backend.transcode_jobs:tag_job", upload.id, fmt, settings, dst, path=str(dst), tags=tags,
                   artwork=str(artwork) if artwork else None)
        log.info("tagged %s of upload %s in %.2f s", fmt, upload.id, time.monotonic() - started)
        return _keep(services, work, dst, base["duration"])


def sweep_leftovers(root: str | Path | None = None) -> int:
    """Remove the work directories of API processes that died mid-conversion (killed,
    crashed, out of memory): each holds the decrypted original, a buyer-only file kept
    encrypted everywhere else, and nothing else would ever remove it. Called when the API
    starts. Only directories with this module's prefix, owned by this user (not links),
    whose process is gone, are removed; this process's own pid counts as gone while it
    has not converted anything yet (after a restart in a container, the new process often
    has the old one's pid). Directories named before the pid was part of the name are
    removed once older than any conversion can run. How many were removed."""
    base = Path(root if root is not None else tempfile.gettempdir())
    named = re.compile(re.escape(WORK_PREFIX) + r"(\d{1,10})-.+")
    removed = 0
    try:
        with os.scandir(base) as found:
            entries = list(found)
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(WORK_PREFIX):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            match = named.fullmatch(entry.name)
            if match is not None:
                if _alive(int(match.group(1))):
                    continue
            elif time.time() - entry.stat(follow_symlinks=False).st_mtime < 2 * JOB_SECONDS:
                continue
            shutil.rmtree(entry.path)
            removed += 1
        except OSError as e:
            log.warning("could not remove conversion leftovers %s: %s", entry.path, e)
    if removed:
        log.warning("removed %d conversion work directories left by a stopped API process", removed)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        with _transcoders_lock:
            return bool(_transcoders)  # converting already: its directories are in use
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OverflowError:  # no such pid can exist
        return False
    except PermissionError:  # another user's process
        return True
    return True


def track_tags(db: Any, row: Any) -> dict[str, Any]:
    """The tags of a track's downloads: its title, its artist's display name
    (backend/names.py), and the first genuine release holding it (smallest id) as album
    with the track's position in it (from 1)."""
    tags: dict[str, Any] = {"title": (row["title"] or f"Track {row['track_id']}")[:200],
                            "artist": names_for(db, [row["artist"]]).get(row["artist"].lower())}
    releases = genuine_releases(db, row["track_id"])
    if releases:
        track, rt = T["track"], T["release_track"]
        album = db.execute(select(track.c.title).where(track.c.track_id == releases[0])).scalar()
        position = db.execute(select(rt.c.position).where(rt.c.release_id == releases[0],
                                                          rt.c.track_id == row["track_id"])).scalar()
        if album and position is not None:
            tags["album"], tags["track_number"] = album[:200], int(position) + 1
    return tags


def _cached(conn: Any, upload_id: int, fmt: str) -> Any:
    t = Transcode.__table__  # type: ignore[attr-defined]
    return conn.execute(select(t).where(t.c.upload_id == upload_id, t.c.format == fmt)).mappings().first()


def cached(db: Any, upload_id: int, fmt: str, digest: str) -> Any:
    """The cached file of an upload in `fmt`, if it was made with these tags."""
    row = _cached(db, upload_id, fmt)
    return row if row is not None and row["tags_sha256"] == digest else None


def obtain(services: Any, upload: Any, fmt: str, tags: dict[str, Any], wallet: str | None = None,
           client: str | None = None) -> tuple[Any, str]:
    """The cached file of `upload` in `fmt` with `tags`, made now if needed, and how it was
    had: "made" (this request's encode), "retagged" (this request's new tags on the
    format's base file, no encode), "joined" (another request's job, running when this
    one came) or "cached" (found made). Raises Busy when the queue is full, or when
    the file is not made within NINETY_TRANSCODE_WAIT seconds (it goes on being made);
    Limited when `wallet` or `client` has its conversions running; ApiError 429 past the
    `transcode` rate limit (counted only for requests that would start a conversion);
    ApiError 422 when the conversion is refused, or was within REFUSAL_TTL."""
    digest = tags_digest(tags, upload.artwork_cid)
    settings = services.settings
    refused = refusal(upload.id, fmt, settings)
    if refused is not None:  # refused before: answered without redoing the work
        raise _cannot(fmt, refused)
    worker = transcoder(settings)
    key = (upload.id, fmt, digest)
    if not worker.running(key):
        _count_conversion(services, wallet, client)

    def job() -> tuple[Any, str]:
        # Another API process (or a request just before) may have made it meanwhile.
        with services.engine.connect() as conn:
            row = cached(conn, upload.id, fmt, digest)
            base = cached(conn, upload.id, untagged(fmt), BASE_DIGEST)
        if row is not None:
            return row, "cached"
        how = "retagged"  # only the tags changed (a rename, a release, new artwork): no encode
        if base is None:
            base = _store(services, upload.id, untagged(fmt), BASE_DIGEST, make(services, upload, fmt))
            how = "made"
        return _store(services, upload.id, fmt, digest, retag(services, upload, base, fmt, tags)), how

    (row, how), started = worker.run(key, job, wait=settings.transcode_wait, wallet=wallet, client=client)
    return row, how if started else "joined"


# Refused conversions (too long, too large, past the sandbox's CPU, memory or time limit),
# remembered per (upload, format, RECIPE, the limits): the expensive refusals are exactly the
# ones that run until a limit, so without this every retry redid the whole decode and
# encode. Not per tags: a rename does not make the audio shorter. Forgotten after
# REFUSAL_TTL (a wall-clock refusal may come from a busy machine) or when RECIPE or a limit
# changes (they are part of the key); per process, at most REFUSALS_MAX entries.
REFUSAL_TTL = 3600.0
REFUSALS_MAX = 10_000
_refusals: OrderedDict[tuple[Any, ...], tuple[float, str]] = OrderedDict()
_refusals_lock = threading.Lock()


def _refusal_key(upload_id: int, fmt: str, settings: Any) -> tuple[Any, ...]:
    return (upload_id, fmt, RECIPE, settings.transcode_max_bytes, settings.max_audio_seconds)


def refusal(upload_id: int, fmt: str, settings: Any) -> str | None:
    """Why this conversion was refused, if it was within REFUSAL_TTL."""
    key = _refusal_key(upload_id, fmt, settings)
    with _refusals_lock:
        found = _refusals.get(key)
        if found is None:
            return None
        if found[0] < time.monotonic():
            del _refusals[key]
            return None
        return found[1]


def _remember_refusal(upload_id: int, fmt: str, settings: Any, detail: str) -> None:
    with _refusals_lock:
        _refusals[_refusal_key(upload_id, fmt, settings)] = (time.monotonic() + REFUSAL_TTL, detail)
        _refusals.move_to_end(_refusal_key(upload_id, fmt, settings))
        while len(_refusals) > REFUSALS_MAX:
            _refusals.popitem(last=False)


def _cannot(fmt: str, detail: str) -> ApiError:
    return ApiError(422, detail, title="Cannot convert")


def _count_conversion(services: Any, wallet: str | None, client: str | None) -> None:
    """Count a conversion about to start against the `transcode` rate limit
    (NINETY_RATE_LIMIT_TRANSCODE), per wallet and per client address: the caps bound what
    runs at once, this how often one asks. 429 past it."""
    limits = getattr(services, "rate_limits", None)
    if limits is None or not limits.enabled:
        return
    for identity in ((f"wallet:{wallet.lower()}",) if wallet else ()) + ((f"client:{client}",) if client else ()):
        try:
            refusal = limits.hit("transcode", identity)
        except Exception:  # the counters' store is down: serve rather than refuse everyone (as the middleware does)
            log.exception("rate limit storage failed; letting the conversion through")
            return
        if refusal is not None:
            raise ApiError(429, f"too many conversions to other formats asked from your "
                                f"{'wallet' if identity.startswith('wallet:') else 'address'}; try again in "
                                f"{refusal.retry_after} s", headers={"Retry-After": str(refusal.retry_after)})


def _store(services: Any, upload_id: int, fmt: str, digest: str, made: Made) -> Any:
    """Record the made file, replacing one made with other tags (whose pin is dropped).
    Two processes making the same file: the first row stays, the second's pin goes."""
    t = Transcode.__table__  # type: ignore[attr-defined]
    values = {"cid": made.cid, "size": made.size, "chunk_size": made.chunk_size, "nonce_prefix": made.nonce_prefix,
              "wrapped_key": made.wrapped_key, "tags_sha256": digest, "duration": made.duration,
              "created_at": time.time()}
    old_cid = None
    try:
        with services.engine.begin() as conn:
            old = _cached(conn, upload_id, fmt)
            if old is None:
                conn.execute(insert(t).values(upload_id=upload_id, format=fmt, **values))
            elif old["tags_sha256"] != digest:
                conn.execute(update(t).where(t.c.id == old["id"]).values(**values))
                old_cid = old["cid"]
            else:  # made meanwhile by another process with the same tags
                old_cid = made.cid
    except IntegrityError:  # inserted meanwhile by another process
        old_cid = made.cid
    if old_cid is not None:
        _unpin(services, old_cid)
    with services.engine.connect() as conn:
        row = _cached(conn, upload_id, fmt)
    assert row is not None
    return row


def _unpin(services: Any, cid: str) -> None:
    try:
        services.ipfs.unpin(cid)
    except Exception as e:  # an orphan pin costs disk, not correctness
        log.warning("could not unpin replaced transcode %s: %s", cid, e)
