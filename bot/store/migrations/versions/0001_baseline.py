"""The schema as the bot first shipped it (recorded then as ``schema_version`` 1).

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.db import fts_statements

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

WORD = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table("schema_version", sa.Column("version", sa.Integer, nullable=False))
    op.execute("INSERT INTO schema_version VALUES (1)")
    op.create_table(
        "paper",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("arxiv_id", sa.String(40), nullable=False, unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("authors", sa.JSON, nullable=False, comment="author names in file order"),
        sa.Column("summary", sa.JSON, nullable=False, comment="bullets as [key or null, text]"),
        sa.Column("media_kind", sa.String(8)),
        sa.Column("media_url", sa.Text),
        sa.Column("latest_day", sa.Date, nullable=False, index=True),
        sa.Column(
            "search_key",
            sa.BigInteger,
            nullable=False,
            index=True,
            comment="recency rank (newest day, then file position): the search index's row id",
        ),
        sa.Column(
            "search_text",
            sa.Text,
            nullable=False,
            comment="folded title, authors and summary, separated by U+001F, for scans",
        ),
    )
    op.create_table(
        "digest_day",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("source", sa.Text, nullable=False, comment="file the day was last loaded from"),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "subscription",
        sa.Column("chat_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("chat_type", sa.String(16), nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False, index=True),
        sa.Column(
            "send_time", sa.String(5), nullable=False, comment="HH:MM in the chat's time zone"
        ),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("top_n", sa.Integer, nullable=False),
        sa.Column("min_votes", sa.Integer, nullable=False),
        sa.Column("keywords", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "last_slot_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="the latest daily slot already handled (UTC)",
        ),
    )
    op.create_index("ix_subscription_slot", "subscription", ["active", "send_time", "timezone"])
    op.create_table(
        "delivery",
        sa.Column("chat_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parts_total", sa.Integer, nullable=False),
        sa.Column("parts_sent", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "saved_query",
        sa.Column("key", sa.String(16), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_table(
        "digest_entry",
        sa.Column(
            "day",
            sa.Date,
            sa.ForeignKey("digest_day.day", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "paper_id",
            sa.Integer,
            sa.ForeignKey("paper.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
        sa.Column("position", sa.Integer, nullable=False, comment="0-based order in the file"),
        sa.Column("votes", sa.Integer),
    )
    op.create_table(
        "paper_author",
        sa.Column(
            "paper_id", sa.Integer, sa.ForeignKey("paper.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("folded", sa.Text, nullable=False, comment="lower-case, accents removed"),
    )
    op.create_table(
        "author_word",
        sa.Column("word", WORD, primary_key=True),
        sa.Column(
            "paper_id",
            sa.Integer,
            sa.ForeignKey("paper.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    )
    for statement in fts_statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone")
