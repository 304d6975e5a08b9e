"""The days the bot writes itself.

- ``written_day``: each day the writer wrote (its file, papers, how many in Korean, tokens);
  a day loaded from a file has no row, and the writer leaves it alone.
- ``written_paper``: each paper's Korean points as the model wrote them, and the hash of
  the abstract they were written from: no paper is sent to the model twice.

Revision ID: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "written_day",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column(
            "source", sa.Text, nullable=False, comment="the file written, as the day records it"
        ),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("papers", sa.Integer, nullable=False),
        sa.Column("korean", sa.Integer, nullable=False, comment="papers with Korean points"),
        sa.Column("tokens", sa.Integer, nullable=False, comment="model tokens this write used"),
    )
    op.create_table(
        "written_paper",
        sa.Column("arxiv_id", sa.String(128), primary_key=True),
        sa.Column("abstract_sha", sa.String(64), nullable=False, comment="sha256 of the abstract"),
        sa.Column("points", sa.JSON, comment="the three Korean points; null: English only so far"),
        sa.Column("model", sa.Text),
        sa.Column("tokens", sa.Integer, nullable=False, comment="tokens spent on it, all told"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported; restore a backup instead")
