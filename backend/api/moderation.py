"""Counter-notices: an artist answers a refused upload or a takedown of their track. The
owner reads them with `ninety moderate queue`."""
from __future__ import annotations

import time

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlmodel import SQLModel

from backend.deps import MAX_DB_INT, DbDep, WalletDep
from backend.errors import ApiError
from backend.models import CounterNotice, UploadRefusal

router = APIRouter(prefix="/api/moderation", tags=["moderation"])
T = SQLModel.metadata.tables
MAX_OPEN_NOTICES = 10  # per wallet: a queue a moderator can read, not a mailbox to flood


class CounterNoticeIn(BaseModel):
    refusal_id: int | None = Field(None, ge=1, le=MAX_DB_INT, description="a refused upload of yours")
    track_id: int | None = Field(None, ge=1, le=MAX_DB_INT, description="or a track of yours that was taken down")
    statement: str = Field(..., min_length=20, max_length=5000,
                           description="why the recording is yours to sell (published to moderators only)")
    contact: str = Field(..., min_length=3, max_length=300, description="how a moderator can reach you")


class CounterNoticeOut(BaseModel):
    id: int
    refusal_id: int | None
    track_id: int | None
    status: str
    created_at: float


@router.post("/counter-notices", response_model=CounterNoticeOut, status_code=201)
def file_counter_notice(body: CounterNoticeIn, db: DbDep, wallet: WalletDep) -> CounterNoticeOut:
    """File a counter-notice for one of your refused uploads (`refusal_id` from the 409)
    or one of your tracks that was taken down (`track_id`)."""
    if (body.refusal_id is None) == (body.track_id is None):
        raise ApiError(422, "name either refusal_id (a refused upload) or track_id (a track taken down), not both")
    if body.refusal_id is not None:
        refusal = db.get(UploadRefusal, body.refusal_id)
        if refusal is None or refusal.wallet != wallet:
            raise ApiError(404, f"no refused upload {body.refusal_id} of yours")
    else:
        track = T["track"]
        row = db.execute(select(track.c.artist, track.c.blocked).where(track.c.track_id == body.track_id)).first()
        if row is None or row[0] != wallet:
            raise ApiError(404, f"no track {body.track_id} of yours")
        if not row[1]:
            raise ApiError(409, f"track {body.track_id} is not taken down")
    same = db.execute(select(CounterNotice.id).where(  # type: ignore[call-overload]
        CounterNotice.wallet == wallet, CounterNotice.status == "open",
        CounterNotice.refusal_id == body.refusal_id if body.refusal_id is not None
        else CounterNotice.track_id == body.track_id).limit(1)).first()
    if same is not None:
        raise ApiError(409, f"counter-notice {same[0]} about this is still open; a moderator will answer it")
    open_count = db.execute(select(func.count()).select_from(CounterNotice)
                            .where(CounterNotice.wallet == wallet, CounterNotice.status == "open")).scalar() or 0
    if open_count >= MAX_OPEN_NOTICES:
        raise ApiError(429, f"you have {open_count} open counter-notices; wait for a moderator to answer them")
    notice = CounterNotice(wallet=wallet, refusal_id=body.refusal_id, track_id=body.track_id,
                           statement=body.statement.strip(), contact=body.contact.strip(), created_at=time.time())
    db.add(notice)
    db.commit()
    db.refresh(notice)
    assert notice.id is not None
    return CounterNoticeOut(id=notice.id, refusal_id=notice.refusal_id, track_id=notice.track_id,
                            status=notice.status, created_at=notice.created_at)



class TakedownOut(BaseModel):
    track_id: int
    blocked: bool  # true: blocked (a takedown); false: unblocked
    reason_cid: str
    block_number: int
    block_time: int
    tx_hash: str
    log_index: int


class TakedownPage(BaseModel):
    items: list[TakedownOut]


@router.get("/takedowns", response_model=TakedownPage)
def takedowns(db: DbDep, track_id: int | None = Query(None, ge=1, le=MAX_DB_INT),
              limit: int = Query(100, ge=1, le=500)) -> TakedownPage:
    """Every block and unblock on chain (TrackBlocked / TrackUnblocked), newest first,
    with the CID of its public reason."""
    tb = T["track_block"]
    stmt = select(tb).order_by(tb.c.block_number.desc(), tb.c.log_index.desc()).limit(limit)
    if track_id is not None:
        stmt = stmt.where(tb.c.track_id == track_id)
    return TakedownPage(items=[TakedownOut(**{k: r[k] for k in TakedownOut.model_fields})
                               for r in db.execute(stmt).mappings()])
