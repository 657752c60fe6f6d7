"""The web app: the built frontend (``src/chinwag/static``) served at ``/``.

Files of the build are served as they are (hashed ``assets/`` cache forever); every other
GET outside the API falls back to ``index.html`` so the app's history-mode routes survive a
reload. Without a build, ``/`` answers a short page that says how to make one.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from chinwag.api.errors import on_http_error

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Paths that belong to the server: an unknown one is a 404, never the app's page.
RESERVED_PREFIXES = ("api/", "socket.io/", "media/")
RESERVED_PATHS = {"api", "socket.io", "media", "healthz", "readyz"}
# The app loads only its own files, talks only to this origin, and shows avatars from blob:
# previews. Inline styles are kept for Vue's style bindings.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chinwag</title></head>
<body>
<h1>Chinwag</h1>
<p>The server is running, but the web app was not built.</p>
<p>Build it with <code>make setup</code> (or <code>cd frontend &amp;&amp; npm ci &amp;&amp;
npm run build</code>), then reload this page. The API is at <a href="/api/docs">/api/docs</a>.</p>
</body></html>
"""


def is_reserved(path: str) -> bool:
    return path in RESERVED_PATHS or path.startswith(RESERVED_PREFIXES)


def find_file(static_dir: Path, path: str) -> Path | None:
    """The build's file at ``path``, or None; never anything outside the build."""
    if not path:
        return None
    root = static_dir.resolve()
    candidate = (root / path).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def serve_page(static_dir: Path, path: str) -> Response:
    """A file of the build, or the app's index.html for any of its history-mode routes."""
    index = static_dir / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT, headers={"Cache-Control": "no-cache"})
    found = find_file(static_dir, path)
    if found is None or found.name == "index.html":
        return FileResponse(index, media_type="text/html", headers=PAGE_HEADERS)
    immutable = path.startswith("assets/")
    cache = "public, max-age=31536000, immutable" if immutable else "public, max-age=3600"
    return FileResponse(
        found, headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    )


def mount_web(api: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Serve the web app for every GET or HEAD that no route of the server matched.

    It hangs on the 404 handler rather than a catch-all route, so the server's own paths keep
    their answers: a wrong method on an API route stays 405, an unknown API path stays 404.
    """

    async def not_found(request: Request, exc: Exception) -> Response:
        path = request.url.path.lstrip("/")
        if request.method not in ("GET", "HEAD") or is_reserved(path):
            return await on_http_error(request, exc)
        return serve_page(static_dir, path)

    api.add_exception_handler(404, not_found)
