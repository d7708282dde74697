"""Loopback AI servers: Anthropic Messages, OpenAI chat completions (DeepSeek) and Gemini generateContent, on
127.0.0.1, with the real request and response shapes, so the real SDKs are exercised over HTTP.

Each provider has an answer (a verdict dict, serialised as the model's text), a delay, and a queue of what the
next calls do: "ok", "malformed", "429", "500" or "hang". Requests are recorded with their parsed bodies.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DEFAULT_VERDICT = {"score": 80, "reasons": ["Trend and IV fit the trade", "Trader is consistent", "Defined risk"],
                   "key_risk": "Earnings volatility", "recommendation": "BUY"}


@dataclass
class Provider:
    key: str
    answer: dict[str, Any] | str = field(default_factory=lambda: dict(DEFAULT_VERDICT))
    delay: float = 0.0
    queue: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int = 900
    output_tokens: int = 120

    def next_mode(self) -> str:
        return self.queue.pop(0) if self.queue else "ok"

    def text(self, mode: str) -> str:
        if mode == "malformed":
            return "Sure! Here is my view: the score is high-ish, roughly eighty {not json"
        return self.answer if isinstance(self.answer, str) else "```json\n" + json.dumps(self.answer) + "\n```"


class FakeAI:
    """One server for all three providers; `claude`, `deepseek`, `gemini` hold each one's behaviour."""

    def __init__(self) -> None:
        self.claude = Provider(key="test-anthropic-key")
        self.deepseek = Provider(key="test-deepseek-key")
        self.gemini = Provider(key="test-google-key")
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._hanging: list[asyncio.Event] = []

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/chat/completions", self._openai)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/{version:v1|v1beta}/models/{model_action}", self._gemini)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for event in self._hanging:
            event.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeAI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        for provider in (self.claude, self.deepseek, self.gemini):
            provider.answer, provider.delay = dict(DEFAULT_VERDICT), 0.0
            provider.queue.clear()
            provider.requests.clear()

    async def _prepare(self, provider: Provider, request: web.Request, given_key: str | None
                       ) -> tuple[str, web.Response | None]:
        body = await request.json()
        provider.requests.append({"body": body, "headers": dict(request.headers), "at": time.monotonic()})
        if given_key != provider.key:
            return "auth", None
        mode = provider.next_mode()
        if provider.delay:
            await asyncio.sleep(provider.delay)
        if mode == "hang":
            event = asyncio.Event()
            self._hanging.append(event)
            await event.wait()
        return mode, None

    async def _anthropic(self, request: web.Request) -> web.Response:
        provider = self.claude
        mode, _ = await self._prepare(provider, request, request.headers.get("x-api-key") or _bearer(request))
        if mode == "auth":
            return _json_error(401, {"type": "error", "error": {"type": "authentication_error",
                                                                "message": "invalid x-api-key"}})
        if mode in ("429", "500"):
            kind = "rate_limit_error" if mode == "429" else "api_error"
            return _json_error(int(mode), {"type": "error", "error": {"type": kind, "message": kind}})
        model = provider.requests[-1]["body"].get("model", "claude")
        return web.json_response({
            "id": "msg_loopback", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": provider.text(mode)}], "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": provider.input_tokens, "output_tokens": provider.output_tokens},
        })

    async def _openai(self, request: web.Request) -> web.Response:
        provider = self.deepseek
        mode, _ = await self._prepare(provider, request, _bearer(request))
        if mode == "auth":
            return _json_error(401, {"error": {"message": "Authentication Fails", "type": "authentication_error",
                                               "code": "invalid_request_error"}})
        if mode in ("429", "500"):
            return _json_error(int(mode), {"error": {"message": "busy", "type": "server_error", "code": mode}})
        model = provider.requests[-1]["body"].get("model", "deepseek-chat")
        return web.json_response({
            "id": "chatcmpl-loopback", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": provider.text(mode)},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": provider.input_tokens, "completion_tokens": provider.output_tokens,
                      "total_tokens": provider.input_tokens + provider.output_tokens},
        })

    async def _gemini(self, request: web.Request) -> web.Response:
        provider = self.gemini
        key = request.headers.get("x-goog-api-key") or request.query.get("key") or _bearer(request)
        mode, _ = await self._prepare(provider, request, key)
        model, _, action = request.match_info["model_action"].partition(":")
        if action != "generateContent":
            return _json_error(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})
        if mode == "auth":
            return _json_error(400, {"error": {"code": 400, "message": "API key not valid.",
                                               "status": "INVALID_ARGUMENT"}})
        if mode in ("429", "500"):
            status = "RESOURCE_EXHAUSTED" if mode == "429" else "INTERNAL"
            return _json_error(int(mode), {"error": {"code": int(mode), "message": status, "status": status}})
        return web.json_response({
            "candidates": [{"content": {"parts": [{"text": provider.text(mode)}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": provider.input_tokens,
                              "candidatesTokenCount": provider.output_tokens,
                              "totalTokenCount": provider.input_tokens + provider.output_tokens},
            "modelVersion": model,
        })


def _bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth[7:] if auth.startswith("Bearer ") else None


def _json_error(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)
