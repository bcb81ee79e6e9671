"""backend.fingerprint and backend.fingerprint_match on synthetic Chromaprint frames (random
32-bit words, with bits flipped by hand): storage, silence, and when a query is a copy."""
from __future__ import annotations

import numpy as np
import pytest

from backend.fingerprint import FRAME_SECONDS, Analysis, audible_seconds, pack, silence_frame, unpack
from backend.fingerprint_match import compare

RNG = np.random.default_rng(18)
SIXTY_SECONDS = round(60 / FRAME_SECONDS)  # 485 frames


def frames(n: int) -> np.ndarray:
    return RNG.integers(0, 2**32, size=n, dtype=np.uint32)


def query(f: np.ndarray) -> Analysis:
    return Analysis(audio_hash="h", duration=len(f) * FRAME_SECONDS, samplerate=44_100, channels=2, frames=f)


def flip(f: np.ndarray, bits: int) -> np.ndarray:
    """The same frames with their `bits` lowest bits inverted: 32 - bits of 32 stay equal."""
    return f ^ np.uint32((1 << bits) - 1)


def test_a_packed_fingerprint_is_a_version_byte_then_little_endian_words():
    assert pack(np.array([1, 0x01020304], dtype=np.uint32)) == b"\x01" + b"\x01\0\0\0" + b"\x04\x03\x02\x01"
    f = frames(100)
    back = unpack(pack(f))
    assert back.dtype == np.uint32 and np.array_equal(back, f)
    assert len(unpack(b"\x01")) == 0


@pytest.mark.parametrize("data", [b"", b"\x02\0\0\0\0", b"\x01\0\0\0", b"\x01" + bytes(7)])
def test_anything_else_is_not_a_packed_fingerprint(data):
    with pytest.raises(ValueError, match="not a packed fingerprint"):
        unpack(data)


def test_silent_frames_do_not_count_as_audible_time():
    f = frames(100)
    f[10:40] = silence_frame()
    assert audible_seconds(f) == pytest.approx(70 * FRAME_SECONDS)


def test_the_same_frames_match_entirely_at_speed_one():
    f = frames(SIXTY_SECONDS)
    m = compare(query(f), f)
    assert m is not None
    assert (m.similarity, m.speed, m.offset_seconds) == (1.0, 1.0, 0.0)
    assert m.overlap_seconds == pytest.approx(SIXTY_SECONDS * FRAME_SECONDS, abs=0.005)  # Match rounds to hundredths


def test_a_copy_with_its_start_cut_lines_up_where_it_starts():
    f = frames(SIXTY_SECONDS)
    m = compare(query(f[100:]), f)
    assert m is not None and m.similarity == 1.0
    assert m.offset_seconds == pytest.approx(100 * FRAME_SECONDS, abs=0.005)  # Match rounds to hundredths
    assert m.overlap_seconds == pytest.approx((SIXTY_SECONDS - 100) * FRAME_SECONDS, abs=0.005)


def test_similarity_is_the_share_of_equal_bits_and_a_copy_needs_three_quarters():
    f = frames(SIXTY_SECONDS)
    assert compare(query(flip(f, 4)), f).similarity == pytest.approx(28 / 32)
    assert compare(query(flip(f, 8)), f).similarity == pytest.approx(24 / 32)  # exactly the threshold
    assert compare(query(flip(f, 9)), f) is None  # 23 / 32 = 0.72


def test_unrelated_frames_do_not_match():
    assert compare(query(frames(SIXTY_SECONDS)), frames(SIXTY_SECONDS)) is None


def test_a_copy_must_share_thirty_seconds():
    f = frames(2 * SIXTY_SECONDS)
    assert compare(query(f[:round(25 / FRAME_SECONDS)]), f) is None
    m = compare(query(f[:round(40 / FRAME_SECONDS)]), f)
    assert m is not None and m.overlap_seconds >= 30


def test_a_query_without_frames_or_a_stored_track_without_frames_matches_nothing():
    f = frames(SIXTY_SECONDS)
    assert compare(Analysis("h", 10.0, 44_100, 2, None), f) is None
    assert compare(query(f), np.zeros(0, dtype=np.uint32)) is None
