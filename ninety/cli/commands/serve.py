"""`ninety serve` and `ninety migrate`: the HTTP API and web app, and the ledger schema."""
from __future__ import annotations

import os
from typing import Optional

import typer

from ninety.cli.shared import console, fail, setup_logging
from ninety.config import Settings, load_settings
from ninety.errors import NinetyError


def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Default NINETY_API_HOST (127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", help="Default NINETY_API_PORT (8000)."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Processes serving the API (one core each); default 1."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the HTTP API (OpenAPI at /docs) and the web app."""
    setup_logging(verbose)
    import uvicorn

    from backend.app import build_services, create_app

    settings = load_settings()
    settings = Settings(**{**settings.__dict__, "api_host": host or settings.api_host,
                           "api_port": port or settings.api_port})
    try:
        # Built here even with several workers: it creates or checks the schema once, and
        # a bad setting fails before any worker starts.
        app_ = create_app(build_services(settings))
    except NinetyError as e:
        fail(str(e))
    log_level = "info" if verbose else "warning"
    # proxy_headers=False: uvicorn would otherwise take X-Forwarded-For from any loopback
    # peer; the app reads it itself, from NINETY_TRUSTED_PROXIES only (backend/ratelimit.py).
    if workers == 1:
        uvicorn.run(app_, host=settings.api_host, port=settings.api_port, log_level=log_level, proxy_headers=False)
        return
    # Worker processes import the app by name and build it from the same environment.
    os.environ["NINETY_API_HOST"], os.environ["NINETY_API_PORT"] = settings.api_host, str(settings.api_port)
    uvicorn.run("backend.app:app_from_environment", factory=True, workers=workers,
                host=settings.api_host, port=settings.api_port, log_level=log_level, proxy_headers=False)


def migrate() -> None:
    """Bring the ledger database (NINETY_DB_URL) to this version's schema."""
    setup_logging(False)
    from ninety.db import current_revision, head_revision, make_engine
    from ninety.db import migrate as run_migrate

    engine = make_engine(load_settings().database_url)
    before = current_revision(engine)
    run_migrate(engine)
    console.print(f"schema at {head_revision()} (was {before or 'empty'})")
