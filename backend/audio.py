"""Audio and artwork checks from the bytes themselves, durations, and previews."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import soundfile

AUDIO_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}
# What browsers and clients call the same formats.
DECLARED = {
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
    "audio/flac": "flac", "audio/x-flac": "flac", "audio/ogg": "ogg", "application/ogg": "ogg",
    "audio/vorbis": "ogg", "audio/mpeg": "mp3", "audio/mp3": "mp3",
}
EXTENSIONS = {".wav": "wav", ".wave": "wav", ".flac": "flac", ".ogg": "ogg", ".oga": "ogg", ".mp3": "mp3"}
PREVIEW_SECONDS = 30.0


def sniff_audio(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def sniff_image(head: bytes) -> str | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if head[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    return None


@dataclass(frozen=True)
class AudioInfo:
    kind: str
    duration: float
    samplerate: int
    channels: int


class AudioError(ValueError):
    """The file claims to be audio but cannot be decoded (truncated or corrupt)."""


def _wav_data_shortfall(path: Path) -> int:
    """Bytes the WAV's data chunk declares but the file lacks (libsndfile hides this)."""
    with open(path, "rb") as f:
        f.seek(12)
        while True:
            header = f.read(8)
            if len(header) < 8:
                return 0
            size = int.from_bytes(header[4:], "little")
            if header[:4] == b"data":
                here = f.tell()
                f.seek(0, 2)
                return max(0, size - (f.tell() - here))
            f.seek(size + (size & 1), 1)


def inspect(path: Path, kind: str) -> AudioInfo:
    if kind == "wav":
        missing = _wav_data_shortfall(path)
        if missing:
            raise AudioError(f"the wav file is truncated: {missing:,} bytes of audio data are missing")
    try:
        info = soundfile.info(str(path))
        frames = info.frames
        # A header can promise more frames than the file holds: read to the end to be sure.
        with soundfile.SoundFile(str(path)) as f:
            read = 0
            for block in f.blocks(blocksize=65536):
                read += len(block)
        if read == 0 or (kind in ("wav", "flac") and read < frames):
            raise AudioError(f"the {kind} file is truncated: {read} of {frames} frames")
        return AudioInfo(kind, read / info.samplerate, info.samplerate, info.channels)
    except AudioError:
        raise
    except Exception as e:
        raise AudioError(f"cannot decode the {kind} file: {e}") from e


def make_preview(path: Path, start: float = 0.0, seconds: float = PREVIEW_SECONDS) -> bytes:
    """A clip of the track as Ogg Vorbis."""
    with soundfile.SoundFile(str(path)) as f:
        rate = f.samplerate
        f.seek(min(int(start * rate), max(0, f.frames - 1)))
        data = f.read(int(seconds * rate), always_2d=True)
    out = io.BytesIO()
    soundfile.write(out, data, rate, format="OGG", subtype="VORBIS")
    return out.getvalue()
