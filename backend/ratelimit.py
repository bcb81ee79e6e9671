"""Per-client rate limits on what costs the server more than it costs the sender:
sign-in (nonce and login), media uploads, CSV exports, reconciliation and release zips
(which also have a cap on how many run at once per wallet and per client: `zip_streams`,
backend/stream_slots.py).

Counting is the `limits` library's fixed-window strategy; the counters live where every
`ninety serve --workers N` process sees them. By default that is the ledger database
itself: every worker already opens it, it needs nothing installed on a fresh machine
(SQLite file or PostgreSQL alike), and a limited request costs one upsert, small beside
the work it guards. NINETY_RATE_LIMIT_STORAGE may name any storage the `limits` library
knows instead (`redis://host:6379` with the `redis` package installed; `memory://` counts
per process, so it does not hold across workers).

The client is the TCP peer, unless the peer is one of NINETY_TRUSTED_PROXIES: then the
X-Forwarded-For entries are read right to left, skipping trusted proxies, and the first
other address is the client (entries to its left are whatever the client claimed). An
IPv6 client is counted per /64, the block one subscriber usually holds.

Limits are checked by an ASGI middleware before the request body is read, so a refused
upload costs no bytes of it; 429 answers carry Retry-After."""
from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import parse_qsl

from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Column, Engine, Float, Index, Integer, String, Table, case, delete, select
from sqlmodel import SQLModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from backend.errors import ApiError
from backend.problems import problem
from backend.stream_slots import StreamSlots
from ninety.errors import ConfigError

log = logging.getLogger(__name__)
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# A backend table like sessions and uploads (migration 0008), in the same metadata so the
# migrations' drift check covers it.
rate_limit_table = Table(
    "rate_limit", SQLModel.metadata,
    Column("key", String, primary_key=True),
    Column("hits", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_rate_limit_expires_at", "expires_at"),
)

# (limit name, method, paths): what each limit counts; a `*` path segment matches any one
# segment. Exports are the ledger lists asked for as CSV (see `wants_csv`).
RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("signin", "GET", ("/api/auth/nonce",)),
    ("signin", "POST", ("/api/auth/login",)),
    ("upload", "POST", ("/api/uploads", "/api/releases")),
    ("upload", "PUT", ("/api/artists/me/profile",)),  # a profile edit re-encodes and pins an avatar
    ("export", "GET", ("/api/ledger/sales", "/api/ledger/withdrawals")),
    ("reconciliation", "GET", ("/api/ledger/reconciliation",)),
    ("zip", "GET", ("/api/releases/*/download",)),
)
# "transcode" has no rule: backend/transcode.py counts it, per wallet and per client, only for
# requests that would start a conversion (a cached file costs no more than the original).
DEFAULTS = {"signin": "20/minute", "upload": "60/hour", "export": "10/minute", "reconciliation": "60/minute",
            "zip": "10/minute;60/hour", "transcode": "10/minute;60/hour"}


class DatabaseStorage(Storage):
    """Fixed-window counters in the `rate_limit` table: one row per (limit, client), one
    atomic upsert per hit (INSERT … ON CONFLICT DO UPDATE … RETURNING, on SQLite and
    PostgreSQL alike). Expired rows are deleted now and then, a bounded batch at a time."""

    STORAGE_SCHEME = None
    PURGE_EVERY = 256
    PURGE_BATCH = 500

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self._hits = 0
        self._lock = threading.Lock()
        if engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        self._insert = insert

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        t = rate_limit_table
        now = time.time()
        stale = t.c.expires_at <= now
        stmt = self._insert(t).values(key=key, hits=amount, expires_at=now + expiry)
        stmt = stmt.on_conflict_do_update(index_elements=[t.c.key], set_={
            "hits": case((stale, amount), else_=t.c.hits + amount),
            "expires_at": case((stale, now + expiry), else_=t.c.expires_at),
        }).returning(t.c.hits)
        with self.engine.begin() as conn:
            hits = int(conn.execute(stmt).scalar_one())
        with self._lock:
            self._hits += 1
            purge = self._hits % self.PURGE_EVERY == 0
        if purge:
            self.purge(now)
        return hits

    def purge(self, now: float | None = None) -> int:
        t = rate_limit_table
        now = time.time() if now is None else now
        old = select(t.c.key).where(t.c.expires_at <= now).limit(self.PURGE_BATCH).scalar_subquery()
        with self.engine.begin() as conn:
            return conn.execute(delete(t).where(t.c.key.in_(old))).rowcount or 0

    def _row(self, key: str) -> tuple[int, float] | None:
        t = rate_limit_table
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.hits, t.c.expires_at).where(t.c.key == key)).first()
        if row is None or row[1] <= time.time():
            return None
        return int(row[0]), float(row[1])

    def get(self, key: str) -> int:
        row = self._row(key)
        return 0 if row is None else row[0]

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return time.time() if row is None else row[1]

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            return conn.execute(delete(rate_limit_table)).rowcount

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(rate_limit_table).where(rate_limit_table.c.key == key))


@dataclass
class Refusal:
    limit: str
    retry_after: int


class RateLimits:
    """The configured limits over one storage. `hit` counts a request and says whether
    it must be refused (and for how long)."""

    def __init__(self, storage: Storage, items: dict[str, list[RateLimitItem]], enabled: bool = True,
                 zip_streams: StreamSlots | None = None) -> None:
        self.storage = storage
        self.items = items
        self.enabled = enabled
        self._limiter = FixedWindowRateLimiter(storage)
        # Not a rate, a cap on what runs at once (like NINETY_MAX_DECODES): it holds even
        # with NINETY_RATE_LIMITS=off.
        self.zip_streams = zip_streams or zip_stream_slots(None)

    @classmethod
    def from_settings(cls, settings: Any, engine: Engine) -> "RateLimits":
        items: dict[str, list[RateLimitItem]] = {}
        for name, default in DEFAULTS.items():
            spec = (getattr(settings, f"rate_limit_{name}", None) or default).strip()
            variable = f"NINETY_RATE_LIMIT_{name.upper()}"
            if spec.lower() in ("off", "none", "0"):
                items[name] = []
                continue
            try:
                items[name] = [_namespaced(item, name) for item in parse_many(spec)]
            except ValueError:
                raise ConfigError(f"{variable} must look like '20/minute' or '5/second;100/hour' (or 'off'), "
                                  f"got {spec!r}") from None
        uri = (getattr(settings, "rate_limit_storage", None) or "database").strip()
        if uri == "database":
            storage: Storage = DatabaseStorage(engine)
        else:
            try:
                storage = storage_from_string(uri)
            except Exception as e:
                raise ConfigError(f"NINETY_RATE_LIMIT_STORAGE: cannot use {uri.split('://')[0]!r} storage "
                                  f"({e.__class__.__name__}); use 'database', 'memory://' or a redis:// URL") from None
        return cls(storage, items, enabled=bool(getattr(settings, "rate_limits", True)),
                   zip_streams=zip_stream_slots(settings))

    def define(self, name: str, spec: str) -> None:
        """Add limit `name` (e.g. "60/minute") unless it is there already: for a limit a
        route counts itself rather than the middleware."""
        if name not in self.items:
            self.items[name] = [_namespaced(item, name) for item in parse_many(spec)]

    def hit(self, name: str, *identity: str) -> Refusal | None:
        """Count one request of `identity` against limit `name`; a Refusal if over it."""
        if not self.enabled:
            return None
        for item in self.items.get(name, ()):
            if not self._limiter.hit(item, *identity):
                reset = self._limiter.get_window_stats(item, *identity).reset_time
                return Refusal(name, max(1, math.ceil(reset - time.time())))
        return None

    def enforce(self, name: str, *identity: str) -> None:
        """`hit`, raising the 429 ApiError (with Retry-After) when over the limit. Blocking
        (one database round trip): call it from a sync route or a thread."""
        refusal = self.hit(name, *identity)
        if refusal is not None:
            raise ApiError(429, _detail(refusal), headers={"Retry-After": str(refusal.retry_after)})


def zip_stream_slots(settings: Any) -> StreamSlots:
    """Release zips running at once: NINETY_ZIP_STREAMS_PER_WALLET, NINETY_ZIP_STREAMS_PER_CLIENT."""
    return StreamSlots("release zips", int(getattr(settings, "zip_streams_per_wallet", 2)),
                       int(getattr(settings, "zip_streams_per_client", 4)),
                       "NINETY_ZIP_STREAMS_PER_WALLET", "NINETY_ZIP_STREAMS_PER_CLIENT")


def _namespaced(item: RateLimitItem, name: str) -> RateLimitItem:
    return type(item)(item.amount, item.multiples, namespace=f"ninety:{name}")


def _detail(refusal: Refusal) -> str:
    what = {"signin": "sign-in attempts", "upload": "uploads", "export": "CSV exports",
            "reconciliation": "reconciliations", "zip": "release zip downloads"}.get(refusal.limit, "requests")
    return f"too many {what} from your address; try again in {refusal.retry_after} s"


# ------------------------------------------------------------------ who is the client


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(spec: str | Iterable[str] | None) -> tuple[Network, ...]:
    """NINETY_TRUSTED_PROXIES: comma-separated addresses or CIDR blocks."""
    if not spec:
        return ()
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"NINETY_TRUSTED_PROXIES: {part!r} is not an IP address or CIDR block") from None
    return tuple(out)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1:value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":")[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(address: Any, proxies: tuple[Network, ...]) -> bool:
    return address is not None and any(address in net for net in proxies)


def client_address(scope: Scope, proxies: tuple[Network, ...]) -> str:
    """The client's address for `scope` (see the module docstring)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    ip = _ip(peer)
    if not _trusted(ip, proxies):
        return str(ip) if ip is not None else str(peer)
    forwarded: list[str] = []
    for name, value in scope.get("headers") or ():
        if name == b"x-forwarded-for":
            forwarded += value.decode("latin-1").split(",")
    for entry in reversed(forwarded):
        hop = _ip(entry)
        if hop is None:  # garbage: stop trusting the chain here
            break
        if not _trusted(hop, proxies):
            return str(hop)
        ip = hop
    return str(ip)


def client_of(scope: Scope, trusted_proxies: str | Iterable[str] | None) -> str:
    """The key a route counts its client as (`client_key` of `client_address`)."""
    return client_key(client_address(scope, parse_proxies(trusted_proxies)))


def client_key(address: str) -> str:
    """What one client is counted as: its address, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def wants_csv(query: dict[str, str], accept: str) -> bool:
    """The ledger lists' rule for CSV: format=csv, or no format and Accept: text/csv."""
    fmt = query.get("format")
    return fmt == "csv" or (fmt is None and "text/csv" in accept)


# ------------------------------------------------------------------ middleware


def _path_matches(path: str, pattern: str) -> bool:
    if "*" not in pattern:
        return path == pattern
    parts, want = path.split("/"), pattern.split("/")
    return len(parts) == len(want) and all((w == "*" and p != "") or w == p for p, w in zip(parts, want))


class RateLimitMiddleware:
    """Counts the requests RULES name, by client, before anything else is done for them."""

    def __init__(self, app: Callable[..., Awaitable[None]], limits: RateLimits,
                 proxies: tuple[Network, ...] = ()) -> None:
        self.app = app
        self.limits = limits
        self.proxies = proxies

    def _limit_for(self, scope: Scope) -> str | None:
        method, path = scope["method"], scope["path"].rstrip("/") or "/"
        for name, m, paths in RULES:
            if method == m and any(_path_matches(path, p) for p in paths):
                if name == "export":
                    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
                    # Every Accept header, not only the last: the route reads the first one, so a
                    # request with two must count as the export it may turn out to be.
                    accept = ", ".join(v.decode("latin-1") for k, v in scope.get("headers") or () if k == b"accept")
                    if not wants_csv(query, accept):
                        return None
                return name
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limits.enabled:
            await self.app(scope, receive, send)
            return
        name = self._limit_for(scope)
        if name is None:
            await self.app(scope, receive, send)
            return
        who = client_key(client_address(scope, self.proxies))
        try:
            refusal = await run_in_threadpool(self.limits.hit, name, who)
        except Exception:  # the counters' store is down: serve rather than refuse everyone
            log.exception("rate limit storage failed; letting the request through")
            refusal = None
        if refusal is None:
            await self.app(scope, receive, send)
            return
        response = problem(429, _detail(refusal), headers={"Retry-After": str(refusal.retry_after)})
        await response(scope, receive, send)
