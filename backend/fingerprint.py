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

    analyse(path) -> Analysis            # one streamed pass over the file
    pack(frames) -> bytes; unpack(data) -> frames        # for a database column
    compare(query: Analysis, stored_frames) -> Match | None
    best_alignment(query, stored_frames) -> (Match | None, score)   # benchmarks
    frame_keys(frames) -> keys; Index: add(key, frames), remove(key),
        candidates(query) -> [key], search(query) -> [(key, Match)]

Speed: only the query pays for it. A stored track keeps one fingerprint, `frames`, at
its own speed. A query also carries `probes`: up to `PROBE_SECONDS` of its audio, in
windows of at most `PROBE_WINDOW_SECONDS` (the whole track when it is that short),
each fingerprinted at every speed of the grid by telling Chromaprint the rate is
rate / speed, which undoes a speed change in pitch and tempo at once. Chromaprint is
pitch-sensitive: 0.25 % off (half a grid step, the most the grid leaves) keeps about
0.82 of the bits equal, 1 % off about 0.72, hence the 0.5 % grid, and hence probes
rather than 25 fingerprints of a whole 30-minute upload.

Decision (`compare`); the thresholds are measured by bench/fingerprint.py:

- An alignment is an offset of the whole fingerprint at speed 1 (the `PEAKS` best by
  FFT cross-correlation over all offsets), or a speed and offset proposed by one probe
  window's best offset, at which every other window of that speed is then read.
  Its units are blocks of `BLOCK_FRAMES` (about 5 s), or the probe windows.
- A run of consecutive units matches when its share of equal bits over its audible
  frames is at least `MIN_SIMILARITY` (0.75), midway between what bench/fingerprint.py
  measures on generated music: copies 0.797 or more (that low only for a speed midway
  between two grid speeds; 0.93 or more at speed 1), distinct pieces 0.689 at most over
  any 30 s at any offset and speed (24 pieces, 552 ordered pairs).
- The overlap is the audible time of the stored track that the longest matching run
  spans, less its units below `MIN_UNIT_SIMILARITY` (0.65; copies' units measured 0.72
  or more, but for a window straddling a copy's edge), so that a run does not carry
  unrelated audio along. For probe windows, a run holding the first (last) window
  inside the aligned span reaches to that span's start (end): beyond `PROBE_SECONDS`
  the overlap is verified on a sample of windows.
- A match needs an overlap of at least `MIN_OVERLAP_SECONDS` (30 s) and at least
  `MIN_OVERLAP_SHARE` (1/2) of the shorter track's audible time.
- Silence (the frame Chromaprint gives below its own silence threshold) counts neither
  in similarities nor in durations. Durations are counted in frames, which cover a
  track but its last 2.6 s: so a copy needs about 32.6 s of shared audio.

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
MIN_SIMILARITY = 0.75
MIN_UNIT_SIMILARITY = 0.65  # a unit inside a matching run counts as overlap from here

CHROMAPRINT_RATE = 11025
FRAME_SECONDS = 4096 / 3 / CHROMAPRINT_RATE  # Chromaprint's frame step (default algorithm)
SPEED_MIN, SPEED_MAX, SPEED_STEP = 0.94, 1.06, 0.005
SPEEDS = tuple(round(SPEED_MIN + k * SPEED_STEP, 4)
               for k in range(round((SPEED_MAX - SPEED_MIN) / SPEED_STEP) + 1))
PROBE_SECONDS = 120.0
PROBE_WINDOW_SECONDS = 30.0
BLOCK_FRAMES = 40  # about 5 s: the unit a whole-track alignment is judged in
DRIFT_FRAMES = 2  # how far a probe window may sit from where its alignment puts it
PEAKS = 3  # offsets of the whole-track correlation examined block by block

# Index keys: the 20 of a frame's 32 bits that best survive a speed midway between two
# grid speeds (per-bit error rates 0.07 to 0.15 there, against 0.16 to 0.38 for the
# other 12; measured on generated music, 8 pieces).
KEY_MASK = 0xF8C3EEB3
KEY_BITS = bin(KEY_MASK).count("1")
MIN_VOTES = 12  # agreeing postings that make a track a candidate (measured: copies 24+, others 8-)
VOTE_BIN_FRAMES = 8

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


def _correlate(queries: list[np.ndarray], stored: _Stored) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each query and every offset d (stored frame = query frame + d, d from -(n-1)
    to m-1): the excess of equal over unequal bits, and the number of audible frame
    pairs. Batched FFTs, a few megabytes at a time."""
    m = len(stored.frames)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    longest = max((len(q) for q in queries), default=0)
    size = 1 << (longest + m - 1).bit_length()
    planes, mask = stored.spectra(size)
    batch = max(1, (64 << 20) // (size * 32 * 8))
    for start in range(0, len(queries), batch):
        group = queries[start : start + batch]
        bits = np.zeros((len(group), longest, 32), np.float32)
        heard = np.zeros((len(group), longest), np.float32)
        for k, q in enumerate(group):
            qmask = audible(q)
            bits[k, : len(q)] = _planes(q, qmask)[::-1]
            heard[k, : len(q)] = qmask[::-1]
        spectra = np.fft.rfft(bits, size, axis=1)
        excess = np.fft.irfft(np.einsum("ufj,fj->uf", spectra, planes), size, axis=1)
        pairs = np.rint(np.fft.irfft(np.fft.rfft(heard, size, axis=1) * mask, size, axis=1))
        for k, q in enumerate(group):
            out.append((excess[k, : len(q) + m - 1], pairs[k, : len(q) + m - 1]))
    return out


@dataclass(frozen=True)
class _Unit:
    """A stretch of the query compared at one alignment."""
    agree: float  # equal bits over its audible frame pairs
    pairs: float  # audible frame pairs
    start: float  # where it lies in the stored track, seconds
    end: float


@dataclass
class _Verdict:
    similarity: float
    overlap_seconds: float
    offset_seconds: float
    speed: float

    @property
    def evidence(self) -> float:
        """Seconds times the share of bits agreeing beyond chance: picks among alignments."""
        return self.overlap_seconds * (self.similarity - 0.5)

    def match(self) -> Match:
        return Match(round(float(self.similarity), 4), round(float(self.overlap_seconds), 2),
                     round(float(self.offset_seconds), 2), round(float(self.speed), 4))


class _Judge:
    """Runs of consecutive units at one alignment: the longest run whose similarity is
    at least MIN_SIMILARITY decides; the best similarity over any run of at least
    MIN_OVERLAP_SECONDS is what the benchmark reports for distinct pieces."""

    def __init__(self, stored: _Stored) -> None:
        self.stored = stored
        self.heard = np.concatenate([[0], np.cumsum(stored.mask)])
        self.best: _Verdict | None = None
        self.score = 0.0  # best similarity over MIN_OVERLAP_SECONDS, matched or not

    def audible_between(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        n = len(self.stored.mask)
        i0 = np.clip(np.rint(lo / FRAME_SECONDS), 0, n).astype(np.int64)
        i1 = np.clip(np.rint(hi / FRAME_SECONDS), 0, n).astype(np.int64)
        return (self.heard[np.maximum(i0, i1)] - self.heard[i0]) * FRAME_SECONDS

    def judge(self, units: list[_Unit], offset: float, speed: float,
              lo: float | None = None, hi: float | None = None) -> None:
        """lo and hi, for probe windows, bound the stored-track span the query covers at
        this alignment: a run that includes the first (last) window reaches back to lo
        (forward to hi), as the windows sample that span."""
        if not units:
            return
        each_agree = np.array([u.agree for u in units])
        each_pairs = np.array([u.pairs for u in units])
        agree = np.concatenate([[0.0], np.cumsum(each_agree)])
        pairs = np.concatenate([[0.0], np.cumsum(each_pairs)])
        # Units of a run that do not match on their own do not count as overlap.
        passing = np.where(each_agree >= MIN_UNIT_SIMILARITY * 32 * each_pairs, each_pairs, 0.0)
        passed = np.concatenate([[0.0], np.cumsum(passing)])
        n = len(units)
        starts = np.array([u.start for u in units])
        ends = np.array([u.end for u in units])
        if lo is not None and hi is not None:
            starts[0], ends[-1] = min(starts[0], lo), max(ends[-1], hi)
        i, j = np.triu_indices(n)
        count = pairs[j + 1] - pairs[i]
        ok = count > 0
        i, j, count = i[ok], j[ok], count[ok]
        sim = (agree[j + 1] - agree[i]) / (32 * count)
        span = self.audible_between(starts[i], ends[j])
        overlap = span * (passed[j + 1] - passed[i]) / count
        long_enough = span >= MIN_OVERLAP_SECONDS
        if long_enough.any():
            self.score = max(self.score, float(sim[long_enough].max()))
        good = sim >= MIN_SIMILARITY
        if good.any():
            k = np.flatnonzero(good)[np.argmax(overlap[good] + sim[good] * 1e-3)]
            found = _Verdict(float(sim[k]), float(overlap[k]), offset, speed)
            if self.best is None or found.evidence > self.best.evidence:
                self.best = found


def _whole(query: Analysis, stored: _Stored, judge: _Judge) -> None:
    """The query's full fingerprint at speed 1, at the PEAKS best offsets, in blocks."""
    frames = query.frames
    if frames is None or not len(stored.frames):
        return
    (excess, pairs), = _correlate([frames], stored)
    tried: list[int] = []
    for k in np.argsort(excess)[::-1][: PEAKS * 16]:
        d = int(k) - (len(frames) - 1)
        if len(tried) >= PEAKS:
            break
        if pairs[k] < BLOCK_FRAMES or any(abs(d - t) <= 2 for t in tried):
            continue
        tried.append(d)
        i0, i1 = max(0, -d), min(len(frames), len(stored.frames) - d)
        q, t = frames[i0:i1], stored.frames[i0 + d : i1 + d]
        equal, heard = _equal_bits(q, t), audible(q) & stored.mask[i0 + d : i1 + d]
        units = []
        for b in range(0, len(q), BLOCK_FRAMES):
            h = heard[b : b + BLOCK_FRAMES]
            units.append(_Unit(float(equal[b : b + BLOCK_FRAMES][h].sum()), float(np.count_nonzero(h)),
                               (i0 + d + b) * FRAME_SECONDS, (i0 + d + b + len(h)) * FRAME_SECONDS))
        judge.judge(units, d * FRAME_SECONDS, 1.0)


def _probed(query: Analysis, stored: _Stored, judge: _Judge) -> None:
    """Probe windows, per speed: each window's best offset proposes an alignment; every
    window is then read at that alignment (give or take DRIFT_FRAMES)."""
    if not query.probes or not len(stored.frames):
        return
    by_speed: dict[float, list[tuple[Probe, tuple[np.ndarray, np.ndarray]]]] = defaultdict(list)
    for p, table in zip(query.probes, _correlate([p.frames for p in query.probes], stored)):
        by_speed[p.speed].append((p, table))
    stored_seconds = len(stored.frames) * FRAME_SECONDS
    for speed, found in by_speed.items():
        found.sort(key=lambda pt: pt[0].start)
        probes, tables = [p for p, _ in found], [t for _, t in found]
        proposals: list[tuple[float, float]] = []  # (alignment, start of the window proposing it)
        for p, (excess, pairs) in zip(probes, tables):
            heard = np.count_nonzero(audible(p.frames))
            ok = pairs >= max(1, heard / 2)
            if not ok.any():
                continue
            k = int(np.argmax(np.where(ok, excess / np.maximum(pairs, 1), -np.inf)))
            c = (k - (len(p.frames) - 1)) * FRAME_SECONDS - speed * p.start
            if all(abs(c - o) > 2 * FRAME_SECONDS for o, _ in proposals):
                proposals.append((c, p.start))
        for c, anchor in proposals:
            units = []
            for p, (excess, pairs) in zip(probes, tables):
                n = len(p.frames)
                d = (c + speed * p.start) / FRAME_SECONDS
                # The grid leaves up to half a step of speed error, which drifts with distance.
                drift = DRIFT_FRAMES + int(SPEED_STEP / 2 * abs(p.start - anchor) / FRAME_SECONDS)
                lo_k = max(0, int(math.floor(d)) - drift + n - 1)
                hi_k = min(len(excess), int(math.ceil(d)) + drift + n)
                if hi_k <= lo_k:
                    continue
                near = np.where(pairs[lo_k:hi_k] >= BLOCK_FRAMES / 2,
                                excess[lo_k:hi_k] / np.maximum(pairs[lo_k:hi_k], 1), -np.inf)
                k = lo_k + int(np.argmax(near))
                if not np.isfinite(near[k - lo_k]):
                    continue
                dk = k - (n - 1)
                units.append(_Unit(float((32 * pairs[k] + excess[k]) / 2), float(pairs[k]),
                                   max(0.0, dk * FRAME_SECONDS), min(stored_seconds, (dk + n) * FRAME_SECONDS)))
            covered = len(query.frames) * FRAME_SECONDS if query.frames is not None else 0.0
            judge.judge(units, c, speed, max(0.0, c), min(stored_seconds, c + speed * covered))


def _judge(query: Analysis, stored_frames: np.ndarray) -> _Judge:
    stored = _Stored(stored_frames)
    judge = _Judge(stored)
    _whole(query, stored, judge)
    _probed(query, stored, judge)
    return judge


def best_alignment(query: Analysis, stored_frames: np.ndarray) -> tuple[Match | None, float]:
    """The longest run above MIN_SIMILARITY whatever its overlap, and the best
    similarity of any run covering MIN_OVERLAP_SECONDS (what distinct pieces reach)."""
    judge = _judge(query, stored_frames)
    return (judge.best.match() if judge.best else None), round(judge.score, 4)


def compare(query: Analysis, stored_frames: np.ndarray) -> Match | None:
    """The match if the query covers enough of the stored track (see the module doc)."""
    if query.frames is None or not len(stored_frames):
        return None
    judge = _judge(query, stored_frames)
    best = judge.best
    if best is None:
        return None
    shorter = min(query.audible_seconds * best.speed, judge.stored.audible_seconds)
    if best.overlap_seconds >= MIN_OVERLAP_SECONDS and best.overlap_seconds >= MIN_OVERLAP_SHARE * shorter:
        return best.match()
    return None


# ---------------------------------------------------------------------------- candidates

def frame_keys(frames: np.ndarray) -> np.ndarray:
    """One index key per frame (KEY_BITS of it), -1 where the frame is silent."""
    frames = np.asarray(frames, dtype=np.uint32)
    keys = (frames & np.uint32(KEY_MASK)).astype(np.int64)
    keys[~audible(frames)] = -1
    return keys


def _query_units(query: Analysis) -> Iterator[tuple[int, int, np.ndarray]]:
    """(step, shift, frames): step numbers the speed on the grid (SPEEDS[step]); shift
    puts a probe window's frames where its start falls in the query at that speed, so
    that all windows of one speed vote together."""
    if query.frames is not None:
        yield _step(1.0), 0, query.frames
    for p in query.probes:
        yield _step(p.speed), round(p.speed * p.start / FRAME_SECONDS), p.frames


def _step(speed: float) -> int:
    return round((speed - SPEED_MIN) / SPEED_STEP)


class Index:
    """An in-memory inverted index from frame keys to (track, position) postings, kept
    as sorted numpy arrays (12 bytes a posting, about 100 bytes a second of audio).

    `candidates` votes: every posting of every query key votes for its track, the
    speed of the query unit holding the key, and the alignment (stored position minus
    query position, in bins of VOTE_BIN_FRAMES); a track's score is its best-voted
    speed and alignment. Random key collisions spread over alignments, copies pile up
    on one. The work is the total length of the posting lists touched (binary searches
    into the sorted keys, then vectorised counting), not the number of tracks. New
    postings go to a small sorted tier that is merged into the main one when it grows
    past a quarter of it, so adding stays cheap amortised."""

    def __init__(self) -> None:
        self._ids: dict[Hashable, int] = {}  # track -> internal number, never reused
        self._tracks: list[Hashable] = []
        self._frames: dict[Hashable, np.ndarray] = {}
        self._removed: set[int] = set()
        self._main = self._recent = _EMPTY  # (keys, ids, positions), sorted by key
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, key: Hashable, frames: np.ndarray) -> None:
        if key in self._ids:
            self.remove(key)
        frames = np.asarray(frames, dtype=np.uint32)
        number = len(self._tracks)
        self._tracks.append(key)
        self._ids[key] = number
        self._frames[key] = frames
        keys = frame_keys(frames)
        positions = np.flatnonzero(keys >= 0)
        self._pending.append((keys[positions].astype(np.uint32), np.full(len(positions), number, np.int32),
                              positions.astype(np.int32)))

    def remove(self, key: Hashable) -> None:
        number = self._ids.pop(key, None)
        if number is not None:
            self._removed.add(number)
            del self._frames[key]

    def _tiers(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        if self._pending:
            new = [self._recent, *self._pending]
            self._pending = []
            if sum(len(p[0]) for p in new) > len(self._main[0]) // 4:
                self._main = _sorted_postings([self._main, *new], drop=self._removed)
                self._recent = _EMPTY
            else:
                self._recent = _sorted_postings(new)
        return [self._main, self._recent]

    def candidates(self, query: Analysis, limit: int = 20) -> list[Hashable]:
        """Tracks with at least MIN_VOTES agreeing postings, best first, at most `limit`."""
        score = self.scores(query)
        ranked = sorted((t for t, s in score.items() if s >= MIN_VOTES), key=lambda t: -score[t])
        return ranked[:limit]

    def scores(self, query: Analysis) -> dict[Hashable, int]:
        """Each track's votes at its best speed and alignment. A copy whose speed falls
        between two grid speeds splits its votes over both, and an alignment may straddle
        two bins: a score adds up two neighbouring speeds and two neighbouring bins."""
        units = [(step, shift, frame_keys(frames)) for step, shift, frames in _query_units(query)]
        if not units:
            return {}
        qkeys = np.concatenate([k for _, _, k in units])
        qpos = np.concatenate([np.arange(len(k)) + shift for _, shift, k in units])
        qstep = np.concatenate([np.full(len(k), step) for step, _, k in units])
        heard = qkeys >= 0
        qkeys, qpos, qstep = qkeys[heard].astype(np.uint32), qpos[heard], qstep[heard]
        codes = []
        for keys, ids, positions in self._tiers():
            lo = np.searchsorted(keys, qkeys, "left")
            hi = np.searchsorted(keys, qkeys, "right")
            count = hi - lo
            total = int(count.sum())
            if not total:
                continue
            # Every posting of every query key: its index in this tier, and which query frame.
            which = np.repeat(np.arange(len(qkeys)), count)
            first = np.cumsum(count) - count
            at = lo[which] + (np.arange(total) - first[which])
            ids_at = ids[at].astype(np.int64)
            alive = ~np.isin(ids_at, list(self._removed)) if self._removed else slice(None)
            bins = (positions[at].astype(np.int64) - qpos[which]) // VOTE_BIN_FRAMES + (1 << 15)
            codes.append(((ids_at << 21) | (qstep[which] << 16) | np.clip(bins, 0, (1 << 16) - 2))[alive])
        if not codes:
            return {}
        code, votes = np.unique(np.concatenate(codes), return_counts=True)
        total = votes.copy()
        for neighbour in (1, 1 << 16, (1 << 16) + 1):  # next bin, next speed, both
            k = np.searchsorted(code, code + neighbour)
            found = (k < len(code)) & (code[np.minimum(k, len(code) - 1)] == code + neighbour)
            total[found] += votes[k[found]]
        track = code >> 21
        order = np.lexsort((total, track))
        last = np.r_[track[order][1:] != track[order][:-1], True]
        return {self._tracks[int(t)]: int(v) for t, v in zip(track[order][last], total[order][last])}

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


_EMPTY = (np.zeros(0, np.uint32), np.zeros(0, np.int32), np.zeros(0, np.int32))


def _sorted_postings(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                     drop: set[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys, ids, positions = (np.concatenate([p[i] for p in parts]) for i in range(3))
    if drop:
        keep = ~np.isin(ids, list(drop))
        keys, ids, positions = keys[keep], ids[keep], positions[keep]
    order = np.argsort(keys)
    return keys[order], ids[order], positions[order]
