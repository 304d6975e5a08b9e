"""What a delivery pass posts: the daily and weekly digests and the follow and watch
alerts, as messages ready to send (text, and the paper buttons under the last one).

A digest is built once per pass for every chat that gets the same one (the same day,
filters, top N and language), and its buttons are serialized once with it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bot import render
from bot.buttons import keyboard, paper_buttons
from bot.store.queries import PaperView


@dataclass(frozen=True)
class Post:
    """One message of a digest or alert: its HTML text and its buttons, serialized as the
    Bot API takes them (JSON text, written once per digest however many chats get it), or
    none."""

    text: str
    buttons: str | None = None


def _with_buttons(blocks: list[str], papers: Sequence[PaperView]) -> list[Post]:
    """Blocks as messages; the paper buttons go under the last one."""
    parts = render.split_message(blocks)
    markup = keyboard(paper_buttons(papers))
    buttons = json.dumps(markup.to_dict(), ensure_ascii=False) if markup is not None else None
    return [Post(text, buttons if i == len(parts) - 1 else None) for i, text in enumerate(parts)]


def digest_posts(day: date, papers: Sequence[PaperView], total: int) -> list[Post]:
    """The compact daily digest."""
    return _with_buttons(render.digest_blocks(day, papers, total), papers)


def weekly_posts(first: date, last: date, papers: Sequence[PaperView], total: int) -> list[Post]:
    """The weekly digest: the window's most-voted papers."""
    return _with_buttons(render.weekly_blocks(first, last, papers, total), papers)


def alert_posts(day: date, found: Sequence[tuple[PaperView, Sequence[str]]]) -> list[Post]:
    """A chat's follow and watch alert for the papers a load added to ``day``: one
    message, however many they are."""
    if not found:
        return []
    blocks, shown = render.alert_blocks(day, found)
    return _with_buttons(blocks, [paper for paper, _why in found[:shown]])
