"""The sandboxed children of downloads in other formats (backend/transcode.py): decode an
original and encode it (`encode_job`), write the tags into a file encoded here (`tag_job`).

A module of its own so that each child, a fresh Python process per job and two per
conversion, imports only the codecs: backend/transcode.py brings SQLAlchemy, SQLModel and
the models (about 0.7 s of CPU per child), none of which a job uses. Nothing heavier than
`backend.sandbox` is imported from the project; the codecs are imported in the functions
that use them, so the tagging child loads mutagen alone and the encoding child PyAV (and
libsndfile for Ogg Vorbis). A change to what the jobs write must bump
`backend.transcode.RECIPE`, so that files cached before are made again.
"""
from __future__ import annotations

import base64
from fractions import Fraction
from pathlib import Path
from typing import Any

from backend.sandbox import Refused

MP3_BIT_RATE = 320_000
AAC_BIT_RATE = 256_000
VORBIS_QUALITY = 0.6  # libvorbis -q 6 (libsndfile's compression level is 1 - quality)
LOSSY_MAX_RATE = 48_000
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def _lossy_rate(rate: int, allowed: tuple[int, ...]) -> int:
    if rate in allowed:
        return rate
    if rate > LOSSY_MAX_RATE:
        return 48_000 if rate % 48_000 == 0 else 44_100
    return min((r for r in allowed if r >= rate), default=LOSSY_MAX_RATE)


def encode_job(src: str, dst: str, fmt: str, max_seconds: float, tags: dict[str, Any] | None,
               artwork: str | None) -> dict[str, Any]:
    """Decode `src` (any original this server accepted) and encode it to `dst` as `fmt`,
    then tag it (unless `tags` is None: the untagged base file). Runs in the sandbox.
    Returns the decoded frames written and the rate."""
    import av  # here, not at the top: the tagging child needs only mutagen

    with av.open(src) as container:
        stream = container.streams.audio[0]
        decoder = stream.codec_context
        rate, channels = decoder.sample_rate, decoder.channels
        if not rate or not channels:
            raise Refused("the original has no audio stream")
        if fmt == "ogg":
            frames = _vorbis(container, stream, dst, rate, channels, max_seconds)
            out_rate = min(rate, LOSSY_MAX_RATE)
        else:
            frames, out_rate = _ffmpeg(container, stream, dst, fmt, rate, channels, max_seconds)
    if tags is not None:
        _tag(dst, fmt, tags, Path(artwork).read_bytes() if artwork else None)
    return {"frames": frames, "rate": out_rate}


def tag_job(path: str, fmt: str, tags: dict[str, Any], artwork: str | None) -> dict[str, Any]:
    """Write the tags (and artwork) into a base file this server encoded. Runs in the sandbox."""
    _tag(path, fmt, tags, Path(artwork).read_bytes() if artwork else None)
    return {}


def _decoded(container: Any, stream: Any, max_seconds: float) -> Any:
    """The original's frames, refusing past `max_seconds` (whatever its header said)."""
    total = 0
    for frame in container.decode(stream):
        total += frame.samples
        if total > max_seconds * frame.sample_rate:
            raise Refused(f"the audio is longer than {max_seconds:g} s")
        yield frame


def _ffmpeg(container: Any, stream: Any, dst: str, fmt: str, rate: int, channels: int,
            max_seconds: float) -> tuple[int, int]:
    import av

    codec, muxer = {"flac": ("flac", "flac"), "mp3": ("libmp3lame", "mp3"), "aac": ("aac", "ipod")}[fmt]
    if fmt == "flac":
        out_rate, layout = rate, stream.codec_context.layout.name  # lossless: as it is
    else:
        out_rate = _lossy_rate(rate, MP3_RATES if fmt == "mp3" else AAC_RATES)
        layout = "mono" if channels == 1 else "stereo"
    written = 0
    with av.open(dst, "w", format=muxer) as out:
        enc = out.add_stream(codec, rate=out_rate, layout=layout)
        if fmt == "mp3":
            enc.bit_rate = MP3_BIT_RATE
        elif fmt == "aac":
            enc.bit_rate = AAC_BIT_RATE
        elif fmt == "flac":
            # 24-bit and float originals keep their resolution; 16-bit ones stay 16-bit.
            deep = stream.codec_context.format.bits > 16
            enc.format = "s32" if deep else "s16"
        resampler = av.AudioResampler(format=enc.format, layout=layout, rate=out_rate)
        pts = 0
        for frame in _decoded(container, stream, max_seconds):
            frame.pts, frame.time_base = pts, Fraction(1, frame.sample_rate)
            pts += frame.samples
            for f in resampler.resample(frame):
                written += f.samples
                out.mux(enc.encode(f))
        for f in resampler.resample(None):
            written += f.samples
            out.mux(enc.encode(f))
        out.mux(enc.encode(None))
    return written, out_rate


def _vorbis(container: Any, stream: Any, dst: str, rate: int, channels: int, max_seconds: float) -> int:
    import av
    import soundfile

    out_rate = min(rate, LOSSY_MAX_RATE)
    layout = "mono" if channels == 1 else "stereo"
    resampler = av.AudioResampler(format="flt", layout=layout, rate=out_rate)
    written = 0
    with soundfile.SoundFile(dst, "w", samplerate=out_rate, channels=1 if channels == 1 else 2, format="OGG",
                             subtype="VORBIS", compression_level=1.0 - VORBIS_QUALITY) as out:
        pts = 0
        for frame in _decoded(container, stream, max_seconds):
            frame.pts, frame.time_base = pts, Fraction(1, frame.sample_rate)
            pts += frame.samples
            for f in resampler.resample(frame):
                block = f.to_ndarray().reshape(-1, out.channels)  # packed: frames x channels
                out.write(block)
                written += len(block)
        for f in resampler.resample(None):
            block = f.to_ndarray().reshape(-1, out.channels)
            out.write(block)
            written += len(block)
    return written


def _tag(path: str, fmt: str, tags: dict[str, Any], artwork: bytes | None) -> None:
    """Title, artist, album and track number (when set) and the artwork, in each
    container's own tag format."""
    from mutagen.flac import FLAC, Picture
    from mutagen.id3 import APIC, ID3, TALB, TIT2, TPE1, TRCK
    from mutagen.mp4 import MP4, MP4Cover
    from mutagen.oggvorbis import OggVorbis

    title, artist, album, number = tags["title"], tags["artist"], tags.get("album"), tags.get("track_number")
    mime = "image/png" if artwork and artwork[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"

    def picture() -> Any:
        pic = Picture()
        pic.type, pic.mime, pic.desc, pic.data = 3, mime, "Cover", artwork
        return pic

    if fmt == "mp3":
        id3 = ID3()
        id3.add(TIT2(encoding=3, text=title))
        if artist:
            id3.add(TPE1(encoding=3, text=artist))
        if album:
            id3.add(TALB(encoding=3, text=album))
            id3.add(TRCK(encoding=3, text=str(number)))
        if artwork:
            id3.add(APIC(encoding=3, mime=mime, type=3, desc="Cover", data=artwork))
        id3.save(path, v2_version=3)
    elif fmt == "aac":
        mp4 = MP4(path)
        mp4["\xa9nam"] = [title]
        if artist:
            mp4["\xa9ART"] = [artist]
        if album:
            mp4["\xa9alb"] = [album]
            mp4["trkn"] = [(int(number), 0)]
        if artwork:
            mp4["covr"] = [MP4Cover(artwork, MP4Cover.FORMAT_PNG if mime == "image/png" else MP4Cover.FORMAT_JPEG)]
        mp4.save()
    else:
        file: Any = FLAC(path) if fmt == "flac" else OggVorbis(path)
        file["TITLE"] = title
        if artist:
            file["ARTIST"] = artist
        if album:
            file["ALBUM"] = album
            file["TRACKNUMBER"] = str(number)
        if artwork:
            if fmt == "flac":
                file.add_picture(picture())
            else:
                file["METADATA_BLOCK_PICTURE"] = base64.b64encode(picture().write()).decode("ascii")
        file.save()
