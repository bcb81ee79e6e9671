"""The tracks' files: public previews and artwork streamed from IPFS, and the full
original for a wallet that bought the track or a release holding it (or any signed-in
wallet for a free one), decrypted as it streams, or converted to FLAC, MP3, Ogg Vorbis or
AAC (backend/transcode.py: made once, cached encrypted the same way). Only files this
server made and pinned itself are served."""
from __future__ import annotations

import re
from typing import Annotated, Any, Iterator, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select
from sqlmodel import SQLModel

from backend import transcode
from backend.catalog import genuine_releases_holding, is_free, refuse_if_blocked, shown_track, upload_of
from backend.crypto import decrypt_range
from backend.deps import DbDep, ServicesDep, TrackId, WalletDep
from backend.errors import ApiError
from backend.ipfs_files import serve_cid
from backend.ranges import parse_range
from backend.ratelimit import client_of
from backend.release_fairness import MAX_SALES, fair_sales
from backend.services import Services

router = APIRouter(prefix="/api/tracks", tags=["catalog"])
T = SQLModel.metadata.tables


def _asset(request: Request, services: Services, db: Any, track_id: int, column: str, what: str) -> Response:
    """A public file of the track, streamed from IPFS, Range supported: only files this
    server made and pinned itself (its upload of the track), never a CID the track's
    metadata names on its own, which anyone registering a track can point anywhere."""
    row = shown_track(db, track_id)  # 404 unless its registrant uploaded it here
    refuse_if_blocked(row)
    upload = upload_of(db, row)
    assert upload is not None
    if services.ipfs is None:
        raise ApiError(503, "this server has no IPFS node configured")
    return serve_cid(request, services, getattr(upload, column),
                        {"Cache-Control": "public, max-age=31536000, immutable"})


@router.get("/{track_id}/preview", responses={206: {"description": "a byte range"}})
def preview(track_id: TrackId, request: Request, services: ServicesDep, db: DbDep) -> Response:
    """The public preview clip (Ogg Vorbis, Range requests supported), for tracks
    uploaded through this server; a whole file is verified against its CID as it streams."""
    return _asset(request, services, db, track_id, "preview_cid", "preview")


@router.get("/{track_id}/artwork")
def artwork(track_id: TrackId, request: Request, services: ServicesDep, db: DbDep) -> Response:
    """The track's artwork (PNG or JPEG, re-encoded without metadata at upload), for
    tracks uploaded through this server; verified against its CID as it streams."""
    return _asset(request, services, db, track_id, "artwork_cid", "artwork")


def bought(db: Any, wallet: str, track_id: int) -> bool:
    """A Sale to `wallet` of the track, or of a genuine release holding it made while the
    release's split was fair to the track's collaborators (backend/release_fairness.py:
    the tracks' splits and prices as of that sale), whatever became of it since: the buyer
    paid for its tracks. Genuine, because the contract lets an artist list any of its
    tracks on a "release" whose metadata is not a release of them (under open
    registration, where no attestation binds the tracks); fair at the sale, because a
    release sold cheap with a split paying only the artist must not open its tracks'
    downloads and cut their collaborators out, nor a release from before a collaborator
    joined the track."""
    sale = T["sale"]
    if db.execute(select(sale.c.tx_hash).where(sale.c.buyer == wallet, sale.c.track_id == track_id)
                  .limit(1)).first() is not None:
        return True
    holding = genuine_releases_holding(track_id)
    sales = db.execute(select(sale.c.track_id, sale.c.split_id, sale.c.amount, sale.c.block_number, sale.c.log_index)
                       .where(sale.c.buyer == wallet, sale.c.track_id.in_(holding))
                       .order_by(sale.c.block_number.desc(), sale.c.log_index.desc())
                       .limit(MAX_SALES)).mappings().all()
    return bool(fair_sales(db, sales))


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._ -]", "_", name).strip(" .") or "track"
    return cleaned[:150]


Format = Literal["original", "flac", "mp3", "ogg", "aac"]


@router.get("/{track_id}/download", responses={206: {"description": "a byte range"},
                                                429: {"description": "this wallet or address has its conversions "
                                                                     "running, or asked too many: retry later"},
                                                503: {"description": "the file is being made, or too many "
                                                                     "conversions wait: retry after Retry-After"}})
def download(track_id: TrackId, request: Request, services: ServicesDep, db: DbDep, wallet: WalletDep,
             fmt: Annotated[Format, Query(alias="format")] = "original") -> Response:
    """The full track, for a signed-in wallet that bought the track or a release
    holding it (a Sale of either in the ledger), or for any signed-in wallet if the track
    is free (an ETH price of 0): the original file (`format=original`, the default), or
    made from it on first request: `flac`, `mp3` (LAME, 320 kbit/s CBR), `ogg` (Vorbis,
    quality 6) or `aac` (AAC-LC 256 kbit/s in .m4a), tagged with the title, the artist's
    name, the album (a release holding it) and the artwork, and cached encrypted.
    Serving a file never counts toward the sponsor pools (any site can make a signed-in
    browser send a GET): a listener signs the download and POSTs it to
    `/api/tracks/{track_id}/free-download`. 401 without a session, 403 without a
    purchase (both before any conversion starts), 422 for an unknown format, 503 with
    Retry-After while too many conversions wait, or while this file is being made and not
    done within NINETY_TRANSCODE_WAIT seconds (header `X-Ninety-Transcode: making`: the
    conversion goes on, ask again after Retry-After). 429 with Retry-After when the
    wallet or its client address already has NINETY_TRANSCODE_PER_WALLET /
    NINETY_TRANSCODE_PER_CLIENT conversions running or queued, or past the `transcode` rate
    limit (conversions started). Range requests work."""
    row = shown_track(db, track_id)
    refuse_if_blocked(row)
    if not is_free(row) and not bought(db, wallet, track_id):
        raise ApiError(403, f"{wallet} has not bought track {track_id} (nor a release holding it): buy it, then "
                            "download once the sale is indexed", title="Purchase required")
    upload = upload_of(db, row)
    assert upload is not None  # shown_track refused the track otherwise
    if services.ipfs is None:
        raise ApiError(503, "this server has no IPFS node configured")
    if fmt == "original":
        return _stream_encrypted(request, services.ipfs, services.master_key.unwrap(upload.wrapped_key),
                                 upload.audio_cid, upload.size, upload.nonce_prefix, upload.chunk_size,
                                 _safe_name(upload.file_name), upload.content_type, {})
    tags = transcode.track_tags(db, row)
    made = transcode.cached(db, upload.id, fmt, transcode.tags_digest(tags, upload.artwork_cid))
    how = "cached"
    if made is None:
        db.rollback()  # no read transaction held while waiting for the encode
        try:
            made, how = transcode.obtain(services, upload, fmt, tags, wallet=wallet,
                                         client=client_of(request.scope, services.settings.trusted_proxies))
        except transcode.Limited as e:
            raise ApiError(429, str(e), headers={"Retry-After": str(e.retry_after)}) from None
        except transcode.Busy as e:
            # "making": this file's conversion runs (or waits for a worker) and will be cached:
            # ask again after Retry-After. Without it, no conversion place was free.
            headers = {"Retry-After": str(e.retry_after), **({"X-Ninety-Transcode": "making"} if e.making else {})}
            raise ApiError(503, str(e), title="Busy", headers=headers) from None
    kind = transcode.FORMATS[fmt]
    return _stream_encrypted(request, services.ipfs, services.master_key.unwrap(made["wrapped_key"]),
                             made["cid"], made["size"], made["nonce_prefix"], made["chunk_size"],
                             f"{_safe_name(tags['title'])}.{kind.ext}", kind.content_type,
                             {"X-Ninety-Transcode": how})


def _stream_encrypted(request: Request, ipfs: Any, key: bytes, cid: str, size: int, nonce_prefix: str,
                      chunk_size: int, file_name: str, content_type: str, extra: dict[str, str]) -> Response:
    """A file kept encrypted on IPFS (backend/crypto.py), decrypted as it streams; Range
    requests read only the chunks that cover them."""
    span = parse_range(request.headers.get("range"), size)
    start, end = span if span is not None else (0, size - 1)
    prefix = bytes.fromhex(nonce_prefix)
    if size == 0:
        body: Iterator[bytes] = iter([b""])
    else:
        # The first chunk is fetched now, so IPFS trouble is an error response, not a cut stream.
        chunks = decrypt_range(lambda off, n: ipfs.cat(cid, offset=off, length=n),
                               key, prefix, size, start, end, chunk_size)
        first = next(chunks)

        def body_iter() -> Iterator[bytes]:
            yield first
            yield from chunks

        body = body_iter()
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - start + 1 if size else 0),
        "Content-Disposition": f'attachment; filename="{file_name}"',
        "Cache-Control": "private, no-store",
        **extra,
    }
    status = 200
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        status = 206
    return StreamingResponse(body, status_code=status, media_type=content_type, headers=headers)
