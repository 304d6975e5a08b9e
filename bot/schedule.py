"""The bot's clockwork on python-telegram-bot's JobQueue (APScheduler underneath): digest
slots (daily and weekly chats), keyword alerts, the digest sync, writing the day ourselves
(at ``WRITE_TIMES``, UTC) and housekeeping.

What must survive a restart lives in the database: each subscription's time, zone and the
last slot handled. At start one daily job is made per distinct slot (its weekly chats ride
the same job on their weekday) and a catch-up pass delivers to every chat whose slot passed
while the bot was down. A job's time carries
its zone, so daylight-saving changes move it with the chats' clocks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import cast
from zoneinfo import ZoneInfo

from bot.choices import Slot
from bot.services import BotContext, PapersApplication, Services
from bot.store import alerts, queries, slots, updates
from bot.store import subscriptions as subs
from bot.store.db import now_utc
from bot.store.models import Every
from bot.store.slots import SubscriptionView
from bot.sync import SyncError, sync_once
from bot.writer import SourceError, scheduled_day, write_day, write_times

log = logging.getLogger(__name__)

RETRY_SECONDS = 60
SYNC_FIRST_SECONDS = 2  # the first digest sync, after start
ALERT_SECONDS = 30  # how often loads' new papers are matched against follows and watches


def ensure_slot_job(application: PapersApplication, slot: Slot, at: time | None = None) -> None:
    """Make sure a daily job exists for the slot (``at`` overrides its time, for tests), if
    this instance runs the schedule (the leader's regular look finds it otherwise)."""
    job_queue = application.job_queue
    assert job_queue is not None
    if not application.services.leader:
        return
    if job_queue.get_jobs_by_name(slot.name):
        return
    job_queue.run_daily(
        slot_job,
        time=at or slot.local_time(),
        name=slot.name,
        data=slot,
        job_kwargs={"misfire_grace_time": 3600, "coalesce": True},
    )


class Clockwork:
    """The schedule as handlers see it (:class:`bot.services.Clockwork`)."""

    def __init__(self, application: PapersApplication) -> None:
        self.application = application

    def watch(self, slot: Slot) -> None:
        ensure_slot_job(self.application, slot)

    def match_alerts(self) -> None:
        self.application.create_task(run_alerts(self.application.services))


def _weekly_date(chat: SubscriptionView, moment: datetime) -> date:
    """The local date a weekly digest due at ``moment`` is posted on (its key)."""
    return chat.last_slot(moment).astimezone(ZoneInfo(chat.timezone)).date()


async def _deliver(
    context: BotContext,
    daily: Sequence[SubscriptionView],
    weekly: Sequence[tuple[SubscriptionView, date]] = (),
) -> None:
    """The slot's passes (they record the slot for the chats they settled); a chat another
    pass held, or one Telegram asked to wait for, is looked at again later."""
    services = context.services
    if not (daily or weekly) or services.deliverer is None:
        return
    reports = await services.deliverer.run_slot(daily, weekly)
    if services.deliverer.stopping or context.job_queue is None:
        return
    # Chats another pass was sending to are looked at again once its claims could lapse.
    busy = any(r.busy for r in reports)
    lease = services.settings.delivery_lease_seconds + 1
    wait = min(RETRY_SECONDS, lease) if busy else RETRY_SECONDS
    if busy or any(r.postponed for r in reports):
        context.job_queue.run_once(catch_up, wait, name="catch-up retry")


async def slot_job(context: BotContext) -> None:
    """A slot came: its daily chats, and the weekly chats whose weekday it is."""
    assert context.job is not None
    slot = cast(Slot, context.job.data)
    chats = await context.services.db(subs.slot_subscriptions, slot)
    today = now_utc().astimezone(ZoneInfo(slot.zone)).date()
    daily = [c for c in chats if c.every is Every.DAILY]
    weekly = [(c, today) for c in chats if c.every is Every.WEEKLY and c.weekday == today.weekday()]
    await _deliver(context, daily, weekly)


async def catch_up(context: BotContext) -> None:
    """Deliver to chats whose slot passed while the bot was down (or a pass was cut short)."""
    chats = await context.services.db(subs.active_subscriptions)
    now = now_utc()
    due = slots.due_subscriptions(chats, now)
    if due:
        log.info("catching up with %d chat(s) whose slot passed", len(due))
    daily = [c for c in due if c.every is Every.DAILY]
    weekly = [(c, _weekly_date(c, now)) for c in due if c.every is Every.WEEKLY]
    await _deliver(context, daily, weekly)


async def alert_job(context: BotContext) -> None:
    """Match what loads added against follows and watches, and send the alerts due. Alerts
    another pass was sending (one that stopped, say) are looked at again as soon as its
    claims could lapse, not only at the next round."""
    services = context.services
    await run_alerts(services)
    lapse = await services.db(alerts.next_lapse)
    if lapse is None or context.job_queue is None:
        return
    wait = lapse + 0.5
    if wait < ALERT_SECONDS and not context.job_queue.get_jobs_by_name("alerts retry"):
        context.job_queue.run_once(alert_job, max(wait, 2.0), name="alerts retry")


async def run_alerts(services: Services) -> None:
    deliverer = services.deliverer
    if deliverer is None or deliverer.stopping or services.alerting.locked():
        return
    async with services.alerting:  # one alert pass at a time in a process
        planned = await services.db(alerts.plan_alerts)
        if planned.messages:
            log.info(
                "alerts planned: %d paper(s) to %d chat(s) (%d left out as already seen)",
                planned.alerts,
                planned.messages,
                planned.skipped,
            )
        await deliverer.run_alert_pass()


async def sync_job(context: BotContext) -> None:
    """Load what is new in ``DIGEST_SOURCE``; a source that cannot be read now is a warning
    and the next check tries again."""
    services = context.services
    try:
        report = await asyncio.to_thread(sync_once, services.settings)
    except SyncError as exc:
        log.warning(
            "digest sync: %s; trying again in %g min", exc, services.settings.digest_sync_minutes
        )
        return
    except Exception:
        log.exception("digest sync failed; trying again at the next check")
        return
    if report.changed or report.skipped:
        log.info("digest sync: %s", report.summary())
    for error in report.rejected:
        log.warning("digest sync rejected %s", error)
    if report.load.added:
        await run_alerts(services)


async def write_job(context: BotContext) -> None:
    """Write the day this run is for (at 23:00 UTC that day, at 02:40 UTC the day before):
    a failed read of the source is one warning, and the next run tries again."""
    services = context.services
    day = scheduled_day(datetime.now(UTC))
    try:
        report = await write_day(services, day)
    except SourceError as exc:
        log.warning("write: %s; trying again at the next write time", exc)
        return
    except Exception:
        log.exception("write of %s failed; trying again at the next write time", day)
        return
    log.info("write: %s", report.summary())


async def expire_queries(context: BotContext) -> None:
    """Paging buttons of queries nobody used for a while expire, and so do the records of
    webhook updates older than Telegram would resend (both tables stay small)."""
    gone = await context.services.db(queries.expire_saved_queries)
    if gone:
        log.info("%d saved queries expired", gone)
    await context.services.db(updates.forget_old)


async def refresh(context: BotContext) -> None:
    """The leader's regular look (``BOT_SCHEDULE_CHECK_SECONDS``): a job for every slot (another instance may have taken a
    /subscribe), and any chat whose slot passed unhandled while no pass runs."""
    services = context.services
    for slot in await services.db(subs.active_slots):
        ensure_slot_job(context.application, slot)
    if services.deliverer is not None and not services.deliverer.busy:
        await catch_up(context)


async def schedule_all(application: PapersApplication) -> None:
    services = application.services
    for slot in await services.db(subs.active_slots):
        ensure_slot_job(application, slot)
    assert application.job_queue is not None
    application.job_queue.run_once(catch_up, 0, name="catch-up at start")
    check = services.settings.schedule_check_seconds
    application.job_queue.run_repeating(
        refresh,
        interval=check,
        first=check,
        name="refresh slots",
        job_kwargs={"coalesce": True, "max_instances": 1},
    )
    application.job_queue.run_repeating(
        alert_job,
        interval=ALERT_SECONDS,
        first=1,
        name="alerts",
        job_kwargs={"coalesce": True, "max_instances": 1},
    )
    settings = services.settings
    if settings.digest_source:
        application.job_queue.run_repeating(
            sync_job,
            interval=settings.digest_sync_minutes * 60,
            first=SYNC_FIRST_SECONDS,
            name="digest sync",
            job_kwargs={"coalesce": True, "max_instances": 1},
        )
    for at in write_times(settings):
        application.job_queue.run_daily(
            write_job,
            time=at.replace(tzinfo=UTC),
            name=f"write {at:%H:%M} UTC",
            job_kwargs={"misfire_grace_time": 3600, "coalesce": True, "max_instances": 1},
        )
    application.job_queue.run_repeating(
        expire_queries,
        interval=3600,
        first=60,
        name="expire saved queries and seen updates",
    )
