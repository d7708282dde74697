"""DeepSeek through the `openai` SDK pointed at DeepSeek's OpenAI-compatible endpoint."""

from __future__ import annotations

from openai import AsyncOpenAI

from pipeline.consensus.remote import RemoteAnalyst


class DeepSeekAnalyst(RemoteAnalyst):
    provider = "deepseek"

    def __init__(self, api_key: str, model: str, *, base_url: str, timeout: float = 20.0) -> None:
        super().__init__(model)
        self._client = AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)

    async def _complete(self, system: str, user: str) -> tuple[str, int, int]:
        completion = await self._client.chat.completions.create(
            model=self.model, temperature=0.2, max_tokens=600, response_format={"type": "json_object"},
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        )
        usage = completion.usage
        text = completion.choices[0].message.content or ""
        return text, (usage.prompt_tokens if usage else 0), (usage.completion_tokens if usage else 0)
