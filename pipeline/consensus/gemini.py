"""Gemini through `google-genai` (the maintained successor of google-generativeai)."""

from __future__ import annotations

from google import genai
from google.genai import types

from pipeline.consensus.remote import RemoteAnalyst


class GeminiAnalyst(RemoteAnalyst):
    provider = "gemini"

    def __init__(self, api_key: str, model: str, *, base_url: str | None = None, timeout: float = 20.0) -> None:
        super().__init__(model)
        # One attempt: retries are the panel's decision (the SDK would otherwise back off within our timeout).
        options = types.HttpOptions(base_url=base_url, timeout=int(timeout * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1))
        # Kept on the analyst: the client closes its HTTP session when it is garbage-collected.
        self._client = genai.Client(api_key=api_key, http_options=options)

    async def _complete(self, system: str, user: str) -> tuple[str, int, int]:
        response = await self._client.aio.models.generate_content(
            model=self.model, contents=user,
            config=types.GenerateContentConfig(system_instruction=system, temperature=0.2,
                                               response_mime_type="application/json", max_output_tokens=600),
        )
        usage = response.usage_metadata
        return (response.text or "", (usage.prompt_token_count or 0) if usage else 0,
                (usage.candidates_token_count or 0) if usage else 0)
