"""sessions remember their device, address and when they were last seen

Revision ID: 0005
Revises: 0004_site_invites
Create Date: 2026-12-01

Three columns on ``auth_sessions`` for ``GET /api/me/sessions``. Expand only: each has a
default, so a node of the previous release (which never names them) keeps working beside
one of this release during a rolling upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004_site_invites"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auth_sessions") as batch_op:
        batch_op.add_column(
            sa.Column("user_agent", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("address", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_sessions") as batch_op:
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("address")
        batch_op.drop_column("user_agent")
