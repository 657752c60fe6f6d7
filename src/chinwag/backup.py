"""``chinwag backup PATH`` and ``chinwag restore PATH`` for the SQLite database.

A backup is one uncompressed tar file holding ``manifest.json`` (format, version, schema
revision), ``chinwag.db`` (a copy made with SQLite's online backup API: one consistent
snapshot, taken while the server keeps writing) and, when the data dir has one, the
generated ``secret_key`` (without it a restore logs everyone out). Avatars live in the
database, so the copy holds them. PostgreSQL is backed up with ``pg_dump`` (docs/deploy.md).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from pathlib import Path
from typing import IO

from alembic.script import ScriptDirectory

from chinwag.config import SECRET_FILE, Settings
from chinwag.db.migrate import alembic_config

FORMAT = "chinwag-backup"
VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "chinwag.db"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message is one line for the operator."""


def sqlite_path(settings: Settings, verb: str) -> Path:
    """The SQLite file of ``settings``, or BackupError pointing PostgreSQL to its own tools."""
    url = settings.resolved_database_url
    if not url.startswith("sqlite"):
        tool = "pg_dump -Fc" if verb == "backup" else "pg_restore"
        raise BackupError(
            f"chinwag {verb} works on SQLite only; CHINWAG_DATABASE_URL is PostgreSQL: "
            f"use {tool} (see docs/deploy.md, Backups)"
        )
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:":
        raise BackupError(f"chinwag {verb} needs a database file, not {url}")
    return Path(path)


def schema_revision(db: sqlite3.Connection) -> str:
    try:
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"not a Chinwag database: {exc}") from exc
    if row is None:
        raise BackupError("not a Chinwag database: it has no schema version")
    return str(row[0])


def known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def make_backup(settings: Settings, target: Path, *, force: bool = False) -> str:
    """Write a backup of the configured SQLite database to ``target``; returns the schema
    revision it holds. Safe while the server runs: the copy is one read transaction."""
    source = sqlite_path(settings, "backup")
    if not source.is_file():
        raise BackupError(f"no database at {source} (check CHINWAG_DATA_DIR)")
    if target.exists() and not force:
        raise BackupError(f"{target} already exists (use --force to replace it)")
    if target.is_dir():
        raise BackupError(f"{target} is a directory; give a file name")
    folder = target.parent.resolve()
    if not folder.is_dir():
        raise BackupError(f"cannot write {target}: no folder {folder}")
    with tempfile.TemporaryDirectory(dir=folder, prefix=".chinwag-backup-") as work:
        copy_path = Path(work) / DATABASE
        try:
            src = sqlite3.connect(f"file:{source}?mode=rw", uri=True, timeout=30)
        except sqlite3.Error as exc:
            raise BackupError(f"cannot open the database {source}: {exc}") from exc
        try:
            copy = sqlite3.connect(copy_path)
            try:
                src.backup(copy)  # all pages in one step: one snapshot
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                revision = schema_revision(copy)
                check = copy.execute("PRAGMA integrity_check").fetchone()
                if check is None or check[0] != "ok":
                    raise BackupError(f"the copy failed its integrity check: {check}")
            finally:
                copy.close()
        except sqlite3.Error as exc:
            raise BackupError(f"cannot copy the database {source}: {exc}") from exc
        finally:
            src.close()
        manifest = {"format": FORMAT, "version": VERSION, "schema": revision}
        secret = settings.data_dir / SECRET_FILE
        partial = Path(work) / "backup.tar"
        with tarfile.open(partial, "w") as tar:
            add_bytes(tar, MANIFEST, json.dumps(manifest).encode())
            tar.add(copy_path, arcname=DATABASE, filter=private)
            if secret.is_file():
                add_bytes(tar, SECRET_FILE, secret.read_bytes())
        partial.chmod(0o600)  # password hashes, sessions and maybe the secret key
        try:
            os.replace(partial, target)
        except OSError as exc:
            raise BackupError(f"cannot write {target}: {exc.strerror}") from exc
    return revision


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
    return info


def read_backup(path: Path, work: Path) -> tuple[dict[str, object], Path, bytes | None]:
    """Unpack ``path`` into ``work``: its manifest, database file and secret key (if any)."""
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    try:
        with tarfile.open(path, "r:") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            if MANIFEST not in members or DATABASE not in members:
                raise BackupError(f"{path} is not a Chinwag backup")
            manifest = json.loads(extract(tar, members[MANIFEST]))
            with open_member(tar, members[DATABASE]) as stream, (work / DATABASE).open("wb") as out:
                shutil.copyfileobj(stream, out)  # a big database is not read into memory
            secret = extract(tar, members[SECRET_FILE]) if SECRET_FILE in members else None
    except (tarfile.TarError, ValueError, OSError) as exc:
        raise BackupError(f"{path} is not a Chinwag backup ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a Chinwag backup")
    if manifest.get("version") != VERSION:
        raise BackupError(
            f"{path} is a backup of format {manifest.get('version')}; "
            f"this Chinwag reads format {VERSION}"
        )
    return manifest, work / DATABASE, secret


def open_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    stream = tar.extractfile(member)
    if stream is None:  # pragma: no cover - a regular member always has a stream
        raise BackupError(f"cannot read {member.name} from the backup")
    return stream


def extract(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    with open_member(tar, member) as stream:
        return stream.read()


def restore_backup(settings: Settings, path: Path, *, force: bool = False) -> str:
    """Bring the backup at ``path`` into the configured SQLite database; returns its schema
    revision. Refuses an existing database without ``force``, and always refuses while a
    server (or any other process) has that database open."""
    target = sqlite_path(settings, "restore")
    with tempfile.TemporaryDirectory(prefix="chinwag-restore-") as work:
        manifest, copy_path, secret = read_backup(path, Path(work))
        try:
            copy = sqlite3.connect(f"file:{copy_path}?mode=ro", uri=True)
            try:
                revision = schema_revision(copy)
                check = copy.execute("PRAGMA integrity_check").fetchone()
            finally:
                copy.close()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not a Chinwag backup ({exc})") from exc
        if check is None or check[0] != "ok" or manifest.get("schema") != revision:
            raise BackupError(f"{path} is damaged: its database fails the integrity check")
        if revision not in known_revisions():
            raise BackupError(
                f"{path} holds schema {revision}, newer than this Chinwag knows: "
                "restore it with the version that made it, or upgrade"
            )
        if target.exists() and target.stat().st_size > 0 and not force:
            raise BackupError(f"a database already exists at {target} (use --force to replace it)")
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_into(copy_path, target)
    if secret is not None:
        secret_path = settings.data_dir / SECRET_FILE
        secret_path.write_bytes(secret)
        secret_path.chmod(0o600)
    return revision


def copy_into(copy_path: Path, target: Path) -> None:
    """Replace the database at ``target`` by the one at ``copy_path``, through SQLite (so a
    write-ahead log of the old database cannot be replayed over the new one)."""
    try:
        dst = sqlite3.connect(target, timeout=0, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {target}: {exc}") from exc
    try:
        # An exclusive lock fails while any other connection has the database open, as a
        # running server's pool does; held until close, it keeps a server from starting.
        dst.execute("PRAGMA locking_mode=EXCLUSIVE")
        try:
            dst.execute("BEGIN EXCLUSIVE")
            dst.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise BackupError(
                f"{target} is in use (is a Chinwag server running on it? stop it first): {exc}"
            ) from exc
        src = sqlite3.connect(f"file:{copy_path}?mode=ro", uri=True)
        try:
            src.backup(dst)
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot write {target}: {exc}") from exc
    finally:
        dst.close()
