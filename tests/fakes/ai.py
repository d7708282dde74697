"""Loopback AI servers: Anthropic Messages, OpenAI chat completions (DeepSeek) and Gemini generateContent on one
aiohttp app on 127.0.0.1, with the real request and response shapes, so the real SDKs are exercised over HTTP.

Each provider (`fake.claude`, `fake.deepseek`, `fake.gemini`) has a key, an answer (a verdict dict serialised as
the model's text, or raw text), a delay, and a queue of what the next calls do: "ok", "malformed", "429", "500"
or "hang" (no answer until the server stops). Every request is recorded with its path, query, parsed body and
headers (names lower-cased). A key is taken from x-api-key, Authorization: Bearer, x-goog-api-key or ?key=.

Base URLs (all the server root, `fake.base_url`):
  anthropic  AsyncAnthropic(base_url=root)                 -> POST {root}/v1/messages
  openai     AsyncOpenAI(base_url=root) or root + "/v1"    -> POST {root}/chat/completions or {root}/v1/chat/completions
  genai      HttpOptions(base_url=root)                    -> POST {root}/v1/models/{model}:generateContent
             (google-genai 3.x defaults to v1; v1beta, the 1.x default, is served too)
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

DEFAULT_VERDICT: dict[str, Any] = {
    "score": 80, "reasons": ["Trend and IV fit the trade", "Trader is consistent", "Defined risk"],
    "key_risk": "Earnings volatility", "recommendation": "BUY",
}
MALFORMED_TEXT = "Sure! Here is my view: the score is high-ish, roughly eighty {not json"
MODES = ("ok", "malformed", "429", "500", "hang")


@dataclass
class Provider:
    """One provider's behaviour and what it was sent."""

    key: str
    fenced: bool = False  # wrap the JSON in prose and a ```json fence, as chat models often do
    answer: dict[str, Any] | str = field(default_factory=lambda: dict(DEFAULT_VERDICT))
    delay: float = 0.0
    queue: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int = 900
    output_tokens: int = 120

    def next_mode(self) -> str:
        mode = self.queue.pop(0) if self.queue else "ok"
        if mode not in MODES:
            raise ValueError(f"unknown fake mode {mode!r}")
        return mode

    def text(self, mode: str) -> str:
        if mode == "malformed":
            return MALFORMED_TEXT
        if isinstance(self.answer, str):
            return self.answer
        body = json.dumps(self.answer)
        return f"Here is my review.\n```json\n{body}\n```\nGood luck." if self.fenced else body

    def reset(self) -> None:
        self.answer, self.delay = dict(DEFAULT_VERDICT), 0.0
        self.input_tokens, self.output_tokens = 900, 120
        self.queue.clear()
        self.requests.clear()


class FakeAI(LoopbackServer):
    """One server for all three providers."""

    shutdown_timeout = 0.1  # handlers still sleeping for a test that timed out are not worth waiting for

    def __init__(self) -> None:
        super().__init__()
        self.claude = Provider(key="test-anthropic-key", fenced=True)
        self.deepseek = Provider(key="test-deepseek-key")
        self.gemini = Provider(key="test-google-key")
        self._release = asyncio.Event()

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/chat/completions", self._openai)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/{version:v1|v1beta}/models/{model_action}", self._gemini)
        return app

    async def before_stop(self) -> None:
        self._release.set()

    # What each SDK is given as its base URL (the same root: each SDK appends its own path).
    anthropic_base_url = LoopbackServer.base_url
    openai_base_url = LoopbackServer.base_url
    gemini_base_url = LoopbackServer.base_url

    def reset(self) -> None:
        for provider in (self.claude, self.deepseek, self.gemini):
            provider.reset()

    async def _handle(self, provider: Provider, request: web.Request) -> str:
        """Record the request, check the key, wait out the delay; returns the mode to answer with ("auth" if
        the key is wrong or missing)."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        provider.requests.append({"path": request.path, "query": dict(request.query), "body": body,
                                  "headers": {k.lower(): v for k, v in request.headers.items()},
                                  "at": time.monotonic()})
        if _given_key(request) != provider.key:
            return "auth"
        mode = provider.next_mode()
        if provider.delay:
            await asyncio.sleep(provider.delay)
        if mode == "hang":
            await self._release.wait()
        return mode

    async def _anthropic(self, request: web.Request) -> web.Response:
        provider = self.claude
        mode = await self._handle(provider, request)
        if mode in ("auth", "429", "500"):
            kind = {"auth": "authentication_error", "429": "rate_limit_error", "500": "api_error"}[mode]
            status = 401 if mode == "auth" else int(mode)
            return web.json_response({"type": "error", "error": {"type": kind, "message": kind.replace("_", " ")}},
                                     status=status)
        body = provider.requests[-1]["body"] or {}
        return web.json_response({
            "id": "msg_loopback", "type": "message", "role": "assistant", "model": body.get("model", "claude"),
            "content": [{"type": "text", "text": provider.text(mode)}], "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": provider.input_tokens, "output_tokens": provider.output_tokens},
        })

    async def _openai(self, request: web.Request) -> web.Response:
        provider = self.deepseek
        mode = await self._handle(provider, request)
        if mode == "auth":
            return web.json_response({"error": {"message": "Authentication Fails (invalid api key)",
                                                "type": "authentication_error", "param": None,
                                                "code": "invalid_request_error"}}, status=401)
        if mode in ("429", "500"):
            return web.json_response({"error": {"message": "busy", "type": "server_error", "param": None,
                                                "code": mode}}, status=int(mode))
        body = provider.requests[-1]["body"] or {}
        return web.json_response({
            "id": "chatcmpl-loopback", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "deepseek-chat"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": provider.text(mode)},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": provider.input_tokens, "completion_tokens": provider.output_tokens,
                      "total_tokens": provider.input_tokens + provider.output_tokens},
        })

    async def _gemini(self, request: web.Request) -> web.Response:
        provider = self.gemini
        model, _, action = request.match_info["model_action"].partition(":")
        if action != "generateContent":
            return _google_error(404, "NOT_FOUND", f"{action} is not served here")
        mode = await self._handle(provider, request)
        if mode == "auth":
            return _google_error(401, "UNAUTHENTICATED", "API key not valid. Please pass a valid API key.")
        if mode in ("429", "500"):
            status = "RESOURCE_EXHAUSTED" if mode == "429" else "INTERNAL"
            return _google_error(int(mode), status, status.replace("_", " ").lower())
        return web.json_response({
            "candidates": [{"content": {"parts": [{"text": provider.text(mode)}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": provider.input_tokens,
                              "candidatesTokenCount": provider.output_tokens,
                              "totalTokenCount": provider.input_tokens + provider.output_tokens},
            "modelVersion": model,
        })


def _given_key(request: web.Request) -> str | None:
    """Any of the ways the three SDKs send a key."""
    auth = request.headers.get("Authorization", "")
    bearer = auth[7:] if auth.startswith("Bearer ") else None
    return (request.headers.get("x-api-key") or request.headers.get("x-goog-api-key") or request.query.get("key")
            or bearer)


def _google_error(code: int, status: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "status": status}}, status=code)
