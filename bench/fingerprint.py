"""Fingerprint benchmark: the measurements behind the thresholds of backend/fingerprint.py
(analysis), fingerprint_match.py (the match decision) and fingerprint_index.py (candidates).

Prints, on generated music (tests/support/media.py): the similarity and overlap that each copy
transformation gets against its original, the highest similarity any unit of a distinct
piece reached (over all ordered pairs), what the candidate filter returns, and the time
to analyse and search a 30-minute track. Run: `.venv/bin/python bench/fingerprint.py`
(about 6 minutes on two cores; `--quick` for fewer pieces and a smaller index)."""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import media  # noqa: E402
from backend import fingerprint as fp  # noqa: E402
from backend import fingerprint_index as fpi  # noqa: E402
from backend import fingerprint_match as fpm  # noqa: E402

RATE = media.MUSIC_RATE


def transformations(other: Callable[[int], np.ndarray]) -> dict[str, Callable[[np.ndarray, int], tuple[bytes]]]:
    def enc(x: np.ndarray, rate: int = RATE, fmt: str = "WAV") -> bytes:
        return media.encode(x, rate, fmt)

    out: dict[str, Callable] = {
        "FLAC": lambda x, s: enc(x, fmt="FLAC"),
        "22.05 kHz": lambda x, s: enc(media.resample(x, 0.5), 22050),
        "MP3 128k": lambda x, s: enc(x, fmt="MP3"),
        "trim 0.5 s": lambda x, s: enc(media.trim_start(x, RATE, 0.5)),
        "trim 2 s": lambda x, s: enc(media.trim_start(x, RATE, 2.0)),
        "prepend 20 s": lambda x, s: enc(media.prepend(x, other(s))),
        "MP3 + trim 1.3 s": lambda x, s: enc(media.trim_start(x, RATE, 1.3), fmt="MP3"),
    }
    for speed in (0.94, 0.9625, 0.9875, 1.0025, 1.0125, 1.03, 1.06):
        out[f"speed {speed}"] = lambda x, s, v=speed: enc(media.change_speed(x, v))
    return out


def analyse_bytes(data: bytes, folder: Path, name: str) -> tuple[fp.Analysis, float]:
    path = folder / name
    path.write_bytes(data)
    t = time.perf_counter()
    a = fp.analyse(path)
    return a, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pieces", type=int, default=24)
    parser.add_argument("--long-minutes", type=float, default=30.0)
    parser.add_argument("--index-tracks", type=int, default=10_000)
    args = parser.parse_args()
    pieces = 10 if args.quick else args.pieces
    sources = 3 if args.quick else 6
    with tempfile.TemporaryDirectory(prefix="fp-bench-") as tmp:
        run(Path(tmp), args, pieces, sources)


def run(folder: Path, args: argparse.Namespace, pieces: int, sources: int) -> None:

    print(f"thresholds: unit similarity >= {fpm.MIN_SIMILARITY}, overlap >= {fpm.MIN_OVERLAP_SECONDS} s "
          f"and >= {fpm.MIN_OVERLAP_SHARE:.0%} of the shorter track; speeds {fp.SPEEDS[0]}..{fp.SPEEDS[-1]} "
          f"step {fp.SPEED_STEP}; key {fpi.KEY_BITS} bits, >= {fpi.MIN_VOTES} votes")

    samples = {s: media.music_samples(s, 40) for s in range(pieces)}
    analyses: dict[int, fp.Analysis] = {}
    times = []
    for s, x in samples.items():
        analyses[s], t = analyse_bytes(media.encode(x, RATE), folder, f"piece{s}.wav")
        times.append(t)
    print(f"\n{pieces} distinct 40 s pieces at 44.1 kHz; analysis {statistics.mean(times):.2f} s each (mean)")

    index = fpi.Index()
    for s, a in analyses.items():
        index.add(s, a.frames)

    print(f"\n{'copy of the original':<18} {'sim min':>8} {'sim mean':>8} {'overlap min':>11} "
          f"{'matched':>7} {'candidate':>9}")
    for name, make in transformations(lambda s: media.music_samples(10_000 + s, 20)).items():
        sims, overlaps, matched, found = [], [], 0, 0
        for s in range(sources):
            q, _ = analyse_bytes(make(samples[s], s), folder, "copy")
            m = fpm.compare(q, analyses[s].frames)
            sims.append(m.similarity if m else fpm.best_alignment(q, analyses[s].frames)[1])
            overlaps.append(m.overlap_seconds if m else 0.0)
            matched += m is not None
            found += s in index.candidates(q)
        print(f"{name:<18} {min(sims):>8.3f} {statistics.mean(sims):>8.3f} {min(overlaps):>10.1f}s "
              f"{matched:>4}/{sources} {found:>6}/{sources}")

    scores, false, candidates = [], 0, []
    for i, q in analyses.items():
        candidates.append(len([c for c in index.candidates(q) if c != i]))
        for j, stored in analyses.items():
            if i == j:
                continue
            scores.append(fpm.best_alignment(q, stored.frames)[1])
            false += fpm.compare(q, stored.frames) is not None
    print(f"\ndistinct pieces, {len(scores)} ordered pairs: best similarity over >= {fpm.MIN_OVERLAP_SECONDS:.0f} s "
          f"at any offset and speed: min {min(scores):.3f} median {statistics.median(scores):.3f} "
          f"max {max(scores):.3f}; matches {false}; other candidates per query: "
          f"mean {statistics.mean(candidates):.1f}, max {max(candidates)}")

    long_track(folder, 5.0 if args.quick else args.long_minutes, index, analyses)
    index_at_scale(analyses, 1000 if args.quick else args.index_tracks)


def long_track(folder: Path, minutes: float, index: fpi.Index, analyses: dict[int, fp.Analysis]) -> None:
    path = folder / "long.flac"
    pieces = int(minutes * 60 // 40)
    with soundfile.SoundFile(str(path), "w", RATE, 2, "PCM_16", format="FLAC") as f:
        for k in range(pieces):
            f.write(media.music_samples(20_000 + k, 40))
    for fmt in ("FLAC", "WAV"):
        p = path
        if fmt == "WAV":
            p = folder / "long.wav"
            with soundfile.SoundFile(str(path)) as src, soundfile.SoundFile(str(p), "w", RATE, 2, "PCM_16") as dst:
                for block in src.blocks(65536, dtype="int16"):
                    dst.write(block)
        t = time.perf_counter()
        a = fp.analyse(p)
        took = time.perf_counter() - t
        print(f"\n{a.duration / 60:.0f}-minute {fmt} ({p.stat().st_size / 1e6:.0f} MB): analysis {took:.1f} s, "
              f"{len(a.frames)} frames ({len(fp.pack(a.frames)) / 1e3:.0f} kB packed), {len(a.probes)} probe units")
    index.add("long", a.frames)
    t = time.perf_counter()
    found = index.candidates(a)
    took = time.perf_counter() - t
    t = time.perf_counter()
    m = fpm.compare(a, a.frames)
    took_self = time.perf_counter() - t
    t = time.perf_counter()
    short = fpm.compare(analyses[0], a.frames)
    took_short = time.perf_counter() - t
    print(f"candidates for it among {len(index)} tracks: {found} in {took:.2f} s; compare with itself "
          f"{took_self:.2f} s ({m}); a 40 s piece against it {took_short:.2f} s ({short})")


def index_at_scale(analyses: dict[int, fp.Analysis], tracks: int) -> None:
    """The candidate filter's cost among many tracks. Their frames are random (this
    measures time and memory, not accuracy), 4 minutes each."""
    rng = np.random.default_rng(0)
    index = fpi.Index()
    t = time.perf_counter()
    for k in range(tracks):
        index.add(("random", k), rng.integers(0, 1 << 32, int(240 / fp.FRAME_SECONDS), dtype=np.uint64).astype(np.uint32))
    for s, a in analyses.items():
        index.add(s, a.frames)
    added = time.perf_counter() - t
    t = time.perf_counter()
    index.candidates(analyses[0])
    first = time.perf_counter() - t
    t = time.perf_counter()
    found = [index.candidates(a)[:1] == [s] for s, a in analyses.items()]
    each = (time.perf_counter() - t) / len(analyses)
    postings = sum(len(tier[0]) for tier in index._tiers())
    size = sum(a.nbytes for tier in index._tiers() for a in tier)
    print(f"\nindex of {len(index)} tracks ({postings / 1e6:.1f} M postings, {size / 1e6:.0f} MB): added in {added:.1f} s, "
          f"first query (sorts) {first:.1f} s, then {each * 1000:.0f} ms a 40 s query; "
          f"each piece its own top candidate: {sum(found)}/{len(found)}")


if __name__ == "__main__":
    main()
