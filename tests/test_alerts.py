"""Follow and watch alerts: matching as /author and /search do, once per (chat, paper), one
message per chat and loaded day, never a paper the chat's digest of that day carries; and
the commands, through the emulator."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from bot.choices import Setting, SettingChange
from bot.rights import REFUSAL
from bot.schedule import run_alerts
from bot.store import alerts, rules
from bot.store import deliveries as ledger
from bot.store import subscriptions as subs
from bot.store.matching import Matcher, PaperText, prefixes
from bot.store.models import (
    Alert,
    AlertQueue,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Paper,
    Rule,
    RuleKind,
)
from bot.store.rules import Added
from bot.textindex import fold, folded_words
from tests.helpers import ledger as one_row
from tests.helpers.digests import DAY, day_file, load_paths
from tests.helpers.e2e import (
    ADMIN,
    GROUP,
    MEMBER,
    OPERATOR,
    USER,
    Conversation,
    bot_session,
    job_queue,
    passes,
)
from tests.helpers.wording import ko, says, starts_with


def paper(pid: int, text: str, *authors: str) -> PaperText:
    return PaperText(pid, fold(text), [prefixes(folded_words(fold(a))) for a in authors])


def matches(made_rules: list[tuple[RuleKind, str]], *papers: PaperText) -> dict[int, list[str]]:
    made = datetime(2020, 1, 1, tzinfo=UTC)
    matcher = Matcher(
        (1, kind, text, rules.rule_key(kind, text), made) for kind, text in made_rules
    )
    return {pid: [why for _c, why, _m in hits] for pid, hits in matcher.match(papers).items()}


def test_a_follow_matches_within_one_author_as_author_does() -> None:
    munos = paper(1, "t", "Rémi Munos", "Jane Doe")
    split = paper(2, "t", "Rémi Smith", "John Munos")
    follows = [(RuleKind.FOLLOW, "remi munos"), (RuleKind.FOLLOW, "Mun")]
    assert matches(follows, munos, split) == {
        1: ["follow:Mun", "follow:remi munos"],
        2: ["follow:Mun"],
    }
    assert matches([(RuleKind.FOLLOW, "doe jane")], munos) == {1: ["follow:doe jane"]}
    assert matches([(RuleKind.FOLLOW, "unos")], munos) == {}  # words begin where names do


def test_a_watch_matches_as_search_does() -> None:
    korean = paper(1, "Diffusion\x1f\x1f확산모델은 이미지를 만듭니다")
    other = paper(2, "Models\x1f\x1f언어 모델을 평가합니다")
    assert matches([(RuleKind.WATCH, "확산")], korean, other) == {1: ["watch:확산"]}
    assert matches([(RuleKind.WATCH, "모델")], korean, other) == {
        1: ["watch:모델"],
        2: ["watch:모델"],
    }
    assert matches([(RuleKind.WATCH, "DIFF 이미지")], korean, other) == {1: ["watch:DIFF 이미지"]}
    assert matches([(RuleKind.WATCH, "iffusion")], korean) == {}
    assert matches([(RuleKind.WATCH, "확산 평가")], korean, other) == {}  # every word


def test_rules_are_folded_limited_and_removable(Store) -> None:
    with Store() as session:
        assert rules.add_rule(session, USER, RuleKind.FOLLOW, "Rémi  Munos") is Added.ADDED
        assert rules.add_rule(session, USER, RuleKind.FOLLOW, "remi munos") is Added.KNOWN
        assert rules.add_rule(session, USER, RuleKind.WATCH, "remi munos") is Added.ADDED
        assert rules.add_rule(session, USER, RuleKind.FOLLOW, " -- ") is Added.EMPTY
        for number in range(rules.MAX_RULES - 1):
            assert rules.add_rule(session, USER, RuleKind.FOLLOW, f"name{number}") is Added.ADDED
        assert rules.add_rule(session, USER, RuleKind.FOLLOW, "one more") is Added.FULL
        assert rules.add_rule(session, USER + 1, RuleKind.FOLLOW, "one more") is Added.ADDED
        assert rules.remove_rule(session, USER, RuleKind.FOLLOW, "REMI munos") == "Rémi Munos"
        assert rules.remove_rule(session, USER, RuleKind.FOLLOW, "remi munos") is None
        assert len(rules.chat_rules(session, USER, RuleKind.FOLLOW)) == rules.MAX_RULES - 1
        assert [r.text for r in rules.chat_rules(session, USER, RuleKind.WATCH)] == ["remi munos"]


def planned(Store) -> dict[int, list[str]]:
    """chat → arXiv ids of the papers recorded as alerted to it."""
    with Store() as session:
        rows = session.execute(
            select(Alert.chat_id, Alert.paper_id).order_by(Alert.chat_id, Alert.paper_id)
        ).all()
        ids = dict(session.execute(select(Paper.id, Paper.arxiv_id)).all())
    found: dict[int, list[str]] = {}
    for chat_id, paper_id in rows:
        found.setdefault(chat_id, []).append(ids[paper_id])
    return found


def test_alerts_are_once_per_chat_and_paper_and_one_message_per_day(Store, tmp_path) -> None:
    with Store() as session:
        rules.add_rule(session, USER, RuleKind.FOLLOW, "munos")
        rules.add_rule(session, USER, RuleKind.WATCH, "확산")
        rules.add_rule(session, USER, RuleKind.WATCH, "모델")  # both papers again: no repeat
        rules.add_rule(session, GROUP, RuleKind.WATCH, "no such words anywhere")
    load_paths(Store, day_file(tmp_path))
    with Store() as session:
        report = alerts.plan_alerts(session)
    assert (report.entries, report.alerts, report.messages) == (3, 3, 1)
    assert planned(Store) == {USER: ["2405.02000", "2405.02001", "2405.02002"]}
    with Store() as session:
        found = alerts.alert_papers(session, USER, DAY)
        assert [(p.arxiv_id, why) for p, why in found][:2] == [
            ("2405.02000", ["follow:munos", "watch:모델"]),
            ("2405.02001", ["watch:확산", "watch:모델"]),
        ]
        assert session.scalar(select(func.count()).select_from(AlertQueue)) == 0
    # The same file again adds nothing; the same papers on another day are not alerted again.
    load_paths(Store, day_file(tmp_path))
    again = day_file(tmp_path, DAY, 3, name="other")
    again.write_text(again.read_text().replace(DAY.isoformat(), "2024-05-03"))
    load_paths(Store, again)
    with Store() as session:
        report = alerts.plan_alerts(session)
    assert (report.entries, report.alerts, report.messages) == (3, 0, 0)
    assert report.skipped == 3


def test_a_rule_made_after_a_load_is_not_for_its_papers(Store, tmp_path) -> None:
    with Store() as session:
        rules.add_rule(session, GROUP, RuleKind.WATCH, "anything else")
    load_paths(Store, day_file(tmp_path))
    with Store() as session:
        session.execute(
            update(AlertQueue).values(queued_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        session.commit()
        rules.add_rule(session, USER, RuleKind.FOLLOW, "munos")
        assert alerts.plan_alerts(session).alerts == 0


def test_no_queue_while_nobody_has_rules(Store, tmp_path) -> None:
    load_paths(Store, day_file(tmp_path))
    with Store() as session:
        assert session.scalar(select(func.count()).select_from(AlertQueue)) == 0


def test_an_alert_leaves_out_what_the_chats_digest_of_that_day_carries(
    Store, settings, tmp_path
) -> None:
    with Store() as session:
        subs.subscribe(session, USER, "private", None, "09:00", settings)
        subs.change_setting(session, USER, SettingChange(Setting.TOP_N, 1))  # carries paper 0
        rules.add_rule(session, USER, RuleKind.WATCH, "모델")
    load_paths(Store, day_file(tmp_path))
    with Store() as session:
        report = alerts.plan_alerts(session)
    assert report.skipped == 1
    assert planned(Store) == {USER: ["2405.02001", "2405.02002"]}


def test_alerts_follow_a_group_that_becomes_a_supergroup(Store, tmp_path) -> None:
    with Store() as session:
        rules.add_rule(session, GROUP, RuleKind.FOLLOW, "munos")
        rules.add_rule(session, GROUP - 1, RuleKind.FOLLOW, "munos")
    load_paths(Store, day_file(tmp_path))
    with Store() as session:
        alerts.plan_alerts(session)
        subs.migrate_chat(session, GROUP, GROUP - 1)
        assert [r.text for r in rules.chat_rules(session, GROUP - 1, RuleKind.FOLLOW)] == ["munos"]
        assert not rules.chat_rules(session, GROUP, RuleKind.FOLLOW)
        assert session.scalar(select(func.count()).select_from(Alert)) == 1
        assert session.scalar(select(func.count()).select_from(Rule)) == 1


async def test_follow_watch_and_their_lists(Store, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        assert says(
            (await chat.ask("/follow")).text,
            "Usage: /follow NAME (e.g. /follow Yann LeCun; a surname alone works)",
        )
        assert says(
            (await chat.ask("/follow Rémi Munos")).text,
            "👤 Following: {rule}\nWhen a newly loaded day has a paper by this author, you'll hear.",
            rule="Rémi Munos",
        )
        assert says((await chat.ask("/follow remi  munos")).text, "Already following: {rule}")
        assert says(
            (await chat.ask("/follow <b>Kim</b>")).text,
            "👤 Following: {rule}\nWhen a newly loaded day has a paper by this author, you'll hear.",
        )
        listing = await chat.ask("/following")
        assert "1. Rémi Munos\n2. &lt;b&gt;Kim&lt;/b&gt;" in listing.html
        await chat.press(listing, "✕ Rémi Munos")
        assert "Rémi Munos" not in listing.text and "Kim" in listing.text
        assert says((await chat.ask("/unfollow <b>kim</b>")).text, "No longer following: {rule}")
        assert says(
            (await chat.ask("/unfollow nobody")).text,
            "Not a name this chat follows: {rule} (list: /following)",
        )
        assert says((await chat.ask("/following")).text, "{title}: none")
        assert says(
            (await chat.ask("/watch 확산 모델")).text,
            "🔎 Watching: {rule}\nWhen a newly loaded paper matches these words, you'll hear.",
            rule="확산 모델",
        )
        watching = await chat.ask("/watching")
        assert "1. 확산 모델" in watching.text
        assert says((await chat.ask("/unwatch 확산   모델")).text, "No longer watching: {rule}")


async def test_in_a_group_only_admins_change_follows(Store, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        member = Conversation(emulator, GROUP, MEMBER)
        admin = Conversation(emulator, GROUP, ADMIN)
        assert says((await member.ask("/follow munos")).text, REFUSAL)
        assert says(
            (await admin.ask("/follow munos")).text,
            "👤 Following: {rule}\nWhen a newly loaded day has a paper by this author, you'll hear.",
        )
        listing = await member.ask("/following")  # anyone may look
        query = emulator.press(GROUP, listing.message_id, listing.button("✕ munos"), MEMBER)
        await emulator.answered(query)
        assert says(
            emulator.callback_answers[query]["text"], "Only the group's admins can change this."
        )
        assert "munos" in (await member.ask("/following")).text


async def test_a_load_alerts_the_followers_once(Store, settings, tmp_path) -> None:
    path = day_file(tmp_path)
    async with bot_session(settings) as (emulator, app):
        user = Conversation(emulator, USER, USER)
        await user.ask("/follow munos")
        await user.ask("/watch 확산")
        admin = Conversation(emulator, GROUP, ADMIN)
        await admin.ask("/watch 모델")
        emulator.send_document(OPERATOR, OPERATOR, path.name, path.read_bytes(), caption="/load")
        await emulator.wait_until(lambda: emulator.messages_in(USER)[-1].text.startswith("🔔"))
        await emulator.wait_until(lambda: emulator.messages_in(GROUP)[-1].text.startswith("🔔"))
        alert = emulator.messages_in(USER)[-1]
        assert starts_with(alert.text, "🔔 <b>New papers</b>")
        assert f" · 2024-05-02 ({ko('Thu')}) · " in alert.text
        assert says(alert.text, "{count} paper", "{count} papers", 2, count=2)
        assert "👤 munos" in alert.text and "🔎 확산" in alert.text
        assert alert.button("1") and alert.button("2")
        group_alert = emulator.messages_in(GROUP)[-1]
        assert says(group_alert.text, "{count} paper", "{count} papers", 3, count=3)
        # Another pass, or two at once, sends nothing more.
        await asyncio.gather(run_alerts(app.services), passes(app).run_alert_pass())
        await run_alerts(app.services)
        before = len(emulator.messages_in(USER))
        # and no alert pass is left running (the schedule's own included)
        services = app.services
        assert services.deliverer is not None
        await emulator.wait_until(
            lambda: (
                not services.alerting.locked()
                and not (services.deliverer and services.deliverer.busy)
            )
        )
    assert sum(m.text.startswith("🔔") for m in emulator.messages_in(USER)) == 1
    assert sum(m.text.startswith("🔔") for m in emulator.messages_in(GROUP)) == 1
    assert len(emulator.messages_in(USER)) == before
    with Store() as session:
        rows = session.execute(
            select(Delivery.chat_id, Delivery.status).where(Delivery.kind == DeliveryKind.ALERT)
        ).all()
    assert sorted(rows) == [(GROUP, DeliveryStatus.SENT), (USER, DeliveryStatus.SENT)]


def test_an_alert_is_one_message_however_many_papers_match() -> None:
    from bot.digest import Bullet
    from bot.emulator.telegram_html import parse_html, utf16_length
    from bot.posts import alert_posts
    from bot.store.queries import PaperView

    long = "아주 긴 요약 문장입니다. " * 20
    found = [
        (
            PaperView(
                f"2405.{n:05d}",
                f"A title that is rather long, number {n}",
                "u",
                ("A",),
                (Bullet(long),),
                None,
                DAY,
                n,
            ),
            ["follow:Some Author", "watch:확산 모델"],
        )
        for n in range(150)
    ]
    (message,) = alert_posts(DAY, found)
    text, markup = message.text, message.buttons
    assert utf16_length(parse_html(text)) <= 4096
    assert says(text, "… and {count} more: /day {day}") and "/day 2024-05-02" in text
    assert markup is not None
    buttons = [b for row in json.loads(markup)["inline_keyboard"] for b in row]
    assert 0 < len(buttons) <= 100
    shown = text.count("👤 Some Author")
    assert len(buttons) == shown
    few = alert_posts(DAY, found[:3])
    assert len(few) == 1 and long.strip()[:20] in few[0].text  # room for the summary points


async def test_an_alert_a_stopped_pass_held_goes_out_when_its_claim_lapses(
    Store, settings, tmp_path
) -> None:
    """A pass that stopped (a killed instance) holds its alert's claim for the lease: the
    bot comes back to it as soon as the lease can lapse, not at the next 30 s round."""
    settings = dataclasses.replace(settings, delivery_lease_seconds=3.0)
    with Store() as session:
        rules.add_rule(session, USER, RuleKind.FOLLOW, "munos")
    load_paths(Store, day_file(tmp_path))
    with Store() as session:
        alerts.plan_alerts(session)
        (day,) = session.scalars(
            select(Delivery.day).where(Delivery.kind == DeliveryKind.ALERT)
        ).all()
        claimed = one_row.claim(
            session, USER, day, 1, "stopped-instance", timedelta(seconds=3), DeliveryKind.ALERT
        )
        assert isinstance(claimed, ledger.Claim)
        session.commit()
    async with bot_session(settings) as (emulator, app):
        # The first round (a second after the start) finds it held, and looks again after
        # the lease; nothing waits for the round after.
        await emulator.wait_until(
            lambda: any(m.text.startswith("🔔") for m in emulator.messages_in(USER)), timeout=10
        )
        assert app.job_queue is not None
        assert not job_queue(app).get_jobs_by_name("alerts retry")  # it ran
    assert sum(m.text.startswith("🔔") for m in emulator.messages_in(USER)) == 1
