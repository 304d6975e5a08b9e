"""Running a pass: claims in batches, many sends in flight, records in batches.

A pass is a stream of :class:`Outgoing` (a row of the ledger and its messages). The runner
claims the rows a batch at a time (one statement per batch), hands the claimed ones to
workers (enough of them to keep the pace's slots filled however far Telegram is), and
writes what Telegram accepted in batches: every record waiting is written by one
statement, and a worker goes on only once its record is written, so the messages whose
fate the database does not know yet are never more than the workers, each with one
message in flight. A heartbeat renews the pass's claims while it runs; on shutdown no
new message starts, the messages in flight finish, and the claims not started are let go.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import Enum

from bot.delivery.outage import MAX_BACKOFF
from bot.delivery.recorder import Recorder
from bot.delivery.sender import Outcome, Result, Sender
from bot.posts import Post
from bot.reports import PassReport
from bot.services import Services
from bot.store import deliveries as ledger
from bot.store import records
from bot.store import subscriptions as subs
from bot.store.db import holder_name
from bot.store.deliveries import Claim, Held, LeaseLost, Want
from bot.store.models import DeliveryKind, StopReason
from bot.store.records import Sent

log = logging.getLogger("bot.delivery")


MIN_WORKERS = 24


MAX_WORKERS = 256


IN_FLIGHT_SECONDS = 0.2  # workers enough for this long a round trip at the pace


CLAIM_SECONDS = 0.25  # claims taken at once: this long a stretch of the pace


MAX_CLAIM_BATCH = 100


MAX_REFUSALS = 3  # passes a chat may refuse a row in (e.g. no rights to post) before it stops


def workers_for(rate: float) -> int:
    """Workers to keep ``rate`` messages a second going."""
    return max(MIN_WORKERS, min(MAX_WORKERS, round(rate * IN_FLIGHT_SECONDS)))


def claim_batch_for(rate: float) -> int:
    """Rows claimed by one statement at ``rate`` messages a second: enough to spare the
    database, few enough that other passes (other instances) still share the work."""
    return max(8, min(MAX_CLAIM_BATCH, round(rate * CLAIM_SECONDS)))


@dataclass(frozen=True)
class Address:
    """What a delivery row sends: one chat's digest of a day, weekly digest or alert."""

    chat_id: int
    day: date
    kind: DeliveryKind = DeliveryKind.DAILY
    covers: date | None = None  # a weekly digest: the newest day it is made of

    @property
    def key(self) -> ledger.RowKey:
        return (self.chat_id, self.day, self.kind)

    def want(self, parts: int) -> Want:
        return Want(self.chat_id, self.day, self.kind, parts, self.covers)


class Step(Enum):
    """What a row's loop does after one message (see :meth:`Runner._send_one`)."""

    SENT = "sent"  # recorded: on to the next message
    AGAIN = "again"  # it never reached Telegram: the same message once Telegram answers
    REPEAT = "repeat"  # no answer came: the same message once more, as its one repeat
    SETTLED = "settled"  # the row is done with (refused for good, the chat gone)
    LET_GO = "let go"  # the claim is let go: a later pass resumes the row


@dataclass(frozen=True)
class Outgoing:
    target: Address
    posts: list[Post]
    claim: Claim | None = None  # claimed already (an opened row, see Deliverer)


class Runner:
    """One pass over a stream of jobs (see the module's description)."""

    def __init__(
        self,
        services: Services,
        sender: Sender,
        report: PassReport,
        lease: timedelta,
        workers: int,
        batch: int,
        stopping: Callable[[], bool],
        owner: str | None = None,
    ) -> None:
        self.services = services
        self.db = services.db
        self.sender = sender
        self.report = report
        self.lease = lease
        self.workers = workers
        self.batch = batch
        self.stopping = stopping
        self.owner = owner or holder_name()
        self.renewed = [self.owner]  # the holders whose claims the heartbeat renews
        self.claimed: asyncio.Queue[tuple[Outgoing, Claim] | None] = asyncio.Queue(batch)
        self.recorder = Recorder(services, self.owner, lease, stopping)

    async def run(self, jobs: AsyncIterator[Outgoing]) -> None:
        heartbeat = asyncio.ensure_future(self._renew())
        try:
            await asyncio.gather(
                self._claim_all(jobs), *(self._work() for _ in range(self.workers))
            )
        finally:
            heartbeat.cancel()
            await self.recorder.close()

    async def _renew(self) -> None:
        """Keep this pass's claims alive while it runs (a dead pass's claims run out)."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                for owner in self.renewed:
                    await self.db(ledger.renew_leases, owner, self.lease)
            except Exception:
                log.warning("could not renew delivery claims", exc_info=True)

    # --- claiming ---------------------------------------------------------------------------

    async def _claim_all(self, jobs: AsyncIterator[Outgoing]) -> None:
        batch: list[Outgoing] = []
        try:
            async for job in jobs:
                if self.stopping():
                    break
                self.report.chats += 1
                if job.claim is not None:
                    await self._claimed_already(job, job.claim)
                    continue
                if not job.posts:
                    try:
                        await self._empty(job.target)
                    except Exception:
                        self.report.postponed += 1
                        log.warning("could not record chat %s as empty", job.target.chat_id)
                    continue
                batch.append(job)
                # The first batch small, so that the first messages go out at once.
                if len(batch) >= (self.batch if self.report.chats > self.batch else 8):
                    await self._claim(batch)
                    batch = []
            if batch and not self.stopping():
                await self._claim(batch)
        finally:
            for _worker in range(self.workers):
                await self.claimed.put(None)

    async def _claimed_already(self, job: Outgoing, claim: Claim) -> None:
        if job.posts:
            await self.claimed.put((job, claim))
            return
        try:  # nothing for the chat now (its subscription stopped since the row opened)
            await self.db(records.release_many, [job.target.key], self.owner)
            await self._empty(job.target)
        except Exception:
            self.report.postponed += 1
            log.warning("could not record chat %s as empty", job.target.chat_id)

    async def _empty(self, target: Address) -> None:
        self.report.handled.append(target.chat_id)
        if await self.db(records.mark_empty, target.chat_id, target.day, target.kind):
            self.report.empty += 1
        else:
            self.report.already += 1

    async def _claim(self, batch: Sequence[Outgoing]) -> None:
        wants = [job.target.want(len(job.posts)) for job in batch]
        try:
            claims = await self.db(ledger.claim_many, wants, self.owner, self.lease)
        except Exception:  # nothing claimed, nothing sent: the next pass has them
            self.report.postponed += len(batch)
            log.warning(
                "could not claim %d chats; left for the next pass", len(batch), exc_info=True
            )
            return
        for job, claim in zip(batch, claims, strict=True):
            self._count_held(job.target.chat_id, claim)
            if isinstance(claim, Claim):
                await self.claimed.put((job, claim))

    def _count_held(self, chat_id: int, claim: Claim | Held) -> None:
        if claim is Held.DONE:
            self.report.already += 1
            self.report.handled.append(chat_id)
        elif claim is Held.BUSY:
            self.report.busy += 1
            self.report.busy_chats.append(chat_id)

    # --- sending ----------------------------------------------------------------------------

    async def _work(self) -> None:
        let_go: list[ledger.RowKey] = []
        while (item := await self.claimed.get()) is not None:
            job, claim = item
            target = job.target
            if self.stopping():
                let_go.append((target.chat_id, target.day, target.kind))
                self.report.postponed += 1
                continue
            try:
                settled = await self._deliver(target, claim, job.posts)
            except LeaseLost:
                log.warning("chat %s: another pass took over its %s", target.chat_id, target.kind)
                settled = False
            except Exception:  # one chat's failure must not stop the others
                self.report.postponed += 1
                log.exception("delivery to chat %s failed", target.chat_id)
                settled = False
            if settled:  # else the chat's slot stays due, and the next pass looks again
                self.report.handled.append(target.chat_id)
        if let_go:
            try:
                await self.db(records.release_many, let_go, self.owner)
            except Exception:  # they lapse with the lease instead
                log.warning("could not let %d claims go", len(let_go), exc_info=True)

    async def _deliver(self, target: Address, claim: Claim | Held, posts: list[Post]) -> bool:
        """Send the claimed messages in turn, recording each; every way out leaves the row
        settled (True) or its claim let go for a later pass (False)."""
        while isinstance(claim, Claim):
            if claim.resume_at >= len(posts):  # what is left to send got shorter
                await self.recorder.sent(Sent(target.key, claim.resume_at, True))
                return True
            number, repeat, tries = claim.resume_at, claim.repeat, 0
            while number < len(posts):
                step = await self._send_one(target, posts, number, repeat)
                if isinstance(step, Step):
                    if step is Step.SENT:
                        number, repeat, tries = number + 1, False, 0
                        continue
                    if step is Step.AGAIN:  # it never left: the same message, once Telegram answers
                        tries += 1
                        if await self._wait_for_telegram(target, number, repeat, tries):
                            continue
                        return False
                    if step is Step.REPEAT:  # it may have arrived: once more, and only once
                        repeat = True
                        continue
                    return step is Step.SETTLED
                target, claim = step  # a migrated chat: its new id's own claim
                break
            else:
                self.report.delivered_to.append(target.chat_id)
                return True
        return claim is Held.DONE  # after a migration: the new id had it, or another pass has

    async def _send_one(
        self, target: Address, posts: list[Post], number: int, repeat: bool
    ) -> Step | tuple[Address, Claim | Held]:
        """Send message ``number`` of a claimed row and record what came of it; say what the
        row's loop does next (or, for a chat that moved, its new address and claim)."""
        db, owner = self.db, self.owner
        chat_id, day, kind = target.chat_id, target.day, target.kind
        if self.stopping():
            await db(records.release, chat_id, day, owner, kind)
            self.report.postponed += 1
            return Step.LET_GO
        if repeat:
            if not await self.sender.outage.confirmed(self.stopping):
                return await self._let_go(target)
            await db(records.mark_repeating, chat_id, day, owner, kind)
        result = await self.sender.send(chat_id, posts[number])
        outcome = result.outcome
        if outcome is Outcome.MIGRATED:  # the same chat, a new id: claim that
            moved = replace(target, chat_id=result.new_chat_id)
            return moved, await self._migrated(chat_id, moved, len(posts))
        if outcome in (Outcome.GONE, Outcome.NO_RIGHTS, Outcome.REFUSED):
            return Step.SETTLED if await self._refused(target, result) else Step.LET_GO
        if outcome is Outcome.NOT_SENT:
            if repeat:  # the repeat never left: it is still owed
                await db(records.mark_unsure, chat_id, day, owner, number, kind, keep=True)
            return Step.AGAIN
        if outcome is Outcome.UNSURE and not repeat:
            log.warning("chat %s: no answer to a %s message; repeating it once", chat_id, kind)
            await db(records.mark_unsure, chat_id, day, owner, number, kind, keep=True)
            self.report.unsure += 1
            return Step.REPEAT
        if outcome is Outcome.UNSURE:
            log.warning("chat %s: its one repeat got no answer either; taken as sent", chat_id)
        else:
            self.report.messages += 1
        await self.recorder.sent(Sent(target.key, number + 1, number + 1 == len(posts)))
        return Step.SENT

    async def _wait_for_telegram(
        self, target: Address, number: int, repeat: bool, tries: int
    ) -> bool:
        """A message that never reached Telegram waits until Telegram answers again (and,
        after a few tries, a little longer each time); False when the bot is stopping."""
        if tries > 3:
            await asyncio.sleep(min(MAX_BACKOFF, 0.25 * 2 ** (tries - 3)))
        if await self.sender.outage.wait(self.stopping):
            return True
        await self._let_go(target)
        return False

    async def _let_go(self, target: Address) -> Step:
        await self.db(records.release, target.chat_id, target.day, self.owner, target.kind)
        self.report.postponed += 1
        return Step.LET_GO

    async def _migrated(self, old_id: int, target: Address, parts: int) -> Claim | Held:
        await self.db(subs.migrate_chat, old_id, target.chat_id)
        self.report.migrated += 1
        (claim,) = await self.db(ledger.claim_many, [target.want(parts)], self.owner, self.lease)
        self._count_held(target.chat_id, claim)
        if claim is Held.DONE:  # counted as handled under the new id by the caller
            self.report.handled.pop()
        return claim

    async def _refused(self, target: Address, result: Result) -> bool:
        """Telegram refused the chat: stop for good (blocked, gone), or count the refusal
        and stop after a few (no rights to post yet, or anything else it may get over).
        True when the row is settled for the chat."""
        db, owner = self.db, self.owner
        chat_id, day, kind = target.chat_id, target.day, target.kind
        message = str(result.error)
        if result.outcome is Outcome.GONE:
            await db(records.mark_failed, chat_id, day, owner, message, kind)
            await db(subs.forget_chat, chat_id, StopReason.BLOCKED)
            self.report.deactivated += 1
            return True
        if not await db(records.refused, chat_id, day, owner, message, MAX_REFUSALS, kind):
            log.warning("chat %s refused the %s (%s); trying again later", chat_id, kind, message)
            self.report.postponed += 1
            return False
        self.report.failed += 1
        if result.outcome is Outcome.NO_RIGHTS:
            await db(subs.forget_chat, chat_id, StopReason.NO_RIGHTS)
            self.report.deactivated += 1
            log.warning(
                "chat %s: the bot may not post there (%s); subscription stopped", chat_id, message
            )
        else:
            log.warning(
                "chat %s refused %s %s %d times (%s); given up",
                chat_id,
                kind,
                day,
                MAX_REFUSALS,
                message,
            )
        return True
