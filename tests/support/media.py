"""Small valid media files for tests: a sine-wave WAV, a solid-colour PNG, a FLAC of silence
written by hand (a decompression bomb by default), and music-like pieces with the copy
transformations that duplicate-upload fingerprints must see through."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import soundfile


def wav_bytes(seconds: float, freq: float = 440.0, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    out = io.BytesIO()
    soundfile.write(out, (0.3 * np.sin(2 * np.pi * freq * t)).astype("float32"), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def png_bytes(r: int = 200, g: int = 40, b: int = 90) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + bytes([r, g, b]) * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# Music-like test audio for the fingerprint module. Pure tones fingerprint poorly and
# unlike music, so each piece has a seeded key, tempo, chord progression, bass line,
# melody and drum pattern; two seeds share nothing but the instruments' recipes.
MUSIC_RATE = 44100
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 4), (5, 3, 0, 4), (0, 5, 1, 4), (0, 2, 3, 4),
                 (0, 3, 0, 4), (1, 4, 0, 5))


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def _tone(freq: float, n: int, rate: int, harmonics: np.ndarray, decay: float, attack: float,
          vibrato: float = 0.0) -> np.ndarray:
    """One note: a wavetable of the harmonics below Nyquist, an attack and a decay."""
    t = np.arange(n) / rate
    env = np.minimum(1.0, t / attack) * np.exp(-t * decay)
    env[-min(n, 64):] *= np.linspace(1.0, 0.0, min(n, 64))  # no click at the note's end
    cycles = freq * (t + vibrato * np.sin(2 * np.pi * 5.5 * t) / (2 * np.pi * 5.5))
    table = _wavetable(tuple(harmonics[: max(1, int(rate / 2.2 / freq))]))
    return table[(cycles * len(table)).astype(np.int64) % len(table)] * env


_TABLES: dict[tuple[float, ...], np.ndarray] = {}


def _wavetable(harmonics: tuple[float, ...]) -> np.ndarray:
    if harmonics not in _TABLES:
        x = np.arange(4096) * 2 * np.pi / 4096
        _TABLES[harmonics] = sum(a * np.sin(k * x) for k, a in enumerate(harmonics, start=1))
    return _TABLES[harmonics]


def _music(seed: int, seconds: float, rate: int) -> np.ndarray:
    """A stereo float64 piece in [-1, 1] (channels last)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    out = np.zeros((n, 2))
    root = int(rng.integers(45, 57))
    scale = _MAJOR if rng.random() < 0.5 else _MINOR
    bpm = float(rng.uniform(78, 150))
    beat = 60.0 / bpm
    if rng.random() < 0.5:
        progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    else:
        progression = (0, *(int(d) for d in rng.integers(1, 6, 3)))
    lead = rng.uniform(0.1, 1.0, 6) / np.arange(1, 7) ** rng.uniform(0.5, 1.5)
    pad = np.array([1.0, 0.4, 0.2, 0.1]) * rng.uniform(0.5, 1.0, 4)
    bass = np.array([1.0, 0.5, 0.33, 0.25, 0.2]) * rng.uniform(0.4, 1.0, 5)
    chord_style = int(rng.integers(3))  # held pad, a stab on every beat, or an arpeggio
    lead_gain, pad_gain = float(rng.uniform(0.14, 0.24)), float(rng.uniform(0.07, 0.12))
    pans = rng.uniform(0.2, 0.8, 4)

    def add(signal: np.ndarray, start_s: float, pan: float, gain: float) -> None:
        i = int(start_s * rate)
        if i >= n:
            return
        part = signal[: n - i] * gain
        out[i : i + len(part), 0] += part * (1 - pan)
        out[i : i + len(part), 1] += part * pan

    def degree(d: int, octave: int = 0) -> int:
        return root + scale[d % 7] + 12 * (d // 7 + octave)

    bar = 4 * beat
    melody_degree = int(rng.integers(7, 12))
    rhythms = ((1, 1, 1, 1), (0.5, 0.5, 1, 2), (1.5, 0.5, 1, 1), (0.5,) * 8, (2, 1, 0.5, 0.5), (1, 0.5, 0.5, 2))
    kick_steps = ((0, 8), (0, 6, 8), (0, 3, 8, 11), (0, 8, 10))[int(rng.integers(4))]
    hat_every = int(rng.choice((1, 2)))
    b = 0
    while b * bar < seconds:
        t0 = b * bar
        chord = progression[b % len(progression)]
        notes = (chord, chord + 2, chord + 4)
        if chord_style == 0:
            for d in notes:
                add(_tone(_hz(degree(d, 1)), int(bar * rate), rate, pad, 0.6, 0.05), t0, pans[0], pad_gain)
        elif chord_style == 1:
            for k in range(4):
                for d in notes:
                    add(_tone(_hz(degree(d, 1)), int(beat * rate * 0.6), rate, pad, 4.0, 0.01), t0 + k * beat,
                        pans[0], pad_gain * 1.3)
        else:
            for k in range(8):
                d = (notes + (chord + 7,))[k % 4]
                add(_tone(_hz(degree(d, 1)), int(beat * rate / 2), rate, pad, 3.0, 0.01), t0 + k * beat / 2,
                    pans[0], pad_gain * 1.6)
        for k in range(4):
            f = _hz(degree(chord, -1 if root > 50 else 0))
            add(_tone(f, int(beat * rate * 0.9), rate, bass, 3.0, 0.005), t0 + k * beat, 0.5, 0.22)
        t = t0
        for length in rhythms[int(rng.integers(len(rhythms)))]:
            melody_degree = int(np.clip(melody_degree + rng.integers(-2, 3), 5, 16))
            if rng.random() < 0.85:
                add(_tone(_hz(degree(melody_degree, 1)), int(length * beat * rate), rate, lead, 2.0, 0.01,
                          vibrato=0.004), t, pans[1], lead_gain)
            t += length * beat
        for step in range(16):
            ts = t0 + step * beat / 4
            if step in kick_steps:
                m = int(0.25 * rate)
                tt = np.arange(m) / rate
                kick = np.sin(2 * np.pi * (45 * tt + 90 / 30 * (1 - np.exp(-30 * tt)))) * np.exp(-tt * 14)
                add(kick, ts, 0.5, 0.45)
            if step in (4, 12):
                m = int(0.18 * rate)
                tt = np.arange(m) / rate
                snare = (rng.standard_normal(m) * 0.7 + np.sin(2 * np.pi * 190 * tt)) * np.exp(-tt * 22)
                add(snare, ts, pans[2], 0.22)
            if step % (2 * hat_every) == 0:
                m = int(0.05 * rate)
                noise = rng.standard_normal(m)
                hat = np.diff(noise, prepend=0.0) * np.exp(-np.arange(m) / rate * 90)
                add(hat, ts, pans[3], 0.06)
        b += 1
    return out / max(1e-9, np.abs(out).max()) * 0.89


def encode(samples: np.ndarray, rate: int, fmt: str = "WAV") -> bytes:
    """Samples (frames x channels, floats in [-1, 1]) as a WAV, FLAC, OGG or MP3 file.

    MP3 is constant 128 kbit/s at 32 kHz and above: libsndfile maps its compression
    level c linearly onto LAME's MPEG-1 bitrates, 320 - c * (320 - 32) kbit/s."""
    out = io.BytesIO()
    fmt = fmt.upper()
    if fmt == "MP3":
        soundfile.write(out, samples, rate, format="MP3", subtype="MPEG_LAYER_III",
                        compression_level=(320 - 128) / (320 - 32), bitrate_mode="CONSTANT")
    elif fmt == "OGG":
        soundfile.write(out, samples, rate, format="OGG", subtype="VORBIS")
    else:
        soundfile.write(out, samples, rate, format=fmt, subtype="PCM_16")
    return out.getvalue()


def decode(data: bytes) -> tuple[np.ndarray, int]:
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float64", always_2d=True)
    return samples, rate


def music_samples(seed: int, seconds: float = 40, rate: int = MUSIC_RATE) -> np.ndarray:
    return _music(seed, seconds, rate)


def music_bytes(seed: int, seconds: float = 40, rate: int = MUSIC_RATE, fmt: str = "WAV") -> bytes:
    """A distinct, music-like stereo piece: the same seed gives the same samples."""
    return encode(_music(seed, seconds, rate), rate, fmt)


def resample(samples: np.ndarray, ratio: float) -> np.ndarray:
    """Band-limited resampling by FFT: `ratio` output samples per input sample."""
    n = len(samples)
    m = int(round(n * ratio))
    spectrum = np.fft.rfft(samples, axis=0)
    keep = min(spectrum.shape[0], m // 2 + 1)
    out = np.zeros((m // 2 + 1,) + samples.shape[1:], dtype=complex)
    out[:keep] = spectrum[:keep]
    return np.fft.irfft(out, n=m, axis=0) * (m / n)


def change_speed(samples: np.ndarray, speed: float) -> np.ndarray:
    """Played `speed` times faster, as a turntable or tape would (pitch follows)."""
    return resample(samples, 1.0 / speed)


def trim_start(samples: np.ndarray, rate: int, seconds: float) -> np.ndarray:
    return samples[int(round(seconds * rate)):]


def prepend(samples: np.ndarray, other: np.ndarray) -> np.ndarray:
    return np.concatenate([other, samples])


def _crc8(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _utf8(n: int) -> bytes:  # FLAC's frame-number coding
    if n < 0x80:
        return bytes([n])
    if n < 0x800:
        return bytes([0xC0 | n >> 6, 0x80 | n & 0x3F])
    return bytes([0xE0 | n >> 12, 0x80 | n >> 6 & 0x3F, 0x80 | n & 0x3F])


def flac_silence(rate: int = 655_350, channels: int = 8, seconds: float = 31.0, padding: int = 0) -> bytes:
    """A valid FLAC of digital silence written by hand: 8-bit samples, the largest
    blocks FLAC allows, every subframe CONSTANT (3 bytes for 65,535 samples). The issue's
    bomb is the default: 8 KB declaring 8 channels at 655,350 Hz for 31 s, which a naive
    decoder turns into over a gigabyte of samples. `padding` adds a PADDING block (it
    lowers the samples-per-byte ratio without changing the audio)."""
    block = 65_535
    total = int(rate * seconds)
    info = struct.pack(">HH", block, block) + b"\0" * 6
    info += ((rate << 44) | ((channels - 1) << 41) | (7 << 36) | total).to_bytes(8, "big") + b"\0" * 16
    out = bytearray(b"fLaC" + bytes([0x00 if padding else 0x80]) + len(info).to_bytes(3, "big") + info)
    while padding > 0:
        part = min(padding, 0xFFFFFF)
        padding -= part
        out += bytes([0x01 | (0x80 if padding == 0 else 0)]) + part.to_bytes(3, "big") + b"\0" * part
    done = frame = 0
    while done < total:
        size = min(block, total - done)
        head = bytes([0xFF, 0xF8, 0x70, ((channels - 1) << 4) | 0b0010]) + _utf8(frame) + struct.pack(">H", size - 1)
        body = head + bytes([_crc8(head)]) + b"\x00\x00" * channels
        out += body + struct.pack(">H", _crc16(body))
        done += size
        frame += 1
    return bytes(out)
