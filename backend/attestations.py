"""What this server attests an upload may be listed with: a split that createSplit
accepts, a recording that is not another wallet's (409 naming the track it matches), a
split that keeps the payees of the wallet's earlier track of the same recording, and the
catalog signer's EIP-712 attestation that only this wallet may list the metadata CID
with this split. A release's split must also keep its tracks' collaborators whole
(backend/release_splits.py, in the token the release will be priced in), and its
members must still be the wallet's tracks this server sells. Used by the upload routes
(backend/api/uploads.py, releases.py)."""
from __future__ import annotations

import json
import time
from typing import Any

from sqlmodel import Session, SQLModel, select
from eth_utils import to_checksum_address

from backend import fingerprint, recordings, release_splits, validators
from backend.catalog import member_problem, tracks_by_id
from backend.errors import ApiError
from backend.models import ReleaseUpload
from backend.release_fairness import current_members
from backend.services import Services
from ninety.attest import ATTESTATION_SECONDS
from ninety.contract import ETH
from ninety.splits import sorted_split


def split_from_json(raw: str, wallet: str, contract: str = "") -> tuple[list[str], list[int]]:
    """The form's `split` (JSON), or all to `wallet` when it is empty."""
    if not raw:
        return sorted_split([(wallet, 1_000_000)])
    try:
        return split_pairs(json.loads(raw), contract)
    except (ValueError, TypeError, KeyError, RecursionError):  # RecursionError: [[[…]]] too deep to parse
        raise ApiError(422, 'split must be JSON like [{"address": "0x…", "share_ppm": 600000}, …]') from None


def split_pairs(pairs: Any, contract: str) -> tuple[list[str], list[int]]:
    """A split from [{"address", "share_ppm"}, …], checked as createSplit checks it."""
    parsed = [(str(p["address"]), int(p["share_ppm"])) for p in pairs]
    if not 1 <= len(parsed) <= 100:
        raise ApiError(422, "a split has 1 to 100 recipients")
    for address, share in parsed:
        if not validators.ADDRESS.fullmatch(address):
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


def attest(services: Services, metadata_cid: str, wallet: str, split_id: str,
           track_ids: list[int] | None = None) -> tuple[str, int]:
    """An attestation for `wallet` to list `metadata_cid` with `split_id` (a release of
    `track_ids`, in order, when given), valid ATTESTATION_SECONDS by block time (the
    contract's clock, which a dev chain may have moved ahead)."""
    chain_now = int(services.rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    deadline = max(chain_now, int(time.time())) + ATTESTATION_SECONDS
    contract = to_checksum_address(services.deployment.address)
    chain_id = services.deployment.chain_id
    return services.catalog.sign_listing(metadata_cid, wallet, split_id, chain_id, contract, deadline,
                                         track_ids), deadline


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


def release_token(members: list[release_splits.Member], token: str | None) -> str:
    """The token a release will be priced in: the one asked for, else its tracks' common
    token, else ETH (the fair-share rule compares the tracks priced in it with its price)."""
    if token is not None:
        if not validators.ADDRESS.fullmatch(token):
            raise ApiError(422, f"token {token[:50]!r} is not an address (0x0… for ETH)")
        return token.lower()
    return release_splits.common_token(members) or ETH


def unit_of(tokens: Any, token: str) -> Any:
    """Amounts of `token` in its unit ("4 mUSDC"), from the server's token cache (or base
    units without one)."""
    if tokens is None:
        return None
    symbol, decimals = tokens.info(token)
    return lambda amount: release_splits.amount_text(amount, symbol, decimals)


def cannot_be_fair(e: release_splits.CannotBeFair, tokens: Any = None) -> ApiError:
    extra = {} if e.least_price is None else {"least_price": str(e.least_price)}
    return ApiError(409, e.explain(unit_of(tokens, e.token)), title="No fair split for this release",
                    token=e.token, price=str(e.price), reprice_track_ids=e.track_ids, **extra)


def refuse_release(db: Any, release: ReleaseUpload, wallet: str, recipients: list[str], shares: list[int],
                   token: str | None, price: int, tokens: Any = None) -> None:
    """409 unless every member of the release is still one of `wallet`'s tracks this server
    sells (a track taken down since the upload, say), and the split keeps every other payee
    of those tracks at its fair share for a release sold at `price` in `token` (default:
    the tracks' common token, else ETH; backend/release_splits.py)."""
    ids = [int(t) for t in json.loads(release.track_ids)]
    rows = tracks_by_id(db, ids)
    for tid in ids:
        problem = member_problem(rows[tid], wallet) if tid in rows else None
        if tid not in rows or problem is not None:
            raise ApiError(409, f"this release can no longer be listed: {problem.detail if problem else f'no track {tid}'}",
                           title="Release member unavailable", track_id=tid)
    members = current_members(db, ids)
    priced_in = release_token(members, token)
    try:
        suggested = release_splits.suggested_split(members, priced_in, price, wallet)
    except release_splits.CannotBeFair as e:
        raise cannot_be_fair(e, tokens) from None
    losers = release_splits.losers(members, priced_in, price, wallet, recipients, shares)
    if losers:
        cut = ", ".join(f"{x.address} ({x.owed_ppm / 10_000:g}% → {x.given_ppm / 10_000:g}%)" for x in losers)
        raise ApiError(409, f"this split would pay the payees of the release's tracks less from a sale of the release "
                            f"than a sale of their tracks pays them (their share of each track priced in the "
                            f"release's token times its price, over the release's price; their whole share of a "
                            f"track priced in another token): {cut}. Give each at least that share "
                            "(suggested_split does), or raise the release's price",
                       title="Collaborators would lose share", token=priced_in, price=str(price),
                       losers=[{"address": x.address, "share_ppm": x.owed_ppm, "new_share_ppm": x.given_ppm}
                               for x in losers],
                       suggested_split=[{"address": a, "share_ppm": s} for a, s in suggested])
