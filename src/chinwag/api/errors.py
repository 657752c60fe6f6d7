"""One mapping from errors to ``{"error": {"code", "message"}}`` responses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from chinwag.errors import Busy, ChinwagError, RateLimited
from chinwag.logs import get_logger

log = get_logger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


async def on_chinwag_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ChinwagError):  # pragma: no cover - registered for this type
        return await on_unexpected(request, exc)
    headers = None
    if isinstance(exc, RateLimited | Busy):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
    if isinstance(exc, RateLimited):
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.refused(exc.limiter)
    return error_response(exc.status, exc.code, exc.message, headers)


JSON_BODY_HINT = "Send a JSON body with Content-Type: application/json."


def json_error_message(doc: object, pos: object, reason: str) -> str:
    """Where the JSON broke, as an editor shows it: line and column (both from 1)."""
    if isinstance(doc, str) and isinstance(pos, int):
        line = doc.count("\n", 0, pos) + 1
        column = pos - doc.rfind("\n", 0, pos)
        return f"The body is not valid JSON: {reason} at line {line}, column {column}."
    return f"The body is not valid JSON: {reason}."


def describe_error(err: Mapping[str, Any], body: object) -> str:
    """One validation error in words; errors about the body as a whole say what to send."""
    kind, loc = err.get("type"), tuple(err.get("loc", ()))
    if kind == "json_invalid":
        reason = str(err.get("ctx", {}).get("error", "JSON decode error"))
        return json_error_message(body, loc[-1] if loc else None, reason)
    if loc == ("body",):
        if kind == "missing":
            return f"The body is empty. {JSON_BODY_HINT}"
        if isinstance(err.get("input"), bytes):  # FastAPI parses JSON only when labelled so
            return JSON_BODY_HINT
        if kind in ("model_attributes_type", "model_type", "dict_type"):
            return "The body must be a JSON object."
    where = ".".join(str(p) for p in loc if p not in ("body", "query", "path")) or "body"
    return f"{where}: {err.get('msg', 'invalid')}"


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        return await on_unexpected(request, exc)
    parts = [describe_error(err, exc.body) for err in exc.errors()[:5]]
    return error_response(422, "invalid_input", "; ".join(parts) or "Invalid input.")


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, HTTPException):  # pragma: no cover
        return await on_unexpected(request, exc)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI answers 400 for a body that is not text; it is bad input like any non-JSON
        return error_response(422, "invalid_input", "body: The body is not valid UTF-8 JSON.")
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, message, headers)


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("request.failed")
    return error_response(500, "internal_error", "Server error.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ChinwagError, on_chinwag_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
