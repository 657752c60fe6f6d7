"""``/api/docs``: Swagger UI served from the server itself, so it works offline.

FastAPI's own docs page loads Swagger UI from a public CDN; this is its documented recipe for
self-hosting the JavaScript and CSS, with the files of the ``swagger-ui-bundle-v2`` package
(the swagger-ui-dist build) under ``/api/docs/assets``. The page gets its own Content Security
Policy: only this origin, plus the one inline script FastAPI writes (allowed by its hash).
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path  # the swagger-ui-dist files

from chinwag.errors import NotFound

DOCS_URL = "/api/docs"
ASSETS_URL = f"{DOCS_URL}/assets"
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
# The files the page loads, and only those (the package also ships a demo page).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


def content_security_policy(page: bytes) -> str:
    """Self only; the page's inline scripts by hash; inline styles and data: images, which
    Swagger UI's own stylesheet and components use."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(page)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
        "frame-ancestors 'none'"
    )


def mount_docs(api: FastAPI) -> None:
    """Serve Swagger UI for ``api``'s OpenAPI document at /api/docs (create the app with
    ``docs_url=None`` so FastAPI's CDN page is not registered)."""
    openapi_url = api.openapi_url or "/api/openapi.json"
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{api.title} API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
    )
    body = bytes(page.body)
    headers = {
        "Cache-Control": "no-cache",
        "Content-Security-Policy": content_security_policy(body),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }

    async def docs() -> HTMLResponse:
        return HTMLResponse(body, headers=headers)

    async def asset(name: str) -> FileResponse:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFound("No such file.")
        return FileResponse(
            str(swagger_ui_path / name),
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    api.add_api_route(DOCS_URL, docs, methods=["GET"], include_in_schema=False)
    api.add_api_route(f"{ASSETS_URL}/{{name}}", asset, methods=["GET"], include_in_schema=False)
