"""Who owns a recording: the first wallet that registered it.

An upload is checked against every registered track's recording (its registrant's own
upload on this server), by the decoded-audio hash and, from 30 s on, by fingerprint
(backend/fingerprint.py). Among the registered tracks it matches, the earliest
registration owns the recording:
- owned by the uploading wallet and not blocked: allowed (an artist's new version), even
  if a later copy by someone else was taken down;
- owned by another wallet: refused;
- owner's track blocked (a takedown blocks the recording): refused, for everyone.
The check runs at upload and again for every fresh listing attestation, so a copy
uploaded before the owner registered cannot be listed after.
Unregistered uploads claim nothing, and a refusal never names one. The owner may allow
one refused recording for one wallet (`ninety moderate allow`), e.g. a licensed sample
or the same artist's new wallet.

The fingerprint index lives in each worker process and catches up with the database on
every check (new registrations' fingerprints are loaded once; nothing else is cached),
so the registration state a decision uses is always the database's."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, select
from sqlmodel import Session, SQLModel

from backend import fingerprint
from backend.fingerprint_index import Index
from backend.models import UploadRefusal

log = logging.getLogger(__name__)
T = SQLModel.metadata.tables
# More refused matches than this per wallet and day answer 429 (a wallet probing for
# what is registered, or farming refusals).
MAX_REFUSALS_PER_DAY = 3
DAY = 86400.0


@dataclass(frozen=True)
class Owner:
    """A registered track that holds a recording."""

    track_id: int
    artist: str
    blocked: bool
    title: str | None
    artist_name: str | None
    kind: str  # exact | fingerprint
    similarity: float | None = None
    overlap_seconds: float | None = None


def _registered() -> Any:
    """Uploads joined to the tracks their own uploader registered, earliest first."""
    upload, track = T["upload"], T["track"]
    return (select(upload.c.id, track.c.track_id, track.c.artist, track.c.blocked, track.c.title,
                   track.c.artist_name, track.c.block_number, track.c.log_index)
            .select_from(upload.join(track, and_(track.c.metadata_cid == upload.c.metadata_cid,
                                                 track.c.artist == upload.c.artist)))
            .order_by(track.c.block_number, track.c.log_index))


class Recordings:
    def __init__(self) -> None:
        self._index = Index()
        self._lock = threading.Lock()

    def refusals_today(self, db: Session, wallet: str, now: float | None = None) -> tuple[int, float]:
        """(refused matches in the last 24 h, seconds until one of them ages out)."""
        now = time.time() if now is None else now
        ur = T["upload_refusal"]
        # A refusal the owner allowed was a mistake of ours: it does not count.
        count, oldest = db.execute(select(func.count(), func.min(ur.c.created_at))
                                   .where(ur.c.wallet == wallet, ur.c.created_at > now - DAY,
                                          ur.c.allowed_at.is_(None))).one()
        return int(count), (max(1.0, oldest + DAY - now) if count else 0.0)

    def allowed(self, db: Session, wallet: str, audio_hash: str) -> bool:
        ur = T["upload_refusal"]
        return db.execute(select(ur.c.id).where(ur.c.wallet == wallet, ur.c.audio_hash == audio_hash,
                                                ur.c.allowed_at.is_not(None)).limit(1)).first() is not None

    def matches(self, db: Session, analysis: fingerprint.Analysis) -> list[Owner]:
        """Every registered track whose recording this is, earliest registration first."""
        upload = T["upload"]
        exact = db.execute(_registered().where(upload.c.audio_hash == analysis.audio_hash)).mappings().all()
        if exact:
            return [Owner(r["track_id"], r["artist"], bool(r["blocked"]), r["title"], r["artist_name"], "exact",
                          1.0, round(analysis.duration, 1)) for r in exact]
        if analysis.frames is None:
            return []
        rows = db.execute(_registered().where(upload.c.fingerprint.is_not(None))).mappings().all()
        with self._lock:
            self._catch_up(db, {r["id"] for r in rows})
            found = dict(self._index.search(analysis, limit=50))
        return [Owner(r["track_id"], r["artist"], bool(r["blocked"]), r["title"], r["artist_name"], "fingerprint",
                      round(found[r["id"]].similarity, 4), round(found[r["id"]].overlap_seconds, 1))
                for r in rows if r["id"] in found]

    def _catch_up(self, db: Session, registered: set[int]) -> None:
        upload = T["upload"]
        for gone in [k for k in self._index._frames if k not in registered]:
            self._index.remove(gone)  # a reorg undid its registration
        missing = sorted(registered - set(self._index._frames))
        for i in range(0, len(missing), 200):
            for uid, blob in db.execute(select(upload.c.id, upload.c.fingerprint)
                                        .where(upload.c.id.in_(missing[i : i + 200]))):
                self._index.add(uid, fingerprint.unpack(blob))

    def refuse(self, db: Session, wallet: str, analysis: fingerprint.Analysis, owner: Owner,
               file_name: str) -> UploadRefusal:
        refusal = UploadRefusal(wallet=wallet, created_at=time.time(), audio_hash=analysis.audio_hash,
                                file_name=file_name[:200], matched_track_id=owner.track_id, match_kind=owner.kind,
                                similarity=owner.similarity, overlap_seconds=owner.overlap_seconds,
                                blocked_match=owner.blocked)
        db.add(refusal)
        db.commit()
        db.refresh(refusal)
        log.info("upload by %s refused: %s match with track %s (refusal %s)", wallet, owner.kind, owner.track_id,
                 refusal.id)
        return refusal


def check(recordings: Recordings, engine: Engine, wallet: str, analysis: fingerprint.Analysis,
          file_name: str) -> tuple[Owner, UploadRefusal] | None:
    """None if `wallet` may upload this recording; else the owner and the recorded refusal."""
    with Session(engine) as db:
        if recordings.allowed(db, wallet, analysis.audio_hash):
            return None
        found = recordings.matches(db, analysis)
        if not found:
            return None
        owner = found[0]  # the earliest registration
        if owner.artist == wallet and not owner.blocked:
            return None
        if owner.artist != wallet and not owner.blocked:
            # Name a takedown among the matches if there is one: the clearer reason.
            owner = next((m for m in found if m.blocked), owner)
        return owner, recordings.refuse(db, wallet, analysis, owner, file_name)
