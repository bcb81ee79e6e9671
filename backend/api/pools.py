"""Sponsor pools, read-only: epochs (fixed windows of block time) with their committed
rules, pools, settlements and claims; the caller's standing in the current epoch; each
published epoch's allocations with their Merkle proofs (what a payee needs to claim) and
its recorded free downloads with theirs (what a listener needs to check a receipt)."""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlmodel import SQLModel

from backend import epochs, validators
from backend.deps import MAX_DB_INT, DbDep, ServicesDep, current_wallet, session_token
from backend.errors import ApiError, problem_response
from backend.models import EpochReport, FreeDownload
from backend.services import Services
from backend.splits import split_data
from backend.standing import RulesUnreadable, judged, standing_or_why
from ninety.reads import eth_call
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
    carried_to_epoch: int | None = Field(description="the epoch the carry-over went to (the one current at "
                                                     "publication)")


class EpochOut(BaseModel):
    epoch: int
    starts_at: int = Field(description="unix seconds of block time")
    ends_at: int = Field(description="unix seconds of block time: the next epoch starts then")
    rules_hash: str | None = Field(description="the pool rules committed on chain for this epoch (null: none yet)")
    rules_cid: str | None
    published: bool
    root: str | None
    listens_root: str | None
    report_cid: str | None
    published_block: int | None
    qualified_listeners: int | None = Field(description="the current epoch's qualified listeners so far (null for "
                                                        "other epochs)")
    free_downloads: int | None = Field(description="the current epoch's counted free downloads so far (null for "
                                                   "other epochs)")
    tokens: list[PoolToken]


class DirectOut(BaseModel):
    token: str
    token_symbol: str
    token_decimals: int
    amount: str


class YouOut(BaseModel):
    wallet: str
    qualifies: bool
    reason: str = Field(description="why the wallet does not qualify this epoch; empty when it does")
    can_direct: list[DirectOut] = Field(description="per token, at most how much of the pools its downloads can "
                                                    "direct this epoch")
    free_downloads: int = Field(description="its free downloads recorded this epoch")


class PoolsOut(BaseModel):
    current_epoch: int
    next_epoch_to_publish: int
    epoch_start: int = Field(description="unix seconds of block time when epoch 0 began")
    epoch_seconds: int
    you: YouOut | None = Field(description="the signed-in wallet's standing in the current epoch; null when not "
                                           "signed in")
    epochs: list[EpochOut]


def _signed_in(request: Request, db: Any) -> str | None:
    """The session's wallet, or None: this page is public, a stale session only hides `you`."""
    if not session_token(request):
        return None
    try:
        return current_wallet(request, db)
    except ApiError:
        return None


def _rules_by_epoch(db: Any) -> list[tuple[int, str, str]]:
    """(from_epoch, rules_hash, rules_cid), in the order the chain applies them: for an
    epoch, the last entry whose from_epoch is not after it (a later commitment for the
    same from_epoch replaced the earlier one)."""
    pr = T["pool_rules"]
    rows = db.execute(select(pr.c.from_epoch, pr.c.rules_hash, pr.c.rules_cid)
                      .order_by(pr.c.from_epoch, pr.c.block_number, pr.c.log_index)).all()
    return [(int(r[0]), r[1], r[2]) for r in rows]


def _rules_for(rules: list[tuple[int, str, str]], epoch: int) -> tuple[str | None, str | None]:
    found: tuple[str | None, str | None] = (None, None)
    for from_epoch, rules_hash, rules_cid in rules:
        if from_epoch > epoch:
            break
        found = (rules_hash, rules_cid)
    return found


@router.get("", response_model=PoolsOut, responses={
    503: problem_response("No chain RPC or contract configured, or the chain RPC is unavailable")})
def pools(request: Request, services: ServicesDep, db: DbDep) -> PoolsOut:
    """Every epoch with money or a publication, and the current one, newest first: when it
    starts and ends (block time), its committed rules, per token what sponsors put in and
    took back, what was settled, allocated, claimed, the platform's part and the
    carry-over; the roots and report CID once published; for the current epoch its
    qualified listeners and counted free downloads so far. `you`: the signed-in wallet's
    standing in the current epoch (whether it qualifies, why not, how much it can
    direct, its recorded free downloads)."""
    if services.rpc is None or services.deployment is None:
        raise ApiError(503, "this server has no chain RPC or contract configured")
    clock = epochs.clock(services)
    current = int(epochs.current_epoch(services)[0])
    (next_to_publish,) = eth_call(services.rpc, services.deployment.address, "nextEpochToPublish()", out=["uint256"])
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
            platform_fee=str(s["platform_fee"]) if s else None, carried_over=str(s["carried_over"]) if s else None,
            carried_to_epoch=int(s["carried_to_epoch"]) if s and s["carried_to_epoch"] is not None else None))
    listeners: int | None
    downloads: int | None
    try:
        listeners, downloads = judged(services, current, lambda: epochs.epoch_counts(db, services, current))
    except RulesUnreadable as e:  # none committed: nobody qualifies; unreadable now: unknown
        listeners = downloads = None if e.committed else 0
    rules = _rules_by_epoch(db)
    out = []
    for e in sorted(set(per_epoch) | set(published) | {current}, reverse=True):
        p = published.get(e)
        rules_hash, rules_cid = _rules_for(rules, e)
        out.append(EpochOut(
            epoch=e, starts_at=int(clock.start_of(e)), ends_at=int(clock.end_of(e)), rules_hash=rules_hash,
            rules_cid=rules_cid, published=p is not None, root=p["root"] if p else None,
            listens_root=p["listens_root"] if p else None, report_cid=p["report_cid"] if p else None,
            published_block=p["block_number"] if p else None,
            qualified_listeners=listeners if e == current else None,
            free_downloads=downloads if e == current else None, tokens=per_epoch.get(e, [])))
    you = None
    wallet = _signed_in(request, db)
    if wallet is not None:
        mine = standing_or_why(db, services, current, wallet)
        direct = []
        for d in mine["can_direct"]:
            symbol, decimals = services.tokens.info(d["token"])
            direct.append(DirectOut(token=d["token"], token_symbol=symbol, token_decimals=decimals,
                                    amount=str(d["amount"])))
        if mine["free_downloads"] is None:
            fd = FreeDownload
            mine["free_downloads"] = db.execute(select(func.count()).select_from(fd)
                                                .where(fd.epoch == current, fd.wallet == wallet)).scalar()
        you = YouOut(wallet=wallet, qualifies=bool(mine["qualifies"]), reason=str(mine["reason"]), can_direct=direct,
                     free_downloads=int(mine["free_downloads"] or 0))
    return PoolsOut(current_epoch=current, next_epoch_to_publish=next_to_publish, epoch_start=int(clock.start),
                    epoch_seconds=int(clock.seconds), you=you, epochs=out)


class AllocationOut(BaseModel):
    split_id: str
    token: str
    token_symbol: str
    amount: str
    proof: list[str]
    claimed: bool
    recipients: list[str] = Field(description="the split's data, as distribute() takes it after the claim")
    shares_ppm: list[int]


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
    who = validators.address(payee, "payee")
    row = db.execute(select(T["epoch"]).where(T["epoch"].c.epoch == epoch)).mappings().first()
    if row is None:
        raise ApiError(404, f"epoch {epoch} is not published (yet)")
    report = _report(services, db, epoch, row["report_cid"])
    claimed = {(r[0], r[1]) for r in db.execute(
        select(T["pool_claim"].c.split_id, T["pool_claim"].c.token).where(T["pool_claim"].c.epoch == epoch))}
    data = split_data(db, {a["split_id"] for a in report["allocations"]})
    out = []
    for a in report["allocations"]:
        recipients, shares = data.get(a["split_id"], ([], []))
        if who is not None and who not in recipients:
            continue
        out.append(AllocationOut(split_id=a["split_id"], token=a["token"], token_symbol=services.tokens.info(a["token"])[0],
                                 amount=a["amount"], proof=a["proof"], claimed=(a["split_id"], a["token"]) in claimed,
                                 recipients=recipients, shares_ppm=shares))
    return AllocationsOut(epoch=epoch, root=row["root"], report_cid=row["report_cid"], allocations=out)


class ListenOut(BaseModel):
    wallet: str
    track_id: int
    signature: str
    block_number: int
    counted: bool
    reason: str
    proof: list[str] = Field(description="sibling hashes from the leaf keccak256(keccak256(abi.encode(epoch, wallet, "
                                         "trackId))) up to `listens_root`")


class ListensOut(BaseModel):
    epoch: int
    listens_root: str | None = Field(description="as published on chain (EpochPublished)")
    report_cid: str
    listens: list[ListenOut]


_LISTENS = TypeAdapter(list[ListenOut])


@router.get("/{epoch}/listens", response_model=ListensOut, responses={
    404: problem_response("The epoch is not published (yet), or its report is not a Ninety report"),
    422: problem_response("wallet is not an address"),
    503: problem_response("The report cannot be fetched from IPFS now")})
def listens(epoch: Annotated[int, Path(ge=0, le=MAX_DB_INT)], services: ServicesDep, db: DbDep,
            wallet: str = Query(..., min_length=42, max_length=42, pattern=validators.ADDRESS.pattern,
                                description="the listener: its recorded free downloads")) -> ListensOut:
    """A published epoch's recorded free downloads by one wallet, from the epoch's report,
    each with whether it counted, why not, and its Merkle proof into the listens root the
    chain holds: a listener checks its receipts against them (a download recorded with a
    receipt but missing here was dropped)."""
    row = db.execute(select(T["epoch"]).where(T["epoch"].c.epoch == epoch)).mappings().first()
    if row is None:
        raise ApiError(404, f"epoch {epoch} is not published (yet)")
    report = _report(services, db, epoch, row["report_cid"])
    who = wallet.lower()
    entries = report.get("listens", [])  # reports of the earlier contract have none
    try:
        if not isinstance(entries, list):
            raise ValueError("listens is not a list")
        mine = _LISTENS.validate_python([e for e in entries if isinstance(e, dict)
                                         and str(e.get("wallet", "")).lower() == who])
    except (ValueError, ValidationError):
        raise ApiError(404, f"epoch {epoch}'s report {row['report_cid']!r} does not list free downloads the way a "
                            "Ninety report does") from None
    return ListensOut(epoch=epoch, listens_root=row.get("listens_root"), report_cid=row["report_cid"],
                      listens=[m.model_copy(update={"wallet": m.wallet.lower()}) for m in mine])


def _report(services: Services, db: Any, epoch: int, cid: str) -> dict[str, Any]:
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
