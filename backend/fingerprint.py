"""Audio fingerprints for refusing re-uploads of another wallet's recording.

Two tests, both on the decoded audio, never on the file bytes:

1. Exact copies: `Analysis.audio_hash` is the SHA-256 of the canonical PCM (the sample
   rate and channel count, then every sample as little-endian 16-bit, interleaved, as
   libsndfile decodes it). A WAV and a FLAC of the same samples hash alike; a changed tag
   byte changes the file but not the hash. Bits below 16 (24-bit masters) do not count.
2. Re-encoded, resampled, trimmed, padded or sped-up copies: Chromaprint fingerprints
   (32-bit frames, one per `FRAME_SECONDS`) compared by us, by bit error rate over
   aligned frames, trying every offset and every speed in `SPEEDS`.

Interface (all pure: numbers and arrays in, numbers and arrays out)::

    analyse(path) -> Analysis           # one streamed pass over the file
    pack(frames) -> bytes; unpack(bytes) -> frames      # a database column
    compare(query: Analysis, stored_frames) -> Match | None
    best_alignment(query, stored_frames) -> Match | None  # no decision rule (benchmarks)
    frame_keys(frames) -> array of index keys; Index (add / remove / candidates / search)

Only the uploader's side (the query) pays for speed tolerance: stored tracks keep one
fingerprint at their own speed, `frames`. A query also carries `probes`: up to
`PROBE_SECONDS` of its audio, in windows of at most `PROBE_WINDOW_SECONDS`, each
fingerprinted at every speed of `SPEEDS` (0.94 to 1.06 in steps of 0.5 %), by telling
Chromaprint the audio's rate is rate / speed, which undoes a speed change in pitch and
time at once. Chromaprint is pitch-sensitive (a 0.25 % speed error, the most the grid
leaves, costs about 15 % of bits; see bench/fingerprint.py), hence the fine grid, and
hence probes rather than 25 fingerprints of a whole 30-minute upload.

Decision rule (`compare`), thresholds measured in bench/fingerprint.py:

- A unit is a `BLOCK_FRAMES` block of the query at the best offsets found for its whole
  fingerprint (speed 1), or a probe window at its best offset and speed. A unit
  matches when its share of equal bits over its audible frames is at least
  `MIN_SIMILARITY` (0.70): copies measured at 0.82 or more (the worst being a speed that
  falls midway between two grid points), distinct pieces at 0.64 or less.
- Silence (frames Chromaprint gives for audio below its own silence threshold) is left
  out of similarities and durations on both sides.
- The overlap is the audible time covered by matching units; for probes, the audible
  length of the aligned span times the share of the probe windows in that span that
  match (so beyond `PROBE_SECONDS` the overlap is verified on a sample of windows).
- A match needs `overlap >= MIN_OVERLAP_SECONDS` (30 s) and `overlap >=
  MIN_OVERLAP_SHARE` (1/2) of the shorter track's audible duration.

Audio shorter than `MIN_FINGERPRINT_SECONDS` gets the hash only (`frames is None`).

Cost: decoding and hashing are linear in the file; Chromaprint runs on a mono copy
decimated to about 11 kHz (it would otherwise resample 44.1 kHz itself, several times
slower), once over the whole track and `len(SPEEDS)` times over at most `PROBE_SECONDS`.
A comparison is FFT cross-correlation over all offsets: O((n + m) log(n + m)) per probe
unit and for the whole fingerprint, n and m the two lengths in frames. The candidate
filter (`Index`) costs O(sum of the posting lists of the query's keys): each key is
`KEY_BITS` bits of a frame, a posting is (track, position), and a track is a candidate
when enough postings agree on one offset; only candidates get the exact comparison.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import chromaprint
import numpy as np
import soundfile
from numpy.lib.stride_tricks import sliding_window_view

MIN_FINGERPRINT_SECONDS = 30.0
MIN_OVERLAP_SECONDS = 30.0
MIN_OVERLAP_SHARE = 0.5
MIN_SIMILARITY = 0.70

CHROMAPRINT_RATE = 11025
FRAME_SECONDS = 4096 / 3 / CHROMAPRINT_RATE  # Chromaprint's frame step (default algorithm)
SPEED_MIN, SPEED_MAX, SPEED_STEP = 0.94, 1.06, 0.005
SPEEDS = tuple(round(SPEED_MIN + k * SPEED_STEP, 4) for k in range(round((SPEED_MAX - SPEED_MIN) / SPEED_STEP) + 1))
PROBE_SECONDS = 120.0
PROBE_WINDOW_SECONDS = 30.0
BLOCK_FRAMES = 40  # about 5 s: the unit a whole-track alignment is judged in
PEAKS = 3  # offsets of the whole-track correlation examined block by block

# Index keys: the high bit of each of Chromaprint's 16 two-bit classifier outputs (it
# flips only at the middle quantiser threshold, so it survives re-encoding best), plus
# the low bits of the last eight classifiers: 24 bits.
KEY_MASK = 0xAAAAAAAA | 0x0000FFFF & 0x55555555
KEY_BITS = bin(KEY_MASK).count("1")
MIN_VOTES = 4  # postings agreeing on one offset that make a track a candidate
VOTE_BIN_FRAMES = 8

BLOCKSIZE = 65536  # frames per decoded block: memory stays bounded whatever the duration
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Probe:
    """A window of the query fingerprinted as if it had been sped up by `speed`."""
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


@dataclass(frozen=True)
class Match:
    similarity: float  # share of equal bits over the matching units' audible frames
    overlap_seconds: float  # audible time of the stored track that the query covers
    offset_seconds: float  # stored-track time at which the query's start lines up
    speed: float  # how much faster the query plays than the stored track


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
    """Probe windows laid out from the declared duration, fed while the file streams."""

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
                    fp = chromaprint.Fingerprinter()
                    fp.start(told, 1)
                    printers.append((self.rate / told, fp))
            piece = pcm[2 * (max(a, position) - position) : 2 * (min(b, end) - position)]
            for _, fp in printers:
                fp.feed(piece)

    def finish(self, decoded: int) -> tuple[Probe, ...]:
        out = []
        for (a, b), printers in zip(self.windows, self.printers):
            b = min(b, decoded)
            for speed, fp in printers:
                frames = _decode(fp.finish())
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


# ---------------------------------------------------------------------------- comparison

_BITS = np.arange(32, dtype=np.uint32)
_POPCOUNT = np.array([bin(i).count("1") for i in range(1 << 16)], dtype=np.uint8)


def _equal_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x = a ^ b
    return 32 - _POPCOUNT[x & 0xFFFF].astype(np.int32) - _POPCOUNT[x >> 16]


class _Stored:
    """The stored side of FFT correlations, transformed once per size."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = np.asarray(frames, dtype=np.uint32)
        self.mask = audible(self.frames)
        self.audible_seconds = float(np.count_nonzero(self.mask)) * FRAME_SECONDS
        self._spectra: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def spectra(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        if size not in self._spectra:
            self._spectra[size] = (np.fft.rfft(_planes(self.frames, self.mask), size, axis=0),
                                   np.fft.rfft(self.mask.astype(np.float32), size))
        return self._spectra[size]


def _planes(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Frames as 32 columns of +1/-1 (0 where silent)."""
    bits = ((frames[:, None] >> _BITS) & 1).astype(np.float32)
    return (2 * bits - 1) * mask[:, None]


def _correlate(query: np.ndarray, stored: _Stored) -> tuple[np.ndarray, np.ndarray]:
    """For every offset d (stored frame = query frame + d, d from -(n-1) to m-1): the
    excess of equal over unequal bits, and the number of audible frame pairs."""
    n, m = len(query), len(stored.frames)
    size = 1 << (n + m - 1).bit_length()
    qmask = audible(query)
    planes, mask = stored.spectra(size)
    q = np.fft.rfft(_planes(query, qmask)[::-1], size, axis=0)
    excess = np.fft.irfft(np.einsum("ij,ij->i", q, planes), size)[: n + m - 1]
    pairs = np.fft.irfft(np.fft.rfft(qmask[::-1].astype(np.float32), size) * mask, size)[: n + m - 1]
    return excess, np.rint(pairs)


def _aligned(query: np.ndarray, stored: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Equal-bit counts and audibility of the query frames that overlap the stored
    track at offset d, and the index of the first of them in the query."""
    i0, i1 = max(0, -d), min(len(query), len(stored) - d)
    if i1 <= i0:
        return np.zeros(0, np.int32), np.zeros(0, bool), i0
    q, s = query[i0:i1], stored[i0 + d : i1 + d]
    return _equal_bits(q, s), audible(q) & audible(s), i0


@dataclass
class _Candidate:
    similarity: float
    overlap_seconds: float
    offset_seconds: float
    speed: float
    best_unit: float  # the highest unit similarity seen, matched or not (benchmarks)

    @property
    def evidence(self) -> float:
        """Agreeing bits beyond chance, per frame-second: picks among alignments."""
        return self.overlap_seconds * (self.similarity - 0.5)

    def match(self) -> Match:
        return Match(round(float(self.similarity), 4), round(float(self.overlap_seconds), 2),
                     round(float(self.offset_seconds), 2), round(float(self.speed), 4))


def _whole(query: Analysis, stored: _Stored) -> _Candidate | None:
    """The query's full fingerprint at speed 1, judged block by block at the best offsets."""
    frames = query.frames
    if frames is None or not len(stored.frames):
        return None
    excess, pairs = _correlate(frames, stored)
    order = np.argsort(excess)[::-1]
    tried: list[int] = []
    best: _Candidate | None = None
    top_unit = 0.0
    for k in order[: PEAKS * 8]:
        d = int(k) - (len(frames) - 1)
        if len(tried) >= PEAKS:
            break
        if pairs[k] < BLOCK_FRAMES / 2 or any(abs(d - t) <= 2 for t in tried):
            continue
        tried.append(d)
        equal, ok, _ = _aligned(frames, stored.frames, d)
        agree = total = 0.0
        for s in range(0, len(equal), BLOCK_FRAMES):
            e, a = equal[s : s + BLOCK_FRAMES], ok[s : s + BLOCK_FRAMES]
            frames_heard = int(np.count_nonzero(a))
            if frames_heard < BLOCK_FRAMES / 4:
                continue
            sim = float(e[a].sum()) / (32 * frames_heard)
            top_unit = max(top_unit, sim)
            if sim >= MIN_SIMILARITY:
                agree += float(e[a].sum())
                total += frames_heard
        if total:
            found = _Candidate(agree / (32 * total), total * FRAME_SECONDS, d * FRAME_SECONDS, 1.0, 0.0)
            if best is None or found.evidence > best.evidence:
                best = found
    if best is None:
        return _Candidate(0.0, 0.0, 0.0, 1.0, top_unit)
    best.best_unit = top_unit
    return best


def _probed(query: Analysis, stored: _Stored) -> _Candidate | None:
    """The probe windows: per speed, each window at its best offset, then the windows
    that agree on one alignment."""
    by_speed: dict[float, list[Probe]] = defaultdict(list)
    for p in query.probes:
        by_speed[p.speed].append(p)
    best: _Candidate | None = None
    top_unit = 0.0
    stored_seconds = len(stored.frames) * FRAME_SECONDS
    for speed, probes in by_speed.items():
        found = []  # (similarity, audible seconds, alignment c, probe)
        for p in probes:
            excess, pairs = _correlate(p.frames, stored)
            heard = float(np.count_nonzero(audible(p.frames)))
            need = max(BLOCK_FRAMES / 2, heard / 2)
            ok = pairs >= need
            if not ok.any() or heard == 0:
                continue
            sims = np.where(ok, 0.5 + excess / (64 * np.maximum(pairs, 1)), 0.0)
            k = int(np.argmax(sims))
            d = k - (len(p.frames) - 1)
            top_unit = max(top_unit, float(sims[k]))
            if sims[k] >= MIN_SIMILARITY:
                # stored time = speed * query time + c
                found.append((float(sims[k]), pairs[k] * FRAME_SECONDS, d * FRAME_SECONDS - speed * p.start, p))
        if not found:
            continue
        anchor = max(found, key=lambda f: f[0] * f[1])
        c = anchor[2]
        agreeing = [f for f in found
                    if abs(f[2] - c) <= 2 * FRAME_SECONDS + 0.003 * abs(f[3].start - anchor[3].start)]
        # The aligned span in stored time, and the probe windows that fall in it.
        lo, hi = max(0.0, c), min(stored_seconds, c + speed * query.duration)
        if hi <= lo:
            continue
        inside = [p for p in probes
                  if _covered(c + speed * p.start, c + speed * (p.start + p.seconds), lo, hi) >= 0.5]
        expected = sum(p.seconds for p in inside) or 1.0
        verified = min(1.0, sum(f[3].seconds for f in agreeing) / expected)
        span_audible = _audible_between(stored, lo, hi)
        overlap = verified * span_audible
        sim = sum(f[0] * f[1] for f in agreeing) / sum(f[1] for f in agreeing)
        candidate = _Candidate(sim, overlap, c, speed, 0.0)
        if best is None or candidate.evidence > best.evidence:
            best = candidate
    if best is None:
        return _Candidate(0.0, 0.0, 0.0, 1.0, top_unit) if query.probes else None
    best.best_unit = top_unit
    return best


def _covered(a: float, b: float, lo: float, hi: float) -> float:
    return max(0.0, min(b, hi) - max(a, lo)) / max(b - a, 1e-9)


def _audible_between(stored: _Stored, lo: float, hi: float) -> float:
    i0, i1 = int(lo / FRAME_SECONDS), int(math.ceil(hi / FRAME_SECONDS))
    return float(np.count_nonzero(stored.mask[i0:i1])) * FRAME_SECONDS


def _best(query: Analysis, stored_frames: np.ndarray) -> _Candidate | None:
    stored = _Stored(stored_frames)
    found = [c for c in (_whole(query, stored), _probed(query, stored)) if c is not None]
    if not found:
        return None
    top = max(c.best_unit for c in found)
    best = max(found, key=lambda c: c.evidence)
    best.best_unit = top
    return best


def best_alignment(query: Analysis, stored_frames: np.ndarray) -> tuple[Match, float] | None:
    """The best alignment whatever its overlap, and the highest similarity any unit
    reached (matched or not): what the benchmark reports for distinct pieces."""
    c = _best(query, stored_frames)
    return None if c is None else (c.match(), round(float(c.best_unit), 4))


def compare(query: Analysis, stored_frames: np.ndarray) -> Match | None:
    """The match if the query covers enough of the stored track (see the module doc)."""
    c = _best(query, stored_frames)
    if c is None or c.overlap_seconds <= 0:
        return None
    shorter = min(query.audible_seconds, audible_seconds(np.asarray(stored_frames, dtype=np.uint32)))
    if c.overlap_seconds >= MIN_OVERLAP_SECONDS and c.overlap_seconds >= MIN_OVERLAP_SHARE * shorter:
        return c.match()
    return None


# ---------------------------------------------------------------------------- candidates

def frame_keys(frames: np.ndarray) -> np.ndarray:
    """One index key per frame (KEY_BITS of it), -1 where the frame is silent."""
    frames = np.asarray(frames, dtype=np.uint32)
    keys = (frames & np.uint32(KEY_MASK)).astype(np.int64)
    keys[~audible(frames)] = -1
    return keys


def _query_units(query: Analysis) -> Iterator[np.ndarray]:
    if query.frames is not None:
        yield query.frames
    for p in query.probes:
        yield p.frames


class Index:
    """An in-memory inverted index from frame keys to (track, position) postings.

    `candidates` votes: every posting of every query key votes for its track and the
    offset (stored position minus query position, in bins of VOTE_BIN_FRAMES) within
    one query unit; a track's score is its best-voted offset. Random key collisions
    spread over offsets, copies pile up on one. The work is the total length of the
    posting lists touched, not the number of tracks."""

    def __init__(self) -> None:
        self._postings: dict[int, list[tuple[Hashable, int]]] = defaultdict(list)
        self._frames: dict[Hashable, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, key: Hashable, frames: np.ndarray) -> None:
        if key in self._frames:
            self.remove(key)
        frames = np.asarray(frames, dtype=np.uint32)
        self._frames[key] = frames
        for pos, k in enumerate(frame_keys(frames).tolist()):
            if k >= 0:
                self._postings[k].append((key, pos))

    def remove(self, key: Hashable) -> None:
        frames = self._frames.pop(key, None)
        if frames is None:
            return
        for k in set(frame_keys(frames).tolist()) - {-1}:
            kept = [p for p in self._postings[k] if p[0] != key]
            if kept:
                self._postings[k] = kept
            else:
                del self._postings[k]

    def candidates(self, query: Analysis, limit: int = 20) -> list[Hashable]:
        score: dict[Hashable, int] = {}
        for unit in _query_units(query):
            votes: dict[tuple[Hashable, int], int] = defaultdict(int)
            for i, k in enumerate(frame_keys(unit).tolist()):
                if k < 0:
                    continue
                for track, j in self._postings.get(k, ()):
                    votes[(track, (j - i) // VOTE_BIN_FRAMES)] += 1
            for (track, b), v in votes.items():
                total = v + votes.get((track, b + 1), 0)
                if total > score.get(track, 0):
                    score[track] = total
        ranked = sorted((t for t, s in score.items() if s >= MIN_VOTES), key=lambda t: -score[t])
        return ranked[:limit]

    def search(self, query: Analysis, limit: int = 20) -> list[tuple[Hashable, Match]]:
        """Candidates, then the exact comparison: matches, best first."""
        if query.frames is None:
            return []
        out = []
        for track in self.candidates(query, limit):
            m = compare(query, self._frames[track])
            if m is not None:
                out.append((track, m))
        return sorted(out, key=lambda tm: (-tm[1].overlap_seconds, -tm[1].similarity))
