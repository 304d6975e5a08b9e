"""Inline mode and deep links through the emulator: ``@Bot words`` answers as /search
does, 20 at a time; the chosen card links back into the bot; ``/start p_…`` and
``/start d_…`` open a paper or a day; every paper view can be shared."""

from __future__ import annotations

import dataclasses
from datetime import date

import aiohttp
import pytest

from bot.codec import paper_payload, paper_ref, parse_start_payload
from bot.emulator import BotApiEmulator
from bot.store.search import search_papers
from tests.helpers.e2e import GROUP, USER, Conversation, all_handled, bot_session
from tests.helpers.wording import says, starts_with


@pytest.mark.parametrize(
    "arxiv_id, payload",
    [
        ("2404.15653", "p_2404_15653"),
        ("hep-th/9901001", "p_hep-th-9901001"),
        ("x" * 100, "pk_" + paper_ref("x" * 100)[1:]),
    ],
)
def test_paper_payloads_fit_and_come_back(arxiv_id: str, payload: str) -> None:
    assert paper_payload(arxiv_id) == payload and len(payload) <= 64
    asked = parse_start_payload(payload)
    assert asked is not None and asked.kind == "paper"
    assert (paper_ref(arxiv_id) if len(arxiv_id) > 40 else arxiv_id) in asked.refs


def test_other_payloads() -> None:
    assert parse_start_payload("d_2024-03-19").day == date(2024, 3, 19)  # type: ignore[union-attr]
    assert parse_start_payload("subscribe").kind == "subscribe"  # type: ignore[union-attr]
    for bad in ("d_2024-02-30", "p_", "hello world", "x" * 65, "<b>", "pk_zz"):
        assert parse_start_payload(bad) is None


async def answers(emulator: BotApiEmulator, user: int, text: str, offset: str = "") -> dict:
    query_id = emulator.inline_query(user, text, offset)
    await emulator.answered(query_id)
    return {"id": query_id, **emulator.inline_answers[query_id]}


async def test_inline_search_pages_like_search_and_the_card_links_back(seeded, settings) -> None:
    with seeded() as session:
        expected = [p.arxiv_id for p in search_papers(session, "모델", 0, 40).items]
    assert len(expected) == 40
    async with bot_session(settings) as (emulator, _app):
        first = await answers(emulator, USER, "모델")
        assert [r["id"] for r in first["results"]] == [paper_payload(a) for a in expected[:20]]
        assert first["next_offset"] == "20" and int(first["cache_time"]) > 0
        second = await answers(emulator, USER, "모델", first["next_offset"])
        assert [r["id"] for r in second["results"]] == [paper_payload(a) for a in expected[20:]]
        article = first["results"][0]
        assert article["title"] and article["description"].startswith("20")
        # The card, posted in a group by the user who chose it.
        card = emulator.choose_inline(GROUP, USER, first["id"], article["id"])
        assert card.via_bot and card.html.startswith('<b><a href="https://arxiv.org/abs/')
        assert card.text.count("•") <= 3
        link = card.button_of("📄")["url"]
        assert link == f"https://t.me/DailyPapersBot?start={article['id']}"
        # The link opens the paper in full in a private chat with the bot.
        chat = Conversation(emulator, USER, USER)
        opened = await chat.ask(f"/start {link.split('=', 1)[1]}")
        assert f"arXiv {expected[0]}" in opened.text
        assert opened.button_of("↗")["switch_inline_query"] == expected[0]
        assert opened.button_of("🔖")["callback_data"] == f"b:{expected[0]}"
        # An empty query: the newest day's top papers; nothing found: no results.
        newest = await answers(emulator, USER, "")
        assert newest["results"][0]["title"].startswith("CatLIP")
        assert not newest.get("next_offset")
        assert (await answers(emulator, USER, "zzzqqqxxx"))["results"] == []
        hostile = await answers(emulator, USER, "<b>\u200b'; DROP" + "x" * 300)
        assert hostile["results"] == []
    # Requests go as JSON bodies (form-encoding a 20-card answer cost 9 ms); those without
    # parameters have no body at all.
    assert emulator.content_types["application/json"] > 10
    assert set(emulator.content_types) <= {"application/json", "application/octet-stream"}


async def test_a_shared_card_links_to_the_papers_page_on_the_web(seeded, settings) -> None:
    """With the archive on the web, a card shared in any chat also links to the paper's
    public page (a link anyone there can open, a web app button only works privately)."""
    served = dataclasses.replace(
        settings, webapp_url="https://papers.example.org/app", webhook_listen="127.0.0.1",
        webhook_port=0,
    )  # fmt: skip
    async with bot_session(served) as (emulator, _app):
        found = await answers(emulator, USER, "Magicoder")
        article = found["results"][0]
        card = emulator.choose_inline(GROUP, USER, found["id"], article["id"])
    assert card.button_of("🌐")["url"] == "https://papers.example.org/app/paper/2312.02120"
    assert card.button_of("📄")["url"].startswith("https://t.me/DailyPapersBot?start=")


async def test_deep_links_to_a_day_and_to_nothing(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        day = await chat.ask("/start d_2024-03-19")
        assert day.text.startswith("📰 Daily Papers · 2024-03-19")
        missing = await chat.ask("/start p_2499_99999")
        assert says(missing.text, "The linked paper is not in the archive. Try /search.")
        hello = await chat.ask("/start something-else")
        assert hello.text.startswith("📚")


async def test_telegram_refuses_bad_inline_answers() -> None:
    emulator = BotApiEmulator()
    url = await emulator.start()
    emulator.private_chat(USER)
    article = {
        "type": "article",
        "id": "a",
        "title": "t",
        "input_message_content": {"message_text": "x"},
    }
    try:
        async with aiohttp.ClientSession() as http:
            for results, reason in (
                ([article] * 2, "RESULT_ID_DUPLICATE"),
                ([{**article, "id": str(i)} for i in range(51)], "RESULTS_TOO_MUCH"),
                ([{**article, "title": ""}], "RESULT_TITLE_EMPTY"),
                (
                    [
                        {
                            **article,
                            "input_message_content": {"message_text": "<b>x", "parse_mode": "HTML"},
                        }
                    ],
                    "can't parse entities",
                ),
            ):
                query_id = emulator.inline_query(USER, "q")
                body = {"inline_query_id": query_id, "results": results}
                async with http.post(f"{url}/bot1:x/answerInlineQuery", json=body) as answer:
                    assert answer.status == 400
                    assert reason in (await answer.json())["description"]
            async with http.post(
                f"{url}/bot1:x/answerInlineQuery",
                json={"inline_query_id": "never-asked", "results": []},
            ) as answer:
                assert answer.status == 400
    finally:
        await emulator.stop()


async def test_a_paper_in_full_shows_its_thumbnail_above_the_text(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        shown = await chat.ask("/paper 2404.15653")
        assert shown.link_preview == {
            "is_disabled": False,
            "url": "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2404.15653.png",
            "prefer_large_media": True,
            "show_above_text": True,
        }
        day = await chat.ask("/day latest")
        assert day.link_preview == {"is_disabled": True}  # previews stay off elsewhere
        card = await answers(emulator, USER, "CatLIP")
        content = card["results"][0]["input_message_content"]
        assert content["link_preview_options"]["show_above_text"] is True


async def test_added_to_a_group_it_says_hello_once_and_admins_subscribe(seeded, settings) -> None:
    from sqlalchemy import select

    from bot.store.models import Subscription
    from tests.helpers.e2e import ADMIN, MEMBER

    async with bot_session(settings) as (emulator, app):
        hello = await Conversation(emulator, USER, USER).ask("/start")
        invite = hello.button_of("➕")["url"]
        assert invite == "https://t.me/DailyPapersBot?startgroup=subscribe"
        emulator.add_bot(GROUP, ADMIN, payload="subscribe")  # by the link: two updates
        (intro,) = await emulator.replies(GROUP, 1)
        await all_handled(emulator, app)  # both updates handled
        assert not await emulator.replies(GROUP, 0)  # once, not twice
        assert intro.text.startswith("👋") and len(intro.text) < 300
        refused = emulator.press(GROUP, intro.message_id, intro.button("🔔"), MEMBER)
        await emulator.answered(refused)
        assert says(
            emulator.callback_answers[refused]["text"], "Only the group's admins can subscribe it."
        )
        with seeded() as session:
            assert session.get(Subscription, GROUP) is None
        await Conversation(emulator, GROUP, ADMIN).press(intro, "🔔")
        assert starts_with(intro.text, "✅ Subscribed{where}: {settings}\nTo change it: {command}")
        with seeded() as session:
            (sub,) = session.scalars(select(Subscription)).all()
            assert sub.chat_id == GROUP and sub.active
