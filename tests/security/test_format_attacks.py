"""Downloads in other formats attacked for real (`ninety serve` over Anvil, IPFS and an
indexed ledger). Converting costs the server CPU, so every way of making it convert for
nothing is tried:

- a wallet that bought nothing, or no session at all, asks for each format: refused
  before any conversion starts (nothing made, nothing cached: the buyer's first request
  afterwards is the one that makes the file);
- unknown or malformed formats: 422, nothing made;
- an output past NINETY_TRANSCODE_MAX_BYTES: refused, nothing cached;
- more requests for different files than workers plus queue: 503 with Retry-After, and
  the refused ones did no work;
- many wallets' first requests for the same file at once: one conversion, which they
  all receive (on SQLite and PostgreSQL).
"""
from __future__ import annotations

import threading

import httpx
from sqlalchemy import select

from backend.models import Transcode
from ninety.attest import CatalogSigner
from ninety.db import make_engine
from tests.support.listings import FAN, MALLORY, SPONSOR, VICTIM, list_upload, sync, wallet
from tests.support.media import music_bytes

MILLI = 10**15
FORMATS = ("flac", "mp3", "ogg", "aac")
# These tests look at which request made a file: each waits for its conversion (by
# default a request waits NINETY_TRANSCODE_WAIT = 5 s, then is told to come back).
WAIT = {"NINETY_TRANSCODE_WAIT": "120"}


def _server(live_api, world, **env: str):
    server = live_api(**env)
    world.require_attestations(CatalogSigner.load(None, server.data_dir))
    return server


def _made(api) -> list[tuple[int, str]]:
    """(upload id, format) of every cached conversion (not the untagged base files kept
    beside them)."""
    engine = make_engine(api.env["NINETY_DB_URL"])
    try:
        with engine.connect() as conn:
            t = Transcode.__table__
            return [(r.upload_id, r.format) for r in conn.execute(select(t.c.upload_id, t.c.format))
                    if not r.format.endswith("-untagged")]
    finally:
        engine.dispose()


def _get(api, tid: int, fmt: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{api.url}/api/tracks/{tid}/download", params={"format": fmt}, headers=headers, timeout=120)


def _at_once(calls) -> list[httpx.Response]:
    """Run the calls in threads released together; their responses in order."""
    barrier = threading.Barrier(len(calls))
    out: list[httpx.Response | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert all(r is not None for r in out)
    return out  # type: ignore[return-value]


def test_no_conversion_for_a_non_buyer_an_unknown_format_or_an_oversized_output(live_api, world):
    api = _server(live_api, world, NINETY_TRANSCODE_MAX_BYTES="300000", **WAIT)
    tid, _ = list_upload(api, world, VICTIM, music_bytes(3, seconds=4, rate=44_100), price=MILLI)
    world.market.buy(tid, MILLI, wallet(FAN))
    sync(api, world)
    mallory, fan = api.login(MALLORY), api.login(FAN)

    for fmt in FORMATS:
        refused = _get(api, tid, fmt, mallory)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert _get(api, tid, fmt, {}).status_code == 401
    for fmt in ("wav", "MP3", "mp3 ", "../original", "x" * 5000, "", "opus"):
        bad = _get(api, tid, fmt, fan)
        assert bad.status_code == 422, (fmt, bad.status_code)
        assert bad.headers["content-type"] == "application/problem+json"
    assert _made(api) == []

    # The buyer's first request is the one that makes the file: nothing was made before.
    first = _get(api, tid, "mp3", fan)
    assert first.status_code == 200 and first.headers["x-ninety-transcode"] == "made"
    # 4 s of stereo 44.1 kHz FLAC is past the 300,000-byte cap: refused, not cached.
    big = _get(api, tid, "flac", fan)
    assert big.status_code == 422 and big.headers["content-type"] == "application/problem+json", big.text
    assert sorted(f for _, f in _made(api)) == ["mp3"]


def test_requests_beyond_the_workers_and_queue_get_503_with_retry_after(live_api, world):
    # No per-wallet or per-client cap here: this is the global bound (the caps are
    # test_format_adversary.py's and test_transcoder.py's).
    api = _server(live_api, world, NINETY_TRANSCODE_WORKERS="1", NINETY_TRANSCODE_QUEUE="0",
                  NINETY_TRANSCODE_PER_WALLET="0", NINETY_TRANSCODE_PER_CLIENT="0", **WAIT)
    tid, _ = list_upload(api, world, VICTIM, music_bytes(4, seconds=12, rate=44_100), price=MILLI)
    world.market.buy(tid, MILLI, wallet(FAN))
    sync(api, world)
    fan = api.login(FAN)

    # Four different files at once, one worker and no queue: one is made, the rest wait outside.
    answers = _at_once([lambda f=f: _get(api, tid, f, fan) for f in FORMATS])
    codes = [r.status_code for r in answers]
    assert codes.count(200) >= 1 and codes.count(503) >= 1, codes
    for fmt, r in zip(FORMATS, answers):
        if r.status_code == 503:
            assert r.headers["content-type"] == "application/problem+json"
            assert 1 <= int(r.headers["retry-after"]) <= 60
            assert fmt not in [f for _, f in _made(api)]  # refused: no work done for it
    # Once the worker is free, each is made in turn.
    for fmt, r in zip(FORMATS, answers):
        if r.status_code == 503:
            again = _get(api, tid, fmt, fan)
            assert again.status_code == 200 and again.headers["x-ninety-transcode"] == "made"
    assert sorted(f for _, f in _made(api)) == sorted(FORMATS)


def test_concurrent_first_requests_for_one_file_make_one_conversion(live_api, world, db_env):
    # Three workers: without single flight, three requests would each convert the same file.
    api = _server(live_api, world, NINETY_TRANSCODE_WORKERS="3", NINETY_TRANSCODE_QUEUE="8", **WAIT, **db_env)
    tid, _ = list_upload(api, world, VICTIM, music_bytes(5, seconds=8, rate=44_100), price=0)
    sync(api, world)  # free: any signed-in wallet may download it
    heads = [api.login(i) for i in (FAN, MALLORY, SPONSOR, VICTIM)]

    answers = _at_once([lambda h=h: _get(api, tid, "ogg", h) for h in heads])
    assert [r.status_code for r in answers] == [200] * 4, [r.text[:200] for r in answers]
    how = sorted(r.headers["x-ninety-transcode"] for r in answers)
    assert how.count("made") == 1, how
    assert len({r.content for r in answers}) == 1  # all four got that one file
    assert _made(api) == [(_made(api)[0][0], "ogg")]


def test_conversions_started_are_rate_limited_cached_files_are_not(live_api, world):
    api = _server(live_api, world, NINETY_RATE_LIMITS="on", NINETY_RATE_LIMIT_TRANSCODE="2/hour", **WAIT)
    tid, _ = list_upload(api, world, VICTIM, music_bytes(6, seconds=2, rate=44_100), price=0)
    sync(api, world)
    fan = api.login(FAN)

    assert _get(api, tid, "mp3", fan).headers["x-ninety-transcode"] == "made"
    for _ in range(3):  # a cached file costs what the original does: not counted
        assert _get(api, tid, "mp3", fan).headers["x-ninety-transcode"] == "cached"
    assert _get(api, tid, "ogg", fan).headers["x-ninety-transcode"] == "made"
    refused = _get(api, tid, "flac", fan)
    assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1 and "conversions" in refused.json()["detail"]
    assert sorted(f for _, f in _made(api)) == ["mp3", "ogg"]  # refused: no work done for it
