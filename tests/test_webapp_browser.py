"""The Mini App in a real browser (Debian's chromium, driven by playwright), opened the way
Telegram opens it: the URL fragment carries signed launch data and the theme. The newest
day, a search, a paper, its bookmark, found again in the chat's /saved; a follow and a
watch added in the app, found in the chat's /following and /watching; Telegram's Back
button and haptics spoken through the client bridge; forged or expired launch data gets
nothing personal; no script, style, font or data request leaves the
machine. A screenshot of each view is saved (``WEBAPP_SCREENSHOTS`` names a folder for
them; else the test's own)."""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.parse
import zlib
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.emulator.webapp import init_data, launch_url
from bot.web.auth import MAX_AGE
from tests.helpers.e2e import TOKEN, USER, Conversation, bot_session, served
from tests.helpers.wording import ko

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt install chromium)"),
]
playwright = pytest.importorskip("playwright.async_api")


async def shot(page, path: Path, *words: str) -> None:
    """Save a screenshot of the view, once its ``words`` are drawn on screen (visible,
    within the window), and check that the picture is not blank."""
    height = page.viewport_size["height"]
    for text in words:
        box = await page.get_by_text(text).first.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0 and box["y"] < height, text
    assert not blank(await page.screenshot(path=path)), path


def blank(png: bytes) -> bool:
    """Whether a screenshot is one colour: its rows, filtered as PNG stores them, are then
    nearly all zeros (text and pictures make many bytes that are not)."""
    chunks, at = [], 8
    while at < len(png):
        length = int.from_bytes(png[at : at + 4], "big")
        if png[at + 4 : at + 8] == b"IDAT":
            chunks.append(png[at + 8 : at + 8 + length])
        at += 12 + length
    pixels = zlib.decompress(b"".join(chunks))
    return sum(1 for byte in pixels if byte) < len(pixels) // 100


def screenshots(tmp_path: Path) -> Path:
    """Where the views' screenshots go: ``WEBAPP_SCREENSHOTS``, else the test's folder."""
    shots = Path(os.environ.get("WEBAPP_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@asynccontextmanager
async def browsing(settings):
    """The bot serving the archive, and chromium: (emulator, app, the app's local URL,
    the browser)."""
    async with (
        bot_session(served(settings)) as (emulator, app),
        playwright.async_playwright() as driver,
    ):
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield emulator, app, f"http://127.0.0.1:{app.webhook.port}/app", browser
        finally:
            await browser.close()


async def test_the_mini_app_in_a_browser(seeded, settings, tmp_path: Path) -> None:
    shots = screenshots(tmp_path)
    async with browsing(settings) as (emulator, _app, local, browser):
        page = await browser.new_page(locale="ko-KR", viewport={"width": 420, "height": 860})
        away: list[str] = []
        blocked: list[str] = []

        def watch(request) -> None:
            host = urllib.parse.urlsplit(request.url).hostname
            if host != "127.0.0.1":
                (away if request.resource_type != "image" else blocked).append(request.url)

        page.on("request", watch)
        await page.route(
            lambda url: urllib.parse.urlsplit(url).hostname != "127.0.0.1",
            lambda route: route.abort(),  # thumbnails: the machine has no internet
        )
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # What a Telegram client hands the app to talk to it (Android's and iOS's bridge)
        await page.add_init_script(
            "window.told = []; window.TelegramWebviewProxy ="
            " { postEvent: (name, data) => window.told.push([name, JSON.parse(data)]) };"
        )

        # Opened from the menu button: the newest day, in Telegram's theme
        theme = {"bg_color": "#17212b", "text_color": "#f5f5f5", "link_color": "#6ab3f3"}
        await page.goto(launch_url(f"{local}/", init_data(TOKEN, USER), theme))
        heading = await page.inner_text("h1")
        newest = (await (await page.request.get(f"{local}/api/day/latest")).json())["date"]
        assert newest in heading
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(23, 33, 43)"  # the theme's bg_color
        await shot(page, shots / "day.png", heading)
        told = dict(await page.evaluate("window.told"))
        assert {"web_app_ready", "web_app_expand"} <= told.keys()
        assert told["web_app_setup_back_button"] == {"is_visible": False}  # home: none

        # Search
        await page.fill('input[type="search"]', "확산 모델")
        await page.press('input[type="search"]', "Enter")
        await page.wait_for_selector("ol.papers li")
        assert "확산 모델" in await page.inner_text("h1")
        await shot(page, shots / "search.png", "확산 모델")

        # A paper, and its bookmark
        await page.click("ol.papers li a.title")
        await page.wait_for_selector("article h1")
        button = page.locator("#bookmark")
        await button.wait_for(state="visible")
        assert await button.inner_text() == ko("🔖 Save")
        await button.click()
        await page.locator('#bookmark[data-state="saved"]').wait_for()
        title = await page.inner_text("article h1")
        await shot(page, shots / "paper.png", title, "✅")
        told = await page.evaluate("window.told")
        assert ["web_app_setup_back_button", {"is_visible": True}] in told
        light = {"type": "impact", "impact_style": "light"}
        assert ["web_app_trigger_haptic_feedback", light] in told

        # Telegram's Back button goes back to the results
        await page.evaluate('window.Telegram.WebView.receiveEvent("back_button_pressed")')
        await page.wait_for_url("**/search?**")

        # Mine: the bookmark is there, and in the chat's /saved too
        await page.goto(f"{local}/me")
        await page.wait_for_selector("#saved li")
        assert title in await page.inner_text("#saved")
        for kind, typed in (("follows", "Ada Lovelace"), ("watches", "확산 모델")):
            form = page.locator(f'form[data-rules="{kind}"]')
            await form.locator("input").fill(typed)
            await form.locator("button").click()
            await page.locator(f"#{kind} li", has_text=typed).wait_for()
        await shot(page, shots / "mine.png", title, "Ada Lovelace")
        await page.locator('form[data-rules="follows"] input').fill("!!!")
        await page.locator('form[data-rules="follows"] button').click()
        await page.locator("#refused").wait_for(state="visible")
        empty = await page.get_attribute("#mine", "data-empty")  # the page's own wording
        assert await page.inner_text("#refused") == empty
        chat = Conversation(emulator, USER, USER)
        assert title[:30] in (await chat.ask("/saved")).text
        assert "Ada Lovelace" in (await chat.ask("/following")).text
        assert "확산 모델" in (await chat.ask("/watching")).text

        # Forged (another user's id), expired, or another bot's launch data: nothing personal
        for data in (
            init_data(TOKEN, USER).replace(f"%22id%22%3A{USER}%2C", f"%22id%22%3A{USER + 1}%2C"),
            init_data(TOKEN, USER, signed_at=time.time() - MAX_AGE - 60),
            init_data("654321:another-bot", USER),
        ):
            other = await browser.new_page()
            await other.goto(launch_url(f"{local}/me", data))
            await other.wait_for_load_state("networkidle")
            assert await other.locator("#mine").is_hidden()
            assert await other.locator("#outside").is_visible()
            await other.close()
    assert away == [], away  # scripts, styles, fonts, data: all from the bot itself
    assert errors == [], errors


def _rgb(css: str) -> tuple[float, float, float]:
    """A computed colour (``rgb(…)``, ``rgba(…)``, or ``color(srgb …)`` from color-mix)."""
    numbers = [float(n) for n in re.findall(r"[\d.]+", css)]
    if css.startswith("color("):
        return (numbers[0] * 255, numbers[1] * 255, numbers[2] * 255)
    return (numbers[0], numbers[1], numbers[2])


def contrast(one: str, other: str) -> float:
    """WCAG's contrast ratio of two computed colours."""

    def luminance(css: str) -> float:
        def channel(c: float) -> float:
            c /= 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = _rgb(css)
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


COLOURS = """(selector) => [...document.querySelectorAll(selector)].map((node) => {
  const style = getComputedStyle(node);
  let back = node;
  while (back && ["rgba(0, 0, 0, 0)", "transparent"].includes(getComputedStyle(back).backgroundColor)) {
    back = back.parentElement;
  }
  return [style.color, back ? getComputedStyle(back).backgroundColor : "rgb(255, 255, 255)",
          style.textDecorationLine, style.whiteSpace];
})"""


async def test_every_page_reads_well_in_any_theme_and_scheme(seeded, settings, tmp_path) -> None:
    shots = screenshots(tmp_path)
    async with browsing(settings) as (_emulator, app, local, browser):
        # A Telegram theme without secondary_bg_color: the query stays readable.
        page = await browser.new_page(viewport={"width": 420, "height": 860})
        partial = {"bg_color": "#17212b", "text_color": "#f5f5f5"}
        await page.goto(launch_url(f"{local}/search?q=확산", init_data(TOKEN, USER), partial))
        ((text, back, _line, _space),) = await page.evaluate(COLOURS, 'input[type="search"]')
        assert contrast(text, back) >= 4.5, (text, back)
        await page.close()

        for scheme in ("light", "dark"):
            context = await browser.new_context(
                color_scheme=scheme, locale="ko-KR", viewport={"width": 420, "height": 860}
            )
            page = await context.new_page()
            await page.route(
                lambda url: urllib.parse.urlsplit(url).hostname != "127.0.0.1",
                lambda route: route.abort(),
            )
            for path in ("/", "/search?q=확산 모델", "/top", "/paper/2312.02120", "/me"):
                await page.goto(f"{local}{path}")
                await page.wait_for_load_state("networkidle")
                body = await page.evaluate("getComputedStyle(document.body).backgroundColor")
                dark = contrast(body, "rgb(0, 0, 0)") < contrast(body, "rgb(255, 255, 255)")
                assert dark == (scheme == "dark"), (scheme, path, body)
                for selector in ("a", ".meta", ".point", "h1", "input", "p"):
                    for text, back, _line, _space in await page.evaluate(COLOURS, selector):
                        assert contrast(text, back) >= 4.5, (scheme, path, selector, text, back)
                for *_colours, line, _space in await page.evaluate(COLOURS, "main p a"):
                    assert "underline" in line, (path, "a link in text by colour alone")
                for *_colours, space in await page.evaluate(COLOURS, ".votes"):
                    assert space == "nowrap"
                description = await page.get_attribute('meta[name="description"]', "content")
                assert description and len(description) > 20
                icon = await page.get_attribute('link[rel="icon"]', "href")
                answer = await page.request.get(f"http://127.0.0.1:{app.webhook.port}{icon}")
                assert answer.ok and answer.headers["content-type"] == "image/svg+xml"
                if path.startswith("/paper"):
                    await shot(page, shots / f"paper-{scheme}.png", "arXiv")
                    # its thumbnail cannot be had here: no blank gap is left for it
                    assert await page.locator("img.thumb").count() == 0
                if path == "/top":
                    current = page.locator(".periods [aria-current]")
                    assert await current.inner_text() == ko("Last 7 days")
                    await page.locator(".periods a", has_text=ko("Last 30 days")).click()
                    await page.wait_for_url("**/top?period=month")
                if path == "/":
                    await shot(page, shots / f"day-{scheme}.png")
            await context.close()

        # Mine, for a reader with nothing of their own yet: what each list would hold.
        page = await browser.new_page(viewport={"width": 420, "height": 860})
        await page.goto(launch_url(f"{local}/me", init_data(TOKEN, USER + 7)))
        await page.locator("#watches li.none").wait_for()
        for kind in ("saved", "follows", "watches"):
            assert await page.locator(f"#{kind} li.none").count() == 1
        for kind in ("follows", "watches"):
            form = page.locator(f'form[data-rules="{kind}"] input')
            assert await form.get_attribute("placeholder")
