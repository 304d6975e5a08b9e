"""Search forgives spacing between Hangul: every paper's search text and index again, and
the archive's Korean words.

- ``paper.search_text`` and the full-text index hold each text without the spaces between
  two Hangul syllables (``확산 모델`` as ``확산모델``);
- ``hangul_word``: every Korean word the archive writes (and without its particle), so that
  a term typed joined is split back into words (``확산모델`` → ``확산`` and ``모델``).

Papers are read, their search text and words made again, and the index rebuilt, a thousand
at a time (about half a minute for 100,000 papers).

Revision ID: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CHUNK = 1000


def upgrade() -> None:
    from bot.store.indexing import index_fields, index_papers, record_words, search_text
    from bot.textindex import hangul_words

    op.create_table(
        "hangul_word",
        sa.Column(
            "word",
            sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql"),
            primary_key=True,
        ),
    )

    connection = op.get_bind()
    session = Session(bind=connection)
    paper = sa.table(
        "paper",
        sa.column("id", sa.Integer),
        sa.column("search_key", sa.BigInteger),
        sa.column("title", sa.Text),
        sa.column("authors", sa.JSON),
        sa.column("summary", sa.JSON),
        sa.column("search_text", sa.Text),
    )
    postgres = connection.dialect.name == "postgresql"
    tables = ["paper_fts"] if postgres else ["paper_fts", "paper_fts_head"]
    for table in tables:  # the index is made again from nothing
        connection.execute(sa.text(f"DELETE FROM {table}"))
    after = -1
    while True:
        rows = connection.execute(
            sa.select(
                paper.c.id, paper.c.search_key, paper.c.title, paper.c.authors, paper.c.summary
            )
            .where(paper.c.id > after)
            .order_by(paper.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        indexed, words = [], set()
        for paper_id, key, title, authors, summary in rows:
            bullets = [f"{k}: {t}" if k else t for k, t in summary or []]
            folded = search_text(title, authors or [], bullets)
            words |= hangul_words("\n".join([title, *bullets]))
            connection.execute(
                sa.update(paper).where(paper.c.id == paper_id).values(search_text=folded)
            )
            if key is not None:
                indexed.append((key, index_fields(folded)))
        index_papers(session, indexed)
        record_words(session, words)
        after = rows[-1][0]


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported; restore a backup instead")
