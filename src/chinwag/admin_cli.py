"""``chinwag admin ...``: administer the configured database while the server runs.

A command changes the database and tells the running nodes what it revoked and announced,
as a node of the cluster would: over Redis when ``CHINWAG_REDIS_URL`` is set, otherwise over
the single node's control socket in the data dir (``chinwag.realtime.control``). So a
disabled user's sockets drop at once, wherever they are.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from chinwag.config import PREFIX, Settings

if TYPE_CHECKING:
    from chinwag.services import Services

USERS_PAGE = 50


def duration(text: str) -> timedelta:
    """``90``, ``45s``, ``30m``, ``12h`` or ``7d`` (positive) as a timedelta."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    units = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
    seconds = float(match[1]) * units[match[2]] if match else 0.0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 45s, 30m, 12h or 7d")
    return timedelta(seconds=seconds)


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def add_admin_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], epilog: str
) -> None:
    admin = commands.add_parser(
        "admin",
        help="administer users and invites (safe while the server runs, on every node)",
        description=__doc__.splitlines()[2] if __doc__ else None,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = admin.add_subparsers(dest="admin_command", required=True)
    invite = actions.add_parser(
        "invite",
        help="print a new site invite code (for CHINWAG_REGISTRATION=invite)",
        description="Print a new site invite code on stdout: each sign-up with it takes one "
        "use, until it is used up or expires. Only its hash is stored; it cannot be shown "
        "again.",
    )
    invite.add_argument(
        "--uses", type=positive, default=1, help="sign-ups the code allows (default 1)"
    )
    invite.add_argument(
        "--expires-in",
        type=duration,
        default=timedelta(days=7),
        metavar="DURATION",
        help="how long the code works: 45s, 30m, 12h, 7d (default 7d)",
    )
    create = actions.add_parser(
        "create-admin",
        help="make USERNAME a site administrator (creating the account if there is none)",
        description="Make USERNAME a site administrator. An existing account is promoted; "
        "otherwise one is created with the sign-up rules (whatever CHINWAG_REGISTRATION "
        "says), its password read from stdin (--password-stdin) or asked twice.",
    )
    create.add_argument("username", metavar="USERNAME")
    create.add_argument("--full-name", help="for a new account (default: the username)")
    create.add_argument(
        "--password-stdin", action="store_true", help="read a new account's password from stdin"
    )
    for name, text in (
        ("disable", "refuse USER's log-ins and end their sessions and sockets now"),
        ("enable", "let a disabled USER log in again"),
        ("reset-password", "end USER's password and sessions; print a one-time reset code"),
        ("delete-user", "delete USER's account (messages stay, as by 'Deleted user')"),
    ):
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("user", metavar="USER", help="the username")
        if name == "delete-user":
            action.add_argument(
                "--yes", action="store_true", help="do not ask (needed without a terminal)"
            )
    users = actions.add_parser("list-users", help="list the accounts (not deleted ones)")
    users.add_argument("--query", "-q", default="", help="part of a username or full name")
    users.add_argument("--limit", type=positive, default=USERS_PAGE, help="at most this many")
    users.add_argument("--offset", type=int, default=0, help="skip this many first")
    users.add_argument("--json", action="store_true", help="one JSON document")


@dataclass
class Admin:
    services: Services
    reached: bool  # whether a running node hears what this command revokes


@asynccontextmanager
async def admin_services(settings: Settings) -> AsyncIterator[Admin]:
    """The services on a committer whose holds and events reach the running nodes."""
    from chinwag.backends import Backends
    from chinwag.backends.fanout import Fanout
    from chinwag.db.engine import Database
    from chinwag.realtime.carrier import NoConnections
    from chinwag.realtime.control import ControlFanout
    from chinwag.realtime.publisher import SocketIORealtime
    from chinwag.services import Services

    db = Database(settings.resolved_database_url)
    backends = Backends.from_settings(settings)
    fanout: Fanout = backends.fanout
    reached = True
    if backends.redis is None:
        control = ControlFanout(settings.control_socket, settings.signing_key)
        reached = await control.connect()
        fanout = control
    realtime = SocketIORealtime(NoConnections(), fanout, hold_lease=settings.hold_lease_seconds)
    try:
        yield Admin(Services.build(settings, db, realtime, backends), reached)
    finally:
        await fanout.close()
        await backends.close()
        await db.dispose()


def note(text: str) -> None:
    print(f"chinwag: {text}", file=sys.stderr)


def read_new_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass("Password for the new administrator: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("chinwag: the two passwords differ")
    return first


def confirm_delete(args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        note("delete-user needs --yes when it cannot ask")
        return False
    typed = input(f"Type {args.user!r} to delete this account for good: ")
    return bool(typed.strip() == args.user)


async def run_admin_command(args: argparse.Namespace, settings: Settings) -> int:
    """One ``chinwag admin`` command; a refusal is one line on stderr and exit status 1."""
    from chinwag.backends import BackendUnavailable
    from chinwag.errors import ChinwagError

    command = args.admin_command
    if command == "delete-user" and not confirm_delete(args):
        return 1
    password = read_new_password(args) if command == "create-admin" else None
    try:
        async with admin_services(settings) as admin:
            await run(command, args, settings, admin.services, password)
            if command in ("disable", "reset-password", "delete-user") and not admin.reached:
                note(
                    f"no running server answered at {settings.control_socket}: none had "
                    "live connections to end (without Redis, run admin commands on the "
                    "server's machine with its CHINWAG_DATA_DIR)"
                )
    except ChinwagError as exc:
        note(exc.message)
        return 1
    except BackendUnavailable:
        note(
            "the running nodes could not be told (Redis or the server is unreachable); "
            "nothing was changed"
        )
        return 1
    return 0


async def run(
    command: str,
    args: argparse.Namespace,
    settings: Settings,
    services: Services,
    password: str | None,
) -> None:
    from chinwag.services.accounts import create_invite

    admin = services.admin
    if command == "invite":
        code, invite = await create_invite(services.db, uses=args.uses, expires_in=args.expires_in)
        print(code)
        if settings.registration != "invite":
            note(f"note: {PREFIX}REGISTRATION is {settings.registration}, not invite")
        when = invite.expires_at.isoformat(timespec="seconds")
        note(f"invite for {args.uses} sign-up(s), until {when}")
    elif command == "create-admin":
        user, created = await admin.create_admin(
            args.username, full_name=args.full_name, password=password
        )
        note(f"{user.username} is {'a new' if created else 'now a'} site administrator")
    elif command in ("disable", "enable"):
        user = await admin.find(args.user)
        await admin.set_disabled(user.id, command == "disable")
        note(f"{user.username} is {command}d")
    elif command == "reset-password":
        user = await admin.find(args.user)
        code, reset = await admin.reset_password(user.id)
        print(code)
        link = admin.reset_link(code)
        if link:
            print(link)
        when = reset.expires_at.isoformat(timespec="seconds")
        note(f"{user.username}'s password and sessions ended; the code works once, until {when}")
    elif command == "delete-user":
        user = await admin.find(args.user)
        await admin.delete_user(user.id)
        note(f"{user.username}'s account is deleted")
    elif command == "list-users":
        found = await admin.list_users(args.query, limit=args.limit, offset=max(args.offset, 0))
        if args.json:
            print(found.model_dump_json(indent=2))
            return
        print(f"{'ID':>6}  {'USERNAME':<32} {'ROLE':<6} {'STATE':<9} {'LAST SEEN':<20} FULL NAME")
        for u in found.users:
            seen = u.last_seen_at.isoformat(timespec="seconds")[:19] if u.last_seen_at else "-"
            role = "admin" if u.is_admin else "-"
            state = "disabled" if u.disabled else "active"
            print(f"{u.id:>6}  {u.username:<32} {role:<6} {state:<9} {seen:<20} {u.full_name}")
        note(f"{len(found.users)} of {found.total} account(s)")
