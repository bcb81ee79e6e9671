"""Artwork: decoded with Pillow in the sandbox, refused above a pixel limit, and
re-encoded without its metadata before it is pinned and shown to every visitor.

The size is read from the image header and checked before a single pixel is decoded
(a 100,000 x 100,000 PNG is a few KB on the wire and 30 GB in memory). The output keeps
only pixels: no EXIF (camera, GPS position, time), no XMP, no ICC profile, no text
chunks. EXIF orientation is applied first, so the picture still looks the same. Large
images are scaled to fit `MAX_SIDE`, which is more than any cover is shown at.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend import sandbox
from backend.errors import ApiError

MAX_PIXELS = 36_000_000  # default of NINETY_MAX_ARTWORK_PIXELS (6000 x 6000)
MAX_SIDE = 3000
JPEG_QUALITY = 90


class ArtworkError(sandbox.Refused):
    """Not an image this server accepts; the message is safe to show the uploader."""


def clean_job(source: str, target: str, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> dict[str, Any]:
    """Decode `source` (PNG or JPEG), write it re-encoded to `target`; run it through
    `backend.sandbox`."""
    from PIL import Image, ImageOps, PngImagePlugin  # only the sandbox child decodes images

    # The pixel limit is checked below, from the header, with the size in the message
    # (Pillow's own guard would refuse in open() without it); text chunks are capped too.
    Image.MAX_IMAGE_PIXELS = None
    PngImagePlugin.MAX_TEXT_CHUNK = 64 * 1024
    PngImagePlugin.MAX_TEXT_MEMORY = 256 * 1024
    try:
        with Image.open(source, formats=["PNG", "JPEG"]) as im:
            width, height = im.size  # from the header: nothing is decoded yet
            if width < 1 or height < 1 or width * height > max_pixels:
                raise ArtworkError(f"artwork is {width:,} x {height:,} pixels; this server accepts at most "
                                   f"{max_pixels:,} pixels (e.g. {int(max_pixels ** 0.5):,} x {int(max_pixels ** 0.5):,})")
            kind = im.format
            if kind == "JPEG":
                im.draft("RGB", (max_side, max_side))  # decode big JPEGs at a reduced scale
            im.load()
            picture = ImageOps.exif_transpose(im)
    except ArtworkError:
        raise
    except Exception as e:
        raise ArtworkError(f"artwork could not be decoded as PNG or JPEG ({type(e).__name__})") from None
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    has_alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
    clean = picture.convert("RGBA" if kind == "PNG" and has_alpha else "RGB")
    clean.info.clear()  # savers copy comments, ICC profiles and EXIF from here: keep only pixels
    if kind == "PNG":
        clean.save(target, format="PNG", optimize=True)
        media_type = "image/png"
    else:
        clean.save(target, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        media_type = "image/jpeg"
    return {"media_type": media_type, "width": clean.width, "height": clean.height,
            "source_width": width, "source_height": height}


@dataclass(frozen=True)
class Artwork:
    data: bytes
    media_type: str  # image/png or image/jpeg
    width: int
    height: int


def clean(data: bytes, settings: Any, workdir: Path) -> Artwork:
    """The artwork re-encoded without metadata, within the pixel limit, in a decode slot.
    Raises ApiError: 422 for an image refused (with the reason), 429 with Retry-After when
    every decode slot stays busy. `workdir` is the upload's temporary directory."""

    source, target = workdir / "artwork.in", workdir / "artwork.out"
    source.write_bytes(data)
    try:
        with sandbox.decode_slot(getattr(settings, "max_decodes", 2), getattr(settings, "decode_wait", 10.0)):
            out = sandbox.run("backend.artwork:clean_job", source=str(source), target=str(target),
                              max_pixels=int(getattr(settings, "max_artwork_pixels", MAX_PIXELS)))
    except sandbox.Busy as e:
        raise ApiError(429, str(e), headers={"Retry-After": str(e.retry_after)}) from None
    except sandbox.Refused as e:
        raise ApiError(422, str(e)) from None
    return Artwork(target.read_bytes(), out["media_type"], out["width"], out["height"])

