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
                             ({"uri": "https://evil.example/"}, "URI is not on this site"),
                             ({"uri": "http://127.0.0.1:8000@evil.example/"}, "URI is not on this site"),
                             ({"uri": "https://127.0.0.1:8000/"}, "URI is not on this site"),
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


def test_a_path_on_this_site_is_a_valid_uri(stack):
    message, signature = stack.siwe(1, uri="http://127.0.0.1:8000/#/studio")
    assert stack.client.post("/api/auth/login", json={"message": message, "signature": signature}).status_code == 200


def test_a_message_not_in_the_canonical_layout_is_a_422(stack):
    message, signature = stack.siwe(1)
    for changed in (message + "\n", message.replace("\nVersion: 1", "\nVersion:  1"), "\n" + message,
                    message.replace("Chain ID: 31337", "Chain ID: 031337"), message + "\nResources:"):
        r = stack.client.post("/api/auth/login", json={"message": changed, "signature": signature})
        assert r.status_code == 422, (changed, r.text)
    # The nonce was not used up by those: the real message still signs in.
    assert stack.client.post("/api/auth/login", json={"message": message, "signature": signature}).status_code == 200


def test_expired_nonces_and_sessions_are_purged(stack):
    from sqlmodel import Session, select

    from backend.models import AuthNonce, AuthSession

    headers = stack.login(1)
    assert stack.client.post("/api/auth/logout", headers=headers).status_code == 204
    with Session(stack.services.engine) as db:
        db.add(AuthNonce(nonce="old0000000", created_at=1.0, expires_at=2.0))
        db.add(AuthSession(token_hash="f" * 64, address="0x" + "1" * 40, created_at=1.0, expires_at=2.0))
        db.commit()
    stack.client.get("/api/auth/nonce")
    with Session(stack.services.engine) as db:
        assert db.get(AuthNonce, "old0000000") is None
        assert db.get(AuthSession, "f" * 64) is None
        assert all(not s.revoked for s in db.exec(select(AuthSession)))  # the logged-out one went too


def test_logout_revokes_the_session(stack):
    headers = stack.login(1)
    assert stack.client.get("/api/auth/me", headers=headers).status_code == 200
    assert stack.client.post("/api/auth/logout", headers=headers).status_code == 204
    assert stack.client.get("/api/auth/me", headers=headers).status_code == 401
