"""Weekly digests, follow and watch alerts.

- ``subscription.every`` and ``weekday``: a digest comes daily, or weekly on one weekday.
- ``delivery.kind`` joins the key: a chat receives each (kind, day) once, so a weekly
  digest or an alert can never be taken for the daily digest of the same date.
  ``delivery.covers`` keeps the newest day a weekly digest was made of.
- ``alert_rule`` (followed authors, watched words), ``alert_queue`` (entries loads added,
  to be matched) and ``alert`` (each paper a chat was alerted to, once).

Revision ID: 0004
"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscription") as table:
        table.add_column(sa.Column("every", sa.String(8), nullable=False, server_default="DAILY"))
        table.add_column(
            sa.Column(
                "weekday",
                sa.Integer,
                nullable=False,
                server_default="0",
                comment="weekly digests: 0 = Monday … 6 = Sunday",
            )
        )
    kind = sa.Column("kind", sa.String(8), nullable=False, server_default="DAILY")
    covers = sa.Column(
        "covers", sa.Date, comment="weekly digests: the newest day in the window it was made of"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("delivery", kind)
        op.add_column("delivery", covers)
        op.drop_constraint("delivery_pkey", "delivery", type_="primary")
        op.create_primary_key("delivery_pkey", "delivery", ["chat_id", "day", "kind"])
    else:  # SQLite changes a primary key by copying the table
        with warnings.catch_warnings():
            # SQLAlchemy notes that the copy's key differs from the old one: that is the point.
            warnings.filterwarnings("ignore", "Table '_alembic_tmp_delivery'", sa.exc.SAWarning)
            with op.batch_alter_table("delivery", recreate="always") as table:
                table.add_column(kind)
                table.add_column(covers)
                table.create_primary_key("pk_delivery", ["chat_id", "day", "kind"])
    op.create_index("ix_delivery_open", "delivery", ["kind", "status"])
    op.create_table(
        "alert_rule",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("chat_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("text", sa.Text, nullable=False, comment="as the user typed it"),
        sa.Column("folded", sa.Text, nullable=False, comment="folded words, one space apart"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_alert_rule_unique", "alert_rule", ["chat_id", "kind", "folded"], unique=True
    )
    op.create_table(
        "alert_queue",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column(
            "paper_id",
            sa.Integer,
            sa.ForeignKey("paper.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alert",
        sa.Column("chat_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column(
            "paper_id",
            sa.Integer,
            sa.ForeignKey("paper.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, comment="the rules it matched, as typed"),
    )
    op.create_index("ix_alert_chat_day", "alert", ["chat_id", "day"])


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported; restore a backup instead")
