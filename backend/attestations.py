"""What this server attests an upload may be listed with: a split that createSplit
accepts, a recording that is not another wallet's (409 naming the track it matches), a
split that keeps the payees of the wallet's earlier track of the same recording, and the
catalog signer's EIP-712 attestation that only this wallet may list the metadata CID
with this split. Used by the upload routes (backend/api/uploads.py)."""
from __future__ import annotations

import json
import time
from typing import Any

from sqlmodel import Session, SQLModel, select
from web3 import Web3

from backend import fingerprint, recordings, validators
from backend.errors import ApiError
from backend.services import Services
from ninety.attest import ATTESTATION_SECONDS
from ninety.market import sorted_split


def split_from_json(raw: str, wallet: str, contract: str = "") -> tuple[list[str], list[int]]:
    """The form's `split` (JSON), or all to `wallet` when it is empty."""
    if not raw:
        return sorted_split([(wallet, 1_000_000)])
    try:
        return split_pairs(json.loads(raw), contract)
    except (ValueError, TypeError, KeyError):
        raise ApiError(422, 'split must be JSON like [{"address": "0x…", "share_ppm": 600000}, …]') from None


def split_pairs(pairs: Any, contract: str) -> tuple[list[str], list[int]]:
    """A split from [{"address", "share_ppm"}, …], checked as createSplit checks it."""
    parsed = [(str(p["address"]), int(p["share_ppm"])) for p in pairs]
    if not 1 <= len(parsed) <= 100:
        raise ApiError(422, "a split has 1 to 100 recipients")
    for address, share in parsed:
        if not validators.ADDRESS.match(address):
            raise ApiError(422, f"split recipient {address!r} is not an address")
        if int(address, 16) == 0 or address.lower() == contract.lower():
            # createSplit refuses them: funds owed to either could never be withdrawn.
            raise ApiError(422, f"split recipient {address} cannot be paid (the zero address or the Marketplace itself)")
        if share <= 0:
            raise ApiError(422, f"split share of {address} must be above zero")
    if len({a.lower() for a, _ in parsed}) != len(parsed):
        raise ApiError(422, "a recipient appears twice in the split")
    if sum(s for _, s in parsed) != 1_000_000:
        raise ApiError(422, f"split shares sum to {sum(s for _, s in parsed):,} ppm, not 1,000,000 (100%)")
    return sorted_split(parsed)


def split_id(recipients: list[str], shares: list[int]) -> str:
    return "0x" + Web3.keccak(Web3().codec.encode(["address[]", "uint32[]"], [recipients, shares])).hex().removeprefix("0x")


def attest(services: Services, metadata_cid: str, wallet: str, split_id: str) -> tuple[str, int]:
    """An attestation for `wallet` to list `metadata_cid` with `split_id`, valid
    ATTESTATION_SECONDS by block time (the contract's clock, which a dev chain may have
    moved ahead)."""
    chain_now = int(services.rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    deadline = max(chain_now, int(time.time())) + ATTESTATION_SECONDS
    contract = Web3.to_checksum_address(services.deployment.address)
    chain_id = services.deployment.chain_id
    return services.catalog.sign_listing(metadata_cid, wallet, split_id, chain_id, contract, deadline), deadline


def keep_collaborators(services: Services, wallet: str, analysis: fingerprint.Analysis, recipients: list[str],
                        shares: list[int]) -> None:
    """409 if this is a recording `wallet` already sells and the new split would pay one of
    that track's other payees less. Without this, delisting the track and listing a new
    upload of the same recording would cut collaborators out, which the contract lets an
    artist do to a track only with their consent (proposeSplit)."""
    new = {r.lower(): s for r, s in zip(recipients, shares)}
    track, sr = SQLModel.metadata.tables["track"], SQLModel.metadata.tables["split_recipient"]
    with Session(services.engine) as db:
        for owner in services.recordings.matches(db, analysis):
            if owner.artist != wallet or owner.blocked:
                continue
            split_id = db.execute(select(track.c.split_id).where(track.c.track_id == owner.track_id)).scalar()
            payees = db.execute(select(sr.c.recipient, sr.c.share_ppm).where(sr.c.split_id == split_id)
                                .order_by(sr.c.position)).all()
            losers = [(r, int(s), new.get(r, 0)) for r, s in payees if r != wallet and new.get(r, 0) < int(s)]
            if losers:
                cut = ", ".join(f"{r} ({s / 10_000:g}% → {n / 10_000:g}%)" for r, s, n in losers)
                raise ApiError(409, f"this recording is your track {owner.track_id}; this split would pay its other "
                                    f"payees less: {cut}. Keep their shares, or change track {owner.track_id}'s split "
                                    "instead, which needs their consent",
                               title="Collaborators would lose share",
                               track={"track_id": owner.track_id, "title": owner.title, "split_id": split_id},
                               losers=[{"address": r, "share_ppm": s, "new_share_ppm": n} for r, s, n in losers])


def refuse_duplicate(owner: recordings.Owner, refusal: Any) -> None:
    """409 naming the public track the upload matches (never an unregistered upload)."""
    name = f"track {owner.track_id}" + (f" “{owner.title}”" if owner.title else "")
    by = owner.artist_name or owner.artist
    if owner.blocked:
        detail = (f"this recording matches {name} by {by}, which was taken down; it cannot be uploaded again. "
                  f"If you hold the rights, file a counter-notice for refusal {refusal.id}")
    else:
        detail = (f"this recording matches {name} by {by}, registered first by another wallet. If it is yours "
                  f"(a new wallet, or a licensed sample), file a counter-notice for refusal {refusal.id}")
    raise ApiError(409, detail, title="Recording already registered", refusal_id=refusal.id,
                   track={"track_id": owner.track_id, "title": owner.title, "artist_name": owner.artist_name,
                          "artist": owner.artist, "blocked": owner.blocked},
                   # The kind only: scores would let a copier tune a copy until it passes.
                   match={"kind": owner.kind},
                   counter_notice={"method": "POST", "path": "/api/moderation/counter-notices",
                                   "body": {"refusal_id": refusal.id, "statement": "…", "contact": "…"}})
