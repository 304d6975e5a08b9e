"""Who takes a shared pace's slots.

- ``send_slot.holder``: the instance that took the last slots of a pace;
  ``send_slot.mixed_until``: until when several instances share it. One instance alone
  spaces its sends as closely as a lone bot; several, wider (see ``bot.pacing``).

Revision ID: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "send_slot",
        sa.Column("holder", sa.String(64), comment="the instance that took the last slots"),
    )
    op.add_column(
        "send_slot",
        sa.Column(
            "mixed_until",
            sa.DateTime(timezone=True),
            comment="several instances share this pace until then",
        ),
    )


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported; restore a backup instead")
