"""Digest sync and several instances.

- ``source_file``: which files of ``DIGEST_SOURCE`` were loaded, as what content.
- ``send_slot``: the next free send time per pace (overall, paid, each group), shared by
  every instance on one PostgreSQL.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_file",
        sa.Column("path", sa.Text, primary_key=True, comment="relative to the source"),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text, comment="why it was rejected, if it was"),
    )
    op.create_table(
        "send_slot",
        sa.Column("key", sa.String(32), primary_key=True, comment="all, paid, or g<chat id>"),
        sa.Column(
            "next_at", sa.DateTime(timezone=True), nullable=False, comment="first free moment"
        ),
    )


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported; restore a backup instead")
