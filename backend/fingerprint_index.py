"""The candidate filter for duplicate uploads: an inverted index of fingerprint frame
keys (`Index`), so that a query is compared exactly (backend/fingerprint_match.py) only
with the few stored tracks whose keys agree with it on a speed and an alignment. Its cost
is the total length of the posting lists of the query's keys, not the number of tracks."""
from __future__ import annotations

from collections.abc import Hashable, Iterator

import numpy as np

from backend.fingerprint import FRAME_SECONDS, SPEED_MIN, SPEED_STEP, Analysis, audible
from backend.fingerprint_match import Match, compare

# Index keys: the 20 of a frame's 32 bits that best survive a speed midway between two
# grid speeds (per-bit error rates 0.07 to 0.15 there, against 0.16 to 0.38 for the
# other 12; measured on generated music, 8 pieces).
KEY_MASK = 0xF8C3EEB3
KEY_BITS = bin(KEY_MASK).count("1")
MIN_VOTES = 12  # agreeing postings that make a track a candidate (measured: copies 24+, others 8-)
VOTE_BIN_FRAMES = 8


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
