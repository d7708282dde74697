"""DeepSeek through the `openai` SDK pointed at DeepSeek's OpenAI-compatible endpoint; the SDK is imported at
the first call (not at start)."""

from __future__ import annotations

from typing import Any

from pipeline.judge.consensus.base import SYSTEM_PROMPT, RemoteAnalyst

DEEPSEEK_BASE_URL = "https://api.deepseek.com"


class DeepSeekAnalyst(RemoteAnalyst):
    provider = "deepseek"

    def __init__(self, api_key: str, model: str = "deepseek-chat", *, base_url: str = DEEPSEEK_BASE_URL,
                 timeout: float = 20.0) -> None:
        super().__init__(model)
        # The SDK calls {base_url}/chat/completions (DeepSeek serves it with and without /v1); no SDK retries.
        self._options: dict[str, Any] = {"api_key": api_key, "base_url": base_url, "max_retries": 0,
                                          "timeout": timeout}

    def _new_client(self) -> Any:
        from openai import AsyncOpenAI

        return AsyncOpenAI(**self._options)

    async def _complete(self, user: str) -> tuple[str, int, int]:
        completion = await (await self._sdk()).chat.completions.create(
            model=self.model, temperature=0, max_tokens=1024, response_format={"type": "json_object"},
            messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
        )
        usage = completion.usage
        text = completion.choices[0].message.content if completion.choices else None
        return text or "", (usage.prompt_tokens if usage else 0), (usage.completion_tokens if usage else 0)
