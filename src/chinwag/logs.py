"""Structured logging: console lines in development, JSON in production.

Every line carries the request or connection id bound in ``structlog.contextvars``.
Never log message bodies, passwords, cookies or tokens.
"""

from __future__ import annotations

import logging
import sys

import structlog

from chinwag.config import Settings


def configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log_level.upper())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if settings.json_logs:
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        # plain tracebacks: rich ones print local variables (request headers, cookies) and
        # take seconds to render while the event loop waits
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        # below the level, a call stops at the first processor: without it every call ran
        # the whole chain (context, time stamp) before the logger dropped it
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # socketio/engineio log payloads at INFO when their logger is on: keep them quiet.
    # Database drivers log statements with their values (message bodies, password hashes)
    # at DEBUG; socketio/engineio log payloads at INFO: keep them all quiet at every level.
    for name in ("socketio", "engineio", "aiosqlite", "asyncpg", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn hands its logger to the websocket protocol, which logs handshake headers
    # (cookies included) at DEBUG: uvicorn says nothing below INFO.
    for name in ("uvicorn", "uvicorn.error", "websockets"):
        logging.getLogger(name).setLevel(max(level, logging.INFO))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
