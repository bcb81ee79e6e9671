"""Audio and artwork measured, previewed and re-encoded within the configured limits (bombs
through the HTTP endpoint are in tests/security/test_media.py)."""
from __future__ import annotations

import io

import soundfile

from backend.errors import ApiError
from ninety.config import load_settings
from tests.support.media import png_bytes, wav_bytes
from tests.support.uploads import encoded


def test_audio_is_measured_and_previewed_in_the_sandbox(tmp_path):
    from backend import audio

    path = tmp_path / "a.flac"
    path.write_bytes(encoded("FLAC", "PCM_16", seconds=40.0, rate=96_000))
    out = audio.analyse(path, "flac", 5.0, load_settings({}))
    assert abs(out.info.duration - 40.0) < 0.01 and out.info.samplerate == 96_000
    clip = soundfile.info(io.BytesIO(out.preview))
    assert clip.samplerate == 48_000 and 29.9 < clip.duration <= 30.01  # decimated to at most 48 kHz
    for start, words in ((float("nan"), "number of seconds"), (-1.0, "number of seconds"), (40.0, "past the end")):
        try:
            audio.analyse(path, "flac", start, load_settings({}))
        except ApiError as e:
            assert e.status == 422 and words in e.detail, e.detail
        else:
            raise AssertionError(f"preview_start {start} accepted")


def test_audio_limits_come_from_the_settings(tmp_path):
    from backend import audio

    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(61.0))
    try:
        audio.analyse(path, "wav", 0.0, load_settings({"NINETY_MAX_AUDIO_SECONDS": "60"}))
    except ApiError as e:
        assert e.status == 422 and "at most 1 min" in e.detail
    else:
        raise AssertionError("a 61 s file passed a 60 s limit")


def test_decode_slots_make_the_next_caller_wait_then_429(tmp_path):
    import threading

    from backend import audio, sandbox

    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(2.0))
    settings = load_settings({"NINETY_MAX_DECODES": "1", "NINETY_DECODE_WAIT": "0.2"})
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with sandbox.decode_slot(1, 0):
            holding.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(5)
    try:
        audio.analyse(path, "wav", 0.0, settings)
    except ApiError as e:
        assert e.status == 429 and e.headers and int(e.headers["Retry-After"]) >= 1
    else:
        raise AssertionError("a second decode ran beside the first")
    finally:
        release.set()
        t.join()
    assert audio.analyse(path, "wav", 0.0, settings).info.duration == 2.0  # the slot is free again


def test_artwork_is_re_encoded_without_exif_or_gps(tmp_path):
    from PIL import Image

    from backend import artwork

    im = Image.new("RGB", (4000, 3000), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    exif[0x0112] = 6  # rotated: the cleaned image is turned upright
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    raw = io.BytesIO()
    im.save(raw, "JPEG", exif=exif.tobytes(), comment=b"secret")
    out = artwork.clean(raw.getvalue(), load_settings({}), tmp_path)
    assert out.media_type == "image/jpeg" and (out.width, out.height) == (2250, 3000)
    with Image.open(io.BytesIO(out.data)) as got:
        assert not dict(got.getexif()) and "comment" not in got.info and "exif" not in got.info
    png = artwork.clean(png_bytes(), load_settings({}), tmp_path)
    assert png.media_type == "image/png" and (png.width, png.height) == (4, 4)
    for data, words in ((b"\x89PNG\r\n\x1a\n" + b"x" * 100, "could not be decoded"),
                        (_png_declaring(20_000, 20_000), "20,000 x 20,000 pixels")):
        try:
            artwork.clean(data, load_settings({}), tmp_path)
        except ApiError as e:
            assert e.status == 422 and words in e.detail, e.detail
        else:
            raise AssertionError("bad artwork accepted")


def _png_declaring(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
