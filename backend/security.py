"""What every request passes through before the routes: security headers on every
answer, /metrics for loopback clients only, an Origin check on cookie-authenticated
state-changing requests, per-client rate limits and the 64 KiB body cap.

Cross-site request forgery: a browser attaches the session cookie to requests another
site makes it send. Such a request says where it comes from (Origin, or at least
Sec-Fetch-Site), so an unsafe method (POST, PUT, PATCH, DELETE) is refused when the
Origin is not this site's (NINETY_PUBLIC_URL) or the browser calls it cross-site. A
request authenticated by the session cookie alone must carry one of those headers
(every browser sends them); scripts use the bearer token, which no other site can make a
browser send."""
from __future__ import annotations

import ipaddress
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import FastAPI

from backend.deps import SESSION_COOKIE
from backend.problems import problem
from backend.headers import CSP, DOCS_CSP, DOCS_PATHS, HEADERS
from backend.limits import MAX_BODY_BYTES, BodySizeLimit
from backend.ratelimit import Network, RateLimitMiddleware, client_address, parse_proxies
from backend.services import Services

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})



def origin_of(url: str) -> str:
    """scheme://host[:port] with the default port left out, lowercase."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return ""
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


class Guard:
    """Security headers, the loopback-only /metrics and the CSRF check (see the module
    docstring)."""

    def __init__(self, app: Callable[..., Awaitable[None]], public_url: str, proxies: tuple[Network, ...] = ()) -> None:
        self.app = app
        self.origin = origin_of(public_url)
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        csp = DOCS_CSP if path in DOCS_PATHS or path.startswith("/docs/") else CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                for name, value in HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), (csp if name == "content-security-policy" else value).encode()))
                message = {**message, "headers": headers}
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await problem(*refusal)(scope, receive, with_headers)
            return
        await self.app(scope, receive, with_headers)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        path: str = scope["path"]
        if path == "/metrics" or path.startswith("/metrics/"):
            if not _loopback(client_address(scope, self.proxies)):
                return 404, "not found"
        if scope["method"] in SAFE_METHODS:
            return None
        headers = {name: value.decode("latin-1") for name, value in scope.get("headers") or ()}
        origin = headers.get(b"origin")
        if origin is not None:
            if origin_of(origin) != self.origin or origin.strip().lower() == "null":
                return 403, "this request comes from another site (Origin); it was not made by this web app"
            return None
        site = headers.get(b"sec-fetch-site")
        if site is not None:
            if site.strip().lower() not in ("same-origin", "none"):
                return 403, "this request comes from another site (Sec-Fetch-Site); it was not made by this web app"
            return None
        bearer = headers.get(b"authorization", "").lower().startswith("bearer ")
        if not bearer and _has_session_cookie(headers.get(b"cookie", "")) and path not in ("/api/auth/login",):
            return 403, ("a request signed in by cookie must say where it comes from (Origin header); "
                         "scripts should send the bearer token instead")
        return None


def _has_session_cookie(header: str) -> bool:
    return any(part.strip().startswith(SESSION_COOKIE + "=") for part in header.split(";"))


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "testclient"  # Starlette's in-process test client


def install(app: FastAPI, services: Services) -> None:
    """Add the guards to `app` (call before the metrics middleware, so refusals are
    counted too). Order, outermost first: Guard, rate limits, body cap."""
    proxies = parse_proxies(services.settings.trusted_proxies)
    app.add_middleware(BodySizeLimit, limit=MAX_BODY_BYTES, exclude=("/api/uploads", "/api/releases",
                                                                      "/api/artists/me/profile"))
    app.add_middleware(RateLimitMiddleware, limits=services.rate_limits, proxies=proxies)
    app.add_middleware(Guard, public_url=services.public_url, proxies=proxies)
