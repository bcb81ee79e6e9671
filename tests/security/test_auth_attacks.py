"""Sign-in and session attacks against the real `ninety serve`: a look-alike URI, two
logins racing with one nonce, nonces and sessions piling up, cross-site requests riding
the session cookie, missing security headers, and /metrics for anyone."""
from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone
import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import create_engine, func, insert, select
from sqlmodel import SQLModel

from ninety.cli.shared import dev_account
from ninety.config import DEV_MNEMONIC
from ninety.paths import ROOT
from tests.support.siwe import PUBLIC_URL

import backend.models  # noqa: F401  (auth tables)

T = SQLModel.metadata.tables
EVIL = {"Origin": "https://evil.example"}


def signed(api, index: int = 1, uri: str = PUBLIC_URL) -> tuple[str, str]:
    """A SIWE message (as the web app writes it) with a fresh nonce, and its signature."""
    address, key = dev_account(DEV_MNEMONIC, index)
    nonce = httpx.get(f"{api.url}/api/auth/nonce", timeout=10).json()["nonce"]
    now = datetime.now(timezone.utc)
    iso = lambda t: t.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: E731
    message = "\n".join([
        "127.0.0.1:8000 wants you to sign in with your Ethereum account:", address, "", "Sign in to Ninety", "",
        f"URI: {uri}", "Version: 1", "Chain ID: 31337", f"Nonce: {nonce}", f"Issued At: {iso(now)}",
        f"Expiration Time: {iso(now + timedelta(hours=1))}"])
    return message, "0x" + Account.sign_message(encode_defunct(text=message), key).signature.hex().removeprefix("0x")


def login(api, message: str, signature: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{api.url}/api/auth/login", json={"message": message, "signature": signature},
                      headers={"Origin": PUBLIC_URL, **headers}, timeout=30)


# The tests taking `module_api` share one server (tests/security/conftest.py): each signs
# in with fresh nonces and looks only at its own answers and its own session.
def test_a_look_alike_uri_is_refused(module_api):
    api = module_api
    for uri in ("http://127.0.0.1:8000@evil.example/", "https://127.0.0.1:8000/", "http://127.0.0.1:80/"):
        r = login(api, *signed(api, uri=uri))
        assert r.status_code == 401, (uri, r.status_code, r.text)  # before: a prefix match let the first in
    assert login(api, *signed(api, uri=PUBLIC_URL + "/#/studio")).status_code == 200


def test_two_logins_racing_with_one_nonce_give_one_session(live_api, db_env):
    api = live_api(**db_env)
    for _ in range(4):
        message, signature = signed(api)
        results: list[int] = []
        barrier = threading.Barrier(8)

        def attempt() -> None:
            barrier.wait()
            results.append(login(api, message, signature).status_code)

        threads = [threading.Thread(target=attempt) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [200] + [401] * 7, results


def test_expired_nonces_and_sessions_do_not_pile_up(live_api):
    api = live_api()
    engine = create_engine(api.db_url)
    with engine.begin() as conn:  # what a flood of nonce requests and old sessions leave behind
        conn.execute(insert(T["auth_nonce"]), [{"nonce": f"old{i:08d}", "created_at": 1.0, "expires_at": 2.0,
                                                 "used": False} for i in range(150)])
        conn.execute(insert(T["auth_session"]), [{"token_hash": f"{i:064x}", "address": "0x" + "1" * 40,
                                                   "created_at": 1.0, "expires_at": 2.0, "revoked": False}
                                                  for i in range(150)])
    assert login(api, *signed(api)).status_code == 200
    with engine.connect() as conn:
        nonces = conn.execute(select(func.count()).select_from(T["auth_nonce"])).scalar()
        sessions = conn.execute(select(func.count()).select_from(T["auth_session"])).scalar()
    assert (nonces, sessions) == (1, 1), (nonces, sessions)  # the fresh ones only


def test_cross_site_requests_cannot_ride_the_session_cookie(module_api):
    api = module_api
    r = login(api, *signed(api))
    cookie = {"Cookie": f"ninety_session={r.cookies['ninety_session']}"}

    def logout(**headers: str) -> int:
        return httpx.post(f"{api.url}/api/auth/logout", headers=headers, timeout=10).status_code

    def me() -> int:
        return httpx.get(f"{api.url}/api/auth/me", headers=cookie, timeout=10).status_code

    assert logout(**cookie, **EVIL) == 403  # before: 204, and the victim was signed out
    assert logout(**cookie, **{"Sec-Fetch-Site": "cross-site"}) == 403
    assert logout(**cookie, **{"Origin": "null"}) == 403
    assert logout(**cookie) == 403  # cookie alone, saying nothing of where it comes from
    assert me() == 200
    r = httpx.post(f"{api.url}/api/auth/login", json={"message": "x", "signature": "0x"}, headers=EVIL, timeout=10)
    assert r.status_code == 403  # nor can another site sign a visitor in as someone else
    assert logout(**cookie, **{"Sec-Fetch-Site": "same-origin"}) == 204
    assert me() == 401
    token_only = login(api, *signed(api)).json()["token"]
    assert logout(Authorization=f"Bearer {token_only}") == 204  # scripts with the bearer token need nothing else


def test_every_answer_carries_the_security_headers(module_api):
    api = module_api
    answers = [
        httpx.get(f"{api.url}/", timeout=10), httpx.get(f"{api.url}/web/app.js", timeout=10),
        httpx.get(f"{api.url}/api/status", timeout=10), httpx.get(f"{api.url}/api/tracks/99999", timeout=10),
        httpx.get(f"{api.url}/api/ledger/sales?cursor=!", timeout=10),
        httpx.post(f"{api.url}/api/auth/login", content=b"x" * 70_000, timeout=10),
        httpx.post(f"{api.url}/api/auth/logout", headers=EVIL, timeout=10),
        httpx.get(f"{api.url}/docs", timeout=10),
    ]
    assert [r.status_code for r in answers] == [200, 200, 200, 404, 422, 413, 403, 200]
    for r in answers:
        assert r.headers.get("x-content-type-options") == "nosniff", r.url
        csp = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, (r.url, csp)
    page_csp = answers[0].headers["content-security-policy"]
    assert "script-src 'self';" in page_csp and "unsafe-inline" not in page_csp


def test_the_web_app_needs_nothing_its_csp_forbids():
    """The page's policy allows only same-origin scripts, styles and connections: the web
    app has no inline script or style and loads nothing from elsewhere."""
    html = (ROOT / "web" / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/web/' in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html)
    assert all(href.startswith(("/", "#", "data:")) for href in re.findall(r'(?:href|src)="([^"]+)"', html))
    modules = [p for p in (ROOT / "web").rglob("*.js") if "vendor" not in p.parts]
    assert len(modules) > 1 and ROOT / "web" / "app.js" in modules
    for path in modules:  # every ES module the page may load, not only the entry point
        js = path.read_text()
        assert not re.search(r"\beval\(|new Function\(|\.style\b|setAttribute\(\s*[\"']style|innerHTML", js), path
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", js), path


def test_metrics_are_for_loopback_clients_only(live_api):
    # Behind a reverse proxy on the same machine, a visitor's request arrives from
    # loopback but the proxy names the visitor: that visitor is not a loopback client.
    api = live_api(NINETY_TRUSTED_PROXIES="127.0.0.1")
    assert httpx.get(f"{api.url}/metrics/", timeout=10).status_code == 200
    remote = httpx.get(f"{api.url}/metrics/", headers={"X-Forwarded-For": "203.0.113.5"}, timeout=10)
    assert remote.status_code == 404 and "ninety_api_requests" not in remote.text
    assert httpx.get(f"{api.url}/metrics", headers={"X-Forwarded-For": "203.0.113.5"}, timeout=10,
                     follow_redirects=True).status_code == 404
