"""Audio checks from the bytes themselves: type sniffing, header limits, a bounded decode
that measures the duration, and the public preview.

Untrusted audio is judged in two steps. `probe` reads only the header (in this process:
libsndfile parses a header without decoding) and refuses what no honest upload needs:
a sample rate outside 8-192 kHz, more than 8 channels, a duration past the configured
maximum. Only then is the file decoded, once, from start to end, in a sandboxed child
(`backend.sandbox`) that streams it in blocks of a few MB: the pass counts the frames (a
header can promise more than the file holds), stops as soon as the duration passes the
maximum whatever the header said, and encodes the preview on the way (downmixed to at
most two channels and decimated to at most 48 kHz, so its cost is bounded too).
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from backend import fingerprint as fp
from backend import sandbox
from backend.errors import ApiError

AUDIO_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}
# What browsers and clients call the same formats.
DECLARED = {
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
    "audio/flac": "flac", "audio/x-flac": "flac", "audio/ogg": "ogg", "application/ogg": "ogg",
    "audio/vorbis": "ogg", "audio/mpeg": "mp3", "audio/mp3": "mp3",
}
EXTENSIONS = {".wav": "wav", ".wave": "wav", ".flac": "flac", ".ogg": "ogg", ".oga": "ogg", ".mp3": "mp3"}
PREVIEW_SECONDS = 30.0
MIN_SAMPLERATE = 8_000
MAX_SAMPLERATE = 192_000
MAX_CHANNELS = 8
MAX_SECONDS = 30 * 60.0  # default of NINETY_MAX_AUDIO_SECONDS
PREVIEW_MAX_RATE = 48_000
MAX_WAV_CHUNKS = 1_000  # chunks before `data`: real files have a handful
# Decoded samples (frames x channels) per byte of file. Honest encodings stay far below:
# PCM under 1, FLAC about 1, MP3 and Vorbis under 20, Opus at its lowest bitrate about 64.
# Long digital silence is what compresses further: the shape of a decompression bomb.
MAX_SAMPLES_PER_BYTE = 256
BLOCK_FRAMES = 16_384


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


class AudioError(sandbox.Refused):
    """The file claims to be audio but cannot be decoded (truncated or corrupt), or it is
    outside the limits. The message is safe to show the uploader."""


def _libsndfile_says(e: Exception) -> str:
    # soundfile's own message quotes the file's path; libsndfile's does not.
    said = str(getattr(e, "error_string", None) or type(e).__name__)
    if "does not exist" in said:  # what libsndfile says of a file no decoder recognises
        return "no decoder recognises it (malformed, or not what its first bytes claim)"
    return said


def _wav_data_shortfall(path: Path) -> int:
    """Bytes the WAV's data chunk declares but the file lacks (libsndfile hides this)."""
    with open(path, "rb") as f:
        f.seek(12)
        for _ in range(MAX_WAV_CHUNKS):
            header = f.read(8)
            if len(header) < 8:
                return 0
            size = int.from_bytes(header[4:], "little")
            if header[:4] == b"data":
                here = f.tell()
                f.seek(0, 2)
                return max(0, size - (f.tell() - here))
            f.seek(size + (size & 1), 1)
    raise AudioError(f"the wav file has more than {MAX_WAV_CHUNKS} chunks before its audio data")


def probe(path: Path, kind: str, max_seconds: float = MAX_SECONDS) -> AudioInfo:
    """Header checks only, no decoding: cheap enough to run on every upload."""
    if kind == "wav":
        missing = _wav_data_shortfall(path)
        if missing:
            raise AudioError(f"the wav file is truncated: {missing:,} bytes of audio data are missing")
    try:
        info = soundfile.info(str(path))
    except Exception as e:
        raise AudioError(f"cannot decode the {kind} file: {_libsndfile_says(e)}") from None
    rate, channels = int(info.samplerate), int(info.channels)
    if not MIN_SAMPLERATE <= rate <= MAX_SAMPLERATE:
        raise AudioError(f"the {kind} file's sample rate is {rate:,} Hz; this server accepts "
                         f"{MIN_SAMPLERATE:,} to {MAX_SAMPLERATE:,} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(f"the {kind} file has {channels} channels; this server accepts 1 to {MAX_CHANNELS}")
    declared = info.frames / rate
    size = max(1, path.stat().st_size)
    if info.frames * channels > MAX_SAMPLES_PER_BYTE * size:
        raise AudioError(_bomb(kind, info.frames * channels, size))
    if declared > max_seconds:
        raise AudioError(f"the {kind} file says it lasts {declared / 60:,.1f} min; this server accepts "
                         f"at most {max_seconds / 60:g} min")
    return AudioInfo(kind, declared, rate, channels)


def _bomb(kind: str, samples: int, size: int) -> str:
    return (f"the {kind} file would decode to {samples:,} samples from {size:,} bytes, more than "
            f"{MAX_SAMPLES_PER_BYTE} per byte: refused as a decompression bomb (mostly digital silence?)")


class _Decimator:
    """Mix down to at most two channels and average every `factor` frames (a box filter:
    plenty for a preview), carrying the remainder between blocks."""

    def __init__(self, channels: int, factor: int) -> None:
        self.np = np
        self.channels = channels
        self.factor = factor
        self.rest = np.zeros((0, 1 if channels > 2 else channels), dtype="float32")

    def __call__(self, block: Any) -> Any:
        np = self.np
        if self.channels > 2:
            block = block.mean(axis=1, keepdims=True, dtype="float32")
        if self.factor == 1:
            return block
        block = np.concatenate([self.rest, block]) if len(self.rest) else block
        whole = len(block) // self.factor * self.factor
        self.rest = block[whole:].copy()
        return block[:whole].reshape(-1, self.factor, block.shape[1]).mean(axis=1, dtype="float32")


def decode_job(path: str, kind: str, preview_path: str, preview_start: float = 0.0,
               preview_seconds: float = PREVIEW_SECONDS, max_seconds: float = MAX_SECONDS,
               fingerprint: bool = False, preview_only: bool = False) -> dict[str, Any]:
    """One streaming pass over the whole file (run it through `backend.sandbox`): count
    the frames and write the preview as Ogg Vorbis to `preview_path`. Memory stays at a
    few blocks whatever the file. With `fingerprint`, then `backend.fingerprint.analyse`
    (its own streamed pass), once the file has passed every check here. `preview_only`
    stops at the preview's end (no duration or truncation check)."""
    header = probe(Path(path), kind, max_seconds)
    rate, channels = header.samplerate, header.channels
    factor = math.ceil(rate / PREVIEW_MAX_RATE)
    out_rate = rate // factor
    out_channels = 1 if channels > 2 else channels
    first = int(preview_start * rate)
    last = first + int(preview_seconds * rate)
    limit = min(int(max_seconds * rate), MAX_SAMPLES_PER_BYTE * max(1, Path(path).stat().st_size) // channels)
    read = previewed = 0
    to_preview = _Decimator(channels, factor)
    try:
        with soundfile.SoundFile(path) as f, \
                soundfile.SoundFile(preview_path, "w", out_rate, out_channels, format="OGG", subtype="VORBIS") as out:
            frames = f.frames
            buf = np.empty((BLOCK_FRAMES * factor, channels), dtype="float32")
            while True:
                block = f.read(len(buf), dtype="float32", always_2d=True, out=buf)
                n = len(block)
                if n == 0:
                    break
                lo, hi = max(first, read), min(last, read + n)
                if lo < hi:
                    part = to_preview(block[lo - read : hi - read])
                    if len(part):
                        out.write(part)
                        previewed += len(part)
                read += n
                if preview_only and read >= last:
                    break
                if read > limit:
                    if read > max_seconds * rate:
                        raise AudioError(f"the {kind} file lasts more than {max_seconds / 60:g} min, "
                                         "this server's maximum")
                    raise AudioError(_bomb(kind, read * channels, Path(path).stat().st_size))
    except AudioError:
        raise
    except Exception as e:
        raise AudioError(f"cannot decode the {kind} file: {_libsndfile_says(e)}") from None
    if read == 0:
        raise AudioError(f"the {kind} file holds no audio that could be decoded")
    if kind in ("wav", "flac") and read < frames and not preview_only:
        raise AudioError(f"the {kind} file is truncated: {read} of {frames} frames")
    duration = read / rate
    if previewed == 0:
        raise AudioError(f"preview_start {preview_start:g} s is past the end of the {duration:.1f} s track")
    out = {"duration": duration, "samplerate": rate, "channels": channels, "preview_rate": out_rate}
    if fingerprint:
        out["fingerprint"] = _fingerprint(path)
    return out


def _fingerprint(path: str) -> dict[str, Any]:
    a = fp.analyse(path)

    def packed(frames: Any) -> str:
        return base64.b64encode(fp.pack(frames)).decode()

    return {"audio_hash": a.audio_hash, "duration": a.duration, "samplerate": a.samplerate, "channels": a.channels,
            "frames": None if a.frames is None else packed(a.frames),
            "probes": [[p.speed, p.start, p.seconds, packed(p.frames)] for p in a.probes]}


def _unfingerprint(d: dict[str, Any]) -> fp.Analysis:
    def unpacked(text: str) -> Any:
        return fp.unpack(base64.b64decode(text))

    return fp.Analysis(d["audio_hash"], d["duration"], d["samplerate"], d["channels"],
                       None if d["frames"] is None else unpacked(d["frames"]),
                       tuple(fp.Probe(s, t, n, unpacked(f)) for s, t, n, f in d["probes"]))


@dataclass(frozen=True)
class Analysis:
    info: AudioInfo
    preview: bytes  # Ogg Vorbis
    fingerprint: fp.Analysis | None = None  # when asked for


def analyse(path: Path, kind: str, preview_start: float, settings: Any, *, fingerprint: bool = False) -> Analysis:
    """Everything an upload needs from its audio, within the server's limits: header
    checks, then one sandboxed child in a decode slot that measures the file, makes the
    preview and (if asked) fingerprints it. Raises ApiError: 422 for audio refused (with
    the reason), 429 with Retry-After when every decode slot stays busy. The preview is
    written next to `path` (the upload's temporary directory)."""

    max_seconds = float(getattr(settings, "max_audio_seconds", MAX_SECONDS))
    if not math.isfinite(preview_start) or preview_start < 0:
        raise ApiError(422, "preview_start must be a number of seconds, zero or more")
    try:
        header = probe(path, kind, max_seconds)
        if preview_start >= header.duration > 0 and kind in ("wav", "flac"):
            raise AudioError(f"preview_start {preview_start:g} s is past the end of the {header.duration:.1f} s track")
        preview_path = path.with_name(path.name + ".preview.ogg")
        with sandbox.decode_slot(getattr(settings, "max_decodes", 2), getattr(settings, "decode_wait", 10.0)):
            out = sandbox.run("backend.audio:decode_job", path=str(path), kind=kind, preview_path=str(preview_path),
                              preview_start=preview_start, max_seconds=max_seconds, fingerprint=fingerprint)
    except sandbox.Busy as e:
        raise ApiError(429, str(e), headers={"Retry-After": str(e.retry_after)}) from None
    except sandbox.Refused as e:
        raise ApiError(422, str(e)) from None
    info = AudioInfo(kind, out["duration"], out["samplerate"], out["channels"])
    return Analysis(info, preview_path.read_bytes(), _unfingerprint(out["fingerprint"]) if fingerprint else None)


# ---------------------------------------------------------------- older entry points
# Kept for callers written before `analyse`: each is bounded the same way, but together
# they decode the file twice.


def inspect(path: Path, kind: str, max_seconds: float = MAX_SECONDS) -> AudioInfo:
    info = probe(path, kind, max_seconds)
    scratch = path.with_name(path.name + ".inspect.ogg")
    try:
        with sandbox.decode_slot(2, 10.0):
            out = sandbox.run("backend.audio:decode_job", path=str(path), kind=kind, preview_path=str(scratch),
                              preview_seconds=0.001, max_seconds=max_seconds)
    except sandbox.Busy as e:
        raise AudioError(str(e)) from None
    except sandbox.Refused as e:
        raise AudioError(str(e)) from None
    finally:
        scratch.unlink(missing_ok=True)
    return AudioInfo(kind, out["duration"], info.samplerate, info.channels)


def make_preview(path: Path, start: float = 0.0, seconds: float = PREVIEW_SECONDS) -> bytes:
    """A clip of the track as Ogg Vorbis."""
    with open(path, "rb") as f:
        kind = sniff_audio(f.read(64)) or "wav"
    scratch = path.with_name(path.name + ".preview.ogg")
    try:
        with sandbox.decode_slot(2, 10.0):
            sandbox.run("backend.audio:decode_job", path=str(path), kind=kind, preview_path=str(scratch),
                        preview_start=start, preview_seconds=seconds, preview_only=True)
        return scratch.read_bytes()
    except (sandbox.Busy, sandbox.Refused) as e:
        raise AudioError(str(e)) from None
    finally:
        scratch.unlink(missing_ok=True)
