"""room version (change cursor); SQLite never reuses ids

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

``rooms.version`` is bumped by every write in a room. On SQLite the tables whose ids name
live channels are rebuilt with AUTOINCREMENT, so that a deleted row's id is never handed out
again (``chinwag.db.migrate`` runs this with foreign keys off, so the rebuild cascades
nothing, and checks them afterwards).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REBUILT = ("users", "rooms", "conversations", "messages")
PARTIAL_INDEXES = (
    ("uq_messages_public_seq", ["room_id", "seq"], "conversation_id IS NULL"),
    ("uq_messages_private_seq", ["conversation_id", "seq"], "conversation_id IS NOT NULL"),
)


def upgrade() -> None:
    with op.batch_alter_table("rooms") as batch_op:
        batch_op.add_column(
            sa.Column("version", sa.BigInteger(), server_default="0", nullable=False)
        )
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, _, _ in PARTIAL_INDEXES:  # recreated by hand: reflection may lose the WHERE
        op.drop_index(name, table_name="messages")
    for table in REBUILT:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
    for name, columns, where in PARTIAL_INDEXES:
        op.create_index(name, "messages", columns, unique=True, sqlite_where=sa.text(where))


def downgrade() -> None:
    with op.batch_alter_table("rooms") as batch_op:
        batch_op.drop_column("version")
