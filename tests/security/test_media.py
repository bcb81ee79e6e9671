"""Decompression bombs and malformed media, sent through POST /api/uploads to the real
server (uvicorn in its own process): refused with a 4xx from the header, quickly, with
the server's memory flat, also eight at once; decoding that is allowed runs a bounded
number at a time. Measured times and memory are printed for the record (`-s`)."""
from __future__ import annotations

import io
import re
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.support.live_api import MemoryWatch
from tests.support.media import flac_silence

BOMB_MEMORY_MB = 100  # the bound on the server's growth
UPLOADS_PY = (Path(__file__).resolve().parents[2] / "backend" / "api" / "uploads.py").read_text()


def calls(function: str) -> pytest.MarkDecorator:
    """Skip until the upload route uses `module.function` (called through its module, or
    imported from it)."""
    module, name = function.split(".")
    wired = re.search(rf"\b{module}s?\.{name}\(|from backend\.{module} import [^\n]*\b{name}\b", UPLOADS_PY)
    return pytest.mark.skipif(wired is None, reason=f"backend/api/uploads.py does not call {function} yet")


# ---------------------------------------------------------------- crafted files


def wav(rate: int = 44_100, channels: int = 2, bits: int = 16, data_size: int | None = None,
        data: bytes = b"\0" * 4096, before_data: bytes = b"") -> bytes:
    """A PCM WAV whose header says whatever it is told to."""
    fmt = struct.pack("<HHIIHH", 1, channels, rate & 0xFFFFFFFF, (rate * channels * bits // 8) & 0xFFFFFFFF,
                      (channels * bits // 8) & 0xFFFF, bits)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + before_data
            + b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tone(seconds: float = 3.0, rate: int = 16_000, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    out = io.BytesIO()
    soundfile.write(out, (0.3 * np.sin(2 * np.pi * 220 * t)).astype("float32"), rate, format=fmt, subtype=subtype)
    return out.getvalue()


def mp3_lying_xing() -> bytes:
    """An honest 3 s MP3 whose Xing header claims 4 billion frames."""
    data = bytearray(tone(3.0, fmt="MP3", subtype="MPEG_LAYER_III"))
    at = max(data.find(b"Xing"), data.find(b"Info"))
    assert at > 0, "libsndfile wrote no Xing/Info header"
    data[at + 8 : at + 12] = struct.pack(">I", 0xFFFFFFF0)
    return bytes(data)


def mp3_huge_id3() -> bytes:
    """An ID3v2 tag that says it is 256 MB long, then nothing."""
    size = 0x0FFFFFFF
    return b"ID3\x04\x00\x00" + bytes([size >> 21 & 0x7F, size >> 14 & 0x7F, size >> 7 & 0x7F, size & 0x7F]) + b"\0" * 4000


def ogg_huge_granule() -> bytes:
    """An Ogg Vorbis file whose last page says the stream is 2^62 samples long."""
    data = bytearray(tone(3.0, fmt="OGG", subtype="VORBIS"))
    last = data.rfind(b"OggS")
    data[last + 6 : last + 14] = struct.pack("<q", 2**62)
    return bytes(data)


def ogg_many_channels() -> bytes:
    """A Vorbis identification header claiming 255 channels at 4 GHz."""
    data = bytearray(tone(3.0, fmt="OGG", subtype="VORBIS"))
    at = data.find(b"\x01vorbis")
    data[at + 11] = 255
    data[at + 12 : at + 16] = struct.pack("<I", 4_000_000_000)
    return bytes(data)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG header declaring width x height RGB pixels, over a little zlib data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    idat = z.compress(b"\0" * 2_000_000) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


# ---------------------------------------------------------------- the attacks


# The tests taking `module_api` share one server whatever their order: each upload of theirs
# is refused (nothing is kept), and memory is measured as growth within each test's own
# watch (the FLAC test warms the server up first for that reason).
def test_the_flac_bomb_is_refused_from_its_header_also_eight_at_once(module_api):
    api = module_api
    h = api.login(1)
    bomb = flac_silence()
    assert len(bomb) < 10_000  # the "8 KB FLAC"
    api.upload(h, bomb, name="silence.flac", content_type="audio/flac", timeout=60)  # first use imports things

    with MemoryWatch(api.pid) as one:
        started = time.monotonic()
        r = api.upload(h, bomb, name="silence.flac", content_type="audio/flac", timeout=60)
        single = time.monotonic() - started
    assert r.status_code == 422, r.text
    assert "655,350 Hz" in r.json()["detail"]

    def send(_: int) -> tuple[int, float]:
        t0 = time.monotonic()
        resp = api.upload(h, bomb, name="silence.flac", content_type="audio/flac", timeout=60)
        return resp.status_code, time.monotonic() - t0

    with MemoryWatch(api.pid) as eight:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(send, range(8)))
    print(f"\nFLAC bomb ({len(bomb):,} B, 8 ch at 655,350 Hz): one refused in {single:.2f} s, server "
          f"+{one.growth_mb:.1f} MB; eight at once refused in {max(t for _, t in results):.2f} s, server "
          f"+{eight.growth_mb:.1f} MB, decoders spawned {eight.children_peak / 1e6:.0f} MB")
    assert [s for s, _ in results] == [422] * 8, results
    assert one.growth_mb < BOMB_MEMORY_MB and eight.growth_mb < BOMB_MEMORY_MB
    assert eight.children_peak == 0, "a bomb refused from its header never reaches a decoder"


def test_wav_headers_claiming_huge_sizes_are_refused(module_api):
    api = module_api
    h = api.login(1)
    attacks = {
        "data chunk claiming 4 GB": wav(data_size=0xFFFFFFF0),
        "4 GHz sample rate": wav(rate=4_000_000_000, channels=8, data=b"\0" * 2_000_000),
        "65,535 channels": wav(channels=65_535, data=b"\0" * 65_535 * 2 * 4),
        "100,000 chunks before the data": wav(before_data=b"junk\0\0\0\0" * 100_000),
        "1 Hz sample rate": wav(rate=1, channels=1, data=b"\0" * 4096),
    }
    with MemoryWatch(api.pid) as watch:
        for what, data in attacks.items():
            t0 = time.monotonic()
            r = api.upload(h, data, timeout=60)
            print(f"\nWAV {what} ({len(data):,} B): {r.status_code} in {time.monotonic() - t0:.2f} s: "
                  f"{r.json().get('detail')}")
            assert r.status_code == 422, (what, r.text)
    print(f"server +{watch.growth_mb:.1f} MB")
    assert watch.growth_mb < BOMB_MEMORY_MB


def test_mp3_and_ogg_oddities_are_refused(module_api):
    api = module_api
    h = api.login(1)
    attacks = {
        ("MP3 Xing header claiming 4 billion frames", "a.mp3", "audio/mpeg"): mp3_lying_xing(),
        ("MP3 ID3 tag claiming 256 MB", "a.mp3", "audio/mpeg"): mp3_huge_id3(),
        ("MP3 frame sync then garbage", "a.mp3", "audio/mpeg"): b"\xff\xfb\x90\x64" + bytes(range(256)) * 40,
        ("Ogg last page claiming 2^62 samples", "a.ogg", "audio/ogg"): ogg_huge_granule(),
        ("Vorbis header claiming 255 channels at 4 GHz", "a.ogg", "audio/ogg"): ogg_many_channels(),
    }
    with MemoryWatch(api.pid) as watch:
        for (what, name, mime), data in attacks.items():
            t0 = time.monotonic()
            r = api.upload(h, data, name=name, content_type=mime, timeout=60)
            print(f"\n{what} ({len(data):,} B): {r.status_code} in {time.monotonic() - t0:.2f} s: "
                  f"{r.json().get('detail')}")
            assert r.status_code == 422, (what, r.text)
    print(f"server +{watch.growth_mb:.1f} MB")
    assert watch.growth_mb < BOMB_MEMORY_MB


@calls("artwork.clean")
def test_a_png_declaring_100k_by_100k_pixels_is_refused(module_api):
    api = module_api
    h = api.login(1)
    bomb = png_declaring(100_000, 100_000)
    with MemoryWatch(api.pid) as watch:
        t0 = time.monotonic()
        r = api.upload(h, tone(2.0), artwork=bomb, timeout=60)
        took = time.monotonic() - t0
    print(f"\nPNG declaring 100,000 x 100,000 pixels ({len(bomb):,} B): {r.status_code} in {took:.2f} s, "
          f"server +{watch.growth_mb:.1f} MB: {r.json().get('detail')}")
    assert r.status_code == 422, r.text
    assert "pixels" in r.json()["detail"]
    assert watch.growth_mb < BOMB_MEMORY_MB


@calls("audio.analyse")
def test_decoding_that_is_allowed_runs_a_bounded_number_at_a_time(live_api):
    """90 s of 8-channel 192 kHz silence, padded to stay under the samples-per-byte limit:
    legal, and several seconds of decoding. With one decode slot and no wait, a second
    upload while it decodes is told to come back (429 with Retry-After)."""
    api = live_api(NINETY_MAX_DECODES="1", NINETY_DECODE_WAIT="0")
    h = api.login(1)
    heavy = flac_silence(rate=192_000, channels=8, seconds=90.0, padding=600_000)
    with ThreadPoolExecutor(2) as pool, MemoryWatch(api.pid) as watch:
        t0 = time.monotonic()
        first = pool.submit(api.upload, h, heavy, name="long.flac", content_type="audio/flac")
        time.sleep(1.0)  # the first is decoding by now (it takes several seconds)
        second = api.upload(h, tone(2.0), timeout=60)
        r1 = first.result()
        took = time.monotonic() - t0
    print(f"\n90 s of 8 x 192 kHz FLAC ({len(heavy):,} B): {r1.status_code} after {took:.1f} s; meanwhile "
          f"{second.status_code} Retry-After {second.headers.get('retry-after')}; server +{watch.growth_mb:.1f} MB, "
          f"decoder peak {watch.children_peak / 1e6:.0f} MB")
    assert second.status_code == 429 and int(second.headers["retry-after"]) >= 1, second.text
    assert r1.status_code != 429 and r1.status_code < 500, r1.text
    assert watch.growth_mb < BOMB_MEMORY_MB
