"""The web archive through the bot's own HTTP server: the JSON API, its personal part behind
Telegram's signed launch data, the Atom feeds, the security headers; bookmarks and follows
made in the app are the chat's."""

from __future__ import annotations

import asyncio
import html
import json
import re
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from bot.emulator.webapp import init_data, launch_url
from bot.store import search as search_module
from bot.web import SEARCHES
from bot.web.auth import MAX_AGE, Unauthorized, caller, check_init_data
from bot.web.pages import WORDS
from bot.web.searches import LIMIT, RETRY_AFTER
from tests.helpers.e2e import APP, GROUP, MEMBER, TOKEN, USER, Conversation, bot_session, served
from tests.helpers.wording import ko

OTHER_USER = 777_001
ATOM = "{http://www.w3.org/2005/Atom}"
PAPER_FIELDS = {"id", "title", "url", "date", "votes", "authors", "summary", "media"}


# --- who a call is for -------------------------------------------------------------------


def test_launch_data_signed_for_this_bot_names_its_user() -> None:
    user = check_init_data(init_data(TOKEN, USER, "en"), TOKEN)
    assert user.id == USER and user.language == "en"
    assert caller(f"tma {init_data(TOKEN, USER)}", TOKEN).id == USER


@pytest.mark.parametrize(
    "forge",
    [
        lambda data: data.replace(f"%22id%22%3A{USER}", f"%22id%22%3A{OTHER_USER}"),  # another user
        lambda data: init_data("654321:another-bot", USER),  # signed for another bot
        lambda data: init_data(TOKEN, USER, signed_at=time.time() - MAX_AGE - 1),  # a day old
        lambda data: init_data(TOKEN, USER, signed_at=time.time() + 3600),  # from the future
        lambda data: data.split("&hash=")[0],  # not signed
        lambda data: data + "&hash=" + "0" * 64,  # a field twice
        lambda data: "%%%",
        lambda data: "",
    ],
)
def test_forged_expired_and_foreign_launch_data_are_refused(forge) -> None:
    data = forge(init_data(TOKEN, USER))
    with pytest.raises(Unauthorized):
        check_init_data(data, TOKEN)


def test_a_personal_call_needs_the_tma_scheme() -> None:
    for header in (None, "", "Bearer x", init_data(TOKEN, USER), "tma "):
        with pytest.raises(Unauthorized):
            caller(header, TOKEN)


def test_a_launch_url_carries_the_data_in_its_fragment() -> None:
    url = launch_url(APP, init_data(TOKEN, USER))
    fragment = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).fragment))
    assert check_init_data(fragment["tgWebAppData"], TOKEN).id == USER
    assert json.loads(fragment["tgWebAppThemeParams"])["bg_color"]


# --- the archive, through the bot's server -----------------------------------------------


@asynccontextmanager
async def archive(settings) -> AsyncIterator[tuple[Any, Any, str]]:
    async with bot_session(served(settings)) as (emulator, app), aiohttp.ClientSession() as http:
        yield emulator, http, f"http://127.0.0.1:{app.webhook.port}/app"


def signed(user_id: int = USER) -> dict[str, str]:
    return {"Authorization": f"tma {init_data(TOKEN, user_id)}"}


async def get(http, url: str, **options) -> tuple[int, Any]:
    async with http.get(url, **options) as answer:
        return answer.status, await answer.json()


async def test_the_public_api_answers_as_the_chat_does(seeded, settings) -> None:
    async with archive(settings) as (_emulator, http, base):
        status, day = await get(http, f"{base}/api/day/latest")
        assert status == 200 and day["papers"] and day["next"] is None and day["previous"]
        assert set(day["papers"][0]) == PAPER_FIELDS
        status, before = await get(http, f"{base}/api/day/{day['previous']}")
        assert status == 200 and before["next"] == day["date"]
        status, found = await get(http, f"{base}/api/search", params={"q": "확산 모델"})
        assert status == 200 and found["total"] >= 1 and found["query"] == "확산 모델"
        status, paper = await get(http, f"{base}/api/paper/2312.02120")
        assert status == 200 and paper["title"].startswith("Magicoder") and paper["days"]
        assert paper["url"] == "https://arxiv.org/abs/2312.02120"
        status, by = await get(http, f"{base}/api/author", params={"name": "remi munos"})
        assert status == 200 and by["name"] == "Rémi Munos" and by["papers"]
        status, top = await get(http, f"{base}/api/top", params={"period": "month"})
        assert status == 200 and top["papers"] and top["last"] == day["date"]
        votes = [p["votes"] or 0 for p in top["papers"]]
        assert votes == sorted(votes, reverse=True)
        status, alike = await get(http, f"{base}/api/similar/2312.02120")
        assert status == 200 and alike["papers"]
        assert "2312.02120" not in [p["id"] for p in alike["papers"]]


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("api/day/someday", {}, 400),
        ("api/day/2020-01-01", {}, 404),
        ("api/search", {}, 400),
        ("api/search", {"q": "확산", "offset": "-1"}, 400),
        ("api/search", {"q": "x" * 201}, 400),
        ("api/author", {"name": " "}, 400),
        ("api/top", {"period": "2024-13"}, 400),
        ("api/paper/not-a-paper", {}, 400),
        ("api/paper/2499.99999", {}, 404),
        ("api/similar/2499.99999", {}, 404),
    ],
)
async def test_bad_api_calls_get_a_clear_error(seeded, settings, path, params, status) -> None:
    async with archive(settings) as (_emulator, http, base):
        got, body = await get(http, f"{base}/{path}", params=params)
    assert got == status and isinstance(body["error"], str) and body["error"]


async def test_a_flood_of_scans_from_the_web_is_refused_not_queued(
    seeded, settings, monkeypatch
) -> None:
    """A one-syllable search is a scan; anyone may ask the public archive for many at once.
    Past ``LIMIT`` running or waiting, one more is refused at once (429, Retry-After) in
    the API, the pages and the feeds; the scans under way still answer, and the chat and
    indexed searches are not held up meanwhile."""
    scanned = search_module._scanned_page
    release = threading.Event()

    def held_scan(*args, **kwargs):
        release.wait(30)
        return scanned(*args, **kwargs)

    async with bot_session(served(settings)) as (emulator, app), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{app.webhook.port}/app"
        monkeypatch.setattr(search_module, "_scanned_page", held_scan)
        held = [
            asyncio.ensure_future(get(http, f"{base}/api/search", params={"q": syllable}))
            for syllable in "확산모델"[:LIMIT]
        ]
        searches = app.webhook.app[SEARCHES]
        await emulator.wait_until(lambda: searches.slow_pending == LIMIT)
        async with http.get(f"{base}/api/search", params={"q": "뇌"}) as answer:
            assert answer.status == 429 and answer.headers["Retry-After"] == str(RETRY_AFTER)
            assert (await answer.json())["code"] == "busy"
        async with http.get(f"{base}/search", params={"q": "뇌"}) as answer:
            assert answer.status == 429 and answer.headers["Retry-After"]
            assert answer.headers["Cache-Control"] == "no-store"
            assert ko(WORDS["busy"]) in html.unescape(await answer.text())
        async with http.get(f"{base}/feed/search.atom", params={"q": "뇌"}) as answer:
            assert answer.status == 429
        status, indexed = await get(http, f"{base}/api/search", params={"q": "확산 모델"})
        assert status == 200 and indexed["total"]
        reply = await Conversation(emulator, USER, USER).ask("/paper 2312.02120")
        assert reply.text.startswith("Magicoder")
        release.set()
        answers = await asyncio.gather(*held)
    assert [status for status, _body in answers] == [200] * LIMIT


async def test_bookmarks_and_follows_made_in_the_app_are_the_chats(seeded, settings) -> None:
    async with archive(settings) as (emulator, http, base):
        for headers in ({}, {"Authorization": "tma forged"}, signed(0) | {"Authorization": "x"}):
            status, body = await get(http, f"{base}/api/saved", headers=headers)
            assert status == 401 and "error" in body
        async with http.put(f"{base}/api/saved/2312.02120", headers=signed()) as answer:
            assert answer.status == 200 and answer.headers["Cache-Control"].startswith("private")
        status, saved = await get(http, f"{base}/api/saved", headers=signed())
        assert [p["id"] for p in saved["papers"]] == ["2312.02120"]
        status, theirs = await get(http, f"{base}/api/saved", headers=signed(OTHER_USER))
        assert theirs["papers"] == []  # each user sees their own only
        chat = Conversation(emulator, USER, USER)
        assert "Magicoder" in (await chat.ask("/saved")).text

        async with http.post(
            f"{base}/api/follows", json={"text": "Rémi  Munos"}, headers=signed()
        ) as answer:
            added = await answer.json()
            assert answer.status == 200 and added["added"] is True
        assert "Rémi Munos" in (await chat.ask("/following")).text
        rule = added["rules"][0]["id"]
        async with http.delete(f"{base}/api/follows/{rule}", headers=signed(OTHER_USER)) as answer:
            assert answer.status == 404  # not theirs to remove
        async with http.delete(f"{base}/api/follows/{rule}", headers=signed()) as answer:
            assert answer.status == 200
        async with http.post(f"{base}/api/watches", data="{", headers=signed()) as answer:
            assert answer.status == 400
        async with http.delete(f"{base}/api/saved/2312.02120", headers=signed()) as answer:
            assert answer.status == 200
        status, saved = await get(http, f"{base}/api/saved", headers=signed())
        assert saved["papers"] == []


async def test_every_answer_carries_the_security_headers(seeded, settings) -> None:
    async with archive(settings) as (_emulator, http, base):
        for path in ("api/day/latest", "api/saved", "api/nothing-here", "feed/latest.atom"):
            async with http.get(f"{base}/{path}") as answer:
                policy = answer.headers["Content-Security-Policy"]
                assert "default-src 'self'" in policy and "script-src 'self'" in policy
                assert answer.headers["X-Content-Type-Options"] == "nosniff"
                assert answer.headers["Referrer-Policy"] == "no-referrer"


async def test_atom_feeds_link_each_paper_to_its_page_and_to_arxiv(seeded, settings) -> None:
    async with archive(settings) as (_emulator, http, base):
        for path, params in (
            ("feed/latest.atom", {}),
            ("feed/search.atom", {"q": "확산"}),
            ("feed/author.atom", {"name": "Rémi Munos"}),
        ):
            async with http.get(f"{base}/{path}", params=params) as answer:
                assert answer.status == 200
                assert answer.content_type == "application/atom+xml"
                feed = ET.fromstring(await answer.read())
            entries = feed.findall(f"{ATOM}entry")
            assert entries, path
            stamps = [e.findtext(f"{ATOM}updated") or "" for e in entries]
            assert stamps == sorted(stamps, reverse=True)  # newest first
            for entry in entries:
                links = {link.get("rel"): link.get("href") for link in entry.findall(f"{ATOM}link")}
                arxiv_id = (links["related"] or "").removeprefix("https://arxiv.org/abs/")
                assert links["alternate"] == f"{APP}/paper/{arxiv_id}"
        async with http.get(f"{base}/feed/search.atom") as answer:
            assert answer.status == 400


# --- the pages ---------------------------------------------------------------------------


async def fetch(http, url: str, **options) -> tuple[int, str]:
    async with http.get(url, **options) as answer:
        return answer.status, await answer.text()


def loaded_from(html: str) -> list[str]:
    """What a page makes the browser load: scripts, styles, images, icons."""
    return re.findall(r'<(?:script|img|link)\b[^>]*?(?:src|href)="([^"]+)"', html)


async def test_the_pages_show_the_archive_and_load_only_from_the_bot(seeded, settings) -> None:
    async with archive(settings) as (_emulator, http, base):
        status, home = await fetch(http, f"{base}/")
        assert status == 200 and '<input type="search"' in home and 'lang="ko"' in home
        status, newest = await get(http, f"{base}/api/day/latest")
        assert newest["date"] in home and newest["papers"][0]["title"] in html.unescape(home)
        status, paper = await fetch(http, f"{base}/paper/2312.02120")
        text = html.unescape(paper)
        assert status == 200 and "Magicoder" in text and "@misc{arxiv231202120," in text
        assert "/app/author?name=" in paper and 'id="bookmark"' in paper
        assert "https://arxiv.org/pdf/2312.02120" in paper
        status, found = await fetch(http, f"{base}/search", params={"q": "확산 모델"})
        assert status == 200 and 'value="확산 모델"' in found and 'class="papers"' in found
        status, missing = await fetch(http, f"{base}/paper/2499.99999")
        assert status == 404 and ko("No such paper in the archive.") in missing
        status, english = await fetch(http, f"{base}/", headers={"Accept-Language": "en-US"})
        assert 'lang="en"' in english and "Search papers" in english
        weight = len(home.encode())
        for resource in loaded_from(home) + loaded_from(paper):
            if resource.startswith("https://"):  # paper thumbnails, where the digests point
                continue
            assert resource.startswith("/app/"), resource
            status, body = await fetch(
                http, f"http://127.0.0.1:{urllib.parse.urlsplit(base).port}{resource}"
            )
            assert status == 200, resource
            weight += len(body.encode()) if resource.endswith((".css", ".js")) else 0
    assert weight <= 100_000, weight


def links_in(page: str) -> set[str]:
    return {html.unescape(href) for href in re.findall(r'<a\b[^>]*?href="([^"]+)"', page)}


async def test_every_link_between_the_pages_leads_to_a_page(seeded, settings) -> None:
    """The lists, pagers and paper pages link within the archive, under its own path."""
    async with archive(settings) as (_emulator, http, base):
        origin = base.removesuffix("/app")
        starts = ["/", "/search?q=확산 모델", "/paper/2312.02120", "/top?period=month"]
        seen: dict[str, int] = {}
        for start in starts:
            status, page = await fetch(http, f"{base}{start}")
            assert status == 200, start
            for link in links_in(page):
                if link.startswith(("https://", "http://")):
                    continue  # arXiv, the PDF, sharing: outside the archive
                assert link.startswith("/app/") or link == "/app", (start, link)
                if link not in seen:
                    seen[link], _ = await fetch(http, f"{origin}{link}")
    broken = {link: status for link, status in seen.items() if status != 200}
    assert len(seen) > 20 and broken == {}, broken


async def test_the_chat_opens_the_app_and_copies_a_citation(seeded, settings) -> None:
    """The menu button opens the app; /start and a paper in a private chat offer it; every
    paper view carries its BibTeX to copy (within Telegram's 256 characters), in a group too,
    where Telegram takes no web_app button."""
    async with archive(settings) as (emulator, _http, _base):
        assert emulator.menu_buttons[0]["web_app"]["url"] == APP
        chat = Conversation(emulator, USER, USER)
        assert (await chat.ask("/start")).button_of("📱")["web_app"]["url"] == APP
        many = await chat.ask("/paper 2312.02120")
        assert many.button_of("📱")["web_app"]["url"] == f"{APP}/paper/2312.02120"
        cite = many.button_of("📋")["copy_text"]["text"]
        assert cite.startswith("@misc{arxiv231202120,") and len(cite) <= 256
        assert "Magicoder" in cite and cite.endswith("}")
        group = Conversation(emulator, GROUP, MEMBER)
        shown = await group.ask("/paper 2404.15653")
        assert len(shown.button_of("📋")["copy_text"]["text"]) <= 256
        assert shown.reply_markup is not None
        assert all("web_app" not in b for row in shown.reply_markup["inline_keyboard"] for b in row)
