"""Which tracks this server shows and serves: genuine listings whose files their
registrant uploaded here, not taken down (a takedown covers the recording, whichever
track lists it), and not a later copy of a recording another wallet registered first.

Plain queries over the ledger's `track` table and the backend's `upload` table, shared
by the catalog, the tracks' files and the free downloads (backend/api/)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlmodel import SQLModel
from sqlmodel import select as select_model

from backend.errors import ApiError
from backend.models import Upload
from ninety.contract import ETH

T = SQLModel.metadata.tables


def deliverable() -> Any:
    """This server holds the track's files, uploaded by the wallet that registered it.
    With attested listings the chain already guarantees it; this is defence in depth
    (and what keeps copies listed while registration was open out of the store)."""
    track, upload = T["track"], T["upload"]
    return (select(upload.c.id).where(upload.c.metadata_cid == track.c.metadata_cid,
                                      upload.c.artist == track.c.artist).exists())


def _same_recording(name: str) -> tuple[Any, Any, Any]:
    """(listing, joined, condition): `listing` ranges over the tracks that list the same
    recording as the track being queried (same decoded audio among this server's uploads,
    each listed by its own uploader), the track itself included; `joined` is what to
    select from, `condition` ties it to the outer `track` row."""
    track, upload = T["track"], T["upload"]
    mine, other, listing = upload.alias(f"{name}_mine"), upload.alias(f"{name}_other"), track.alias(f"{name}_listing")
    joined = (mine.join(other, other.c.audio_hash == mine.c.audio_hash)
              .join(listing, and_(listing.c.metadata_cid == other.c.metadata_cid, listing.c.artist == other.c.artist)))
    return listing, joined, and_(mine.c.metadata_cid == track.c.metadata_cid, mine.c.artist == track.c.artist)


def recording_taken_down() -> Any:
    """The reason CIDs of takedowns of the same recording listed as another track: a
    block covers the recording, not only the one listing (the attestation lists each CID
    once, not each recording)."""
    listing, joined, this = _same_recording("taken")
    return select(listing.c.block_reason_cid).select_from(joined).where(this, listing.c.blocked.is_(True))


def registered_first_by_another() -> Any:
    """The same recording listed earlier by another wallet: the first registration owns
    it, so a later copy is not shown (closing the hour a saved listing attestation stays
    valid after the owner registers)."""
    track = T["track"]
    listing, joined, this = _same_recording("first")
    earlier = or_(listing.c.block_number < track.c.block_number,
                  and_(listing.c.block_number == track.c.block_number, listing.c.log_index < track.c.log_index))
    return select(listing.c.track_id).select_from(joined).where(this, listing.c.artist != track.c.artist, earlier)


def shown_track(db: Any, track_id: int) -> Any:
    """A track this server can show: 404 for one it does not know, or whose files were
    not uploaded here by the wallet that registered it (a copy listed from another wallet)."""
    row = db.execute(select(T["track"]).where(T["track"].c.track_id == track_id)).mappings().first()
    if row is None:
        raise ApiError(404, f"no track {track_id} in the ledger")
    if not row["genuine"] or upload_of(db, row) is None:
        raise ApiError(404, f"track {track_id} is not available here: it was not uploaded through this server by "
                            "the wallet that listed it", title="Not available")
    first = db.execute(registered_first_by_another().where(T["track"].c.track_id == track_id).limit(1)).scalar()
    if first is not None:
        raise ApiError(404, f"track {track_id} is not available here: its recording was listed first by another "
                            f"wallet, as track {first}", title="Not available")
    if not row["blocked"]:
        reason = db.execute(recording_taken_down().where(T["track"].c.track_id == track_id).limit(1)).scalar()
        if reason is not None:  # another listing of this recording was taken down
            row = {**row, "blocked": True, "block_reason_cid": reason}
    return row


def upload_of(db: Any, row: Any) -> Upload | None:
    """The registrant's own upload of the track's files (never another wallet's)."""
    return db.exec(select_model(Upload).where(Upload.metadata_cid == row["metadata_cid"],
                                              Upload.artist == row["artist"])).first()


def refuse_if_blocked(row: Any) -> None:
    if row["blocked"]:
        raise ApiError(451, f"track {row['track_id']} was taken down; the reason is public at "
                            f"ipfs://{row['block_reason_cid']}", title="Unavailable for legal reasons",
                       reason_cid=row["block_reason_cid"])


def is_free(row: Any) -> bool:
    return row["token"] == ETH and int(row["price"]) == 0 and bool(row["listed"])
