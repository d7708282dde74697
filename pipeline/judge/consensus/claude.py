"""Claude through the official `anthropic` SDK (Messages API), imported at the first call (not at start)."""

from __future__ import annotations

from typing import Any

from pipeline.judge.consensus.base import SYSTEM_PROMPT, RemoteAnalyst


class ClaudeAnalyst(RemoteAnalyst):
    provider = "claude"

    def __init__(self, api_key: str, model: str, *, base_url: str | None = None, timeout: float = 20.0) -> None:
        super().__init__(model)
        # max_retries=0: the SDK's own backoff would eat the panel's timeout; the panel decides what a retry is.
        # base_url is the root: the SDK calls {base_url}/v1/messages.
        self._options: dict[str, Any] = {"api_key": api_key, "base_url": base_url, "max_retries": 0,
                                          "timeout": timeout}

    def _new_client(self) -> Any:
        from anthropic import AsyncAnthropic

        return AsyncAnthropic(**self._options)

    async def _complete(self, user: str) -> tuple[str, int, int]:
        # No temperature: this SDK (and Claude's current models) take no sampling parameter; DeepSeek and
        # Gemini are asked at temperature 0.
        message = await (await self._sdk()).messages.create(
            model=self.model, max_tokens=800, system=SYSTEM_PROMPT,
            messages=[{"role": "user", "content": user}],
        )
        text = "".join(block.text for block in message.content if block.type == "text")
        return text, message.usage.input_tokens, message.usage.output_tokens
