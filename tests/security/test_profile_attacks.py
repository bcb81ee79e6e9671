"""Artist profiles attacked for real (`ninety serve` over Anvil, IPFS and a ledger, on
SQLite and PostgreSQL where the database matters). A profile is shown to every visitor,
so what a wallet may put there is bounded and checked; each refusal below would be a
saved profile (200) without the check that refuses it.

- Oversize name, bio, links field and labels; control and text-reversing characters.
- Links that would run script or open something other than a web page when clicked
  (javascript:, data:, vbscript:, file:, scheme-relative, user@host spoofing), and more
  than five of them; links that are not the JSON shape asked for, or nested deep.
- Another wallet editing your profile; an edit without a session, with a forged token,
  or sent by another site with your cookie.
- Avatar bombs (a PNG declaring 100,000 x 100,000 pixels), bytes that are not an image
  (SVG with script, HTML), a PNG header over garbage, and an avatar over 10 MiB.
- 101 addresses to /api/names; profile edits past the upload rate limit.
"""
from __future__ import annotations

import json

import httpx
import pytest

from tests.security.test_media import png_declaring
from tests.support.listings import MALLORY, VICTIM, wallet
from tests.support.live_api import MemoryWatch
from tests.support.media import png_bytes
from tests.support.siwe import PUBLIC_URL

OK_LINKS = json.dumps([{"label": "Site", "url": "https://mallory.example/"}])


def put(api, headers: dict[str, str] | None, *, files=None, **fields) -> httpx.Response:
    data = {"name": "Mallory", "bio": "", "links": OK_LINKS, **fields}
    return httpx.put(f"{api.url}/api/artists/me/profile", data=data, files=files,
                     headers={"Origin": PUBLIC_URL, **(headers or {})}, timeout=60)


def profile(api, index: int) -> dict:
    r = api.get(f"/api/artists/{wallet(index)}")
    assert r.status_code == 200, r.text
    return r.json()


def link(url: str, label: str = "Click") -> str:
    return json.dumps([{"label": label, "url": url}])


BAD_FIELDS = [
    ({"name": "M" * 81}, "name is longer than 80"),
    ({"name": "   "}, "name is required"),
    ({"name": "Mallory\u202eyrollaM"}, "name contains a control or invisible character"),
    ({"name": "Mal\x00lory"}, "name contains a control"),
    ({"bio": "b" * 2001}, "bio is longer than 2000"),
    ({"bio": "hello\x1b[31m"}, "bio contains a control"),
    ({"links": link("javascript:alert(document.cookie)")}, "links[0].url must be a web address (http or https)"),
    ({"links": link("JavaScript:alert(1)")}, "links[0].url must be a web address (http or https)"),
    ({"links": link("data:text/html,<script>alert(1)</script>")}, "links[0].url must be a web address (http or https)"),
    ({"links": link("vbscript:msgbox(1)")}, "links[0].url must be a web address (http or https)"),
    ({"links": link("file:///etc/passwd")}, "links[0].url must be a web address (http or https)"),
    ({"links": link("//evil.example/")}, "links[0].url must be a web address (http or https)"),
    ({"links": link("https:///no-host")}, "links[0].url must be a web address (http or https)"),
    ({"links": link(" java\tscript:alert(1)")}, "links[0].url contains spaces"),
    ({"links": link("https://bank.example@evil.example/")}, "must not carry a user name"),
    ({"links": link("https://x.example:99999/")}, "links[0].url is not a valid URL"),
    ({"links": link("https://x.example/" + "a" * 300)}, "links[0].url is longer than 300"),
    ({"links": link("https://x.example/", label="L" * 41)}, "links[0].label must be 1 to 40"),
    ({"links": link("https://x.example/", label="")}, "links[0].label must be 1 to 40"),
    ({"links": json.dumps([{"label": f"L{i}", "url": f"https://x.example/{i}"} for i in range(6)])},
     "at most 5 links"),
    ({"links": "not json"}, "links must be a JSON array"),
    ({"links": json.dumps({"label": "a", "url": "https://x.example/"})}, "links must be a JSON array"),
    ({"links": json.dumps([{"label": "a", "url": "https://x.example/", "onclick": "alert(1)"}])},
     "exactly a text label and a text url"),
    ({"links": json.dumps([{"label": "a", "url": ["https://x.example/"]}])}, "exactly a text label and a text url"),
    ({"links": "[" * 3990 + "]" * 5}, "links must be a JSON array"),
    ({"links": "[" + ",".join(['{"label":"a","url":"https://x.example/"}'] * 120) + "]"},
     "links is longer than 4000"),
    ({"remove_avatar": "yes"}, "remove_avatar must be 1"),
]


def test_oversize_fields_bad_links_and_odd_characters_are_refused(live_api, db_env):
    api = live_api(**db_env)
    h = api.login(MALLORY)
    for fields, words in BAD_FIELDS:
        r = put(api, h, **fields)
        assert r.status_code == 422 and words in r.json()["detail"], (fields, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("application/problem+json")
    # Nothing was saved by any of them.
    assert profile(api, MALLORY)["profile_cid"] is None
    # The same form with its fields in bounds is saved: the refusals above are the checks'.
    longest = json.dumps([{"label": "L" * 40, "url": "https://x.example/" + "a" * 282} for _ in range(5)])
    r = put(api, h, name="M" * 80, bio="b\n" * 1000, links=longest)
    assert r.status_code == 200, r.text
    assert len(r.json()["links"]) == 5 and r.json()["name"] == "M" * 80


# The tests taking `module_api` share one server whatever their order: only the next test
# writes the victim's profile, and what each checks of Mallory's it set itself (the avatar
# test removes her avatar before looking).
def test_only_the_signed_in_wallet_edits_its_own_profile(module_api):
    api = module_api
    victim_h, mallory_h = api.login(VICTIM), api.login(MALLORY)
    assert put(api, victim_h, name="The Victim").status_code == 200
    before = profile(api, VICTIM)

    # No session, a forged token, a cookie sent by another site: refused before anything.
    assert put(api, None, name="Hijacked").status_code == 401
    assert put(api, {"Authorization": "Bearer " + "0" * 43}, name="Hijacked").status_code == 401
    login = httpx.get(f"{api.url}/api/auth/nonce", timeout=10)
    assert login.status_code == 200
    cookie = {"Cookie": f"ninety_session={victim_h['Authorization'][7:]}"}
    r = httpx.put(f"{api.url}/api/artists/me/profile", data={"name": "Hijacked"},
                  headers={"Origin": "https://evil.example", **cookie}, timeout=30)
    assert r.status_code == 403
    r = httpx.put(f"{api.url}/api/artists/me/profile", data={"name": "Hijacked"}, headers=cookie, timeout=30)
    assert r.status_code == 403  # a cookie alone must say where it comes from

    # Mallory signed in: whatever address she names, she edits her own profile only.
    r = put(api, mallory_h, name="Hijacked", address=wallet(VICTIM))
    assert r.status_code == 200 and r.json()["address"] == wallet(MALLORY).lower()
    for path in (f"/api/artists/{wallet(VICTIM)}/profile", f"/api/artists/{wallet(VICTIM)}"):
        r = httpx.put(f"{api.url}{path}", data={"name": "Hijacked"}, headers={"Origin": PUBLIC_URL, **mallory_h},
                      timeout=30)
        assert r.status_code in (404, 405), (path, r.status_code)
    assert profile(api, VICTIM) == before and before["name"] == "The Victim"


def test_avatar_bombs_and_non_images_are_refused(module_api):
    api = module_api
    h = api.login(MALLORY)
    bomb = png_declaring(100_000, 100_000)
    assert len(bomb) < 20_000
    put(api, h, files={"avatar": ("a.png", png_bytes(), "image/png")})  # warm up: the sandbox's first use imports
    assert put(api, h, remove_avatar="1").status_code == 200
    with MemoryWatch(api.pid) as watch:
        r = put(api, h, files={"avatar": ("bomb.png", bomb, "image/png")})
    assert r.status_code == 422 and "avatar is 100,000 x 100,000 pixels" in r.json()["detail"], r.text
    assert watch.growth_mb < 100 and watch.children_peak < 300e6
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"/>'
    for name, body, kind in (("a.svg", svg, "image/svg+xml"), ("a.png", b"<html><script>alert(1)</script>", "image/png"),
                             ("a.gif", b"GIF89a" + b"\0" * 100, "image/gif")):
        r = put(api, h, files={"avatar": (name, body, kind)})
        assert r.status_code == 415 and "PNG or JPEG" in r.json()["detail"], (name, r.text)
    r = put(api, h, files={"avatar": ("a.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 100, "image/png")})
    assert r.status_code == 422 and "avatar could not be decoded" in r.json()["detail"], r.text
    # Over 10 MiB: refused by the route; far over, by the body cap before the form is read.
    big = png_bytes() + b"\0" * (10 * 1024 * 1024)
    r = put(api, h, files={"avatar": ("big.png", big, "image/png")})
    assert r.status_code == 413 and "larger than 10 MiB" in r.json()["detail"], r.text
    r = put(api, h, files={"avatar": ("huge.png", big * 3, "image/png")})
    assert r.status_code == 413
    assert profile(api, MALLORY)["avatar_url"] is None
    # Two avatars in one form: refused by the form's file count.
    r = put(api, h, files=[("avatar", ("a.png", png_bytes(), "image/png")), ("avatar", ("b.png", png_bytes(), "image/png"))])
    assert r.status_code == 400 and profile(api, MALLORY)["avatar_url"] is None
    # A real image is taken, so each refusal above was the check's.
    r = put(api, h, files={"avatar": ("a.png", png_bytes(), "image/png")})
    assert r.status_code == 200 and r.json()["avatar_url"], r.text
    got = api.get(r.json()["avatar_url"])
    assert got.status_code == 200 and got.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_names_refuses_more_than_a_hundred_addresses(module_api):
    api = module_api
    many = [f"0x{i:040x}" for i in range(1, 102)]
    r = api.get("/api/names", params={"address": many})
    assert r.status_code == 422 and "at most 100" in r.json()["detail"]
    assert api.get("/api/names", params={"address": many[:100]}).status_code == 200
    r = api.get("/api/names", params={"address": ["0x" + "g" * 40]})
    assert r.status_code == 422
    r = api.get("/api/names", params={"address": [*many[:99], "not-an-address"]})
    assert r.status_code == 422 and "not an address" in r.json()["detail"]


@pytest.mark.parametrize("limit", ["3/hour"])
def test_profile_edits_count_against_the_upload_rate_limit(live_api, limit):
    api = live_api(NINETY_RATE_LIMITS="on", NINETY_RATE_LIMIT_UPLOAD=limit)
    h = api.login(MALLORY)
    assert [put(api, h, name=f"Mallory {i}").status_code for i in range(3)] == [200, 200, 200]
    r = put(api, h, name="Mallory 4")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert profile(api, MALLORY)["name"] == "Mallory 2"
