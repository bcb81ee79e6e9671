"""Sponsor pools, read-only: epochs with their pools, settlements and claims, and each
published epoch's allocations with their Merkle proofs (what a payee needs to claim)."""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlmodel import SQLModel

from backend.api.tracks import open_epoch
from backend.deps import MAX_DB_INT, DbDep, ServicesDep
from backend.errors import ApiError
from backend.models import EpochReport, FreeDownload
from ninety.errors import IpfsError, IpfsUnavailableError

router = APIRouter(prefix="/api/pools", tags=["pools"])
T = SQLModel.metadata.tables


class PoolToken(BaseModel):
    token: str
    token_symbol: str
    token_decimals: int
    funded: str
    withdrawn: str
    open_balance: str
    settled_pool: str | None
    allocated: str
    claimed: str
    unclaimed: str
    platform_fee: str | None
    carried_over: str | None


class EpochOut(BaseModel):
    epoch: int
    published: bool
    root: str | None
    report_cid: str | None
    published_block: int | None
    free_downloads: int | None
    tokens: list[PoolToken]


class PoolsOut(BaseModel):
    open_epoch: int
    epochs: list[EpochOut]


@router.get("", response_model=PoolsOut)
def pools(services: ServicesDep, db: DbDep) -> PoolsOut:
    """Every epoch with money or a publication, newest first: per token what sponsors put
    in and took back, what was settled, allocated, claimed, the platform's part and the
    carry-over; the root and report CID once published; free downloads counted so far
    in the open epoch."""
    current = open_epoch(db)
    published = {int(r["epoch"]): r for r in db.execute(select(T["epoch"])).mappings()}
    settled = {(int(r["epoch"]), r["token"]): r for r in db.execute(select(T["pool_settlement"])).mappings()}
    per_epoch: dict[int, list[PoolToken]] = defaultdict(list)
    for r in db.execute(select(T["pool_total"]).order_by(T["pool_total"].c.epoch, T["pool_total"].c.token)).mappings():
        e, token = int(r["epoch"]), r["token"]
        s = settled.get((e, token))
        symbol, decimals = services.tokens.info(token)
        funded, withdrawn, settled_amount = int(r["funded"]), int(r["withdrawn"]), int(r["settled"])
        allocated, claimed = int(r["allocated"]), int(r["claimed"])
        per_epoch[e].append(PoolToken(
            token=token, token_symbol=symbol, token_decimals=decimals, funded=str(funded), withdrawn=str(withdrawn),
            open_balance=str(funded - withdrawn - settled_amount), settled_pool=str(s["pool"]) if s else None,
            allocated=str(allocated), claimed=str(claimed), unclaimed=str(allocated - claimed),
            platform_fee=str(s["platform_fee"]) if s else None, carried_over=str(s["carried_over"]) if s else None))
    fd = FreeDownload
    downloads = db.execute(select(func.count()).select_from(fd).where(fd.epoch == current)).scalar() or 0
    out = []
    for e in sorted(set(per_epoch) | set(published) | {current}, reverse=True):
        p = published.get(e)
        out.append(EpochOut(epoch=e, published=p is not None, root=p["root"] if p else None,
                            report_cid=p["report_cid"] if p else None, published_block=p["block_number"] if p else None,
                            free_downloads=int(downloads) if e == current else None, tokens=per_epoch.get(e, [])))
    return PoolsOut(open_epoch=current, epochs=out)


class AllocationOut(BaseModel):
    split_id: str
    token: str
    token_symbol: str
    amount: str
    proof: list[str]
    claimed: bool
    recipients: list[str]


class AllocationsOut(BaseModel):
    epoch: int
    root: str
    report_cid: str
    allocations: list[AllocationOut]


@router.get("/{epoch}/allocations", response_model=AllocationsOut)
def allocations(epoch: Annotated[int, Path(ge=0, le=MAX_DB_INT)], services: ServicesDep, db: DbDep,
                payee: str | None = Query(None, description="only splits this address is paid from")) -> AllocationsOut:
    """A published epoch's allocations with their proofs, each marked claimed or not:
    anyone may send `claimFromPool(epoch, split_id, token, amount, proof)`."""
    from backend.api.ledger import _address

    who = _address(payee, "payee")
    row = db.execute(select(T["epoch"]).where(T["epoch"].c.epoch == epoch)).mappings().first()
    if row is None:
        raise ApiError(404, f"epoch {epoch} is not published (yet)")
    report = _report(services, db, epoch, row["report_cid"])
    claimed = {(r[0], r[1]) for r in db.execute(
        select(T["pool_claim"].c.split_id, T["pool_claim"].c.token).where(T["pool_claim"].c.epoch == epoch))}
    sr = T["split_recipient"]
    out = []
    for a in report["allocations"]:
        recipients = [r[0] for r in db.execute(select(sr.c.recipient).where(sr.c.split_id == a["split_id"])
                                               .order_by(sr.c.position))]
        if who is not None and who not in recipients:
            continue
        out.append(AllocationOut(split_id=a["split_id"], token=a["token"], token_symbol=services.tokens.info(a["token"])[0],
                                 amount=a["amount"], proof=a["proof"], claimed=(a["split_id"], a["token"]) in claimed,
                                 recipients=recipients))
    return AllocationsOut(epoch=epoch, root=row["root"], report_cid=row["report_cid"], allocations=out)


def _report(services: Any, db: Any, epoch: int, cid: str) -> dict[str, Any]:
    """The report this server pinned, or the one the chain names, fetched from IPFS."""
    kept = db.get(EpochReport, epoch)
    if kept is not None and kept.report_cid == cid:
        return json.loads(kept.report_json)  # type: ignore[no-any-return]
    if services.ipfs is None:
        raise ApiError(503, "this server has no IPFS node configured to fetch the epoch's report")
    try:
        report = json.loads(services.ipfs.cat(cid))
        if not isinstance(report, dict) or not isinstance(report.get("allocations"), list):
            raise ValueError("no allocations")
        return report  # type: ignore[no-any-return]
    except IpfsUnavailableError as e:  # the node is down or slow: try again later
        raise ApiError(503, f"cannot fetch epoch {epoch}'s report {cid} now: {e}") from None
    except (IpfsError, ValueError):
        # What the chain names is not a fetchable CID, or not a Ninety report: there is no
        # allocation to serve (and `ninety verify epoch` says the same).
        raise ApiError(404, f"epoch {epoch}'s report {cid!r} is not a Ninety epoch report that IPFS can serve") from None
