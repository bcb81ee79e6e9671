"""Duplicate-upload fingerprints (backend/fingerprint.py) on generated music: copies of a
piece match it, distinct pieces never match each other. The thresholds themselves are
justified by bench/fingerprint.py."""
from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile

from backend import fingerprint, fingerprint_index, fingerprint_match
from tests.support.media import MUSIC_RATE, change_speed, encode, music_samples, prepend, resample, trim_start

DISTINCT = range(100, 120)  # 20 pieces of 40 s
ORIGINAL = 100


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fingerprint")


def analyse(folder: Path, data: bytes, name: str) -> fingerprint.Analysis:
    path = folder / name
    path.write_bytes(data)
    return fingerprint.analyse(path)


@pytest.fixture(scope="module")
def samples() -> dict[int, np.ndarray]:
    return {seed: music_samples(seed, 40) for seed in DISTINCT}


@pytest.fixture(scope="module")
def analyses(folder: Path, samples: dict[int, np.ndarray]) -> dict[int, fingerprint.Analysis]:
    return {seed: analyse(folder, encode(x, MUSIC_RATE), f"{seed}.wav") for seed, x in samples.items()}


def with_title(samples: np.ndarray, title: str) -> bytes:
    out = io.BytesIO()
    with soundfile.SoundFile(out, "w", MUSIC_RATE, 2, "PCM_16", format="WAV") as f:
        f.title = title
        f.write(samples)
    return out.getvalue()


def test_wav_and_flac_of_the_same_samples_hash_alike(folder, samples):
    pcm = np.rint(samples[ORIGINAL] * 32767).astype(np.int16)  # the samples, not their float source
    wav = analyse(folder, encode(pcm, MUSIC_RATE, "WAV"), "same.wav")
    flac = analyse(folder, encode(pcm, MUSIC_RATE, "FLAC"), "same.flac")
    assert flac.audio_hash == wav.audio_hash
    assert np.array_equal(flac.frames, wav.frames)


def test_one_tag_byte_changes_the_file_but_not_the_hash(folder, samples):
    x = samples[ORIGINAL][: 5 * MUSIC_RATE]
    one, two = with_title(x, "Take 1"), with_title(x, "Take 2")
    assert len(one) == len(two) and sum(a != b for a, b in zip(one, two)) == 1
    assert analyse(folder, one, "one.wav").audio_hash == analyse(folder, two, "two.wav").audio_hash


def test_different_samples_hash_differently(folder, samples):
    x = samples[ORIGINAL][: 5 * MUSIC_RATE]
    quieter = analyse(folder, encode(x * 0.5, MUSIC_RATE), "quiet.wav")
    assert quieter.audio_hash != analyse(folder, encode(x, MUSIC_RATE), "loud.wav").audio_hash


def test_audio_shorter_than_30_s_gets_a_hash_and_no_fingerprint(folder, samples):
    short = analyse(folder, encode(samples[ORIGINAL][: 29 * MUSIC_RATE], MUSIC_RATE), "short.wav")
    assert len(short.audio_hash) == 64 and short.duration == pytest.approx(29.0)
    assert short.frames is None and short.probes == ()


def test_a_fingerprint_survives_packing(analyses):
    frames = analyses[ORIGINAL].frames
    assert frames is not None and frames.dtype == np.uint32
    assert np.array_equal(fingerprint.unpack(fingerprint.pack(frames)), frames)
    with pytest.raises(ValueError):
        fingerprint.unpack(b"\x00abc")


COPIES = {
    "flac": lambda x: encode(x, MUSIC_RATE, "FLAC"),
    "resampled to 22.05 kHz": lambda x: encode(resample(x, 0.5), 22050),
    "mp3 at 128 kbit/s": lambda x: encode(x, MUSIC_RATE, "MP3"),
    "trimmed by 2 s": lambda x: encode(trim_start(x, MUSIC_RATE, 2.0), MUSIC_RATE),
    "other audio prepended": lambda x: encode(prepend(x, music_samples(7, 20)), MUSIC_RATE),
    "sped up 6 %": lambda x: encode(change_speed(x, 1.06), MUSIC_RATE),
    "slowed down 6 %": lambda x: encode(change_speed(x, 0.94), MUSIC_RATE),
    "sped up between two grid speeds": lambda x: encode(change_speed(x, 1.0125), MUSIC_RATE),
}


@pytest.mark.parametrize("copy", list(COPIES))
def test_a_copy_matches_its_original(folder, samples, analyses, copy):
    query = analyse(folder, COPIES[copy](samples[ORIGINAL]), "copy")
    match = fingerprint_match.compare(query, analyses[ORIGINAL].frames)
    assert match is not None, fingerprint_match.best_alignment(query, analyses[ORIGINAL].frames)
    assert match.overlap_seconds >= fingerprint_match.MIN_OVERLAP_SECONDS
    assert match.similarity >= fingerprint_match.MIN_SIMILARITY


def test_a_copy_is_found_through_the_index(folder, samples, analyses):
    index = fingerprint_index.Index()
    for seed, a in analyses.items():
        index.add(seed, a.frames)
    query = analyse(folder, COPIES["mp3 at 128 kbit/s"](samples[ORIGINAL]), "indexed.mp3")
    found = index.search(query)
    assert [seed for seed, _ in found] == [ORIGINAL]
    index.remove(ORIGINAL)
    assert index.search(query) == []


def test_the_reported_alignment_is_where_the_copy_starts(folder, samples, analyses):
    x = samples[ORIGINAL]
    trimmed = analyse(folder, encode(trim_start(x, MUSIC_RATE, 2.0), MUSIC_RATE), "trimmed.wav")
    match = fingerprint_match.compare(trimmed, analyses[ORIGINAL].frames)
    assert match.speed == 1.0 and match.offset_seconds == pytest.approx(2.0, abs=fingerprint.FRAME_SECONDS)
    padded = analyse(folder, encode(prepend(x, music_samples(7, 20)), MUSIC_RATE), "padded.wav")
    match = fingerprint_match.compare(padded, analyses[ORIGINAL].frames)
    assert match.offset_seconds == pytest.approx(-20.0, abs=fingerprint.FRAME_SECONDS)


def test_a_copy_too_short_to_cover_the_overlap_does_not_match(folder, samples, analyses):
    excerpt = analyse(folder, encode(samples[ORIGINAL][: 31 * MUSIC_RATE], MUSIC_RATE), "excerpt.wav")
    assert excerpt.frames is not None
    assert fingerprint_match.compare(excerpt, analyses[ORIGINAL].frames) is None  # 28.5 s of frames < 30 s


def test_sharing_less_than_half_of_the_shorter_track_is_no_match(folder, samples):
    shared = samples[ORIGINAL]  # 40 s
    stored = analyse(folder, encode(np.concatenate([shared, music_samples(8, 60)]), MUSIC_RATE), "album.wav")
    query = analyse(folder, encode(np.concatenate([shared, music_samples(9, 45)]), MUSIC_RATE), "medley.wav")
    assert fingerprint_match.best_alignment(query, stored.frames)[0].overlap_seconds >= fingerprint_match.MIN_OVERLAP_SECONDS
    assert fingerprint_match.compare(query, stored.frames) is None  # about 37 s of the query's 82 s


def test_silence_is_not_evidence(folder, samples, analyses):
    silent = np.zeros((40 * MUSIC_RATE, 2))
    quiet = analyse(folder, encode(silent, MUSIC_RATE), "silence.wav")
    assert quiet.audible_seconds == 0
    assert fingerprint_match.compare(quiet, quiet.frames) is None
    # Silence on both sides of a short piece of music does not make up the overlap.
    gap = silent[: 20 * MUSIC_RATE]
    padded = np.concatenate([gap, samples[ORIGINAL][: 20 * MUSIC_RATE], gap])
    a = analyse(folder, encode(padded, MUSIC_RATE), "padded-a.wav")
    assert fingerprint_match.compare(a, a.frames) is None


def test_distinct_pieces_never_match(analyses):
    false = [(a, b, m) for a, b in itertools.permutations(analyses, 2)
             if (m := fingerprint_match.compare(analyses[a], analyses[b].frames)) is not None]
    assert false == []
    assert len(analyses) >= 20 and all(a.duration >= 40 for a in analyses.values())
