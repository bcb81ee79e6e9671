"""The demo's audio and artwork, synthesised here (different for every track) so nothing
is downloaded: a short WAV melody and a PNG cover per seed."""
from __future__ import annotations

import io
import math
import random
import struct
import wave
import zlib


def synth_wav(seed: int, seconds: float = 6.0, rate: int = 22_050) -> bytes:
    """A short piece, different per seed: a melody on a pentatonic scale over a bass note,
    with its own key, tempo and timbre. 16-bit mono WAV."""
    rng = random.Random(seed)
    root = 110.0 * 2 ** (rng.randrange(12) / 12)
    scale = rng.choice(([0, 2, 4, 7, 9], [0, 3, 5, 7, 10]))  # major or minor pentatonic
    step = 60.0 / rng.randrange(84, 144) / rng.choice((1, 2))  # seconds per note
    harmonics = [1.0, rng.uniform(0, 0.6), rng.uniform(0, 0.4), rng.uniform(0, 0.2)]
    n = int(seconds * rate)
    notes = []
    degree = rng.randrange(len(scale))
    for _ in range(int(seconds / step) + 1):
        degree = max(0, min(len(scale) * 2 - 1, degree + rng.choice((-2, -1, 0, 1, 1, 2))))
        octave, i = divmod(degree, len(scale))
        notes.append(root * 2 * 2 ** ((scale[i] + 12 * octave) / 12))
    frames = bytearray()
    two_pi = 2 * math.pi
    for k in range(n):
        t = k / rate
        note = int(t / step)
        into = t - note * step
        env = min(1.0, into * 80) * math.exp(-3.0 * into / step)
        f = notes[note]
        s = sum(h * math.sin(two_pi * f * (j + 1) * t) for j, h in enumerate(harmonics) if h)
        bass = 0.35 * math.sin(two_pi * root / 2 * t)
        fade = min(1.0, t * 4, (seconds - t) * 4)
        v = (0.45 * env * s / sum(harmonics) + bass) * fade
        frames += struct.pack("<h", int(max(-1.0, min(1.0, v)) * 30_000))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return out.getvalue()


def synth_png(seed: int, size: int = 256) -> bytes:
    """Cover art, different per seed: a diagonal gradient between two colours with rings."""
    rng = random.Random(seed * 7919)
    a = [rng.randrange(30, 230) for _ in range(3)]
    b = [rng.randrange(30, 230) for _ in range(3)]
    cx, cy = rng.uniform(0.25, 0.75) * size, rng.uniform(0.25, 0.75) * size
    ring = rng.uniform(10, 26)
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter: none
        for x in range(size):
            g = (x + y) / (2 * size - 2)
            d = math.hypot(x - cx, y - cy)
            light = 1.0 + 0.18 * math.cos(d / ring * math.pi)
            for c in range(3):
                rows.append(max(0, min(255, int((a[c] * (1 - g) + b[c] * g) * light))))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")
