"""Claude through the official `anthropic` SDK (Messages API)."""

from __future__ import annotations

from anthropic import AsyncAnthropic

from pipeline.judge.consensus.base import SYSTEM_PROMPT, RemoteAnalyst


class ClaudeAnalyst(RemoteAnalyst):
    provider = "claude"

    def __init__(self, api_key: str, model: str, *, base_url: str | None = None, timeout: float = 20.0) -> None:
        super().__init__(model)
        # max_retries=0: the SDK's own backoff would eat the panel's timeout; the panel decides what a retry is.
        # base_url is the root: the SDK calls {base_url}/v1/messages.
        self._client = AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)

    async def _complete(self, user: str) -> tuple[str, int, int]:
        # No temperature: this SDK (and Claude's current models) take no sampling parameter; DeepSeek and
        # Gemini are asked at temperature 0.
        message = await self._client.messages.create(
            model=self.model, max_tokens=800, system=SYSTEM_PROMPT,
            messages=[{"role": "user", "content": user}],
        )
        text = "".join(block.text for block in message.content if block.type == "text")
        return text, message.usage.input_tokens, message.usage.output_tokens

    async def aclose(self) -> None:
        await self._client.close()
