"""The delivery ledger's claims and records (:mod:`bot.store.deliveries`,
:mod:`bot.store.records`), row by row against the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy import update

from bot.delivery.recorder import Recorder
from bot.services import Services
from bot.store import deliveries as ledger
from bot.store import records
from bot.store.deliveries import RowKey
from bot.store.models import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)
from bot.store.records import Sent
from tests.helpers import ledger as one_row
from tests.helpers.e2e import (
    USER,
)


def test_a_claim_is_taken_over_only_when_its_lease_ran_out(seeded) -> None:
    lease, day = timedelta(seconds=30), date(2024, 4, 25)
    with seeded() as session:
        first = one_row.claim(session, USER, day, 3, "pass-a", lease)
        assert first == ledger.Claim("pass-a", 0)
        one_row.mark_sent(session, USER, day, "pass-a", 1, False, lease)
        assert one_row.claim(session, USER, day, 3, "pass-b", lease) is ledger.Held.BUSY
        # pass-a stops renewing (it died): once its lease lapses, pass-b resumes after it
        session.execute(
            update(Delivery).values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
        # message 2 may have been on its way when pass-a died: it goes as its one repeat
        took = one_row.claim(session, USER, day, 3, "pass-b", lease)
        assert took == ledger.Claim("pass-b", 1, repeat=True)
        with pytest.raises(ledger.LeaseLost):
            one_row.mark_sent(session, USER, day, "pass-a", 2, False, lease)
        one_row.mark_sent(session, USER, day, "pass-b", 3, True, lease)
        assert one_row.claim(session, USER, day, 3, "pass-c", lease) is ledger.Held.DONE


def test_one_batch_of_claims_gives_each_row_its_own_answer(seeded) -> None:
    """A batch claims new rows, free ones and lapsed ones, and leaves settled and live
    ones, each as one claim would; the batch of records then finds the row another pass
    took over, and writes the others."""
    lease, day = timedelta(seconds=30), date(2024, 4, 25)
    new, done, live, lapsed, unsure = 501, 502, 503, 504, 505
    with seeded() as session:
        for chat_id in (done, live, lapsed, unsure):
            one_row.claim(session, chat_id, day, 1, "old", lease)
        one_row.mark_sent(session, done, day, "old", 1, True, lease)
        records.mark_unsure(session, unsure, day, "old", 0)
        session.execute(
            update(Delivery)
            .where(Delivery.chat_id == lapsed)
            .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
        wants = [
            ledger.Want(c, day, DeliveryKind.DAILY, 1) for c in (new, done, live, lapsed, unsure)
        ]
        assert ledger.claim_many(session, wants, "batch", lease) == [
            ledger.Claim("batch", 0),
            ledger.Held.DONE,
            ledger.Held.BUSY,
            ledger.Claim("batch", 0, repeat=True),
            ledger.Claim("batch", 0, repeat=True),
        ]
        session.execute(  # another pass takes one of the batch's rows over
            update(Delivery).where(Delivery.chat_id == unsure).values(lease_owner="thief")
        )
        session.commit()
        accepted = [
            records.Sent((c, day, DeliveryKind.DAILY), 1, True) for c in (new, lapsed, unsure)
        ]
        assert records.record_sent(session, accepted, "batch", lease) == {
            (unsure, day, DeliveryKind.DAILY)
        }
        statuses = [
            session.get(Delivery, (c, day, DeliveryKind.DAILY)).status
            for c in (new, lapsed, unsure)
        ]
        assert statuses == [DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.UNSURE]


def test_a_message_in_flight_at_a_kill_and_unanswered_goes_at_most_twice(seeded) -> None:
    """The two causes of a repeat (a kill, a missing answer) never add up."""
    lease, day = timedelta(seconds=30), date(2024, 4, 25)
    lapse = update(Delivery).values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
    with seeded() as session:
        one_row.claim(session, USER, day, 1, "a", lease)  # sends; killed, no answer yet
        session.execute(lapse)
        session.commit()
        again = one_row.claim(session, USER, day, 1, "b", lease)
        assert again == ledger.Claim("b", 0, repeat=True)  # the second and last send
        records.mark_repeating(session, USER, day, "b")
        session.execute(lapse)  # b dies too, during its repeat
        session.commit()
        assert one_row.claim(session, USER, day, 1, "c", lease) is ledger.Held.DONE


def test_an_unsure_message_is_repeated_once_and_never_twice(seeded) -> None:
    lease, day = timedelta(seconds=30), date(2024, 4, 25)
    with seeded() as session:
        one_row.claim(session, USER, day, 2, "a", lease)
        records.mark_unsure(session, USER, day, "a", 0)
        repeat = one_row.claim(session, USER, day, 2, "b", lease)
        assert repeat == ledger.Claim("b", 0, repeat=True)
        records.mark_repeating(session, USER, day, "b")
        # b dies during the repeat: its message may be out, so c goes on after it
        session.execute(
            update(Delivery).values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
        assert one_row.claim(session, USER, day, 2, "c", lease) == ledger.Claim("c", 1)


async def test_records_arriving_together_are_written_by_one_statement() -> None:
    """At a paid pace Telegram's answers come a millisecond apart: the recorder, woken by
    the first, gathers those that follow into its statement; a row another pass took over
    fails its own sender only."""
    day = date(2024, 5, 2)
    taken_over = (1_050, day, DeliveryKind.DAILY)
    writes: list[int] = []

    class Store:
        async def db(self, write: object, accepted: list[Sent], *args: object) -> set[RowKey]:
            writes.append(len(accepted))
            return {taken_over} & {record.key for record in accepted}

    def sent(chat_id: int) -> asyncio.Task[None]:
        record = Sent((chat_id, day, DeliveryKind.DAILY), 1, True)
        return asyncio.ensure_future(recorder.sent(record))

    recorder = Recorder(cast(Services, Store()), "pass-1", timedelta(minutes=5), lambda: False)
    try:
        first = sent(1_000)
        for _ in range(3):  # the first record is waiting and the recorder awake
            await asyncio.sleep(0)
        chats = range(1_001, 1_100)
        outcomes = await asyncio.gather(*map(sent, chats), return_exceptions=True)
        await first
    finally:
        await recorder.close()
    assert writes == [100]
    failed = [chat for chat, outcome in zip(chats, outcomes, strict=True) if outcome]
    assert failed == [1_050] and isinstance(outcomes[49], ledger.LeaseLost)
