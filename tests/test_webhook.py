"""Webhook mode: the emulator POSTs updates to the bot's webhook with the secret token, as
Telegram does; a wrong secret is refused; /healthz says whether the bot and store are well."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import aiohttp
import pytest

from bot.config import ConfigError, load_settings
from bot.emulator import BotApiEmulator
from tests.helpers.e2e import USER, Conversation, bot_session

PUBLIC = "https://bot.example.org/telegram"
SECRET = "s3cret-token_for-tests"


def webhook_settings(settings):  # type: ignore[no-untyped-def]
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
            async with http.post(
                local + "/telegram",
                data=b"{not json",
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            ) as answer:
                assert answer.status == 400
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
