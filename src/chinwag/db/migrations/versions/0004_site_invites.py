"""site invites (CHINWAG_REGISTRATION=invite)

Revision ID: 0004_site_invites
Revises: 0003
Create Date: 2026-12-01

A new table only (expand): nodes of the previous version run beside it and never read it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_site_invites"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_invites",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("uses_left", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_invites")),
    )


def downgrade() -> None:
    op.drop_table("site_invites")
