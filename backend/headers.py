"""The security headers every answer carries (the Guard middleware in backend/security.py
adds them; backend/errors.py too, for the errors Starlette answers outside the Guard)."""
from __future__ import annotations

# The web app (web/) loads only its own script, module and stylesheet, talks only to this
# API (wallets are extensions, outside the page), shows artwork and previews from this
# API and a data: favicon; it has no inline script or style.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# FastAPI's /docs and /redoc pages load Swagger UI and ReDoc from a CDN and start them
# with an inline script; they show nothing a user sent.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
            "https://cdn.redoc.ly; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")
HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
