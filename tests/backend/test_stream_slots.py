"""The cap on release zips running at once (backend/stream_slots.py) and the zip route's
rate-limit rule (backend/ratelimit.py), without a server: every way a stream can end
gives its slot back. The live test is tests/security/test_zip_streams.py."""
from __future__ import annotations

import asyncio
from typing import Iterator

import pytest

from backend.errors import ApiError
from backend.ratelimit import DEFAULTS, RateLimitMiddleware, RateLimits, zip_stream_slots
from backend.stream_slots import SlotStreamingResponse, StreamSlots
from ninety.config import load_settings

MEMORY = {"NINETY_RATE_LIMIT_STORAGE": "memory://"}
ALICE, BOB, CAROL = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20


def _slots(per_wallet: int = 2, per_client: int = 3) -> StreamSlots:
    return StreamSlots("release zips", per_wallet, per_client, "NINETY_ZIP_STREAMS_PER_WALLET",
                       "NINETY_ZIP_STREAMS_PER_CLIENT")


def _refused(slots: StreamSlots, wallet: str, client: str) -> ApiError:
    with pytest.raises(ApiError) as refused:
        slots.take(wallet, client)
    assert refused.value.status == 429 and int(refused.value.headers["Retry-After"]) > 0
    return refused.value


def test_a_wallet_and_an_address_each_hold_at_most_their_cap():
    slots = _slots()
    a1, a2 = slots.take(ALICE, "198.51.100.7"), slots.take(ALICE.upper().replace("0X", "0x"), "203.0.113.9")
    why = _refused(slots, ALICE, "192.0.2.1")  # a third address does not help the wallet
    assert "NINETY_ZIP_STREAMS_PER_WALLET" in why.detail and "2 release zips" in why.detail
    b1 = slots.take(BOB, "198.51.100.7")
    slots.take(CAROL, "198.51.100.7")  # the address's third
    why = _refused(slots, "0x" + "d4" * 20, "198.51.100.7")  # a fresh wallet does not help the address
    assert "NINETY_ZIP_STREAMS_PER_CLIENT" in why.detail and "your address" in why.detail
    # A refused request took nothing.
    assert (slots.held(wallet=ALICE), slots.held(client="198.51.100.7")) == (2, 3)
    a1.release()
    a1.release()  # once only: a second release must not free another stream's place
    assert (slots.held(wallet=ALICE), slots.held(client="198.51.100.7")) == (1, 2)
    slots.take(ALICE, "192.0.2.1")
    b1.release()
    a2.release()
    assert slots.held(wallet=BOB) == 0 and slots.held(wallet=ALICE) == 1


def test_a_cap_of_zero_is_no_cap():
    slots = _slots(per_wallet=0, per_client=0)
    held = [slots.take(ALICE, "192.0.2.1") for _ in range(50)]
    assert slots.held(wallet=ALICE) == 0 and len(held) == 50


def _chunks(n: int, fail_at: int | None = None) -> Iterator[bytes]:
    for i in range(n):
        if i == fail_at:
            raise OSError("IPFS went away")
        yield b"x" * 10


def test_the_slot_comes_back_when_the_stream_ends_fails_or_is_dropped():
    slots = _slots(per_wallet=1)
    slot = slots.take(ALICE, "192.0.2.1")
    assert list(slot.guard(_chunks(3))) == [b"x" * 10] * 3
    assert slots.held(wallet=ALICE) == 0
    slot = slots.take(ALICE, "192.0.2.1")
    with pytest.raises(OSError):
        list(slot.guard(_chunks(3, fail_at=1)))
    assert slots.held(wallet=ALICE) == 0
    slot = slots.take(ALICE, "192.0.2.1")
    stream = slot.guard(_chunks(3))
    next(stream)
    stream.close()  # the client went away after the first chunk
    assert slots.held(wallet=ALICE) == 0


SCOPE = {"type": "http", "method": "GET", "path": "/", "headers": [], "asgi": {"spec_version": "2.3"}}


def test_the_response_gives_the_slot_back_when_its_client_goes_away_mid_stream():
    slots = _slots(per_wallet=1)
    slot = slots.take(ALICE, "192.0.2.1")

    def endless() -> Iterator[bytes]:
        while True:
            yield b"z" * 1000

    sent: list[dict] = []

    async def run() -> None:
        first_sent = asyncio.Event()

        async def receive() -> dict:  # the client leaves once the first chunk is out
            await first_sent.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            if message["type"] == "http.response.body":
                first_sent.set()
                await asyncio.sleep(0.01)

        # Starlette stops iterating the body of a client that left without closing it:
        # only the response's own `finally` gives the slot back at once.
        await SlotStreamingResponse(endless(), slot, media_type="application/zip")(SCOPE, receive, send)
        held.append(slots.held(wallet=ALICE))  # before the loop finalises the abandoned iterator

    held: list[int] = []
    asyncio.run(run())
    assert held == [0]
    assert sent[0]["type"] == "http.response.start" and sent[1]["type"] == "http.response.body"
    assert sent[-1].get("more_body") is True  # cut, not finished
    assert slots.held(wallet=ALICE) == 0
    slots.take(ALICE, "192.0.2.1")


def test_the_response_gives_the_slot_back_when_the_zip_fails_mid_stream():
    slots = _slots(per_wallet=1)
    slot = slots.take(ALICE, "192.0.2.1")
    response = SlotStreamingResponse(_chunks(5, fail_at=2), slot, media_type="application/zip")
    sent: list[dict] = []

    async def receive() -> dict:
        await asyncio.sleep(3600)  # the client stays
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    with pytest.raises(OSError):
        asyncio.run(response(SCOPE, receive, send))
    assert len([m for m in sent if m["type"] == "http.response.body"]) == 2
    assert slots.held(wallet=ALICE) == 0


def test_the_zip_route_has_a_rate_limit_rule_and_caps_from_settings():
    limits = RateLimits.from_settings(load_settings({**MEMORY, "NINETY_RATE_LIMIT_ZIP": "3/minute",
                                                     "NINETY_ZIP_STREAMS_PER_WALLET": "5",
                                                     "NINETY_ZIP_STREAMS_PER_CLIENT": "0"}), engine=None)
    assert [str(i) for i in limits.items["zip"]] == ["3 per 1 minute"]
    assert (limits.zip_streams.per_wallet, limits.zip_streams.per_client) == (5, 0)
    defaults = load_settings({})
    assert (defaults.zip_streams_per_wallet, defaults.zip_streams_per_client) == (2, 4)
    assert defaults.rate_limit_zip == DEFAULTS["zip"]
    assert (zip_stream_slots(defaults).per_wallet, zip_stream_slots(defaults).per_client) == (2, 4)
    # Off switches only the rates: the cap on zips running at once is not a rate.
    off = RateLimits.from_settings(load_settings({**MEMORY, "NINETY_RATE_LIMITS": "off"}), engine=None)
    assert not off.enabled and off.zip_streams.per_wallet == 2
    middleware = RateLimitMiddleware(app=None, limits=limits)

    def rule(method: str, path: str) -> str | None:
        return middleware._limit_for({"method": method, "path": path, "headers": [], "query_string": b""})

    assert rule("GET", "/api/releases/12/download") == "zip"
    assert rule("GET", "/api/releases/12/download/") == "zip"
    for other in ("/api/releases/12", "/api/releases//download", "/api/releases/1/2/download",
                  "/api/tracks/12/download", "/api/releases/12/artwork"):
        assert rule("GET", other) is None, other
    assert rule("POST", "/api/releases/12/download") is None
