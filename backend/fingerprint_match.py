"""Comparing a query's fingerprint (backend/fingerprint.py) with a stored track's frames:
`compare` decides whether the query copies the stored track, `best_alignment` reports the
evidence for the benchmarks (bench/fingerprint.py).

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
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from backend.fingerprint import FRAME_SECONDS, SPEED_STEP, Analysis, Probe, audible

MIN_OVERLAP_SECONDS = 30.0
MIN_OVERLAP_SHARE = 0.5
MIN_SIMILARITY = 0.75
MIN_UNIT_SIMILARITY = 0.65  # a unit inside a matching run counts as overlap from here
BLOCK_FRAMES = 40  # about 5 s: the unit a whole-track alignment is judged in
DRIFT_FRAMES = 2  # how far a probe window may sit from where its alignment puts it
PEAKS = 3  # offsets of the whole-track correlation examined block by block


@dataclass(frozen=True)
class Match:
    similarity: float  # share of equal bits over the matching units' audible frames
    overlap_seconds: float  # audible time of the stored track that the query covers
    offset_seconds: float  # stored-track time at which the query's start lines up
    speed: float  # how much faster the query plays than the stored track


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
