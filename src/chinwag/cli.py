"""``chinwag serve`` and ``chinwag migrate``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from chinwag.config import Settings


def env_help() -> str:
    lines = ["configuration (environment variables):"]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default_factory is None else "(empty)"
        if name == "secret_key":
            default = "(generated in development)"
        desc = field.description or ""
        lines.append(f"  CHINWAG_{name.upper():<28} {desc} [default: {default}]")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chinwag", description="Chinwag chat-rooms server.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="apply migrations and run the server",
        description="Apply database migrations, then serve HTTP and Socket.IO.",
        epilog=env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    commands.add_parser(
        "migrate",
        help="apply database migrations",
        epilog=env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            print(f"chinwag: configuration error: {where}: {err['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()

    from chinwag.db.migrate import migrate
    from chinwag.logs import configure_logging, get_logger

    configure_logging(settings)
    log = get_logger("chinwag.cli")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(migrate(settings.resolved_database_url))
    log.info("migrations.applied")
    if args.command == "migrate":
        return 0

    import uvicorn

    from chinwag.app import create_app
    from chinwag.http_protocol import limited_http_protocol

    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        loop="uvloop" if sys.platform != "win32" else "auto",
        http=limited_http_protocol(settings.max_header_bytes, settings.header_timeout_seconds),
        ws="websockets-sansio",
        log_config=None,
        access_log=False,
        proxy_headers=settings.trust_proxy,
        forwarded_allow_ips="*" if settings.trust_proxy else None,
        ws_max_size=settings.max_socket_packet_bytes,
        server_header=False,
    )
    return 0
