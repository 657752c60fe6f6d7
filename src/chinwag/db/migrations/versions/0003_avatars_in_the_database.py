"""avatars in the database, not on a node's disk

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Avatar thumbnails move from ``<data_dir>/media/avatars/<name>`` into the ``avatars`` table,
so any node serves what any node stored. The files that users point at are imported from
the folder ``chinwag.db.migrate`` hands in (``config.attributes["avatar_dir"]``, the
migrating node's own); a user whose file is missing or damaged (its bytes no longer hash
to its name) is left without an avatar, as they were already shown none. The files stay
on disk; they are no longer read. Then ``users.avatar`` becomes a foreign key to
``avatars.name`` (ON DELETE RESTRICT): on SQLite that rebuilds ``users``, with
AUTOINCREMENT kept (see 0002).
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

log = logging.getLogger("chinwag.migrations")
AVATAR_NAME = re.compile(r"[0-9a-f]{64}\.webp")

users = sa.table("users", sa.column("avatar", sa.String()))
avatars = sa.table(
    "avatars",
    sa.column("name", sa.String()),
    sa.column("data", sa.LargeBinary()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "avatars",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_avatars")),
    )
    folder = context.config.attributes.get("avatar_dir")
    import_files(Path(folder) if folder else None)
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        "users",
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_users_avatar_avatars"),
            "avatars",
            ["avatar"],
            ["name"],
            ondelete="RESTRICT",
        )
        batch_op.create_index(batch_op.f("ix_users_avatar"), ["avatar"], unique=False)


def import_files(folder: Path | None) -> None:
    """Copy each avatar file a user points at into the table; clear the pointers that
    name no readable file (the foreign key would refuse them)."""
    bind = op.get_bind()
    named = bind.execute(sa.select(users.c.avatar).where(users.c.avatar.is_not(None)).distinct())
    missing = []
    for name in named.scalars():
        data, written = read_avatar(folder, name)
        if data is None:
            missing.append(name)
            continue
        if bind.dialect.name == "sqlite":  # stored naive, as UTCDateTime does
            written = written.replace(tzinfo=None)
        bind.execute(avatars.insert().values(name=name, data=data, created_at=written))
    if missing:
        bind.execute(users.update().where(users.c.avatar.in_(missing)).values(avatar=None))
        log.warning("avatars.import_missing: %d avatar(s) had no readable file", len(missing))


def read_avatar(folder: Path | None, name: str) -> tuple[bytes | None, datetime]:
    now = datetime.now(UTC)
    if folder is None or not AVATAR_NAME.fullmatch(name):
        return None, now
    path = folder / name
    try:
        data = path.read_bytes()
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None, now
    if hashlib.sha256(data).hexdigest() != name.removesuffix(".webp"):
        return None, now
    return data, written


def downgrade() -> None:
    with op.batch_alter_table(
        "users",
        recreate="always" if op.get_bind().dialect.name == "sqlite" else "auto",
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_avatar"))
        batch_op.drop_constraint(batch_op.f("fk_users_avatar_avatars"), type_="foreignkey")
    op.drop_table("avatars")
