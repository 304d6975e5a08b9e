"""Telegram HTML primitives and splitting a reply into messages. Pure: no Telegram, no SQL.

Every dynamic string goes through :func:`esc` (which also drops control characters). A
reply is a list of *blocks* (a paper, a header); :func:`split_message` packs blocks into
messages of at most 4096 UTF-16 units of visible text, splitting a block that is too long on
its line (bullet) boundaries. Lines are built short enough to never need a cut inside them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import date

from bot.digest import clean_text
from bot.i18n import N_, _

MESSAGE_LIMIT = 4096


LINE_LIMIT = 1500  # longest plain text on one line; longer text is wrapped into lines


AUTHORS_SHOWN = 5


WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


WEEKDAYS_SPELLED = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)


_TAG_RE = re.compile(r"<[^>]*>")


def esc(text: str) -> str:
    """Escape for Telegram HTML, without control characters."""
    return html.escape(clean_text(text), quote=True)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_length(message: str) -> int:
    """Length as Telegram counts it: the text after tags and entities are parsed."""
    return utf16_length(html.unescape(_TAG_RE.sub("", message)))


def shorten(text: str, limit: int) -> str:
    text = clean_text(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def link(url: str, title: str) -> str:
    return f'<a href="{esc(url)}">{esc(title)}</a>'


def day_label(day: date) -> str:
    return f"{day.isoformat()} ({_(WEEKDAYS[day.weekday()])})"


def votes_label(votes: int | None) -> str:
    return f" · 👍 {votes}" if votes is not None else ""


def authors_label(authors: Sequence[str], shown: int = AUTHORS_SHOWN) -> str:
    """``A, B, C and 12 more``: real papers list hundreds of authors."""
    names = ", ".join(clean_text(a) for a in authors[:shown])
    if len(authors) <= shown:
        return names
    return _("{names} and {count} more").format(names=names, count=len(authors) - shown)


def wrap(text: str, limit: int = LINE_LIMIT) -> list[str]:
    """Plain text → pieces of at most ``limit`` characters, cut at spaces where possible."""
    text = clean_text(text)
    pieces = []
    while len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit)
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip()
    return [*pieces, text] if text else pieces


def split_message(blocks: Iterable[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pack blocks into messages of at most ``limit`` visible UTF-16 units; a block that is
    too long is split on its line boundaries."""
    messages: list[str] = []
    current: list[str] = []
    size = 0
    separator = 2  # "\n\n" between blocks

    def flush() -> None:
        nonlocal current, size
        if current:
            messages.append("\n\n".join(current))
        current, size = [], 0

    for block in blocks:
        length = visible_length(block)
        if length > limit:
            flush()
            lines: list[str] = []
            line_size = 0
            for line in block.split("\n"):
                n = visible_length(line)
                if lines and line_size + 1 + n > limit:
                    messages.append("\n".join(lines))
                    lines, line_size = [], 0
                lines.append(line)
                line_size += n + (1 if len(lines) > 1 else 0)
            if lines:
                current, size = ["\n".join(lines)], line_size
            continue
        if current and size + separator + length > limit:
            flush()
        current.append(block)
        size += length + (separator if len(current) > 1 else 0)
    flush()
    return messages
