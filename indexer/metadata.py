"""Track metadata from IPFS: fetched after TrackRegistered, verified against its CID.

Separate from the ledger transaction on purpose: an unreachable node or a bad JSON
never blocks or rolls back the ledger; the track is retried later with backoff."""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from sqlalchemy import Engine, select, update
from sqlmodel import SQLModel

from ninety.errors import CidMismatchError, IpfsError
from ninety.ipfs import Ipfs

log = logging.getLogger(__name__)
MAX_METADATA_BYTES = 256 * 1024
MAX_ATTEMPTS = 20


def _cid(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value.removeprefix("ipfs://").split("/", 1)[0] or None


def parse_metadata(raw: bytes) -> dict[str, Any]:
    """The track fields of an ERC-721-style metadata JSON with music fields."""
    if len(raw) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {len(raw)} bytes, more than {MAX_METADATA_BYTES}")
    doc = json.loads(raw)
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
    duration = pick("duration")
    return {
        "title": title[:300],
        "artist_name": str(pick("artist") or "")[:300] or None,
        "genre": str(pick("genre") or "")[:100] or None,
        "duration": float(duration) if isinstance(duration, (int, float)) else None,
        "artwork_cid": _cid(pick("artwork_cid", "image")),
        "preview_cid": _cid(pick("preview_cid", "animation_url")),
        "audio_cid": _cid(pick("audio_cid")),
    }


def fetch_pending(engine: Engine, ipfs: Ipfs, *, limit: int = 20, now: float | None = None) -> int:
    """Fetch metadata of up to `limit` tracks that need it; returns how many succeeded."""
    track = SQLModel.metadata.tables["track"]
    now = time.time() if now is None else now
    with engine.connect() as conn:
        due = conn.execute(
            select(track.c.track_id, track.c.metadata_cid, track.c.metadata_attempts)
            .where(track.c.metadata_status != "ok", track.c.metadata_next_attempt <= now,
                   track.c.metadata_attempts < MAX_ATTEMPTS)
            .order_by(track.c.metadata_next_attempt).limit(limit)
        ).all()
    done = 0
    for track_id, cid, attempts in due:
        values: dict[str, Any]
        try:
            raw = ipfs.cat(cid)  # verified against the CID
            fields = parse_metadata(raw)
            values = {**fields, "metadata_json": raw.decode("utf-8"), "metadata_status": "ok", "metadata_error": None}
            done += 1
        except (IpfsError, CidMismatchError, ValueError, UnicodeDecodeError) as e:
            retry_in = min(3600.0, 2.0 ** attempts)
            status = "pending" if isinstance(e, IpfsError) and not isinstance(e, CidMismatchError) else "invalid"
            values = {"metadata_status": status, "metadata_error": str(e)[:500],
                      "metadata_next_attempt": now + retry_in}
            log.warning("metadata of track %s (%s): %s; retrying in %.0f s", track_id, cid, e, retry_in)
        values["metadata_attempts"] = attempts + 1
        with engine.begin() as conn:
            # Only if the track is still the one we fetched for (a reorg may have replaced it).
            conn.execute(update(track).where(track.c.track_id == track_id, track.c.metadata_cid == cid).values(**values))
    return done
