"""Artists' pages: a public profile per address (name, bio, links, avatar, with what the
ledger says: supporters and what it was paid), the signed-in wallet's own profile edit,
the avatar image, and names for many addresses at once (the rule is backend/names.py's).

A profile is what its wallet says about itself, shown to every visitor: every field is
bounded and checked (links are http(s) only, so none can run script when clicked), the
avatar goes through the same sandboxed decode and re-encode as track artwork, and only
the wallet itself, signed in, can change it."""
from __future__ import annotations

import json
import logging
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlmodel import Session, SQLModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from backend import validators
from backend.artwork import clean as clean_artwork
from backend.audio import sniff_image
from backend.deps import DbDep, ServicesDep, WalletDep
from backend.errors import ApiError
from backend.ipfs_files import serve_cid
from backend.models import ArtistProfile
from backend.names import name_problem, names_for, normal_name, visible_problem
from backend.quotas import lock_cid, lock_wallet, unpin_unreferenced
from backend.services import Services
from ninety.errors import IpfsError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/artists", tags=["artists"])
names_router = APIRouter(prefix="/api/names", tags=["artists"])
T = SQLModel.metadata.tables

MAX_NAME = 80
MAX_BIO = 2000
MAX_LINKS = 5
MAX_LINK_LABEL = 40
MAX_LINK_URL = 300
# The links field: five links at their longest, as JSON with escapes, and no more.
MAX_LINKS_FIELD = 4000
MAX_AVATAR_BYTES = 10 * 1024 * 1024  # as a track's artwork
# The whole form: the avatar and a few short fields (app.py caps the body at this).
PROFILE_FORM_BYTES = MAX_AVATAR_BYTES + 64 * 1024
PROFILE_PATH = "/api/artists/me/profile"
MAX_NAMES = 100
# Characters that reorder text around them (a name that shows as another name) or are
# invisible; refused in names and labels, as are control characters.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


class Link(BaseModel):
    label: str
    url: str


class Paid(BaseModel):
    token: str = Field(description="0x0000000000000000000000000000000000000000 for ETH")
    amount: str = Field(description="base units the ledger has credited this address as a payee")


class ArtistOut(BaseModel):
    address: str
    name: str | None = Field(description="the display name (backend/names.py: the profile's, else the newest "
                                         "genuine listing's artist name), or null")
    bio: str
    links: list[Link]
    avatar_url: str | None
    profile_cid: str | None = Field(description="the profile JSON pinned to IPFS, or null without a profile")
    updated_at: float | None
    supporters: int = Field(description="distinct wallets that bought any listing of this artist")
    paid: list[Paid]
    audit_url: str


class NamesOut(BaseModel):
    names: dict[str, str | None]


def _path_address(value: str) -> str:
    """An address in a path: lower-cased; anything else names no artist (404)."""
    if not validators.ADDRESS.fullmatch(value):
        raise ApiError(404, f"{value[:60]!r} is not an address (0x followed by 40 hex digits)")
    return value.lower()


def artist_out(db: Any, address: str) -> ArtistOut:
    profile = db.get(ArtistProfile, address)
    buyer, balance = T["artist_buyer"], T["account_balance"]
    supporters = db.execute(select(func.count(func.distinct(buyer.c.buyer))).where(buyer.c.artist == address)).scalar()
    # The same figure as the ledger's artist summary (`credited`): the payee balance aggregate.
    paid = [Paid(token=token, amount=str(int(credited)))
            for token, credited in db.execute(select(balance.c.token, balance.c.credited)
                                              .where(balance.c.account == address).order_by(balance.c.token))
            if int(credited) > 0]
    links = [Link(**x) for x in json.loads(profile.links_json)] if profile is not None else []
    return ArtistOut(
        address=address, name=names_for(db, [address])[address], bio=profile.bio if profile is not None else "",
        links=links, avatar_url=avatar_url(address, profile.avatar_cid) if profile is not None else None,
        profile_cid=profile.profile_cid if profile is not None else None,
        updated_at=profile.updated_at if profile is not None else None, supporters=int(supporters or 0), paid=paid,
        audit_url=f"#/ledger/artist/{address}")


def avatar_url(address: str, cid: str | None) -> str | None:
    # The CID in the query makes the URL change with the picture, so it can be cached for good.
    return None if cid is None else f"/api/artists/{address}/avatar?v={cid}"


@router.get("/{address}", response_model=ArtistOut)
def get_artist(address: str, db: DbDep) -> ArtistOut:
    """An address's artist page: its profile (name, bio, links, avatar; empty without
    one), its supporters (distinct buyers of its listings) and what the ledger has
    credited it as a payee, per token. Any well-formed address answers (zeros and nulls
    when it has nothing); 404 only for a malformed one."""
    return artist_out(db, _path_address(address))


@router.get("/{address}/avatar", responses={404: {"description": "no avatar"}})
def get_avatar(address: str, request: Request, services: ServicesDep, db: DbDep,
               v: str | None = Query(None, max_length=100, description="the avatar's CID, as avatar_url gives it")
               ) -> Response:
    """The avatar (PNG or JPEG, re-encoded without metadata when it was saved), streamed
    from IPFS; only images this server pinned. Cached for good when `v` names the
    current avatar (as `avatar_url` does), else revalidated."""
    who = _path_address(address)
    profile = db.get(ArtistProfile, who)
    if profile is None or profile.avatar_cid is None:
        raise ApiError(404, f"{who} has no avatar")
    if services.ipfs is None:
        raise ApiError(503, "this server has no IPFS node configured")
    cache = "public, max-age=31536000, immutable" if v == profile.avatar_cid else "public, no-cache"
    return serve_cid(request, services, profile.avatar_cid, {"Cache-Control": cache})


@router.put(PROFILE_PATH.removeprefix("/api/artists"), response_model=ArtistOut)
async def put_profile(request: Request, services: ServicesDep, wallet: WalletDep) -> ArtistOut:
    """Save the signed-in wallet's profile. Multipart form: `name` (1 to 80 characters),
    `bio` (up to 2000), `links` (a JSON array of at most 5 {label (1 to 40 characters),
    url (http or https, up to 300)}), optional `avatar` (PNG or JPEG, at most 10 MiB,
    checked and re-encoded as track artwork) or `remove_avatar=1`; without either the
    avatar stays. Pins the profile JSON to IPFS and answers the profile as GET does."""
    if services.ipfs is None:
        raise ApiError(503, "this server has no IPFS node configured (NINETY_IPFS_API)")
    form = await request.form(max_files=1, max_fields=8, max_part_size=64 * 1024)
    try:
        return await run_in_threadpool(_save, form, services, wallet)
    finally:
        await form.close()


def _plain(value: str, name: str, *, newlines: bool = False) -> str:
    for ch in value:
        if ch in _BIDI or (unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and not (newlines and ch in "\n\t")):
            raise ApiError(422, f"{name} contains a control or invisible character (U+{ord(ch):04X})")
    return value


def _name(raw: str) -> str:
    """A display name as it is saved and shown: NFKC (fullwidth and mathematical letters
    are plain ones), single spaces, and what names.name_problem allows: it stands in for
    an address on every page, so it must show something, not look like an address (the
    web app's stand-in for an address without a name is one) and not mix look-alike
    scripts (a Cyrillic 'о' in another artist's name)."""
    name = normal_name(_plain(raw, "name"))
    if not 1 <= len(name) <= MAX_NAME:
        raise ApiError(422, f"name must be 1 to {MAX_NAME} characters (after Unicode normalisation)")
    _plain(name, "name")  # NFKC may make characters of others
    problem = name_problem(name)
    if problem:
        raise ApiError(422, f"name {problem}")
    return name


def _link(item: Any, i: int) -> dict[str, str]:
    if not isinstance(item, dict) or set(item) != {"label", "url"} or not all(isinstance(v, str) for v in item.values()):
        raise ApiError(422, f"links[{i}] must be an object with exactly a text label and a text url")
    label, url = normal_name(_plain(item["label"], f"links[{i}].label")), item["url"].strip()
    if not 1 <= len(label) <= MAX_LINK_LABEL:
        raise ApiError(422, f"links[{i}].label must be 1 to {MAX_LINK_LABEL} characters")
    _plain(label, f"links[{i}].label")
    problem = visible_problem(label)
    if problem:
        raise ApiError(422, f"links[{i}].label {problem}")
    if len(url) > MAX_LINK_URL:
        raise ApiError(422, f"links[{i}].url is longer than {MAX_LINK_URL} characters")
    if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in url):
        raise ApiError(422, f"links[{i}].url contains spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        raise ApiError(422, f"links[{i}].url is not a valid URL") from None
    # Only web pages: javascript:, data:, file: and the like would run or open something
    # on a visitor's machine when the link is clicked.
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ApiError(422, f"links[{i}].url must be a web address (http or https) with a host")
    # user@host hides the real host behind a name that looks like another site's.
    if parts.username is not None or parts.password is not None:
        raise ApiError(422, f"links[{i}].url must not carry a user name or password")
    return {"label": label, "url": url}


def _links(raw: str) -> list[dict[str, str]]:
    if not raw:
        return []
    try:
        items = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(422, "links must be a JSON array of {label, url}") from None
    if not isinstance(items, list):
        raise ApiError(422, "links must be a JSON array of {label, url}")
    if len(items) > MAX_LINKS:
        raise ApiError(422, f"at most {MAX_LINKS} links")
    return [_link(item, i) for i, item in enumerate(items)]


def _fields(form: Any) -> tuple[str, str, list[dict[str, str]], UploadFile | None, bool]:
    text = validators.form_text
    name = _name(text(form, "name", required=True, max_len=MAX_NAME))
    # Browsers send a textarea's line breaks as CRLF in a multipart form: one break each,
    # counted once (up to twice the characters are read before the breaks are normalised).
    bio = text(form, "bio", max_len=2 * MAX_BIO).replace("\r\n", "\n").replace("\r", "\n")
    if len(bio) > MAX_BIO:
        raise ApiError(422, f"bio is longer than {MAX_BIO} characters")
    bio = _plain(bio, "bio", newlines=True)
    links = _links(text(form, "links", max_len=MAX_LINKS_FIELD))
    remove = text(form, "remove_avatar", max_len=5)
    if remove not in ("", "0", "1"):
        raise ApiError(422, "remove_avatar must be 1 (or left out)")
    avatar = form.get("avatar")
    if avatar is not None and not isinstance(avatar, UploadFile):
        if avatar != "":
            raise ApiError(422, "avatar must be a file")
        avatar = None
    if isinstance(avatar, UploadFile) and not avatar.filename and avatar.size == 0:
        avatar = None  # a browser's empty file input
    if avatar is not None and remove == "1":
        raise ApiError(422, "send an avatar or remove_avatar=1, not both")
    return name, bio, links, avatar, remove == "1"


def _avatar(upload: UploadFile, services: Services) -> str:
    """The avatar checked as track artwork is (type from its bytes, size, pixels, decode
    in the sandbox), re-encoded without metadata and pinned: its CID."""
    assert services.ipfs is not None
    upload.file.seek(0)
    if sniff_image(upload.file.read(16)) is None:
        raise ApiError(415, "avatar must be a PNG or JPEG image (judged from its bytes)")
    upload.file.seek(0)
    raw = upload.file.read(MAX_AVATAR_BYTES + 1)
    if len(raw) > MAX_AVATAR_BYTES:
        raise ApiError(413, f"avatar is larger than {MAX_AVATAR_BYTES // (1024 * 1024)} MiB")
    with tempfile.TemporaryDirectory(prefix="ninety-avatar-") as tmp:
        try:
            image = clean_artwork(raw, services.settings, Path(tmp))
        except ApiError as e:  # the artwork checks' words, about the avatar
            e.detail = e.detail.replace("artwork", "avatar", 1)
            raise
    return services.ipfs.add_bytes(image.data)


def _save(form: Any, services: Services, wallet: str) -> ArtistOut:
    """Check the form, pin a new avatar, then under the wallet's lock pin the profile
    JSON and store it; what it replaced is unpinned once nothing refers to it."""
    ipfs = services.ipfs
    assert ipfs is not None
    name, bio, links, avatar, remove = _fields(form)
    new_avatar = _avatar(avatar, services) if avatar is not None else None
    replaced: list[str] = []
    profile_cid: str | None = None
    try:
        with Session(services.engine) as db:
            lock_wallet(db, wallet)  # one edit at a time per wallet: the later one wins
            old = db.get(ArtistProfile, wallet)
            avatar_cid = new_avatar if new_avatar else (None if remove or old is None else old.avatar_cid)
            now = time.time()
            doc = {"version": 1, "address": wallet, "name": name, "bio": bio, "links": links, "avatar": avatar_cid,
                   "updated_at": now}
            profile_cid = ipfs.add_bytes(json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False).encode())
            kept = sorted(c for c in (avatar_cid, profile_cid) if c)
            if old is None:
                db.add(ArtistProfile(address=wallet, name=name, bio=bio, links_json=json.dumps(links),
                                     avatar_cid=avatar_cid, profile_cid=profile_cid, updated_at=now))
            else:
                replaced = [c for c in (old.avatar_cid, old.profile_cid) if c and c not in (avatar_cid, profile_cid)]
                old.name, old.bio, old.links_json = name, bio, json.dumps(links)
                old.avatar_cid, old.profile_cid, old.updated_at = avatar_cid, profile_cid, now
                db.add(old)
            # Another wallet's edit or an expired upload may be unpinning the same picture
            # (a CID is content): it checks for references under this lock, so it sees this
            # row, or it unpinned before this commit and the pins below restore it.
            for cid in kept:
                lock_cid(db, cid)
            db.commit()
        for cid in kept:
            ipfs.pin(cid)
    except BaseException:
        # Nothing refers to what was pinned for this edit unless the row was saved: a
        # failed commit (database locked, connection lost) must not leave pins behind.
        try:
            _unpin_unused(services, [c for c in (new_avatar, profile_cid) if c])
        except IpfsError as e:  # the node is away: say which pins are left, keep the first error
            log.warning("profile of %s not saved; pins left behind (%s): %s %s", wallet, e, new_avatar, profile_cid)
        raise
    _unpin_unused(services, replaced)
    with Session(services.engine) as db:
        return artist_out(db, wallet)


def _unpin_unused(services: Services, cids: list[str]) -> None:
    """Unpin those of `cids` nothing refers to: no profile (two wallets may have saved the
    same picture: the same CID), no upload, no release (quotas.unpin_unreferenced knows
    every table holding a pinned CID)."""
    if cids and services.ipfs is not None:
        unpin_unreferenced(services.engine, services.ipfs, cids)


@names_router.get("", response_model=NamesOut)
def get_names(db: DbDep, address: list[str] = Query(..., description=f"1 to {MAX_NAMES} addresses")) -> NamesOut:
    """Display names of up to 100 addresses at once (`?address=0x…&address=0x…`): each
    the profile's name, else the artist name of the address's newest genuine listing,
    else null. Keys are the addresses lower-cased."""
    if len(address) > MAX_NAMES:
        raise ApiError(422, f"at most {MAX_NAMES} addresses per request (got {len(address)})")
    wanted = [validators.address(a, "address") for a in address]
    return NamesOut(names=names_for(db, [a for a in wanted if a]))
