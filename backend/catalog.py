"""Which tracks this server shows and serves: genuine listings whose files their
registrant uploaded here, not taken down (a takedown covers the recording, whichever
track lists it), and not a later copy of a recording another wallet registered first.

Plain queries over the ledger's `track` table and the backend's `upload` table, shared
by the catalog, the tracks' files and the free downloads (backend/api/).

Releases (a listing in the same id space, whose members are tracks) are judged here too,
in one place used by the release catalog, its downloads, the release upload and its
attestation: a release is available when it is listed, not blocked, genuine, uploaded
here by its artist, every member is a track this server serves, of the same artist,
not taken down, and its split is fair to its tracks' collaborators as they are now
(backend/release_fairness.py). Members change after the release is registered (a takedown, say), so
availability is computed where it is read, never stored."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from sqlalchemy import and_, or_, select
from sqlmodel import SQLModel
from sqlmodel import select as select_model

from backend.errors import ApiError
from backend.models import ReleaseUpload, Upload
from backend.release_fairness import current_unfairness
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
    if row["kind"] == "release":
        raise ApiError(404, f"{track_id} is a release, not a track: see /api/releases/{track_id} (its tracks, "
                            f"artwork and download)", title="Not a track", release_id=track_id)
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


# ---------------------------------------------------------------- releases


def public_title(genuine: Any, blocked: Any, title: str | None) -> str | None:
    """A listing's title as the public pages that list sales show it (a fan's purchases, a
    statement): kept for a genuine listing not taken down, else None. The sale rows stay
    (the sales happened), but the title is the registrant's own words (an impersonator's
    "Someone Else's Hit (official)"), which this server does not vouch for."""
    return title if genuine and not blocked else None


def genuine_releases_holding(track_id: int) -> Any:
    """The ids of the genuine releases holding `track_id` (a query): a sale of one
    delivers the track. Genuine, because the contract lets an artist list any of its
    tracks on a "release" whose metadata is not a release of them (under open
    registration, where no attestation binds the tracks): such a release delivers
    nothing. One definition for the download gate and the ledger's track summary, so
    what opens a download and what the ledger counts as a sale of the track agree."""
    rt, track = T["release_track"], T["track"]
    return (select(rt.c.release_id).join(track, track.c.track_id == rt.c.release_id)
            .where(rt.c.track_id == track_id, track.c.kind == "release", track.c.genuine.is_(True)))


def genuine_releases(db: Any, track_id: int) -> list[int]:
    """`genuine_releases_holding` as a list, smallest id first."""
    return [int(r) for r in db.execute(
        genuine_releases_holding(track_id).order_by(T["release_track"].c.release_id)).scalars()]


def release_uploaded_here() -> Any:
    """This server pinned the release's metadata for the wallet that registered it."""
    track, upload = T["track"], T["release_upload"]
    return (select(upload.c.id).where(upload.c.metadata_cid == track.c.metadata_cid,
                                      upload.c.artist == track.c.artist).exists())


def _member_columns() -> tuple[Any, ...]:
    """A track row with what decides whether this server serves it: its upload here, a
    takedown of its recording elsewhere, an earlier registration of it by another wallet."""
    return (T["track"], deliverable().label("uploaded_here"),
            recording_taken_down().limit(1).scalar_subquery().label("taken_down_cid"),
            registered_first_by_another().limit(1).scalar_subquery().label("first_by"))


def tracks_by_id(db: Any, track_ids: Iterable[int]) -> dict[int, Mapping[str, Any]]:
    """Rows (with `_member_columns`) of those of `track_ids` the ledger knows."""
    ids = list(dict.fromkeys(track_ids))
    if not ids:
        return {}
    rows = db.execute(select(*_member_columns()).where(T["track"].c.track_id.in_(ids))).mappings().all()
    return {r["track_id"]: r for r in rows}


class Members(list):  # type: ignore[type-arg]
    """A release's member rows, in order, and why its current split is unfair to them
    (None: it is fair), both read at once so that no reader of a release forgets the rule."""
    unfair: str | None = None


def release_members(db: Any, release_ids: Iterable[int]) -> dict[int, Members]:
    """Each release's member rows (with `_member_columns` and `position`), in order, and
    the fairness of its current split to their current splits and prices."""
    ids = list(dict.fromkeys(release_ids))
    out: dict[int, Members] = {i: Members() for i in ids}
    if not ids:
        return out
    rt, track = T["release_track"], T["track"]
    rows = db.execute(select(rt.c.release_id, rt.c.position, *_member_columns())
                      .select_from(rt.join(track, track.c.track_id == rt.c.track_id))
                      .where(rt.c.release_id.in_(ids)).order_by(rt.c.release_id, rt.c.position)).mappings().all()
    for r in rows:
        out[r["release_id"]].append(r)
    releases = db.execute(select(track.c.track_id, track.c.artist, track.c.split_id, track.c.token, track.c.price)
                          .where(track.c.track_id.in_(ids))).mappings().all()
    for rid, reason in current_unfairness(db, releases, out).items():
        out[rid].unfair = reason
    return out


@dataclass(frozen=True)
class Problem:
    """Why a track cannot be (or no longer is) part of a release this server sells."""
    detail: str
    reason_cid: str | None = None  # a takedown's public reason (answered 451)


def member_problem(member: Mapping[str, Any], artist: str) -> Problem | None:
    """The one rule for a release's member, before upload, at attestation and on every read."""
    tid = member["track_id"]
    if member["kind"] != "track":
        return Problem(f"{tid} is a release, not a track")
    if member["artist"] != artist:
        return Problem(f"track {tid} is listed by {member['artist']}, not by {artist}")
    reason = member["block_reason_cid"] if member["blocked"] else member["taken_down_cid"]
    if member["blocked"] or reason is not None:
        return Problem(f"track {tid} was taken down; the reason is public at ipfs://{reason}", reason)
    if not member["genuine"] or not member["uploaded_here"] or member["first_by"] is not None:
        return Problem(f"track {tid} is not available here (not uploaded through this server by the wallet that "
                       "listed it, or its recording was listed first by another wallet)")
    return None


@dataclass(frozen=True)
class ReleaseState:
    available: bool  # in the store: can be bought and downloaded
    reason: str | None  # why not, in words
    deliverable: bool  # its members can be downloaded (a buyer's zip), listed or not
    reason_cid: str | None  # the release or a member was taken down: the reason's CID (451)


def release_state(row: Mapping[str, Any], members: Members) -> ReleaseState:
    """Availability of a release (`row`: its track row with `uploaded_here`; `members`:
    from release_members, with the fairness of its split)."""
    rid = row["track_id"]
    if row["blocked"]:
        return ReleaseState(False, f"release {rid} was taken down; the reason is public at "
                                   f"ipfs://{row['block_reason_cid']}", False, row["block_reason_cid"])
    if not row["genuine"] or not row["uploaded_here"]:
        return ReleaseState(False, f"release {rid} is not available here: it was not uploaded through this server "
                                   "by the wallet that listed it", False, None)
    if not members:
        return ReleaseState(False, f"release {rid} has no tracks in the ledger yet", False, None)
    for m in members:
        problem = member_problem(m, row["artist"])
        if problem is not None:
            return ReleaseState(False, problem.detail, False, problem.reason_cid)
    if members.unfair is not None:
        # Not sold, but its files stay deliverable: a buyer from while it was fair keeps them
        # (the zip and the download gate judge each sale as of its block).
        return ReleaseState(False, members.unfair, True, None)
    if not row["listed"]:
        return ReleaseState(False, f"release {rid} is not on sale (its artist took it off sale)", True, None)
    return ReleaseState(True, None, True, None)


def release_row(db: Any, release_id: int) -> Mapping[str, Any] | None:
    track = T["track"]
    return db.execute(select(track, release_uploaded_here().label("uploaded_here"))
                      .where(track.c.track_id == release_id)).mappings().first()


def shown_release(db: Any, release_id: int) -> Mapping[str, Any]:
    """A release this server shows: 404 for an unknown id, a track's id, or a release not
    uploaded here by the wallet that registered it."""
    row = release_row(db, release_id)
    if row is None:
        raise ApiError(404, f"no release {release_id} in the ledger")
    if row["kind"] != "release":
        raise ApiError(404, f"{release_id} is a track, not a release: see /api/tracks/{release_id}",
                       title="Not a release", track_id=release_id)
    if not row["genuine"] or not row["uploaded_here"]:
        raise ApiError(404, f"release {release_id} is not available here: it was not uploaded through this server "
                            "by the wallet that listed it", title="Not available")
    return row


def refuse_undeliverable(state: ReleaseState) -> None:
    """A release's files, refused as a blocked track's are (451), or 410 when a member is
    no longer served here."""
    if state.deliverable:
        return
    if state.reason_cid is not None:
        raise ApiError(451, state.reason or "taken down", title="Unavailable for legal reasons",
                       reason_cid=state.reason_cid)
    raise ApiError(410, state.reason or "not available", title="Gone")


def release_upload_of(db: Any, row: Mapping[str, Any]) -> ReleaseUpload | None:
    return db.exec(select_model(ReleaseUpload).where(ReleaseUpload.metadata_cid == row["metadata_cid"],
                                                     ReleaseUpload.artist == row["artist"])).first()
