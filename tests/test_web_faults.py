"""The web archive against hostile and odd input: limits raced from many connections, text
that is not XML, numbers that are not numbers, floods from one client, slow bodies, errors
that keep their headers and the API's shape; and BibTeX that LaTeX reads as written."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from datetime import date

import aiohttp
import pytest

from bot import render
from bot.arguments import UsageError, parse_count, parse_top_arg
from bot.config import ConfigError, load_settings
from bot.digest import parse_digest
from bot.emulator.webapp import init_data, sign
from bot.store import feed, rules
from bot.store.models import RuleKind
from bot.web import guard
from bot.web.auth import Unauthorized, check_init_data
from bot.web.guard import ClientLimits, client_address, trusted_networks
from tests.helpers.digests import load_paths
from tests.helpers.e2e import TOKEN, USER, Conversation, bot_session, served
from tests.helpers.wording import says

TOP_USAGE = "Usage: /top [week | month | YYYY-MM] (e.g. /top month, /top 2024-03)"


def signed(user_id: int = USER) -> dict[str, str]:
    return {"Authorization": f"tma {init_data(TOKEN, user_id)}"}


# --- numbers that are not numbers ----------------------------------------------------------


@pytest.mark.parametrize("text", ["²", "٣", "1e3", "-1", " 1", "99999999999999999999999", ""])
def test_a_count_is_ascii_digits_within_bounds(text: str) -> None:
    assert parse_count(text, 10_000) is None


def test_a_count_within_bounds_is_read() -> None:
    assert parse_count("0", 10) == 0 and parse_count("10", 10) == 10


@pytest.mark.parametrize("text", ["9999-12", "0000-01", "2024-13", "2024-00"])
def test_a_month_that_is_no_calendar_month_gets_the_usage(text: str) -> None:
    with pytest.raises(UsageError):
        parse_top_arg(text, date(2024, 4, 25))


@pytest.mark.parametrize("user_id", ["10**30", "1e400", "true", '"42"', "-5", "0"])
def test_launch_data_with_an_impossible_user_id_is_refused(user_id: str) -> None:
    user = '{"id":' + (str(10**30) if user_id == "10**30" else user_id) + "}"
    fields = {"user": user, "auth_date": str(int(__import__("time").time()))}
    fields["hash"] = sign(fields, TOKEN)
    data = "&".join(f"{k}={__import__('urllib.parse').parse.quote(v)}" for k, v in fields.items())
    with pytest.raises(Unauthorized):
        check_init_data(data, TOKEN)


async def test_odd_numbers_and_months_get_clear_answers_not_500s(seeded, settings) -> None:
    async with bot_session(served(settings)) as (emulator, app):
        base = f"http://127.0.0.1:{app.webhook.port}/app"
        async with aiohttp.ClientSession() as http:
            for path in ("api/search?q=모델&offset=²", "api/top?offset=²", "api/saved?offset=²"):
                async with http.get(f"{base}/{path}", headers=signed()) as answer:
                    assert answer.status == 400, path
                    assert "offset" in (await answer.json())["error"]
            for path in ("search?q=모델&offset=²", "top?offset=²", "author?name=kim&offset=²"):
                async with http.get(f"{base}/{path}") as answer:
                    assert answer.status == 200, path  # a lost link shows the first page
            for period in ("9999-12", "0000-01"):
                async with http.get(f"{base}/api/top", params={"period": period}) as answer:
                    assert answer.status == 400
                async with http.get(f"{base}/top", params={"period": period}) as answer:
                    assert answer.status == 400
            huge = "99999999999999999999999"
            async with http.delete(f"{base}/api/follows/{huge}", headers=signed()) as answer:
                assert answer.status == 404 and (await answer.json())["error"]
        chat = Conversation(emulator, USER, USER)
        for period in ("9999-12", "0000-01"):
            reply = await chat.ask(f"/top {period}")
            assert says(reply.text, TOP_USAGE)


# --- the API's errors keep its shape and the headers ---------------------------------------


async def test_errors_are_json_under_the_api_and_carry_the_headers(seeded, settings) -> None:
    async with bot_session(served(settings)) as (_emulator, app):
        base = f"http://127.0.0.1:{app.webhook.port}/app"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/no-such-thing") as answer:
                assert answer.status == 404 and answer.content_type == "application/json"
                assert (await answer.json())["error"]
                assert answer.headers["X-Content-Type-Options"] == "nosniff"
            async with http.post(f"{base}/api/search") as answer:
                assert answer.status == 405 and answer.content_type == "application/json"
                assert "GET" in answer.headers.get("Allow", "")
                assert "Content-Security-Policy" in answer.headers


@pytest.mark.parametrize("bug", [RuntimeError, KeyError])  # a KeyError is no 404
async def test_a_view_that_fails_is_a_500_with_the_headers(
    seeded, settings, monkeypatch, bug: type[Exception]
) -> None:
    from bot.store import queries

    def broken(*args, **kwargs):
        raise bug("a bug")

    monkeypatch.setattr(queries, "day_listing", broken)
    async with bot_session(served(settings)) as (_emulator, app):
        base = f"http://127.0.0.1:{app.webhook.port}/app"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/day/latest") as answer:
                assert answer.status == 500 and (await answer.json())["error"]
                assert answer.headers["X-Content-Type-Options"] == "nosniff"
            async with http.get(f"{base}/") as answer:
                assert answer.status == 500 and "Content-Security-Policy" in answer.headers


@pytest.mark.parametrize("url", ["https://x/{id}", "https://x/a b", "https://x/<a>"])
def test_a_webapp_url_whose_path_the_server_cannot_serve_is_one_line(url: str) -> None:
    with pytest.raises(ConfigError, match="WEBAPP_URL"):
        load_settings({"WEBAPP_URL": url, "BOT_CONFIG": "/dev/null"})


# --- limits raced from many connections ----------------------------------------------------


async def test_limits_hold_against_concurrent_adds_from_the_web(seeded, settings) -> None:
    async with bot_session(served(settings, web_requests_per_second=0)) as (_emulator, app):
        base = f"http://127.0.0.1:{app.webhook.port}/app/api"
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def follow(n: int) -> int:
                body = {"text": f"author number {n}"}
                async with http.post(f"{base}/follows", json=body, headers=signed()) as answer:
                    return answer.status

            statuses = await asyncio.gather(*(follow(n) for n in range(rules.MAX_RULES + 40)))
    assert statuses.count(200) == rules.MAX_RULES
    with seeded() as session:
        kept = rules.chat_rules(session, USER, RuleKind.FOLLOW)
    assert len(kept) == rules.MAX_RULES


def test_bookmarks_stop_at_the_limit_when_saved_at_once(seeded, monkeypatch) -> None:
    """Threads, each with its own session, as the web's database threads are."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(feed, "MAX_BOOKMARKS", 5)
    with seeded() as session:
        from sqlalchemy import select

        from bot.store.models import Paper

        ids = session.scalars(select(Paper.arxiv_id).limit(30)).all()

    def save(arxiv_id: str) -> feed.Toggled:
        with seeded() as session:
            return feed.save_bookmark(session, USER, arxiv_id)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(save, ids))
    assert results.count(feed.Toggled.SAVED) == 5
    with seeded() as session:
        assert feed.bookmarks(session, USER, 0, 100).total == 5


# --- feeds are XML whatever the text -------------------------------------------------------


ODD_DAY = """## Daily Papers (2024-05-03)

### [Odd \ufffe title \uffff here](https://arxiv.org/abs/2405.00001)
Vote: 3
Authors: Kim \uffffMinsu, Lee Jiho
- ***What's New***: 확산 모델 \x1b 이야기.
"""


async def test_feeds_stay_xml_whatever_the_text_and_the_query(seeded, settings, tmp_path) -> None:
    odd = tmp_path / "2024-05-03.md"
    odd.write_text(ODD_DAY, encoding="utf-8")
    load_paths(seeded, odd)
    async with bot_session(served(settings)) as (_emulator, app):
        base = f"http://127.0.0.1:{app.webhook.port}/app/feed"
        async with aiohttp.ClientSession() as http:
            urls = [f"{base}/latest.atom"]
            for raw in ("%00x", "%01x", "%1Bx", "%EF%BF%BEx", "a%20b%22%3Cc", "%ED%99%95%EC%82%B0"):
                urls += [f"{base}/search.atom?q={raw}", f"{base}/author.atom?name={raw}"]
            for url in urls:
                async with http.get(url) as answer:
                    body = await answer.text()
                    assert answer.status == 200, url
                root = ET.fromstring(body)  # well-formed, or this raises
                feed_id = root.findtext("{http://www.w3.org/2005/Atom}id") or ""
                assert re.fullmatch(r"[\x21-\x7e]+", feed_id), feed_id  # a URI: ASCII, no space
                assert "\ufffe" not in body and "\uffff" not in body


def test_noncharacters_do_not_survive_loading() -> None:
    (day,) = parse_digest(ODD_DAY, "2024-05-03.md").days
    (paper,) = day.papers
    assert "\ufffe" not in paper.title and "\uffff" not in "".join(paper.authors)


# --- one client's flood, slow bodies -------------------------------------------------------


def test_a_client_gets_a_burst_then_a_steady_rate() -> None:
    now = [0.0]
    limits = ClientLimits(rate=2, burst=4, clock=lambda: now[0])
    assert [limits.take("a") for _ in range(4)] == [0, 0, 0, 0]
    assert limits.take("a") == pytest.approx(0.5)
    assert limits.take("b") == 0  # another client has its own
    now[0] = 0.5
    assert limits.take("a") == 0


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "client"),
    [
        ("203.0.113.5", None, "", "203.0.113.5"),
        ("203.0.113.5", "1.2.3.4", "", "203.0.113.5"),  # not from a proxy: ignored
        ("10.0.0.2", "1.2.3.4", "10.0.0.0/8", "1.2.3.4"),
        ("10.0.0.2", "6.6.6.6, 1.2.3.4", "10.0.0.0/8", "1.2.3.4"),  # the client wrote 6.6.6.6
        ("10.0.0.2", "1.2.3.4, 10.0.0.9", "10.0.0.0/8", "1.2.3.4"),  # two proxies
        ("10.0.0.2", "junk", "10.0.0.0/8", "10.0.0.2"),
    ],
)
def test_the_client_is_the_peer_unless_a_trusted_proxy_says(peer, forwarded, proxies, client):
    assert client_address(peer, forwarded, trusted_networks(proxies)) == client


async def test_a_flooding_client_is_answered_429_and_others_are_not(seeded, settings) -> None:
    limited = served(settings, web_requests_per_second=5, web_trusted_proxies="127.0.0.1")
    async with bot_session(limited) as (_emulator, app):
        base = f"http://127.0.0.1:{app.webhook.port}/app/api/day/latest"
        async with aiohttp.ClientSession() as http:

            async def ask(client: str) -> aiohttp.ClientResponse:
                async with http.get(base, headers={"X-Forwarded-For": client}) as answer:
                    await answer.read()
                    return answer

            flood = await asyncio.gather(*(ask("198.51.100.7") for _ in range(40)))
            other = await ask("198.51.100.8")
    refused = [a for a in flood if a.status == 429]
    assert refused and all(int(a.headers["Retry-After"]) >= 1 for a in refused)
    assert 20 - 5 <= sum(a.status == 200 for a in flood) <= 20 + 5  # the burst, give or take
    assert other.status == 200


async def test_a_body_that_trickles_in_is_cut_off(seeded, settings, monkeypatch) -> None:
    monkeypatch.setattr(guard, "DEADLINE_SECONDS", 1.0)
    async with bot_session(served(settings)) as (_emulator, app):
        port = app.webhook.port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        auth = signed()["Authorization"]
        writer.write(
            (
                "POST /app/api/follows HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: {auth}\r\nContent-Length: 100\r\n\r\n{{"
            ).encode()
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)  # never a byte more from us
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408")


# --- BibTeX that LaTeX reads ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Q&A with 100% of it", r"Q\&A with 100\% of it"),
        (r"$\nabla^2$DFT: a universal benchmark", r"$\nabla^2${DFT}: a universal benchmark"),
        (r"\textsc{Magicoder}: source code", r"\textsc{Magicoder}: source code"),
        ("x^2 and a_b #1", r"x\^{}2 and a\_b \#1"),
        ("LLMs and LoRA", "{LLMs} and {LoRA}"),
        ("Unbalanced { brace", "Unbalanced  brace"),
    ],
)
def test_a_bibtex_title_is_latex_as_written(title: str, expected: str) -> None:
    assert render.latex(title, protect=True) == expected


def test_a_bibtex_year_is_the_arxiv_ids() -> None:
    assert render.arxiv_year("2312.02120", 2024) == 2023
    assert render.arxiv_year("hep-th/9901001", 2024) == 1999
    assert render.arxiv_year("odd", 2024) == 2024


# --- the web alone -----------------------------------------------------------------------


@pytest.mark.slow
async def test_python_m_bot_web_serves_the_archive_alone(seeded, settings) -> None:
    """No token, no Telegram: the archive's pages, API and feeds; personal calls 401."""
    import os
    import signal
    import sys

    from tests.helpers.digests import ROOT
    from tests.helpers.e2e import free_port

    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": settings.database_url,
        "BOT_CONFIG": os.devnull,
        "WEBHOOK_PORT": str(port),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "web", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert line.startswith(f"serving the archive at http://127.0.0.1:{port}/app/"), line
        base = f"http://127.0.0.1:{port}/app"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/") as answer:
                assert answer.status == 200 and "Daily Papers" in await answer.text()
            async with http.get(f"{base}/api/day/latest") as answer:
                assert answer.status == 200 and (await answer.json())["papers"]
            async with http.get(f"{base}/feed/latest.atom") as answer:
                ET.fromstring(await answer.text())
            async with http.get(f"{base}/api/saved", headers=signed()) as answer:
                assert answer.status == 401  # no BOT_TOKEN to check launch data with
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
