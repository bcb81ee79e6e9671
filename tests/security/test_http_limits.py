"""Bounded requests: every body outside the media upload is capped at 64 KiB before it is
parsed, and a sign-in message of any size costs the server next to nothing.

Measured against the real `ninety serve` (uvicorn in its own process); times are printed
for the record, never asserted."""
from __future__ import annotations

import json
import time

import httpx

from tests.support.http_attacks import MAX_BODY, blowup_login_body, post_blowup
from tests.support.live_api import MemoryWatch

ORIGIN = {"Origin": "http://127.0.0.1:8000"}


def test_a_64_kib_sign_in_message_is_answered_at_once_without_memory_growth(live_api):
    api = live_api()
    body = blowup_login_body()
    assert MAX_BODY - 1024 < len(body) <= MAX_BODY
    post_blowup(api, blowup_login_body(2048))  # warm up (imports, first connection)
    results = []
    with MemoryWatch(api.pid) as mem:
        for _ in range(5):
            results.append(post_blowup(api, body, timeout=60))
    print(f"\n64 KiB sign-in message: statuses {[s for s, _ in results]}, "
          f"slowest {max(t for _, t in results):.3f} s, server memory +{mem.growth_mb:.1f} MB")
    # Before the fix: minutes per attempt and gigabytes (the client gives up: status 0).
    assert all(status == 422 for status, _ in results), results
    assert mem.growth_mb < 50  # target < 20 MB; generous margin for allocator noise
    assert httpx.get(f"{api.url}/api/status", timeout=10).status_code == 200


def test_bodies_over_64_kib_are_refused_before_parsing(live_api):
    api = live_api()
    big = json.dumps({"message": "x" * (MAX_BODY + 10), "signature": "0x"}).encode()
    for path in ("/api/auth/login", "/api/auth/logout", "/api/tracks/1/download"):
        r = httpx.post(f"{api.url}{path}", content=big, headers={"Content-Type": "application/json", **ORIGIN},
                       timeout=30)
        assert r.status_code == 413, (path, r.status_code, r.text[:200])
        assert r.headers["content-type"] == "application/problem+json"

    # Without a Content-Length (chunked), refused once 64 KiB have streamed in.
    def chunks():
        for _ in range(64):
            yield b"x" * 4096

    started = time.perf_counter()
    with MemoryWatch(api.pid) as mem:
        r = httpx.post(f"{api.url}/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"},
                       timeout=30)
    print(f"\nchunked 256 KiB body: {r.status_code} in {time.perf_counter() - started:.3f} s, "
          f"server memory +{mem.growth_mb:.1f} MB")
    assert r.status_code == 413

    # A JSON document nested 60,000 deep (under the cap) is a client error, not a crash.
    r = httpx.post(f"{api.url}/api/auth/login", content=b"[" * 60_000, headers={"Content-Type": "application/json"},
                   timeout=30)
    assert 400 <= r.status_code < 500, r.status_code

    # The media upload is the one endpoint with its own, larger cap: 100 KiB is not a 413
    # there (it is refused for want of a session).
    r = httpx.post(f"{api.url}/api/uploads", files={"audio": ("a.wav", b"\0" * 100_000, "audio/wav")}, timeout=30)
    assert r.status_code in (401, 422), r.status_code
