"""Audio fingerprints for refusing re-uploads of another wallet's recording.

Two tests, both on the decoded audio, never on the file bytes:

1. Exact copies: `Analysis.audio_hash` is the SHA-256 of the canonical PCM: the sample
   rate and channel count, then every sample as little-endian 16-bit, interleaved, as
   libsndfile decodes it. A WAV and a FLAC of the same samples hash alike; a changed tag
   byte changes the file but not the hash. Bits below 16 (24-bit masters) do not count.
2. Re-encoded, resampled, trimmed, padded or sped-up copies: Chromaprint fingerprints
   (32-bit frames, one per `FRAME_SECONDS`, about 8 a second) that we compare by the
   share of equal bits over aligned frames, trying every offset and every speed in
   `SPEEDS` (0.94 to 1.06).

Interface (pure: a path in, numbers and arrays out; nothing here touches a database)::

    analyse(path) -> Analysis            # one streamed pass over the file (this module)
    pack(frames) -> bytes; unpack(data) -> frames        # for a database column
    fingerprint_match.compare(query: Analysis, stored_frames) -> Match | None
    fingerprint_match.best_alignment(query, stored_frames) -> (Match | None, score)   # benchmarks
    fingerprint_index.frame_keys(frames) -> keys; fingerprint_index.Index: add(key, frames),
        remove(key), candidates(query) -> [key], search(query) -> [(key, Match)]

Speed: only the query pays for it. A stored track keeps one fingerprint, `frames`, at
its own speed. A query also carries `probes`: up to `PROBE_SECONDS` of its audio, in
windows of at most `PROBE_WINDOW_SECONDS` (the whole track when it is that short),
each fingerprinted at every speed of the grid by telling Chromaprint the rate is
rate / speed, which undoes a speed change in pitch and tempo at once. Chromaprint is
pitch-sensitive: 0.25 % off (half a grid step, the most the grid leaves) keeps about
0.82 of the bits equal, 1 % off about 0.72, hence the 0.5 % grid, and hence probes
rather than 25 fingerprints of a whole 30-minute upload.

Audio shorter than `MIN_FINGERPRINT_SECONDS` gets the hash only (`frames is None`).

Cost: decoding and hashing are linear in the file and hold one block (`BLOCKSIZE`
frames) at a time. Chromaprint runs on a mono copy decimated to an integer rate of
11025 Hz or a little more (it would otherwise resample 44.1 kHz itself, three times
slower): once over the whole track, and `len(SPEEDS)` times over at most
`PROBE_SECONDS`. Comparing with one stored track is O((n + m) log(n + m)) for the whole
fingerprint plus the same per probe window (n, m: the two lengths in frames), and
O(b^2) over the b blocks of an alignment. The candidate filter (`Index`) costs the
total length of the posting lists of the query's keys, not the number of tracks: a key
is `KEY_BITS` bits of a frame, a posting is (track, position), and a track becomes a
candidate when `MIN_VOTES` postings agree on a speed and an alignment.

Measured here (bench/fingerprint.py, 2 shared cores): analysing a 40 s piece 0.6 s, a
30-minute FLAC 7.2 s (WAV 4.5 s); comparing a 40 s query with a stored 40 s track
about 30 ms, a 30-minute query with a 30-minute track about 1 s; among 10,000 indexed
4-minute tracks (233 MB of postings) the candidates of a 40 s query in 56 ms.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import chromaprint
import numpy as np
import soundfile
from numpy.lib.stride_tricks import sliding_window_view

MIN_FINGERPRINT_SECONDS = 30.0

CHROMAPRINT_RATE = 11025
FRAME_SECONDS = 4096 / 3 / CHROMAPRINT_RATE  # Chromaprint's frame step (default algorithm)
SPEED_MIN, SPEED_MAX, SPEED_STEP = 0.94, 1.06, 0.005
SPEEDS = tuple(round(SPEED_MIN + k * SPEED_STEP, 4)
               for k in range(round((SPEED_MAX - SPEED_MIN) / SPEED_STEP) + 1))
PROBE_SECONDS = 120.0
PROBE_WINDOW_SECONDS = 30.0

BLOCKSIZE = 65536  # frames per decoded block: memory stays bounded whatever the duration
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Probe:
    """A window of the query fingerprinted as if played `speed` times slower: what a copy
    sped up `speed` times would give at its original speed."""
    speed: float  # effective: the decimated rate over the rate Chromaprint was told
    start: float  # seconds into the query
    seconds: float
    frames: np.ndarray


@dataclass(frozen=True)
class Analysis:
    audio_hash: str
    duration: float
    samplerate: int
    channels: int
    frames: np.ndarray | None  # uint32, None below MIN_FINGERPRINT_SECONDS
    probes: tuple[Probe, ...] = field(default=())

    @property
    def audible_seconds(self) -> float:
        return 0.0 if self.frames is None else audible_seconds(self.frames)


# ---------------------------------------------------------------------------- analysis

def analyse(path: Path | str) -> Analysis:
    """Hash and fingerprint an audio file in one streamed pass (blocks of BLOCKSIZE)."""
    with soundfile.SoundFile(str(path)) as f:
        rate, channels, declared = f.samplerate, f.channels, f.frames
        digest = hashlib.sha256(f"pcm16le:{rate}:{channels}:".encode())
        decimator = _Decimator(rate)
        main = chromaprint.Fingerprinter()
        main.start(decimator.rate, 1)
        probes = _ProbeSet(declared / rate, decimator.rate)
        read = 0
        position = 0  # in decimated samples
        for block in f.blocks(BLOCKSIZE, dtype="int16", always_2d=True):
            digest.update(block.astype("<i2", copy=False).tobytes())
            read += len(block)
            mono = block[:, 0].astype(np.float32)
            for c in range(1, channels):
                mono += block[:, c]
            if channels > 1:
                mono *= 1.0 / channels
            low = decimator.feed(mono)
            pcm = np.clip(np.rint(low), -32768, 32767).astype("<i2").tobytes()
            main.feed(pcm)
            probes.feed(position, pcm)
            position += len(low)
    duration = read / rate if rate else 0.0
    if duration < MIN_FINGERPRINT_SECONDS:
        return Analysis(digest.hexdigest(), duration, rate, channels, None)
    return Analysis(digest.hexdigest(), duration, rate, channels, _decode(main.finish()),
                    probes.finish(position))


def _decode(fingerprint: bytes) -> np.ndarray:
    raw = chromaprint.decode_fingerprint(fingerprint)[0]
    return np.array(raw, dtype=np.int64).astype(np.uint32)


class _Decimator:
    """Low-pass and keep every d-th sample, so that rate / d is an integer >= 11025 Hz.

    Chromaprint looks at 28 Hz to 3.5 kHz after resampling to 11025 Hz; the windowed-sinc
    filter passes that band and stops what would fold into it."""

    CUTOFF_HZ = 4500.0

    def __init__(self, rate: int) -> None:
        d = max((k for k in range(1, rate // CHROMAPRINT_RATE + 1) if rate % k == 0), default=1)
        self.factor = d
        self.rate = rate // d if d else rate
        self.tail = np.zeros(0, np.float32)
        if d > 1:
            taps = 24 * d + 1
            k = np.arange(taps) - (taps - 1) / 2
            fc = self.CUTOFF_HZ / rate
            h = 2 * fc * np.sinc(2 * fc * k) * np.blackman(taps)
            self.h = (h / h.sum())[::-1].astype(np.float32)
            self.tail = np.zeros(taps - 1, np.float32)

    def feed(self, x: np.ndarray) -> np.ndarray:
        if self.factor == 1:
            return x
        buf = np.concatenate([self.tail, x])
        taps = len(self.h)
        count = (len(buf) - taps) // self.factor + 1 if len(buf) >= taps else 0
        out = sliding_window_view(buf, taps)[: count * self.factor : self.factor] @ self.h
        self.tail = buf[count * self.factor :]
        return out


class _ProbeSet:
    """Probe windows laid out from the declared duration and fingerprinted while the file
    streams: one Fingerprinter per window and speed, told the rate is rate / speed."""

    def __init__(self, declared_seconds: float, rate: int) -> None:
        self.rate = rate
        total = max(0.0, declared_seconds)
        if total < MIN_FINGERPRINT_SECONDS:
            spans: list[tuple[float, float]] = []
        elif total <= PROBE_SECONDS:
            n = math.ceil(total / PROBE_WINDOW_SECONDS)
            spans = [(total * k / n, total / n) for k in range(n)]
        else:
            n = math.ceil(PROBE_SECONDS / PROBE_WINDOW_SECONDS)
            w = PROBE_SECONDS / n
            spans = [(total * (k + 0.5) / n - w / 2, w) for k in range(n)]
        self.windows = [(round(s * rate), round((s + w) * rate)) for s, w in spans]
        self.printers: list[list[tuple[float, chromaprint.Fingerprinter]]] = [[] for _ in spans]

    def feed(self, position: int, pcm: bytes) -> None:
        end = position + len(pcm) // 2
        for (a, b), printers in zip(self.windows, self.printers):
            if b <= position or a >= end:
                continue
            if not printers:
                for speed in SPEEDS:
                    told = round(self.rate / speed)
                    printer = chromaprint.Fingerprinter()
                    printer.start(told, 1)
                    printers.append((self.rate / told, printer))
            piece = pcm[2 * (max(a, position) - position) : 2 * (min(b, end) - position)]
            for _, printer in printers:
                printer.feed(piece)

    def finish(self, decoded: int) -> tuple[Probe, ...]:
        out = []
        for (a, b), printers in zip(self.windows, self.printers):
            b = min(b, decoded)
            for speed, printer in printers:
                frames = _decode(printer.finish())
                if len(frames):
                    out.append(Probe(speed, a / self.rate, (b - a) / self.rate, frames))
        return tuple(out)


# ---------------------------------------------------------------------------- storage

def pack(frames: np.ndarray) -> bytes:
    """A version byte, then the frames as little-endian uint32."""
    return bytes([FORMAT_VERSION]) + np.asarray(frames, dtype="<u4").tobytes()


def unpack(data: bytes) -> np.ndarray:
    if not data or data[0] != FORMAT_VERSION or (len(data) - 1) % 4:
        raise ValueError("not a packed fingerprint")
    return np.frombuffer(data, dtype="<u4", offset=1).astype(np.uint32)


# ---------------------------------------------------------------------------- silence

@lru_cache(maxsize=1)
def silence_frame() -> int:
    """The frame Chromaprint gives where the audio is below its silence threshold."""
    fp = chromaprint.Fingerprinter()
    fp.start(CHROMAPRINT_RATE, 1)
    fp.feed(bytes(2 * CHROMAPRINT_RATE * 10))
    values, counts = np.unique(_decode(fp.finish()), return_counts=True)
    return int(values[np.argmax(counts)])


def audible(frames: np.ndarray) -> np.ndarray:
    return frames != np.uint32(silence_frame())


def audible_seconds(frames: np.ndarray) -> float:
    return float(np.count_nonzero(audible(frames))) * FRAME_SECONDS
