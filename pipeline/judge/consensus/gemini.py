"""Gemini through `google-genai` (the maintained successor of google-generativeai), imported at the first call
(not at start: it is the heaviest of the SDKs)."""

from __future__ import annotations

from typing import Any

from pipeline.judge.consensus.base import SYSTEM_PROMPT, RemoteAnalyst


class GeminiAnalyst(RemoteAnalyst):
    provider = "gemini"

    def __init__(self, api_key: str, model: str, *, base_url: str | None = None, timeout: float = 20.0) -> None:
        super().__init__(model)
        # One attempt (the SDK would otherwise back off 5 times within our timeout); timeout is in milliseconds.
        # base_url is the root: the SDK calls {base_url}/v1beta/models/{model}:generateContent.
        self._api_key, self._base_url, self._timeout = api_key, base_url, timeout
        self._config: Any = None

    def _new_client(self) -> Any:
        from google import genai
        from google.genai import types

        options = types.HttpOptions(base_url=self._base_url, timeout=int(self._timeout * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1))
        self._config = types.GenerateContentConfig(system_instruction=SYSTEM_PROMPT, temperature=0,
                                                   response_mime_type="application/json", max_output_tokens=2048)
        # Kept on the analyst (by `_sdk`): the client closes its HTTP session when it is garbage-collected.
        return genai.Client(api_key=self._api_key, http_options=options)

    async def _complete(self, user: str) -> tuple[str, int, int]:
        client = await self._sdk()
        response = await client.aio.models.generate_content(model=self.model, contents=user, config=self._config)
        usage = response.usage_metadata
        if usage is None:
            return response.text or "", 0, 0
        # Thinking tokens are billed as output but reported apart from the answer's.
        output = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
        return response.text or "", usage.prompt_token_count or 0, output

    async def _close_client(self, client: Any) -> None:
        await client.aio.aclose()
