"""Daily slots on python-telegram-bot's JobQueue (APScheduler underneath).

What must survive a restart lives in the database: each subscription's time, zone and the
last slot handled. At start one daily job is made per distinct (time, zone) and a catch-up
pass delivers to every chat whose slot passed while the bot was down. A job's time carries
its zone, so daylight-saving changes move it with the chats' clocks.
"""

from __future__ import annotations

import logging
from datetime import time
from typing import cast
from zoneinfo import ZoneInfo

from telegram.ext import Application

from bot.services import BotContext
from bot.store import queries
from bot.store import subscriptions as subs

log = logging.getLogger(__name__)

RETRY_SECONDS = 60


def slot_name(slot: tuple[str, str]) -> str:
    return f"slot {slot[1]} {slot[0]}"


def ensure_slot_job(
    application: Application, slot: tuple[str, str], at: time | None = None
) -> None:  # type: ignore[type-arg]
    """Make sure a daily job exists for the slot (``at`` overrides its time, for tests)."""
    job_queue = application.job_queue
    assert job_queue is not None
    name = slot_name(slot)
    if job_queue.get_jobs_by_name(name):
        return
    if at is None:
        hour, minute = map(int, slot[0].split(":"))
        at = time(hour, minute, tzinfo=ZoneInfo(slot[1]))
    job_queue.run_daily(
        slot_job,
        time=at,
        name=name,
        data=slot,  # type: ignore[arg-type]
        job_kwargs={"misfire_grace_time": 3600, "coalesce": True},
    )


async def _deliver_and_record(context: BotContext, chat_ids: list[int]) -> None:
    services = context.services
    if not chat_ids or services.deliverer is None:
        return
    started = subs.now_utc()
    report = await services.deliverer.run_pass(None, chat_ids)
    await services.db(subs.record_slot, report.handled, started)
    if services.deliverer.stopping or context.job_queue is None:
        return
    # Chats another pass was sending to are looked at again once its claims could lapse.
    lease = services.settings.delivery_lease_seconds + 1
    wait = min(RETRY_SECONDS, lease) if report.busy else RETRY_SECONDS
    if report.postponed or report.busy:
        context.job_queue.run_once(catch_up, wait, name="catch-up retry")  # type: ignore[arg-type]


async def slot_job(context: BotContext) -> None:
    assert context.job is not None
    send_time, zone = cast(tuple[str, str], context.job.data)
    chat_ids = await context.services.db(subs.slot_chat_ids, (send_time, zone))
    await _deliver_and_record(context, chat_ids)


async def catch_up(context: BotContext) -> None:
    """Deliver to chats whose slot passed while the bot was down (or a pass was cut short)."""
    chats = await context.services.db(subs.active_subscriptions)
    due = subs.due_subscriptions(chats, subs.now_utc())
    if due:
        log.info("catching up with %d chat(s) whose slot passed", len(due))
    await _deliver_and_record(context, [c.chat_id for c in due])


async def expire_queries(context: BotContext) -> None:
    """Paging buttons of queries nobody used for a while expire (the table stays small)."""
    gone = await context.services.db(queries.expire_saved_queries)
    if gone:
        log.info("%d saved queries expired", gone)


async def schedule_all(application: Application) -> None:  # type: ignore[type-arg]
    services = application.services  # type: ignore[attr-defined]
    for slot in await services.db(subs.active_slots):
        ensure_slot_job(application, slot)
    assert application.job_queue is not None
    application.job_queue.run_once(catch_up, 0, name="catch-up at start")  # type: ignore[arg-type]
    application.job_queue.run_repeating(
        expire_queries,  # type: ignore[arg-type]
        interval=3600,
        first=60,
        name="expire saved queries",
    )
