"""Helpers for search tests."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.store.search import search_papers


def all_found(session: Session, query: str) -> list[str]:
    """Every paper ``query`` finds, in its order, page by page."""
    found: list[str] = []
    offset = 0
    while True:
        page = search_papers(session, query, offset, 200, cap=10**9)
        found += [p.arxiv_id for p in page.items]
        offset += 200
        if offset >= page.total:
            assert len(found) == page.total
            return found
