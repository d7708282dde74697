"""Claude through the official `anthropic` SDK."""

from __future__ import annotations

from anthropic import AsyncAnthropic

from pipeline.consensus.remote import RemoteAnalyst


class ClaudeAnalyst(RemoteAnalyst):
    provider = "claude"

    def __init__(self, api_key: str, model: str, *, base_url: str | None = None, timeout: float = 20.0) -> None:
        super().__init__(model)
        self._client = AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)

    async def _complete(self, system: str, user: str) -> tuple[str, int, int]:
        message = await self._client.messages.create(
            model=self.model, max_tokens=600, system=system,
            messages=[{"role": "user", "content": user}],
        )
        text = "".join(getattr(block, "text", "") for block in message.content)
        return text, message.usage.input_tokens, message.usage.output_tokens
