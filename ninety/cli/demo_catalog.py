"""What the demo catalog is (its artists and tracks) and whether a data dir has it
(`<data dir>/demo.json`): kept apart from the seeder (ninety/cli/demo.py), which is slow
to import, so that `ninety up` decides whether to seed without loading it."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "demo.json"


@dataclass(frozen=True)
class DemoArtist:
    wallet: int  # index of the dev mnemonic's account
    name: str


@dataclass(frozen=True)
class DemoTrack:
    title: str
    artist: int  # key into ARTISTS
    genre: str
    price: str  # "0.002 ETH" or "3 mUSDC"
    split: tuple[tuple[int, int], ...]  # (wallet index, share in ppm)
    description: str


ARTISTS = {
    1: DemoArtist(1, "Ada Lovetone"),
    3: DemoArtist(3, "The Modular Ensemble"),
    4: DemoArtist(4, "Kyoto Tape Club"),
}
# Wallets 5 and 6 are collaborators (a producer, a session player); 2 and 7 are fans.
TRACKS = (
    DemoTrack("First Light", 1, "Ambient", "0.002 ETH", ((1, 1_000_000),), "A slow sunrise in a major key."),
    DemoTrack("Harbour Lights", 1, "Electronic", "3 mUSDC", ((1, 800_000), (5, 200_000)),
              "Produced with Moss (20% of every sale)."),
    DemoTrack("Paper Boats", 1, "Folk", "0.001 ETH", ((1, 700_000), (6, 300_000)), "Recorded live with a session violinist."),
    DemoTrack("Patch Bay", 3, "Electronic", "4 mUSDC", ((3, 600_000), (5, 400_000)), "Four oscillators and a sequencer."),
    DemoTrack("Voltage Garden", 3, "Techno", "5 mUSDC", ((3, 1_000_000),), "Made on a modular synth in one take."),
    DemoTrack("Low Pass Lullaby", 3, "Ambient", "2 mUSDC", ((3, 500_000), (5, 250_000), (6, 250_000)),
              "A three-way split between the band and two producers."),
    DemoTrack("Cassette Summer", 4, "Lo-fi", "0.0015 ETH", ((4, 900_000), (6, 100_000)), "Warm tape hiss, warmer chords."),
    DemoTrack("Night Train to Kobe", 4, "Jazz", "4 mUSDC", ((4, 1_000_000),), "Brushed drums and a walking bass line."),
    DemoTrack("Open Air", 4, "Ambient", "0 ETH", ((4, 1_000_000),),
              "Free to download: sign your download and the sponsor pool pays Kyoto Tape Club."),
)


def demo_state(data_dir: Path) -> dict[str, Any]:
    """The seeding progress recorded in `data_dir` ({} before any run)."""
    path = data_dir / MARKER
    return json.loads(path.read_text()) if path.exists() else {}


def skip_demo(data_dir: Path) -> None:
    """Record that this data dir never gets the demo (a first run with --no-demo)."""
    (data_dir / MARKER).write_text(json.dumps({"skipped": True}))
