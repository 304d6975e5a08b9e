"""Planners: the chats of a pass turned into jobs (a ledger row and its messages).

Each distinct digest of a pass is built once (:class:`Digests`); chats are read a page at
a time, so memory does not grow with their number, and a planner stops at once when the
pass is stopping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, timedelta

from bot.delivery.runner import Address, Outgoing
from bot.i18n import speaking
from bot.posts import Post, alert_posts, digest_posts, weekly_posts
from bot.services import Services
from bot.store import alerts, feed, languages, queries, records, slots
from bot.store import subscriptions as subs
from bot.store.models import DeliveryKind, Every
from bot.store.slots import SubscriptionView

SUBSCRIPTION_PAGE = 500
WEEK_PAPERS = 2000  # a week's papers a weekly digest chooses from (a week has a few hundred)

Stopping = Callable[[], bool]


class Digests:
    """Each distinct digest of a pass, built once: chats with the same filters, top N and
    language get the same one, chosen from the same papers."""

    def __init__(
        self,
        papers: Sequence[queries.PaperView],
        build: Callable[[Sequence[queries.PaperView]], list[Post]],
    ) -> None:
        self.papers = papers
        self.build = build
        self.built: dict[tuple[int, int, tuple[str, ...], str], list[Post]] = {}

    def of(self, chat: SubscriptionView) -> list[Post]:
        key = (chat.top_n, chat.min_votes, chat.keywords, chat.lang)
        if key not in self.built:
            chosen = slots.choose_papers(self.papers, chat)
            with speaking(chat.lang):
                self.built[key] = self.build(chosen) if chosen else []
        return self.built[key]


async def daily_digests(services: Services, day: date) -> Digests:
    papers = await services.db(queries.top_papers, day)
    return Digests(papers, lambda chosen: digest_posts(day, chosen, len(papers)))


async def daily_jobs(
    services: Services,
    day: date,
    digests: Digests,
    stopping: Stopping,
    chat_ids: Sequence[int] | None = None,
    chats: Sequence[SubscriptionView] | None = None,
) -> AsyncIterator[Outgoing]:
    """The daily digest of ``day`` to ``chats`` (views a caller read already), or else to
    the active daily subscriptions (only ``chat_ids``, if given)."""
    if chats is not None:
        for chat in chats:
            if stopping():
                return
            yield Outgoing(Address(chat.chat_id, day), digests.of(chat))
        return
    after = None
    while not stopping():
        page = await services.db(subs.active_subscriptions, chat_ids, after, SUBSCRIPTION_PAGE)
        for chat in page:
            if chat.every is Every.DAILY:
                yield Outgoing(Address(chat.chat_id, day), digests.of(chat))
        if len(page) < SUBSCRIPTION_PAGE:
            break
        after = page[-1].chat_id


async def weekly_jobs(
    services: Services, last: date, chats: Sequence[tuple[SubscriptionView, date]]
) -> AsyncIterator[Outgoing]:
    """For each (chat, the local date of its weekly slot): the top papers of the 7 days
    ending with ``last``, once per (chat, that date), and only when a day was loaded since
    its last weekly digest (else a job with nothing to send, recorded as such)."""
    first = last - timedelta(days=6)
    window = (await services.db(feed.top_in_window, first, last, 0, WEEK_PAPERS)).items
    digests = Digests(window, lambda chosen: weekly_posts(first, last, chosen, len(window)))
    for chat, posted in chats:
        covered = await services.db(records.last_weekly_cover, chat.chat_id, posted)
        fresh = covered is None or covered < last
        target = Address(chat.chat_id, posted, DeliveryKind.WEEKLY, covers=last)
        yield Outgoing(target, digests.of(chat) if fresh else [])


async def alert_jobs(services: Services, stopping: Stopping) -> AsyncIterator[Outgoing]:
    """Every planned follow and watch alert not sent yet, in its chat's language."""
    db = services.db
    days: dict[date, dict[int, queries.PaperView]] = {}  # each day's papers, read once
    after = None
    while not stopping():
        page = await db(alerts.pending_alerts, after, SUBSCRIPTION_PAGE)
        chosen = await db(alerts.alert_rows, page)
        spoken = await db(languages.for_deliveries, {chat for chat, _day in page})
        for day in sorted({day for _chat, day in page} - days.keys()):
            days[day] = await db(alerts.day_papers, day)
        for chat_id, day in page:
            found = alerts.arrange(days[day], chosen[chat_id, day])
            with speaking(spoken[chat_id]):
                posts = alert_posts(day, found)
            yield Outgoing(Address(chat_id, day, DeliveryKind.ALERT), posts)
        if len(page) < SUBSCRIPTION_PAGE:
            break
        after = page[-1]
