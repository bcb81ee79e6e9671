"""Per-client rate limits on what costs the server more than the sender: sign-in, CSV
exports, reconciliation (and uploads), answered 429 with Retry-After, counted in a store
every `ninety serve --workers N` process shares, by the client's address, which
X-Forwarded-For names only when the peer is a trusted proxy."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import create_engine, text

from tests.support.http_attacks import index


def statuses(api, path: str, n: int, headers: dict[str, str] | None = None) -> list[int]:
    return [httpx.get(f"{api.url}{path}", headers=headers or {}, timeout=60).status_code for _ in range(n)]


def test_sign_in_exports_and_reconciliation_are_rate_limited_with_retry_after(live_api):
    api = live_api(NINETY_RATE_LIMITS="on", NINETY_RATE_LIMIT_SIGNIN="5/hour", NINETY_RATE_LIMIT_EXPORT="3/hour",
                   NINETY_RATE_LIMIT_RECONCILIATION="4/hour")
    index(api)
    got = statuses(api, "/api/auth/nonce", 7)
    assert got == [200] * 5 + [429] * 2, got
    r = httpx.post(f"{api.url}/api/auth/login", json={"message": "x", "signature": "0x"}, timeout=30)
    assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
    assert 0 < int(r.headers["retry-after"]) <= 3600, r.headers
    assert "sign-in" in r.json()["detail"]

    got = statuses(api, "/api/ledger/sales?format=csv", 4)
    assert got == [200] * 3 + [429], got
    assert statuses(api, "/api/ledger/withdrawals", 1, {"Accept": "text/csv"}) == [429]
    # Two Accept headers, CSV first (the route reads the first): still an export, still limited.
    twice = httpx.get(f"{api.url}/api/ledger/sales", timeout=60,
                      headers=httpx.Headers([("Accept", "text/csv"), ("Accept", "application/json")]))
    assert twice.status_code == 429, twice.headers.get("content-type")
    assert statuses(api, "/api/ledger/sales", 5) == [200] * 5  # JSON pages are not exports
    assert statuses(api, "/api/ledger/reconciliation", 5) == [200] * 4 + [429]
    assert statuses(api, "/api/status", 3) == [200] * 3  # the rest is not limited


def test_limits_hold_across_workers(live_api):
    api = live_api(workers=2, NINETY_RATE_LIMITS="on", NINETY_RATE_LIMIT_SIGNIN="6/hour")
    with ThreadPoolExecutor(8) as pool:  # new connections, spread over both workers
        got = list(pool.map(lambda _: httpx.get(f"{api.url}/api/auth/nonce", timeout=60).status_code, range(20)))
    print(f"\n20 nonce requests over 2 workers: {got.count(200)} answered, {got.count(429)} refused")
    assert sorted(got) == [200] * 6 + [429] * 14, got
    with create_engine(api.db_url).connect() as conn:  # one counter all workers wrote to
        hits = conn.execute(text("SELECT hits FROM rate_limit WHERE key LIKE '%signin%'")).scalars().all()
    assert hits == [20], hits


def test_x_forwarded_for_counts_only_behind_a_trusted_proxy(live_api):
    # Not behind a proxy: X-Forwarded-For is whatever the client says, so it is ignored.
    api = live_api(NINETY_RATE_LIMITS="on", NINETY_RATE_LIMIT_SIGNIN="2/hour")
    got = [httpx.get(f"{api.url}/api/auth/nonce", headers={"X-Forwarded-For": f"198.51.100.{i}"},
                     timeout=30).status_code for i in range(4)]
    assert got == [200, 200, 429, 429], got

    # Behind a trusted proxy on loopback: each client the proxy names is counted alone,
    # and what a client puts in front of the proxy's entry does not change who it is.
    api = live_api(NINETY_RATE_LIMITS="on", NINETY_RATE_LIMIT_SIGNIN="2/hour", NINETY_TRUSTED_PROXIES="127.0.0.1/32")

    def nonce(xff: str) -> int:
        return httpx.get(f"{api.url}/api/auth/nonce", headers={"X-Forwarded-For": xff}, timeout=30).status_code

    assert [nonce("203.0.113.7") for _ in range(3)] == [200, 200, 429]
    assert nonce("203.0.113.8") == 200
    assert nonce("10.9.9.9, 203.0.113.7") == 429  # the spoofed first entry is not the client
    assert [nonce(f"2001:db8:1:2::{i}") for i in range(3)] == [200, 200, 429]  # one IPv6 /64
