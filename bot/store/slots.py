"""A subscription as the bot reads it: when its digest is due, and which papers it carries.

Pure: no SQL. :mod:`bot.store.subscriptions` keeps subscriptions and makes these views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.choices import Slot
from bot.i18n import DEFAULT
from bot.store.models import (
    ChatType,
    Every,
)
from bot.store.queries import PaperView
from bot.textindex import fold, term_matches


@dataclass(frozen=True)
class SubscriptionView:
    chat_id: int
    chat_type: ChatType
    active: bool
    send_time: str
    timezone: str
    top_n: int
    min_votes: int
    keywords: tuple[str, ...]
    last_slot_at: datetime
    every: Every = Every.DAILY
    weekday: int = 0  # of a weekly digest: 0 = Monday
    lang: str = DEFAULT  # what its digests are written in (bot.store.languages)

    @property
    def slot(self) -> Slot:
        return Slot(self.send_time, self.timezone)

    def last_slot(self, now: datetime) -> datetime:
        """The chat's most recent digest time at or before ``now`` (UTC)."""
        weekday = self.weekday if self.every is Every.WEEKLY else None
        return last_slot_before(now, self.send_time, self.timezone, weekday)


def last_slot_before(
    now: datetime, send_time: str, timezone: str, weekday: int | None = None
) -> datetime:
    """The most recent moment, at or before ``now``, that the chat's clock showed its time
    (on ``weekday``, 0 = Monday, for a weekly digest)."""
    zone = ZoneInfo(timezone)
    hour, minute = map(int, send_time.split(":"))
    local = now.astimezone(zone)
    for back in range(0, 9):
        day = local.date() - timedelta(days=back)
        if weekday is not None and day.weekday() != weekday:
            continue
        # A time skipped by a DST change resolves to the moment right after the gap.
        moment = datetime.combine(day, time(hour, minute), zone).astimezone(UTC)
        if moment <= now:
            return moment
    raise AssertionError("unreachable")


def due_subscriptions(subs: Sequence[SubscriptionView], now: datetime) -> list[SubscriptionView]:
    """Chats whose latest slot passed after the last one handled (missed while down)."""
    return [s for s in subs if s.last_slot_at < s.last_slot(now)]


def _wanted(paper: PaperView, min_votes: int, keywords: Sequence[str]) -> bool:
    if min_votes and (paper.votes or 0) < min_votes:
        return False
    if not keywords:
        return True
    text = fold(" ".join([paper.title, *paper.authors, *(b.text for b in paper.summary)]))
    return any(all(term_matches(w, text) for w in fold(k).split()) for k in keywords)


def choose_papers(day_papers: Sequence[PaperView], sub: SubscriptionView) -> list[PaperView]:
    """A chat's digest from a day's papers (most votes first): its filters, then top N."""
    return [p for p in day_papers if _wanted(p, sub.min_votes, sub.keywords)][: sub.top_n]
