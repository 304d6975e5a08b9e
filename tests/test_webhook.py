"""Webhook mode: the emulator POSTs updates to the bot's webhook with the secret token, as
Telegram does; a wrong secret is refused; /healthz says whether the bot and store are well."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy import update as sa_update

from bot import webhook
from bot.config import ConfigError, load_settings
from bot.emulator import BotApiEmulator
from bot.handlers.registry import READING
from bot.schedule import expire_queries
from bot.store import updates
from bot.store.models import SeenUpdate
from tests.helpers.e2e import USER, Conversation, bot_session
from tests.helpers.wording import starts_with

PUBLIC = "https://bot.example.org/telegram"
SECRET = "s3cret-token_for-tests"


def webhook_settings(settings):
    return dataclasses.replace(
        settings,
        webhook_url=PUBLIC,
        webhook_secret=SECRET,
        webhook_listen="127.0.0.1",
        webhook_port=0,
    )


async def test_updates_arrive_by_webhook_and_a_wrong_secret_is_refused(seeded, settings) -> None:
    async with bot_session(webhook_settings(settings), route_webhook=True) as (emulator, app):
        assert emulator.webhook == {"url": PUBLIC, "secret_token": SECRET}
        chat = Conversation(emulator, USER, USER)
        reply = await chat.ask("/day latest")
        assert reply.text.startswith("📰")
        assert "getupdates" not in emulator.calls  # no polling in webhook mode
        assert emulator.webhook_answers and set(emulator.webhook_answers) == {200}
        local = f"http://127.0.0.1:{app.webhook.port}"
        update = {"update_id": 999, "message": {"message_id": 1, "date": 0, "text": "/help"}}
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                async with http.post(local + "/telegram", json=update, headers=headers) as answer:
                    assert answer.status == 403
            async with http.get(local + "/healthz") as answer:
                assert answer.status == 200
                assert json.loads(await answer.text()) == {"ok": True, "leader": True}
            app.services.close()  # the store stops answering
            async with http.get(local + "/healthz") as answer:
                assert answer.status == 503 and (await answer.json())["ok"] is False


async def test_telegram_refuses_a_webhook_that_is_not_https_on_an_allowed_port() -> None:
    emulator = BotApiEmulator()
    url = await emulator.start()
    try:
        async with aiohttp.ClientSession() as http:
            for hook, reason in (
                ("http://bot.example.org/x", "HTTPS url must be provided"),
                ("https://bot.example.org:9000/x", "ports 80, 88, 443 or 8443"),
            ):
                async with http.post(f"{url}/bot1:x/setWebhook", json={"url": hook}) as answer:
                    body = await answer.json()
                    assert answer.status == 400 and reason in body["description"]
            async with http.post(
                f"{url}/bot1:x/setWebhook", json={"url": PUBLIC, "secret_token": "no spaces"}
            ) as answer:
                assert answer.status == 400
            async with http.post(f"{url}/bot1:x/setWebhook", json={"url": PUBLIC}) as answer:
                assert answer.status == 200
            async with http.post(f"{url}/bot1:x/getUpdates", json={}) as answer:
                assert answer.status == 409  # polling while a webhook is set
    finally:
        await emulator.stop()


def test_webhook_settings(tmp_path) -> None:
    env = {"WEBHOOK_URL": PUBLIC, "WEBHOOK_SECRET": SECRET, "WEBHOOK_PORT": "8443"}
    settings = load_settings(env, Path(os.devnull))
    assert settings.webhook_port == 8443 and SECRET not in repr(settings)
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings({**env, "WEBHOOK_SECRET": "has spaces"}, Path(os.devnull))
    with pytest.raises(ConfigError, match="WEBHOOK_PORT"):
        load_settings({**env, "WEBHOOK_PORT": "eighty"}, Path(os.devnull))


def forged(update_id: int, text: str = "/stats", user: int = 1000) -> dict:
    """A message update "from" an operator, as a stranger who found the port would post it."""
    chat = {"id": USER, "type": "private", "first_name": "x"}
    sender = {"id": user, "is_bot": False, "first_name": "x"}
    entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    message = {"message_id": 77, "date": 0, "chat": chat, "from": sender, "text": text}
    return {"update_id": update_id, "message": {**message, "entities": entities}}


async def test_without_a_configured_secret_the_webhook_still_has_one(seeded, settings) -> None:
    """No WEBHOOK_SECRET: the bot derives one from its token (every instance alike) and sets
    it with setWebhook; a POST without it is refused, whoever sends it."""
    unset = dataclasses.replace(webhook_settings(settings), webhook_secret=None)
    async with bot_session(unset, route_webhook=True) as (emulator, app):
        assert emulator.webhook is not None
        secret = emulator.webhook["secret_token"]
        assert secret and re.fullmatch(r"[A-Za-z0-9_-]{32,256}", secret)
        assert starts_with((await Conversation(emulator, USER, USER).ask("/help")).text, READING)
        local = f"http://127.0.0.1:{app.webhook.port}/telegram"
        async with aiohttp.ClientSession() as http, http.post(local, json=forged(5000)) as answer:
            assert answer.status == 403
        await asyncio.sleep(0.3)
        assert not [m for m in emulator.messages_in(USER) if m.text.startswith("papers:")]
    async with bot_session(unset, route_webhook=True) as (again, _app):
        assert (
            again.webhook is not None and again.webhook["secret_token"] == secret
        )  # the same secret, derived again


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"update_id": "x"}',
        b'{"update_id": 7, "message": "no"}',
        b'{"update_id": 8, "message": {"chat": 1}}',
        b"[" * 100_000 + b"]" * 100_000,
        b"{not json",
        b"\xff\xfe",
        b"[]",
    ],
)
async def test_a_body_that_is_no_update_is_dropped_with_200_and_one_warning(
    seeded, settings, caplog, body: bytes
) -> None:
    """Telegram retries what gets no 2xx, forever: a bad body (with the right secret) is
    answered 200 and dropped, with one warning line and no traceback."""
    async with bot_session(webhook_settings(settings), route_webhook=True) as (emulator, app):
        local = f"http://127.0.0.1:{app.webhook.port}/telegram"
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(local, data=body, headers=headers) as answer,
        ):
            assert answer.status == 200
        assert (await Conversation(emulator, USER, USER).ask("/help")).text  # still answering
    warnings = [r for r in caplog.records if r.name == "bot.webhook" and r.levelname == "WARNING"]
    assert len(warnings) == 1 and "dropped" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info], "no tracebacks"


async def test_an_update_telegram_sends_again_is_handled_once(seeded, settings) -> None:
    """Telegram re-sends an update it got no 2xx for, maybe to another instance: each
    update_id is handled once (the record is in the shared store)."""
    async with bot_session(webhook_settings(settings), route_webhook=True) as (emulator, app):
        local = f"http://127.0.0.1:{app.webhook.port}/telegram"
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                async with http.post(
                    local, json=forged(6000, "/day latest", USER), headers=headers
                ) as answer:
                    assert answer.status == 200
        await emulator.wait_until(lambda: bool(emulator.messages_in(USER)))
        await asyncio.sleep(0.5)
    assert len(emulator.messages_in(USER)) == 1


async def test_a_half_sent_request_is_not_kept_forever(seeded, settings, monkeypatch) -> None:
    """A client that opens a connection and sends part of a request is cut off."""
    monkeypatch.setattr(webhook, "IDLE_SECONDS", 1.0)
    async with bot_session(webhook_settings(settings), route_webhook=True) as (_emulator, app):
        for partial in (
            b"POST /telegram HTTP/1.1\r\nHost: x\r\n",  # headers never end
            b"POST /telegram HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",  # nor the body
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", app.webhook.port)
            writer.write(partial)
            await writer.drain()
            rest = await asyncio.wait_for(reader.read(), 10)  # b"" or a 408: closed either way
            assert reader.at_eof(), rest
            writer.close()


async def test_records_of_handled_updates_expire_with_the_hourly_tidy_up(Store, settings) -> None:
    with Store() as session:
        assert updates.first_sighting(session, 7) and updates.first_sighting(session, 8)
        assert not updates.first_sighting(session, 8)
        session.execute(
            sa_update(SeenUpdate)
            .where(SeenUpdate.update_id == 7)
            .values(seen_at=datetime.now(UTC) - updates.KEEP - timedelta(hours=1))
        )
        session.commit()
    async with bot_session(settings) as (_emulator, app):
        await expire_queries(SimpleNamespace(services=app.services))  # type: ignore[arg-type]
    with Store() as session:
        assert session.scalars(select(SeenUpdate.update_id)).all() == [8]
