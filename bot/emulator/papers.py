"""Stand-ins for the writer's two outside services, on 127.0.0.1, as strict as the real ones.

- :class:`DailyPapersApi`: Hugging Face's ``GET /api/daily_papers?date=&limit=&p=`` (items as
  ``shared/examples/hf-daily-papers-item.json`` shapes them; 50 a page by default; a bad
  date or page is a 400), with a token it may demand.
- :class:`ModelApi`: an OpenAI-compatible ``POST /v1/chat/completions`` that checks the
  request (bearer key, model, messages, a strict ``json_schema`` or ``json_object``) and
  answers three Korean points: those the archive holds for the paper where it knows them
  (``known``), else points made from the paper's title.

Both take scripted faults, each for the next N requests: 429 with ``Retry-After``, 5xx, a
slow answer, and for the model invalid JSON, a cut answer (``finish_reason: length``), a
refusal, English instead of Korean, a refusal of ``json_schema``. Every request is kept
(``requests``) so a test can check what was asked, and from where.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from aiohttp import web

DEFAULT_PAGE = 50


@dataclass
class Fault:
    """What the next ``count`` requests get instead of a good answer."""

    kind: str  # 429, 500, 503, slow, invalid_json, length, refusal, english, no_schema, empty
    count: int = 1
    retry_after: float = 1.0
    seconds: float = 0.0  # slow: how long the answer takes


class StandIn:
    """An aiohttp server with scripted faults and a record of its requests."""

    def __init__(self) -> None:
        self.faults: deque[Fault] = deque()
        self.requests: list[dict[str, Any]] = []
        # Every answer takes this long, or a time drawn evenly from a (low, high) range (a
        # real model answers in seconds).
        self.latency: float | tuple[float, float] = 0.0
        self.in_flight = 0  # requests being answered now
        self.most_in_flight = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    def fail(self, kind: str, count: int = 1, **options: Any) -> None:
        self.faults.append(Fault(kind, count, **options))

    def _fault(self) -> Fault | None:
        while self.faults and self.faults[0].count <= 0:
            self.faults.popleft()
        if not self.faults:
            return None
        fault = self.faults[0]
        fault.count -= 1
        return fault

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _wait(self) -> None:
        latency = self.latency
        seconds = random.uniform(*latency) if isinstance(latency, tuple) else latency
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.in_flight -= 1

    async def _common_fault(self, fault: Fault | None) -> web.Response | None:
        await self._wait()
        if fault is None:
            return None
        if fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind == "429":
            return web.json_response(
                {"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}},
                status=429,
                headers={"Retry-After": f"{fault.retry_after:g}"},
            )
        if fault.kind in ("500", "502", "503"):
            return web.Response(status=int(fault.kind), text="<html>server error</html>")
        return None


# --- Hugging Face's daily papers -------------------------------------------------------------


def item_for(paper: Any, day: date, abstract: str | None = None, **extra: Any) -> dict[str, Any]:
    """A daily-papers item for a paper of a digest (a :class:`bot.digest.Paper`), shaped as
    Hugging Face shapes it (nested ``paper``, authors as objects)."""
    text = abstract or (
        f"We present {paper.title}. This paper studies the problem the title names and "
        "proposes a method for it, evaluated on standard benchmarks."
    )
    inner: dict[str, Any] = {
        "id": paper.arxiv_id,
        "authors": [
            {"_id": f"a{n}", "name": name, "hidden": False} for n, name in enumerate(paper.authors)
        ],
        "publishedAt": f"{day.isoformat()}T00:00:00.000Z",
        "title": paper.title,
        "summary": text,
        "upvotes": paper.votes if paper.votes is not None else 0,
        "discussionId": f"d{paper.arxiv_id}",
        "ai_summary": f"A short English summary of {paper.title}.",
        "ai_keywords": ["method", "benchmark"],
        **extra,
    }
    item: dict[str, Any] = {
        "paper": inner,
        "publishedAt": f"{day.isoformat()}T01:00:00.000Z",
        "title": paper.title,
        "summary": text,
        "thumbnail": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{paper.arxiv_id}.png",
        "numComments": 0,
        "isAuthorParticipating": False,
    }
    if paper.media is not None and paper.media.kind.value == "video":
        item["mediaUrls"] = [paper.media.url]
    return item


class DailyPapersApi(StandIn):
    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self.days: dict[date, list[dict[str, Any]]] = {}
        self.token = token  # when set, a request without it is 401

    def add_day(self, day: Any, abstracts: dict[str, str] | None = None) -> None:
        """List a digest day's papers (a :class:`bot.digest.DigestDay`) as Hugging Face
        would have."""
        self.days[day.day] = [
            item_for(p, day.day, (abstracts or {}).get(p.arxiv_id)) for p in day.papers
        ]

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/daily_papers", self._daily)]

    async def _daily(self, request: web.Request) -> web.Response:
        self.requests.append({"query": dict(request.query), "headers": dict(request.headers)})
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(
                {"error": "Invalid credentials in Authorization header"}, status=401
            )
        if (refused := await self._common_fault(self._fault())) is not None:
            return refused
        try:
            day = date.fromisoformat(request.query.get("date", ""))
            limit = int(request.query.get("limit", DEFAULT_PAGE))
            page = int(request.query.get("p", "0"))
        except ValueError:
            return web.json_response({"error": "Invalid date or page"}, status=400)
        if not 1 <= limit <= 100 or page < 0:
            return web.json_response({"error": "limit must be 1 to 100"}, status=400)
        items = self.days.get(day, [])
        return web.json_response(items[page * limit : (page + 1) * limit])


# --- an OpenAI-compatible model ----------------------------------------------------------------


ID_RE = re.compile(r"arXiv: (\S+)")
TITLE_RE = re.compile(r"Title: (.+)")


@dataclass
class ModelApi(StandIn):
    api_key: str = "sk-test-stand-in"
    model: str = "stand-in-mini"
    known: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    tokens_per_answer: int = 900

    def __post_init__(self) -> None:
        super().__init__()

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/chat/completions", self._complete)]

    async def _complete(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "invalid_api_key")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        self.requests.append(body)
        if body.get("model") != self.model:
            return _error(404, f"The model `{body.get('model')}` does not exist", "model_not_found")
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(
            isinstance(m, dict)
            and m.get("role") in ("system", "user")
            and isinstance(m.get("content"), str)
            for m in messages
        ):
            return _error(400, "Invalid 'messages'")
        fault = self._fault()
        if fault is not None and fault.kind == "no_schema":
            fault.count += 1  # a server that never takes it
        if (format_error := self._check_format(body.get("response_format"), fault)) is not None:
            return format_error
        if (refused := await self._common_fault(fault)) is not None:
            return refused
        text = "\n".join(m["content"] for m in messages)
        found = ID_RE.search(text)
        arxiv_id = found[1] if found else ""
        title_match = TITLE_RE.search(text)
        title = title_match[1] if title_match else "이 논문"
        points = self.known.get(arxiv_id) or made_up_points(title)
        content = json.dumps(
            dict(
                zip(
                    ("whats_new", "technical_details", "performance_highlights"),
                    points,
                    strict=True,
                )
            ),
            ensure_ascii=False,
        )
        finish, refusal = "stop", None
        answer: str | None = content
        kind = fault.kind if fault is not None else ""
        if kind == "invalid_json":
            answer = content[: len(content) // 2]
        elif kind == "length":
            answer, finish = content[: len(content) // 3], "length"
        elif kind == "refusal":
            answer, refusal = None, "I'm sorry, I cannot help with that."
        elif kind == "english":
            answer = json.dumps(
                {
                    k: "This is a summary in English only, with no Korean at all in it."
                    for k in ("whats_new", "technical_details", "performance_highlights")
                }
            )
        elif kind == "empty":
            answer = json.dumps(
                {"whats_new": "", "technical_details": "", "performance_highlights": ""}
            )
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 1_800_000_000,
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer, "refusal": refusal},
                        "finish_reason": finish,
                    }
                ],
                "usage": {
                    "prompt_tokens": self.tokens_per_answer // 3,
                    "completion_tokens": self.tokens_per_answer - self.tokens_per_answer // 3,
                    "total_tokens": self.tokens_per_answer,
                },
            }
        )

    def _check_format(self, response_format: object, fault: Fault | None) -> web.Response | None:
        if not isinstance(response_format, dict):
            return _error(400, "'response_format' is required here")
        kind = response_format.get("type")
        if kind == "json_schema":
            if fault is not None and fault.kind == "no_schema":
                return _error(400, "response_format json_schema is not supported by this model")
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                return _error(400, "Missing required parameter: 'response_format.json_schema'")
            schema = spec["schema"]
            if spec.get("strict") and (
                schema.get("additionalProperties") is not False
                or set(schema.get("required", [])) != set(schema.get("properties", {}))
            ):
                return _error(
                    400,
                    "Invalid schema for response_format: strict schemas need every property required and additionalProperties false",
                )
            return None
        if kind == "json_object":
            return None
        return _error(400, f"Invalid value for 'response_format.type': {kind!r}")


def made_up_points(title: str) -> tuple[str, str, str]:
    """Korean points about a paper the stand-in knows only by its title."""
    name = re.sub(r"[()]", " ", title).strip()[:80]
    return (
        f"이 논문({name})은 기존 방법의 한계를 짚고 새로운 접근(approach)을 소개합니다.",
        "제안된 방법은 모델 구조와 학습 절차를 함께 설계하며, 핵심 구성 요소를 단계별로 설명합니다.",
        "여러 벤치마크(benchmark)에서 기존 방법보다 나은 성능을 보였으며, 효율도 함께 개선되었습니다.",
    )


def _error(status: int, message: str, code: str | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}},
        status=status,
    )
