"""Farming the sponsor pools through the API (issue 15), attacked for real: `ninety serve`
over Anvil, the IPFS node and a ledger indexed from the chain.

- Sybils: twenty wallets that never bought anything (a sign-in costs one signature, no
  funds) record free downloads of three free tracks the attacker listed. Before, each
  counted and the attacker's splits took 98% of the pool; now none is counted or even
  recorded, and the epoch pays the one honest listener's artist only.
- Cross-site: a GET of /download made by another site (a signed-in fan's browser sends
  the cookie on top-level navigations) counts nothing; a cross-site POST is refused.
- Signatures: another wallet's, another track's or epoch's, a malleable high-s twin, a
  replay (recorded once, also when sent eight times at once, on SQLite and PostgreSQL),
  and malformed bodies, each answered with a clear 4xx and nothing recorded.
"""
from __future__ import annotations

import threading

import httpx
from sqlalchemy import func, insert, select
from sqlmodel import SQLModel

from ninety.market import ETH
from tests.support.listings import FAN, MALLORY, SPONSOR, VICTIM, sync, wallet
from tests.support.pools import close_epoch, db_url, list_track, post, recorded, sign, start
from tests.support.siwe import PUBLIC_URL

import backend.models  # noqa: F401  (the free_download table)

SYBILS = range(20, 40)  # dev-mnemonic accounts Anvil never funded
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
T = SQLModel.metadata.tables


def high_s(signature: str) -> str:
    """The same signature's malleable twin: s -> n - s, v flipped (ecrecover accepts it)."""
    raw = bytes.fromhex(signature[2:])
    s = int.from_bytes(raw[32:64], "big")
    return "0x" + (raw[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - raw[64]])).hex()


def test_twenty_empty_wallets_farming_an_attackers_free_tracks_count_nothing(live_api, world):
    api = start(live_api, world)
    farmed = [list_track(api, world, MALLORY, f"Farm {i}", 0, 300.0 + 40 * i) for i in range(3)]
    honest_free = list_track(api, world, VICTIM, "Honest free", 0, 700.0)
    honest_paid = list_track(api, world, VICTIM, "Honest paid", 10**15, 750.0)
    world.market.buy(honest_paid, 10**15, wallet(FAN))  # the fan bought from an artist: it qualifies
    world.market.deposit_to_pool(0, ETH, 10**18, wallet(SPONSOR))
    sync(api, world)

    for index in SYBILS:
        assert world.w3.eth.get_balance(wallet(index)) == 0  # never funded, never bought
        h = api.login(index)
        for tid in farmed:
            r = post(api, tid, {"epoch": 0, "signature": sign(world, index, tid, 0)}, h)
            assert r.status_code == 200, r.text
            body = r.json()
            # Not counted, and not even recorded: a wallet that never bought cannot grow
            # the public report (it can sign again once it qualifies).
            assert body["counted"] is False and "purchase" in body["reason"] and body["receipt"] is None, body
    fan = api.login(FAN)
    honest = post(api, honest_free, {"epoch": 0, "signature": sign(world, FAN, honest_free, 0)}, fan).json()
    assert honest["counted"] is True and honest["reason"] == ""
    assert len(recorded(api)) == 1

    pools = api.get("/api/pools").json()
    now = next(e for e in pools["epochs"] if e["epoch"] == 0)
    assert (now["qualified_listeners"], now["free_downloads"]) == (1, 1)
    sybil = api.get("/api/pools", headers=api.login(SYBILS[0])).json()["you"]
    assert sybil["qualifies"] is False and sybil["can_direct"] == [] and sybil["free_downloads"] == 0

    # The epoch pays the honest artist only; the attacker's splits get nothing.
    close_epoch(api, 0)
    sync(api, world)
    tracks = {tid: world.market.contract.functions.tracks(tid).call()[1] for tid in [*farmed, honest_free]}
    allocations = api.get("/api/pools/0/allocations").json()["allocations"]
    assert allocations and {a["split_id"] for a in allocations} == {"0x" + tracks[honest_free].hex().removeprefix("0x")}
    assert not {a["split_id"] for a in allocations} & {"0x" + tracks[t].hex().removeprefix("0x") for t in farmed}
    # Nothing of theirs is even in the report.
    assert api.get("/api/pools/0/listens", params={"wallet": wallet(SYBILS[-1])}).json()["listens"] == []


def test_a_cross_site_get_of_a_download_counts_nothing_and_a_cross_site_post_is_refused(live_api, world):
    api = start(live_api, world)
    tid = list_track(api, world, VICTIM, "Free", 0, 440.0)
    paid = list_track(api, world, VICTIM, "Paid", 10**15, 550.0)
    world.market.buy(paid, 10**15, wallet(FAN))
    sync(api, world)
    token = api.login(FAN)["Authorization"].removeprefix("Bearer ")
    cookie = {"Cookie": f"ninety_session={token}"}
    # What evil.example makes a signed-in fan's browser send: a top-level GET with the
    # SameSite=Lax cookie. The file is served (it is free), and nothing is counted.
    for extra in ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Referer": "https://evil.example/"},
                  {"Range": "bytes=0-0", "Sec-Fetch-Site": "cross-site"}, {}):
        got = httpx.get(f"{api.url}/api/tracks/{tid}/download", headers={**cookie, **extra}, timeout=30)
        assert got.status_code in (200, 206), got.text
    assert recorded(api) == []
    assert next(e for e in api.get("/api/pools").json()["epochs"] if e["epoch"] == 0)["free_downloads"] == 0
    # A POST another site makes, even carrying a valid signature it got hold of: refused.
    body = {"epoch": 0, "signature": sign(world, FAN, tid, 0)}
    for extra in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}, {}):
        r = httpx.post(f"{api.url}/api/tracks/{tid}/free-download", json=body, headers={**cookie, **extra}, timeout=30)
        assert r.status_code == 403, (extra, r.text)
    assert recorded(api) == []
    # From the site itself (its Origin), the same request is recorded.
    r = httpx.post(f"{api.url}/api/tracks/{tid}/free-download", json=body,
                   headers={**cookie, "Origin": PUBLIC_URL}, timeout=30)
    assert r.status_code == 200 and r.json()["counted"] is True, r.text


def test_forged_replayed_and_malleable_signatures_are_refused(live_api, world):
    api = start(live_api, world)
    tid = list_track(api, world, VICTIM, "Free", 0, 440.0)
    other = list_track(api, world, VICTIM, "Other free", 0, 880.0)
    paid = list_track(api, world, VICTIM, "Paid", 10**15, 990.0)
    world.market.buy(paid, 10**15, wallet(FAN))  # the fan qualifies: only qualified wallets are recorded
    sync(api, world)
    fan, mallory = api.login(FAN), api.login(MALLORY)
    fans = sign(world, FAN, tid, 0)

    def refused(track_id, body, headers, status: int, words: str) -> None:
        r = post(api, track_id, body, headers)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json") and words in r.json()["detail"], r.text

    # Another wallet's signature: Mallory replaying the fan's, or the fan sending Mallory's.
    refused(tid, {"epoch": 0, "signature": fans}, mallory, 403, "not")
    refused(tid, {"epoch": 0, "signature": sign(world, MALLORY, tid, 0)}, fan, 403, "not")
    # The fan's own signature, but of another track, epoch, chain or contract.
    refused(tid, {"epoch": 0, "signature": sign(world, FAN, other, 0)}, fan, 403, "not")
    refused(other, {"epoch": 0, "signature": fans}, fan, 403, "not")
    refused(tid, {"epoch": 0, "signature": sign(world, FAN, tid, 1)}, fan, 403, "not")
    refused(tid, {"epoch": 0, "signature": sign(world, FAN, tid, 0, chain_id=1)}, fan, 403, "not")
    refused(tid, {"epoch": 0, "signature": sign(world, FAN, tid, 0, contract=world.usdc.address)}, fan, 403, "not")
    # A future or past epoch, even signed for it: 409 naming the current epoch.
    r = post(api, tid, {"epoch": 1, "signature": sign(world, FAN, tid, 1)}, fan)
    assert r.status_code == 409 and r.json()["current_epoch"] == 0 and "current epoch is 0" in r.json()["detail"]
    # The malleable twin of a valid signature, and a v of 0/1 or garbage: not signatures.
    twin = high_s(fans)
    refused(tid, {"epoch": 0, "signature": twin}, fan, 422, "low s")
    refused(tid, {"epoch": 0, "signature": fans[:-2] + "02"}, fan, 422, "signature")
    refused(tid, {"epoch": 0, "signature": "0x" + "00" * 65}, fan, 422, "signature")
    refused(tid, {"epoch": 0, "signature": "0x" + "ff" * 65}, fan, 422, "signature")
    assert recorded(api) == []
    # The genuine one is recorded; the twin after it still refused, and a replay answers
    # the same record.
    first = post(api, tid, {"epoch": 0, "signature": fans}, fan)
    assert first.status_code == 200 and first.json()["receipt"]
    refused(tid, {"epoch": 0, "signature": twin}, fan, 422, "low s")
    assert post(api, tid, {"epoch": 0, "signature": fans}, fan).json() == first.json()
    assert recorded(api) == [(0, tid, wallet(FAN).lower())]


def test_malformed_bodies_get_a_clear_4xx_and_record_nothing(live_api, world):
    api = start(live_api, world)
    tid = list_track(api, world, VICTIM, "Free", 0, 440.0)
    sync(api, world)
    fan = api.login(FAN)
    good = sign(world, FAN, tid, 0)
    bad_bodies = [
        {"epoch": "0", "signature": good}, {"epoch": 0.0, "signature": good}, {"epoch": 0.5, "signature": good},
        {"epoch": True, "signature": good}, {"epoch": None, "signature": good}, {"epoch": -1, "signature": good},
        {"epoch": 2**63, "signature": good}, {"epoch": 2**256, "signature": good}, {"epoch": [0], "signature": good},
        {"epoch": {"$gt": 0}, "signature": good}, {"signature": good}, {"epoch": 0}, {},
        {"epoch": 0, "signature": good[2:]}, {"epoch": 0, "signature": good[:-2]}, {"epoch": 0, "signature": good + "00"},
        {"epoch": 0, "signature": "0x" + "g" * 130}, {"epoch": 0, "signature": good.upper()},
        {"epoch": 0, "signature": " " + good}, {"epoch": 0, "signature": good + "\n"},
        {"epoch": 0, "signature": int(good, 16)}, {"epoch": 0, "signature": [good]}, {"epoch": 0, "signature": "0x" + "a" * 20000},
        {"epoch": 0, "signature": good, "wallet": wallet(MALLORY)}, [0, good], "epoch=0", 0, None,
    ]
    for body in bad_bodies:
        r = post(api, tid, body, fan)
        assert r.status_code == 422, (body if len(str(body)) < 300 else str(body)[:300], r.text)
        problem = r.json()
        assert r.headers["content-type"].startswith("application/problem+json") and problem["detail"], r.text
        assert len(problem["detail"]) < 2000  # says what is wrong, does not echo a huge input back
    # Not JSON at all, and more than the 64 KiB a body may be.
    for raw, ctype, status in ((b"{not json", "application/json", 422), (b"epoch=0&signature=x",
                                "application/x-www-form-urlencoded", 422),
                               (b'{"epoch": 0, "signature": "' + b"a" * 70_000 + b'"}', "application/json", 413)):
        r = httpx.post(f"{api.url}/api/tracks/{tid}/free-download", content=raw,
                       headers={**fan, "Origin": PUBLIC_URL, "Content-Type": ctype}, timeout=30)
        assert r.status_code == status, (raw[:40], r.text)
    # A path that is not a track id.
    for path in ("0", "-1", "abc", str(2**63), "1e3"):
        r = api.post_json(f"/api/tracks/{path}/free-download", {"epoch": 0, "signature": good}, headers=fan)
        assert r.status_code in (404, 422), (path, r.text)
    assert recorded(api) == []
    assert "Traceback" not in api.log_tail(1_000_000), api.log_tail()


def test_a_download_sent_eight_times_at_once_is_recorded_once_and_the_cap_holds(live_api, world, db_env):
    api = start(live_api, world, **db_env)
    tracks = [list_track(api, world, VICTIM, f"Free {i}", 0, 400.0 + 60 * i) for i in range(4)]
    paid = list_track(api, world, VICTIM, "Paid", 10**15, 990.0)
    world.market.buy(paid, 10**15, wallet(FAN))  # the fan qualifies: only qualified wallets are recorded
    sync(api, world)
    fan, me = api.login(FAN), wallet(FAN).lower()

    def race(bodies: list[tuple[int, dict]]) -> list[httpx.Response]:
        barrier = threading.Barrier(len(bodies))
        out: list[httpx.Response] = [None] * len(bodies)  # type: ignore[list-item]

        def one(i: int) -> None:
            barrier.wait()
            out[i] = post(api, bodies[i][0], bodies[i][1], fan)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    same = {"epoch": 0, "signature": sign(world, FAN, tracks[0], 0)}
    answers = race([(tracks[0], same)] * 8)
    assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers]
    assert len({r.json()["receipt"] for r in answers}) == 1
    assert recorded(api) == [(0, tracks[0], me)]

    # 48 more already recorded this epoch (of other tracks): of three new ones sent at once,
    # exactly one more fits under the cap of 50.
    from ninety.db import make_engine

    engine = make_engine(db_url(api))
    with engine.begin() as conn:
        conn.execute(insert(T["free_download"]), [
            {"epoch": 0, "track_id": 10_000 + i, "wallet": me, "split_id": "0x" + "00" * 32, "signature": "0x" + "11" * 65,
             "block_number": 1, "block_time": 1, "receipt": "0x" + "22" * 65, "created_at": 1.0} for i in range(48)])
    answers = race([(t, {"epoch": 0, "signature": sign(world, FAN, t, 0)}) for t in tracks[1:] for _ in range(2)])
    assert [r.status_code for r in answers] == [200] * 6, [r.text for r in answers]
    with engine.connect() as conn:
        fd = T["free_download"]
        assert conn.execute(select(func.count()).select_from(fd).where(fd.c.wallet == me)).scalar() == 50
    engine.dispose()
    kept = [r.json() for r in answers if r.json()["receipt"]]
    assert len({k["track_id"] for k in kept}) == 1
    assert all("50 free downloads" in r.json()["reason"] for r in answers if not r.json()["receipt"])


def test_free_downloads_are_rate_limited_per_client(live_api, world):
    api = start(live_api, world, NINETY_RATE_LIMITS="on")
    tid = list_track(api, world, VICTIM, "Free", 0, 440.0)
    sync(api, world)
    fan = api.login(FAN)
    body = {"epoch": 0, "signature": sign(world, FAN, tid, 0)}
    codes = [post(api, tid, body, fan).status_code for _ in range(61)]
    assert codes[:60] == [200] * 60 and codes[60] == 429, codes
    r = post(api, tid, body, fan)
    assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 60 and "free downloads" in r.json()["detail"]
