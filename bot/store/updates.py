"""Updates a webhook took: each ``update_id`` is handled once, across instances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.db import changed_rows
from bot.store.models import SeenUpdate

KEEP = timedelta(days=2)  # Telegram keeps an update it could not deliver for 24 hours


def first_sighting(session: Session, update_id: int) -> bool:
    """Record ``update_id``; False if it was recorded before (Telegram sent it again)."""
    try:
        session.add(SeenUpdate(update_id=update_id, seen_at=datetime.now(UTC)))
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def forget_old(session: Session) -> int:
    """Drop records older than any update Telegram could still send; how many went."""
    gone = changed_rows(
        session.execute(delete(SeenUpdate).where(SeenUpdate.seen_at < datetime.now(UTC) - KEEP))
    )
    session.commit()
    return int(gone)
