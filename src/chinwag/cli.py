"""``chinwag serve``, ``migrate``, ``backup``, ``restore``, ``admin ...`` and ``conformance``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from chinwag.admin_cli import add_admin_commands, positive, run_admin_command
from chinwag.config import PREFIX, ConfigurationError, Settings

# Defaults that are not a plain value, as --help shows them.
SHOWN_DEFAULTS = {
    "database_url": "<data_dir>/chinwag.db (SQLite)",
    "secret_key": "generated in development",
    "redis_url": "none (live state in memory: one node)",
}


def shown_default(name: str) -> str:
    field = Settings.model_fields[name]
    if name in SHOWN_DEFAULTS:
        return SHOWN_DEFAULTS[name]
    if field.default_factory is not None:
        return "empty"
    if isinstance(field.default, bool):
        return str(field.default).lower()
    return str(field.default)


def env_help() -> str:
    """Every setting: its variable, default and description (the epilog of each command)."""
    lines = ["configuration (environment variables; unknown CHINWAG_* names are refused):"]
    for name, field in Settings.model_fields.items():
        lines.append(f"  {PREFIX}{name.upper()}  [default: {shown_default(name)}]")
        lines.append(
            textwrap.fill(
                field.description or "", width=96, initial_indent=" " * 6, subsequent_indent=" " * 6
            )
        )
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
    serve.add_argument(
        "--workers",
        type=positive,
        default=1,
        metavar="N",
        help="run N processes on ports PORT to PORT+N-1, behind nginx (N > 1 needs "
        "PostgreSQL and Redis; docs/deploy.md); default 1",
    )
    serve.add_argument(
        "--skip-migrations",
        action="store_true",
        help="do not apply migrations first (`chinwag migrate` or a --workers supervisor did)",
    )
    commands.add_parser(
        "migrate",
        help="apply database migrations",
        epilog=env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    backup = commands.add_parser(
        "backup",
        help="copy the SQLite database (and the generated secret key) while the server runs",
        description="Write a consistent copy of the SQLite database, avatars included, and "
        "<data_dir>/secret_key when there is one, to PATH (a tar file). Safe while the "
        "server runs. On PostgreSQL use pg_dump (docs/deploy.md).",
        epilog=env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    backup.add_argument("path", type=Path, metavar="PATH", help="the backup file to write")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    restore = commands.add_parser(
        "restore",
        help="bring a backup back into the configured SQLite database (server stopped)",
        description="Restore a file written by `chinwag backup` into the configured SQLite "
        "database and data dir. Refuses while a server has the database open, and refuses "
        "to replace an existing database without --force. A backup of an older schema is "
        "migrated when `chinwag serve` or `chinwag migrate` next runs.",
        epilog=env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    restore.add_argument("path", type=Path, metavar="PATH", help="the backup file to read")
    restore.add_argument("--force", action="store_true", help="replace an existing database")
    add_admin_commands(commands, env_help())
    conformance = commands.add_parser(
        "conformance",
        help="run the Socket.IO protocol test suite's reference server (no database)",
        description="Serve the reference server configuration of socket.io-protocol's "
        "test-suite on chinwag.wire: pingInterval 300 ms, pingTimeout 200 ms, namespaces "
        '"/" and "/custom" that echo.',
    )
    conformance.add_argument("--host", default="127.0.0.1", help="address to bind")
    conformance.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    for name, default in (("ping-interval", 300), ("ping-timeout", 200), ("connect-timeout", 1000)):
        conformance.add_argument(
            f"--{name}", type=int, default=default, metavar="MS", help=f"(default {default})"
        )
    return parser


def run_backup_command(args: argparse.Namespace, settings: Settings) -> int:
    from chinwag.backup import BackupError, make_backup, restore_backup

    try:
        if args.command == "backup":
            revision = make_backup(settings, args.path, force=args.force)
            print(f"chinwag: backup written to {args.path} (schema {revision})")
        else:
            revision = restore_backup(settings, args.path, force=args.force)
            print(
                f"chinwag: restored {args.path} (schema {revision}) into {settings.data_dir}; "
                "`chinwag serve` migrates it to this version's schema when it starts"
            )
    except BackupError as exc:
        print(f"chinwag: {exc}", file=sys.stderr)
        return 1
    return 0


def load_settings() -> Settings:
    """Settings from the environment; a mistake is a line on stderr each and exit status 2."""
    try:
        return Settings()
    except ConfigurationError as exc:
        problems = exc.problems
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{PREFIX}{where.upper()}: {message}" if where else message)
    for problem in problems:
        print(f"chinwag: configuration error: {problem}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "conformance":
        from chinwag.wire.conformance import run_conformance

        run_conformance(
            args.host,
            args.port,
            args.ping_interval / 1000,
            args.ping_timeout / 1000,
            args.connect_timeout / 1000,
        )
        return 0
    settings = load_settings()
    if args.command == "serve" and args.workers > 1:
        from chinwag.workers import workers_refusal

        if problem := workers_refusal(settings, args.port, args.workers):
            print(f"chinwag: {problem}", file=sys.stderr)
            return 2
    if args.command in ("backup", "restore"):
        return run_backup_command(args, settings)

    from chinwag.db.engine import DatabaseUnavailable
    from chinwag.db.migrate import migrate
    from chinwag.logs import configure_logging, get_logger

    if args.command == "admin" and settings.log_level == "info":
        # a terminal command says what it did itself; its log shows only what went wrong
        configure_logging(settings.model_copy(update={"log_level": "warning"}))
    else:
        configure_logging(settings)
    log = get_logger("chinwag.cli")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.command == "serve" and settings.redis_url:
        from chinwag.backends.redis import RedisUnreachable, check_reachable

        try:
            asyncio.run(check_reachable(settings.redis_url))
        except RedisUnreachable as exc:
            print(f"chinwag: {exc}", file=sys.stderr)
            return 1
    try:
        if not (args.command == "serve" and args.skip_migrations):
            asyncio.run(
                migrate(settings.resolved_database_url, avatar_dir=settings.legacy_avatar_dir)
            )
            log.info("migrations.applied")
        if args.command == "admin":
            return asyncio.run(run_admin_command(args, settings))
    except DatabaseUnavailable as exc:
        print(f"chinwag: {exc}", file=sys.stderr)
        return 1
    if args.command in ("migrate", "admin"):
        return 0
    if args.workers > 1:
        from chinwag.workers import run_workers

        return run_workers(settings, args.host, args.port, args.workers)

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
        ws_per_message_deflate=settings.websocket_compression,
        log_config=None,
        access_log=False,
        proxy_headers=settings.trust_proxy,
        forwarded_allow_ips="*" if settings.trust_proxy else None,
        ws_max_size=settings.max_socket_packet_bytes,
        server_header=False,
    )
    return 0
