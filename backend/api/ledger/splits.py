"""Splits as their SplitCreated events logged them, and a track's split history and
split change proposals with their consents."""
from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from backend.api.ledger.common import T
from backend.deps import DbDep, ServicesDep, TrackId
from backend.errors import ApiError
from backend.snapshots import checkpoint
from backend.splits import split_data, track_proposals

router = APIRouter(prefix="/api/ledger", tags=["ledger"])
splits_router = APIRouter(prefix="/api/splits", tags=["ledger"])

SPLIT_ID = re.compile(r"^0x[0-9a-fA-F]{64}$")


class SplitOut(BaseModel):
    split_id: str
    recipients: list[str]
    shares_ppm: list[int]
    created_block: int
    tx_hash: str


@splits_router.get("/{split_id}", response_model=SplitOut)
def get_split(split_id: str, db: DbDep) -> SplitOut:
    """A split's recipients and shares, as its SplitCreated event logged them (the
    contract keeps only their hash: distribute() and proposeSplit() take them as input)."""
    if not SPLIT_ID.fullmatch(split_id):
        raise ApiError(422, f"{split_id!r} is not a split id (0x followed by 64 hex digits)")
    split_id = split_id.lower()
    row = db.execute(select(T["split"]).where(T["split"].c.split_id == split_id)).mappings().first()
    if row is None:
        raise ApiError(404, f"no split {split_id} in the ledger")
    recipients, shares = split_data(db, [split_id]).get(split_id, ([], []))
    return SplitOut(split_id=split_id, recipients=recipients, shares_ppm=shares, created_block=row["block_number"],
                    tx_hash=row["tx_hash"])


class SplitHistoryItem(BaseModel):
    split_id: str
    previous_split_id: str | None = Field(description="null for the split the track was registered with")
    recipients: list[str]
    shares_ppm: list[int]
    block_number: int
    tx_hash: str
    log_index: int


class SplitProposalOut(BaseModel):
    split_id: str
    recipients: list[str]
    shares_ppm: list[int]
    must_consent: list[str] = Field(description="payees of the split at the time who would lose share")
    accepted: list[str]
    missing: int
    status: Literal["pending", "applied", "superseded", "cancelled"] = Field(
        description="applied: the change landed; superseded: another change of the track landed first; cancelled: "
                    "the artist withdrew the track's pending proposals")
    block_number: int
    tx_hash: str


class TrackSplits(BaseModel):
    track_id: int
    split_id: str = Field(description="the split the track's sales go to now")
    history: list[SplitHistoryItem] = Field(description="oldest first, from the registration")
    proposals: list[SplitProposalOut] = Field(description="newest first")


@router.get("/tracks/{track_id}/splits", response_model=TrackSplits,
            responses={304: {"description": "Not modified (ETag)"}})
def track_splits(track_id: TrackId, request: Request, services: ServicesDep, db: DbDep) -> Response:
    """A track's split history (every change, with each split's data) and its split
    change proposals with their consents. Carries an ETag that changes with the ledger's
    checkpoint, like the summaries."""
    contract = services.deployment.address.lower() if services.deployment is not None else ""
    at = checkpoint(db, contract) if contract else None
    if at is None:
        return Response(_track_splits(db, track_id).model_dump_json(), media_type="application/json")
    return services.snapshots.respond(request, ("track_splits", contract, at[1], track_id),
                                      lambda: _track_splits(db, track_id))


def _track_splits(db: Any, track_id: int) -> TrackSplits:
    track = db.execute(select(T["track"]).where(T["track"].c.track_id == track_id)).mappings().first()
    if track is None:
        raise ApiError(404, f"no track {track_id} in the ledger")
    tsc = T["track_split_change"]
    changes = db.execute(select(tsc).where(tsc.c.track_id == track_id)
                         .order_by(tsc.c.block_number, tsc.c.log_index)).mappings().all()
    proposals = track_proposals(db, track_id)
    data = split_data(db, {track["registered_split_id"], *(c["split_id"] for c in changes)})
    history = [SplitHistoryItem(split_id=track["registered_split_id"], previous_split_id=None,
                                recipients=data.get(track["registered_split_id"], ([], []))[0],
                                shares_ppm=data.get(track["registered_split_id"], ([], []))[1],
                                block_number=track["block_number"], tx_hash=track["tx_hash"],
                                log_index=track["log_index"])]
    history += [SplitHistoryItem(split_id=c["split_id"], previous_split_id=c["previous_split_id"],
                                 recipients=data.get(c["split_id"], ([], []))[0],
                                 shares_ppm=data.get(c["split_id"], ([], []))[1], block_number=c["block_number"],
                                 tx_hash=c["tx_hash"], log_index=c["log_index"]) for c in changes]
    return TrackSplits(track_id=track_id, split_id=track["split_id"], history=history,
                       proposals=[SplitProposalOut(**{k: v for k, v in p.items() if k in SplitProposalOut.model_fields})
                                  for p in proposals])
