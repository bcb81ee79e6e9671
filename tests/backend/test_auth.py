"""Sign-In with Ethereum: what is accepted, what is refused, and logout."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def test_login_gives_a_session_by_cookie_and_bearer(stack):
    message, signature = stack.siwe(1)
    r = stack.client.post("/api/auth/login", json={"message": message, "signature": signature})
    assert r.status_code == 200
    body = r.json()
    assert body["address"] == stack.world.accounts[1].lower()
    assert "httponly" in r.headers["set-cookie"].lower()
    assert stack.client.get("/api/auth/me").json()["address"] == body["address"]  # by cookie
    stack.client.cookies.clear()
    assert stack.client.get("/api/auth/me").status_code == 401
    me = stack.client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["address"] == body["address"]


def test_a_replayed_message_is_refused(stack):
    message, signature = stack.siwe(1)
    assert stack.client.post("/api/auth/login", json={"message": message, "signature": signature}).status_code == 200
    again = stack.client.post("/api/auth/login", json={"message": message, "signature": signature})
    assert again.status_code == 401 and "already used" in again.json()["detail"]


def test_an_expired_message_is_refused(stack):
    now = datetime.now(timezone.utc)
    message, signature = stack.siwe(1, issued_at=iso(now - timedelta(seconds=30)),
                                    expiration_time=iso(now - timedelta(seconds=1)))
    r = stack.client.post("/api/auth/login", json={"message": message, "signature": signature})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


def test_an_unknown_nonce_is_refused(stack):
    message, signature = stack.siwe(1, nonce="abcdef1234567890")
    r = stack.client.post("/api/auth/login", json={"message": message, "signature": signature})
    assert r.status_code == 401 and "unknown nonce" in r.json()["detail"]


def test_another_domain_uri_or_chain_is_refused(stack):
    for overrides, words in (({"domain": "evil.example"}, "evil.example"),
                             ({"uri": "https://evil.example/"}, "evil.example"),
                             ({"chain_id": 1}, "chain 1")):
        message, signature = stack.siwe(1, **overrides)
        r = stack.client.post("/api/auth/login", json={"message": message, "signature": signature})
        assert r.status_code == 401 and words in r.json()["detail"], (overrides, r.text)


def test_a_signature_by_someone_else_is_refused(stack):
    message, _ = stack.siwe(1)
    _, other_signature = stack.siwe(2)
    r = stack.client.post("/api/auth/login", json={"message": message, "signature": other_signature})
    assert r.status_code == 401


def test_garbage_is_a_422_not_a_500(stack):
    r = stack.client.post("/api/auth/login", json={"message": "hello", "signature": "0x00"})
    assert r.status_code == 422
    assert stack.client.post("/api/auth/login", json={}).status_code == 422


def test_logout_revokes_the_session(stack):
    headers = stack.login(1)
    assert stack.client.get("/api/auth/me", headers=headers).status_code == 200
    assert stack.client.post("/api/auth/logout", headers=headers).status_code == 204
    assert stack.client.get("/api/auth/me", headers=headers).status_code == 401
