"""Leadership that holds through a transaction pooler.

- ``leader_lease``: which instance runs the schedule, until when (PostgreSQL's clock). A
  session advisory lock belongs to whichever server connection a pooler such as PgBouncer
  lent; a row renewed by the leader holds whatever the connection.

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leader_lease",
        sa.Column("name", sa.String(16), primary_key=True, comment="what is led"),
        sa.Column("holder", sa.String(64), nullable=False, comment="the leading instance"),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False, comment="it lapses then"),
    )


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported; restore a backup instead")
