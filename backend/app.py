"""The FastAPI application: catalog, uploads, sign-in, gated downloads (and, with the
ledger issue, the auditors' API). `ninety serve` runs it with uvicorn."""
from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Counter, Histogram, make_asgi_app

from backend import problems, security, transcode
from backend.api import (artists, auth, fans, free_downloads, ledger, media, moderation, pools, releases, status, tracks,
                         uploads)
from backend.crypto import MasterKey
from backend.limits import RELEASE_FORM_BYTES, BodySizeLimit
from backend.quotas import install_upload_gc
from backend.ratelimit import RateLimits
from backend.recordings import Recordings
from backend.services import Services
from backend.snapshots import Snapshots
from backend.tokens import Tokens
from ninety.attest import load_signer
from ninety.chain import Rpc
from ninety.config import Settings, load_settings
from ninety.contract import resolve_deployment
from ninety.db import ensure_schema, make_engine
from ninety.ipfs import Ipfs
from ninety.paths import ROOT

log = logging.getLogger(__name__)


def build_services(settings: Settings, *, public_url: str | None = None, max_upload_bytes: int | None = None) -> Services:
    """Everything the routes use, from `settings` (`public_url` and `max_upload_bytes`
    override the settings', for tests)."""
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    rpc = Rpc(settings.rpc_url) if settings.rpc_url else None
    chain_id = deployment = None
    if rpc is not None:
        chain_id = rpc.chain_id()
        deployment = resolve_deployment(settings, chain_id)
    return Services(
        settings=settings,
        engine=engine,
        ipfs=Ipfs(settings.ipfs_api, timeout=30) if settings.ipfs_api else None,
        rpc=rpc,
        chain_id=chain_id,
        deployment=deployment,
        master_key=MasterKey.load(settings.master_key, settings.data_dir),
        public_url=(public_url or settings.public_url or f"http://{settings.api_host}:{settings.api_port}").rstrip("/"),
        max_upload_bytes=max_upload_bytes or settings.max_upload_bytes,
        tokens=Tokens(rpc, deployment),
        snapshots=Snapshots(settings.api_snapshots),
        rate_limits=RateLimits.from_settings(settings, engine),
        catalog=load_signer(settings),
        recordings=Recordings(),
    )


def app_from_environment() -> FastAPI:
    """For `ninety serve --workers N`: each worker process builds its own app."""
    return create_app(build_services(load_settings()))


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Ninety",
        version="0.1.0",
        description="Music marketplace where artists keep at least 90% of every sale. "
        "Errors are application/problem+json.",
    )
    app.state.services = services
    problems.install(app)
    # The limit is for the audio; the rest of the form (artwork, text) gets 11 MiB more.
    app.add_middleware(BodySizeLimit, limit=services.max_upload_bytes + 11 * 1024 * 1024, paths=("/api/uploads",))
    # A release's form is its artwork (at most 10 MiB) and a few short fields.
    app.add_middleware(BodySizeLimit, limit=RELEASE_FORM_BYTES, paths=("/api/releases",))
    # A profile's form is its avatar (at most 10 MiB) and a few short fields.
    app.add_middleware(BodySizeLimit, limit=artists.PROFILE_FORM_BYTES, paths=(artists.PROFILE_PATH,))
    app.include_router(status.router)
    app.include_router(auth.router)
    app.include_router(uploads.router)
    # /api/tracks: the catalog, the tracks' files, signed free downloads (in this order,
    # as the OpenAPI document lists them).
    app.include_router(tracks.router)
    app.include_router(media.router)
    app.include_router(free_downloads.router)
    app.include_router(releases.router)
    app.include_router(ledger.router)
    app.include_router(ledger.splits_router)
    app.include_router(pools.router)
    app.include_router(artists.router)
    app.include_router(artists.names_router)
    app.include_router(fans.router)
    app.include_router(moderation.router)
    # Security headers, CSRF check, loopback-only /metrics, rate limits, 64 KiB body cap.
    security.install(app, services)
    _metrics(app)
    _web(app)
    install_upload_gc(app, services)  # unpins uploads never registered (NINETY_UPLOAD_TTL)
    transcode.sweep_leftovers()  # decrypted originals of conversions a killed API process left
    return app


def _web(app: FastAPI) -> None:
    """The web app: static files from web/ (no build step; ethers is copied from npm into
    web/vendor by `make build`). The store is the page at /."""
    web = ROOT / "web"

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        # no-cache: a new version of the app is picked up on the next visit.
        return FileResponse(web / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/web", StaticFiles(directory=web, check_dir=False), name="web")


def _metrics(app: FastAPI) -> None:
    """Prometheus at /metrics: requests and latency per route (a plain ASGI wrapper: the
    decorator-style middleware costs a task and a queue per request)."""
    registry = CollectorRegistry()
    requests = Counter("ninety_api_requests", "HTTP requests", ["route", "status"], registry=registry)
    latency = Histogram("ninety_api_request_seconds", "HTTP request latency", ["route"], registry=registry,
                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5))

    class Measure:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await self.inner(scope, receive, send)
                return
            started = time.perf_counter()
            answered = [500]

            async def sending(message: Any) -> None:
                if message["type"] == "http.response.start":
                    answered[0] = message["status"]
                await send(message)

            try:
                await self.inner(scope, receive, sending)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                requests.labels(route, str(answered[0])).inc()
                latency.labels(route).observe(time.perf_counter() - started)

    app.add_middleware(Measure)
    app.mount("/metrics", make_asgi_app(registry=registry))
