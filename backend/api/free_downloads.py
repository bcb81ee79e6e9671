"""Signed free downloads: a listener signs FreeDownload(trackId, epoch) for a free track
and the server records it toward the epoch's sponsor pools (a leaf of the epoch's public
report), with a receipt; whether it counts is judged by the epoch's committed rules."""
from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from backend import epochs
from backend.catalog import is_free, refuse_if_blocked, shown_track
from backend.deps import MAX_DB_INT, DbDep, ServicesDep, TrackId, WalletDep
from backend.errors import ApiError, problem_response
from backend.models import EpochReport, FreeDownload
from backend.ratelimit import client_address, client_key, parse_proxies
from backend.services import Services
from backend.standing import standing_or_why
from ninety.attest import recover_free_download

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/tracks", tags=["catalog"])
T = SQLModel.metadata.tables

# A wallet's recorded free downloads per epoch, at most (more answer counted: false and
# are not recorded): every recorded download is a leaf of the epoch's public report.
MAX_RECORDED_FREE_DOWNLOADS = 50
# Per client address, like the sign-in limit: each request recovers a signature, reads the
# chain head (cached) and the listener's standing. NINETY_RATE_LIMITS=off turns it off
# with the others.
FREE_DOWNLOAD_RATE = "60/minute"
SIGNATURE = r"^0x[0-9a-fA-F]{130}$"


class FreeDownloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epoch: int = Field(..., strict=True, ge=0, le=MAX_DB_INT,
                       description="the current epoch (by the chain's latest block time), as signed")
    signature: str = Field(..., strict=True, min_length=132, max_length=132, pattern=SIGNATURE,
                           description="the listener's EIP-712 signature of FreeDownload(uint256 trackId,uint256 "
                                       "epoch), domain {name: \"Ninety\", version: \"1\", chainId, verifyingContract: "
                                       "the Marketplace}: 0x and 65 bytes (r, s, v), low s")


class FreeDownloadOut(BaseModel):
    track_id: int
    epoch: int
    counted: bool = Field(description="whether it counts toward the epoch's pools as things stand now (the epoch's "
                                      "report decides, as of the block it was recorded at)")
    reason: str = Field(description="why it does not count; empty when it does")
    receipt: str | None = Field(description="the server's signature over what it recorded (0x…): EIP-712 "
                                            "FreeDownloadRecorded(listener, trackId, epoch, blockNumber, "
                                            "signatureHash), to check against the epoch's published report; null "
                                            "when nothing was recorded")
    block_number: int | None = Field(description="the block the download was recorded at (its eligibility is "
                                                 "judged there); null when nothing was recorded")


def _enforce_free_download_rate(request: Request, services: Services) -> None:
    limits = services.rate_limits
    if limits is None or not limits.enabled:
        return
    limits.define("free_download", FREE_DOWNLOAD_RATE)
    who = client_key(client_address(request.scope, parse_proxies(services.settings.trusted_proxies)))
    try:
        refusal = limits.hit("free_download", who)
    except Exception:  # the counters' store is down: serve rather than refuse everyone (as the middleware does)
        log.exception("rate limit storage failed; letting the request through")
        return
    if refusal is not None:
        raise ApiError(429, f"too many free downloads recorded from your address; try again in {refusal.retry_after} s",
                       headers={"Retry-After": str(refusal.retry_after)})


def _split_pays(db: Any, split_id: str, wallet: str) -> bool:
    sr = T["split_recipient"]
    return db.execute(select(sr.c.position).where(sr.c.split_id == split_id, sr.c.recipient == wallet)
                      .limit(1)).first() is not None


def _lock_wallet(db: Any, wallet: str) -> None:
    """Serialise one wallet's recordings (PostgreSQL: a transaction-scoped advisory lock),
    so two at once cannot both pass the per-epoch cap. SQLite serialises writers itself,
    and the cap is checked again after the insert."""
    if db.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(bytes.fromhex(wallet[2:18]), "big", signed=True)
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _answer(db: Any, services: Services, record: FreeDownload, wallet: str) -> FreeDownloadOut:
    """A recorded download as it stands: counted if the track's split (when recorded) did
    not pay the listener and the listener qualifies in the epoch."""
    if _split_pays(db, record.split_id, wallet):
        counted, reason = False, "the track's split pays you: your own downloads never count"
    else:
        mine = standing_or_why(db, services, record.epoch, wallet, amounts=False)  # one wallet's sales only
        counted, reason = bool(mine["qualifies"]), ("" if mine["qualifies"] else str(mine["reason"]))
    return FreeDownloadOut(track_id=record.track_id, epoch=record.epoch, counted=counted, reason=reason,
                           receipt=record.receipt, block_number=record.block_number)


@router.post("/{track_id}/free-download", response_model=FreeDownloadOut, responses={
    401: problem_response("Not signed in"),
    403: problem_response("The signature is not the signed-in wallet's (another wallet, track or epoch), or the "
                          "request comes from another site"),
    404: problem_response("No such track here"),
    409: problem_response("The epoch is not the current one (`current_epoch` says which is) or is already "
                          "published, or the track is not free (listed at an ETH price of 0)"),
    422: problem_response("Malformed body: epoch must be a whole number, signature 0x and 130 hex digits, a valid "
                          "low-s signature"),
    429: problem_response("Too many free downloads recorded from this client (Retry-After)"),
    451: problem_response("The track was taken down (`reason_cid`)"),
    503: problem_response("No chain RPC or contract configured, or the chain RPC is unavailable"),
})
def record_free_download(track_id: TrackId, body: FreeDownloadIn, request: Request, services: ServicesDep,
                         db: DbDep, wallet: WalletDep) -> FreeDownloadOut:
    """Record a free download toward the sponsor pools, signed by the listener.

    The signed-in wallet signs the EIP-712 message FreeDownload(trackId, epoch) for the
    current epoch (by the chain's latest block time). It is recorded once per wallet, track
    and epoch (a repeat answers the same record), published in the epoch's report with the
    signature, and answered with the server's receipt. Whether it counts is decided when the
    epoch is closed; `counted` and `reason` say how it stands now. Only a wallet that
    qualifies now (a purchase from another artist in the window, in the ledger) is
    recorded; otherwise, or for a track whose split pays the listener, or beyond 50 per
    wallet and epoch, nothing is recorded (`counted` false, `receipt` null) and the reason
    says why: sign again once you qualify."""
    _enforce_free_download_rate(request, services)
    if services.rpc is None or services.deployment is None or services.chain_id is None:
        raise ApiError(503, "this server has no chain RPC or contract configured: free downloads cannot be recorded")
    row = shown_track(db, track_id)
    refuse_if_blocked(row)
    if not is_free(row):
        raise ApiError(409, f"track {track_id} is not free (listed at an ETH price of 0): only free downloads are "
                            "recorded", title="Not a free track")
    epoch, head_block, head_time = epochs.current_epoch(services)
    if body.epoch != epoch:
        raise ApiError(409, f"epoch {body.epoch} is not the current epoch: the current epoch is {epoch} (by the chain's "
                            f"latest block time); sign FreeDownload({track_id}, {epoch})", title="Not the current epoch",
                       current_epoch=epoch)
    if db.execute(select(T["epoch"].c.epoch).where(T["epoch"].c.epoch == epoch)).first() is not None \
            or db.get(EpochReport, epoch) is not None:  # the chain RPC's head lags behind the publication
        raise ApiError(409, f"epoch {epoch} is already published: it takes no more downloads (the chain RPC's latest "
                            "block is behind; try again in a moment)", title="Not the current epoch")
    contract = services.deployment.address
    signer = recover_free_download(services.chain_id, contract, track_id, body.epoch, body.signature)
    if signer is None:
        raise ApiError(422, "signature is not a valid signature: 65 bytes (r, s, v) with a low s, as wallets make "
                            "for eth_signTypedData_v4")
    if signer.lower() != wallet:
        raise ApiError(403, f"the signature is not {wallet}'s signature of FreeDownload({track_id}, {body.epoch}) on "
                            "this chain and Marketplace (it is another wallet's, or of another track or epoch)",
                       title="Wrong signer")

    key = (epoch, track_id, wallet)
    record = db.get(FreeDownload, key)
    if record is not None:
        return _answer(db, services, record, wallet)
    if _split_pays(db, row["split_id"], wallet):
        return FreeDownloadOut(track_id=track_id, epoch=epoch, counted=False, receipt=None, block_number=None,
                               reason="the track's split pays you: your own downloads never count (not recorded)")
    # Only a wallet that qualifies now is recorded: every record is a leaf of the public
    # report and a check at close and in every verify, so it must cost a real purchase
    # (wallets that never bought cannot grow the report for free).
    mine = standing_or_why(db, services, epoch, wallet, amounts=False)
    if not mine["qualifies"]:
        return FreeDownloadOut(track_id=track_id, epoch=epoch, counted=False, receipt=None, block_number=None,
                               reason=f"{str(mine['reason']).rstrip('.')}. Not recorded: once you qualify, sign this "
                                      "download again (a purchase counts once it is in the ledger)")
    fd = FreeDownload
    over = FreeDownloadOut(track_id=track_id, epoch=epoch, counted=False, receipt=None, block_number=None,
                           reason=f"you have recorded {MAX_RECORDED_FREE_DOWNLOADS} free downloads this epoch, the "
                                  "most a wallet may (not recorded)")

    def recorded() -> int:
        return int(db.execute(select(func.count()).select_from(fd)
                              .where(fd.epoch == epoch, fd.wallet == wallet)).scalar() or 0)

    _lock_wallet(db, wallet)
    if recorded() >= MAX_RECORDED_FREE_DOWNLOADS:
        db.rollback()
        return over
    receipt = services.catalog.sign_receipt(services.chain_id, contract, wallet, track_id, epoch, int(head_block),
                                            body.signature.lower())
    record = fd(epoch=epoch, track_id=track_id, wallet=wallet, split_id=row["split_id"],
                signature=body.signature.lower(), block_number=int(head_block), block_time=int(head_time),
                receipt=receipt, created_at=time.time())
    db.add(record)
    try:
        db.flush()
        if recorded() > MAX_RECORDED_FREE_DOWNLOADS:  # another of this wallet's got in first
            db.rollback()
            return over
        db.commit()
    except IntegrityError:  # the same download, twice at once: recorded once
        db.rollback()
        record = db.get(FreeDownload, key)
        assert record is not None
    return _answer(db, services, record, wallet)
