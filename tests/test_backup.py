"""``chinwag backup`` while a real server takes messages, ``chinwag restore`` into a fresh
data dir, and the mistakes an operator can make with either."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import httpx

from tests.live_support import online, room_with
from tests.support import PASSWORD, User, replay_cookie, run_server, unique_name
from tests.test_avatars import avatar_name, picture, upload


def chinwag(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chinwag", *args],
        env={**os.environ, "CHINWAG_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused(result: subprocess.CompletedProcess[str], words: str) -> None:
    """A clear one-line error naming ``words``, and a failing exit status."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert words in result.stderr, result.stderr


def all_seqs(user: User, code: str) -> dict[int, str]:
    """Every public message of the room, oldest first through ``after``: seq -> body."""
    found: dict[int, str] = {}
    after = 0
    while True:
        response = user.get(f"/api/rooms/{code}/messages", params={"after": after, "limit": 100})
        assert response.status_code == 200, response.text
        page = response.json()
        found.update({m["seq"]: m["body"] for m in page["messages"]})
        if not page["messages"]:
            return found
        after = page["messages"][-1]["seq"]


async def send_until(
    client: Any, code: str, acked: list[dict[str, Any]], stop: asyncio.Event, going: asyncio.Event
) -> None:
    n = 0
    while not stop.is_set():
        ack = await client.send(code, f"message {n}")
        assert ack["ok"], ack
        acked.append(ack["message"])
        n += 1
        if n == 20:
            going.set()


async def backup_while_sending(user: User, code: str, data_dir: Path, target: Path) -> Any:
    """Send without pause over a socket; after some acks, run ``chinwag backup`` as a
    subprocess. Returns the messages acked before it started, and its result."""
    acked: list[dict[str, Any]] = []
    stop, going = asyncio.Event(), asyncio.Event()
    async with online(user) as [client]:
        await client.enter(code)
        sender = asyncio.create_task(send_until(client, code, acked, stop, going))
        await asyncio.wait_for(going.wait(), 30)
        before = list(acked)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "chinwag",
            "backup",
            str(target),
            env={**os.environ, "CHINWAG_DATA_DIR": str(data_dir)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        during = len(acked) - len(before)
        stop.set()
        await sender
    return before, during, proc.returncode, err.decode()


def test_a_backup_taken_while_messages_are_sent_restores_every_acked_one(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    target = tmp_path / "chinwag.backup"
    first.mkdir()
    stack = contextlib.ExitStack()
    with stack:
        run_and_restore(first, second, target, stack)


def run_and_restore(first: Path, second: Path, target: Path, stack: contextlib.ExitStack) -> None:
    # no rate limit in the way: the sender sends as fast as the server acks
    with run_server(first, {"CHINWAG_MESSAGES_PER_WINDOW": "1000000"}) as server:
        ana = User(server.url, unique_name("ana"), "Ana", PASSWORD)
        stack.callback(ana.close)
        assert ana.sign_up().status_code == 201
        avatar = avatar_name(upload(ana, picture("PNG")))
        served = httpx.get(f"{server.url}/media/avatars/{avatar}")
        assert served.status_code == 200
        code = room_with(ana)
        before, during, status, err = asyncio.run(backup_while_sending(ana, code, first, target))
        assert status == 0, err
        old_cookie, old_csrf = ana.session_cookie, ana.csrf or ""
    assert target.is_file() and target.stat().st_mode & 0o077 == 0

    restored = chinwag(second, "restore", str(target))
    assert restored.returncode == 0, restored.stderr
    with run_server(second) as server:
        ana_again = User(server.url, ana.username, "Ana", PASSWORD)
        stack.callback(ana_again.close)
        assert ana_again.log_in().status_code == 200
        messages = all_seqs(ana_again, code)
        missing = [m["seq"] for m in before if messages.get(m["seq"]) != m["body"]]
        assert not missing, f"acked before the backup but not restored: {missing}"
        copy = httpx.get(f"{server.url}/media/avatars/{avatar}")
        assert copy.status_code == 200 and copy.content == served.content
        # sessions are rows in the database; the CSRF token is signed with the secret key,
        # which came along: a browser of the first server goes on writing without a log-in
        assert replay_cookie(server.url, old_cookie).status_code == 200
        with httpx.Client(base_url=server.url, timeout=15) as browser:
            write = browser.post(
                "/api/rooms",
                json={"name": "After the restore"},
                headers={"Cookie": f"chinwag_session={old_cookie}", "X-CSRF-Token": old_csrf},
            )
        assert write.status_code == 201, write.text
    print(f"{len(before)} acked before the backup, {during} more while it ran")


def test_restore_refuses_an_existing_database_then_replaces_it_with_force(
    tmp_path: Path,
) -> None:
    source, other = tmp_path / "source", tmp_path / "other"
    other.mkdir()
    stack = contextlib.ExitStack()
    with stack:
        replace_with_force(source, other, tmp_path / "b.tar", stack)


def replace_with_force(
    source: Path, other: Path, target: Path, stack: contextlib.ExitStack
) -> None:
    assert chinwag(source, "migrate").returncode == 0
    assert chinwag(source, "backup", str(target)).returncode == 0
    refused(chinwag(source, "backup", str(target)), "already exists (use --force")
    assert chinwag(source, "backup", "--force", str(target)).returncode == 0

    with run_server(other) as server:
        ana = User(server.url, unique_name("ana"), "Ana", PASSWORD)
        stack.callback(ana.close)
        assert ana.sign_up().status_code == 201
        refused(chinwag(other, "restore", str(target)), "a database already exists")
        # a running server has the database open: not even --force replaces it under it
        refused(chinwag(other, "restore", "--force", str(target)), "is in use")
        server.stop()
        assert chinwag(other, "restore", "--force", str(target)).returncode == 0
        server.start()
        assert ana.log_in().status_code == 401  # the backup had no such user


def test_bad_inputs_are_one_clear_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    garbage = tmp_path / "garbage"
    garbage.write_bytes(os.urandom(3000))
    refused(chinwag(data, "restore", str(garbage)), "is not a Chinwag backup")
    refused(chinwag(data, "restore", str(tmp_path / "nothing")), "no backup file")
    refused(chinwag(data, "backup", str(tmp_path / "b.tar")), "no database at")
    assert chinwag(data, "migrate").returncode == 0
    refused(chinwag(data, "backup", str(tmp_path / "no" / "b.tar")), "cannot write")
    refused(chinwag(data, "backup", str(tmp_path)), "already exists")

    postgres = {"CHINWAG_DATABASE_URL": "postgresql://chinwag@127.0.0.1:5432/chinwag"}
    refused(chinwag(data, "backup", str(tmp_path / "pg"), **postgres), "use pg_dump -Fc")
    refused(chinwag(data, "restore", str(garbage), **postgres), "use pg_restore")

    # a tar that is not ours, and a backup from a newer schema than this version knows
    stranger = tmp_path / "stranger.tar"
    with tarfile.open(stranger, "w") as tar:
        tar.add(garbage, arcname="notes.txt")
    refused(chinwag(tmp_path / "fresh", "restore", str(stranger)), "is not a Chinwag backup")
    newer = tmp_path / "newer.tar"
    db = tmp_path / "chinwag.db"
    db.write_bytes((data / "chinwag.db").read_bytes())
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"format": "chinwag-backup", "version": 1, "schema": "9999"}))
    with tarfile.open(newer, "w") as tar:
        tar.add(manifest, arcname="manifest.json")
        tar.add(db, arcname="chinwag.db")
    refused(chinwag(tmp_path / "fresh", "restore", str(newer)), "newer than this Chinwag")
    assert not (tmp_path / "fresh" / "chinwag.db").exists()
