"""``/metrics``: the node's counters in the Prometheus text format, for whom the settings say.

``CHINWAG_METRICS`` decides: ``off`` answers 404; ``local`` answers only a client whose
address is loopback and whose request carries no forwarding header (a reverse proxy on this
machine passes outside requests on from loopback, and says so in those headers); ``token``
answers whoever sends ``Authorization: Bearer <CHINWAG_METRICS_TOKEN>``. Not in the OpenAPI
document: it is for operators, not for the web app.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import Response

from chinwag.errors import Forbidden, NotAuthenticated, NotFound
from chinwag.metrics import CONTENT_TYPE, Metrics

router = APIRouter()
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bearer_matches(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def require_scraper(request: Request) -> None:
    """Raise unless the settings let this request read the metrics."""
    settings = request.app.state.services.settings
    if settings.metrics == "off":
        raise NotFound("Not found.")
    if settings.metrics == "local":
        client = request.client.host if request.client else None
        forwarded = any(name in request.headers for name in FORWARDING_HEADERS)
        if forwarded or not is_loopback(client):
            raise Forbidden("Metrics answer clients on this machine only (CHINWAG_METRICS=local).")
        return
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if not token or not bearer_matches(request.headers.get("authorization"), token):
        raise NotAuthenticated("Send Authorization: Bearer with the metrics token.")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    require_scraper(request)
    registry: Metrics = request.app.state.metrics
    return Response(
        registry.render(), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"}
    )
