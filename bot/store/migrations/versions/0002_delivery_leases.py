"""Exclusive delivery claims, uncertain sends, bounded refusals, expiring saved queries.

- ``delivery``: a lease (``lease_owner``, ``lease_until``) so that one pass at a time sends
  a (chat, day); ``attempts`` and ``last_error`` for refusals that are tried a few times.
- ``subscription.stopped_reason``: why a chat no longer receives digests (for ``/stats``).
- ``saved_query.used_at``: paging keys expire.
- ``paper.arxiv_id`` holds up to 128 characters (old-style ids can be long).
- ``schema_version``, the record before migrations, goes.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as table:
        table.add_column(
            sa.Column(
                "lease_owner", sa.String(40), comment="the delivery pass that holds the claim now"
            )
        )
        table.add_column(
            sa.Column(
                "lease_until",
                sa.DateTime(timezone=True),
                comment="the claim may be taken over after this (UTC)",
            )
        )
        table.add_column(
            sa.Column(
                "attempts",
                sa.Integer,
                nullable=False,
                server_default="0",
                comment="passes Telegram refused it in",
            )
        )
        table.add_column(sa.Column("last_error", sa.Text))
    with op.batch_alter_table("subscription") as table:
        table.add_column(sa.Column("stopped_reason", sa.String(16), comment="why it is inactive"))
    op.execute("UPDATE subscription SET stopped_reason = 'UNSUBSCRIBED' WHERE NOT active")
    with op.batch_alter_table("saved_query") as table:
        table.add_column(
            sa.Column(
                "used_at",
                sa.DateTime(timezone=True),
                comment="last saved or paged; old rows expire",
            )
        )
        table.create_index("ix_saved_query_used_at", ["used_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("paper", "arxiv_id", type_=sa.String(128))
    op.drop_table("schema_version")


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported; restore a backup instead")
