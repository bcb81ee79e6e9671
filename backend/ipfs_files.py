"""Public files streamed from IPFS (tracks' previews and artwork, releases' artwork), Range
supported, never loaded whole; shared by the routers that serve them."""
from __future__ import annotations

from typing import Iterator

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from backend import audio
from backend.ranges import parse_range
from backend.services import Services

_ASSET_HEADS: dict[str, tuple[int, str]] = {}  # cid -> (size, media type): CIDs never change


def serve_cid(request: Request, services: Services, cid: str, extra: dict[str, str] | None = None) -> Response:
    """Stream `cid` from IPFS, Range supported, never holding the file whole. A whole
    file is verified against its CID as it streams (a mismatch cuts the response)."""
    ipfs = services.ipfs
    if cid not in _ASSET_HEADS:
        head = ipfs.cat(cid, offset=0, length=64)
        kind = audio.AUDIO_TYPES.get(audio.sniff_audio(head) or "") or audio.sniff_image(head[:16])
        if len(_ASSET_HEADS) > 4096:
            _ASSET_HEADS.clear()
        _ASSET_HEADS[cid] = (ipfs.size(cid), kind or "application/octet-stream")
    size, media_type = _ASSET_HEADS[cid]
    headers = {"Accept-Ranges": "bytes", **(extra or {})}
    span = parse_range(request.headers.get("range"), size)
    start, end = span if span is not None else (0, size - 1)
    chunks = ipfs.stream(cid) if span is None else ipfs.stream(cid, offset=start, length=end - start + 1)
    first = next(chunks, b"")  # fetched now: IPFS trouble is an error response, not a cut stream

    def body() -> Iterator[bytes]:
        yield first
        yield from chunks

    headers["Content-Length"] = str(end - start + 1)
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(body(), status_code=206 if span is not None else 200, media_type=media_type,
                             headers=headers)
