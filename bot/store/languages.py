"""Which language each chat is spoken to in (see :class:`bot.store.models.ChatLanguage`)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.i18n import DEFAULT
from bot.store.models import ChatLanguage


def chosen(session: Session, chat_id: int) -> str | None:
    """The language chosen for a chat with ``/settings lang``, if one was."""
    return session.scalar(
        select(ChatLanguage.lang).where(ChatLanguage.chat_id == chat_id, ChatLanguage.chosen)
    )


def choose(session: Session, chat_id: int, lang: str) -> None:
    """``/settings lang``: from now on, the chat is spoken to in ``lang``."""
    row = session.get(ChatLanguage, chat_id)
    if row is None:
        session.add(ChatLanguage(chat_id=chat_id, lang=lang, chosen=True))
    else:
        row.lang, row.chosen = lang, True
    session.commit()


def remember_subscriber(session: Session, chat_id: int, lang: str) -> None:
    """A chat was subscribed by someone speaking ``lang``: its digests speak it too, unless
    a language was chosen for it."""
    row = session.get(ChatLanguage, chat_id)
    if row is None:
        session.add(ChatLanguage(chat_id=chat_id, lang=lang, chosen=False))
    elif not row.chosen:
        row.lang = lang
    session.commit()


def for_deliveries(session: Session, chat_ids: Iterable[int]) -> dict[int, str]:
    """The language each chat's digests and alerts are written in."""
    ids = list(chat_ids)
    found: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(ChatLanguage.chat_id, ChatLanguage.lang).where(
                ChatLanguage.chat_id.in_(ids[start : start + 500])
            )
        )
        found.update((chat_id, lang) for chat_id, lang in rows)
    return {chat_id: found.get(chat_id, DEFAULT) for chat_id in ids}


def move(session: Session, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: its language goes along. (In the caller's transaction.)"""
    row = session.get(ChatLanguage, old_chat_id)
    if row is not None and session.get(ChatLanguage, new_chat_id) is None:
        session.add(ChatLanguage(chat_id=new_chat_id, lang=row.lang, chosen=row.chosen))
    session.execute(delete(ChatLanguage).where(ChatLanguage.chat_id == old_chat_id))
