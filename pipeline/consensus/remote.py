"""What the three paid analysts share: one prompt, one retry on a malformed answer, usage for every call."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from typing import Any

from pipeline.consensus.base import (
    SYSTEM_PROMPT,
    MalformedAnswer,
    ReviewAlert,
    UsageRecord,
    UsageSink,
    Verdict,
    build_prompt,
    parse_verdict,
)
from pipeline.consensus.pricing import cost_usd

log = logging.getLogger(__name__)
RETRY_PROMPT = "Your previous answer was not the JSON object asked for. Answer again with only that JSON object."


class RemoteAnalyst(ABC):
    provider = "remote"

    def __init__(self, model: str) -> None:
        self.model = model

    @abstractmethod
    async def _complete(self, system: str, user: str) -> tuple[str, int, int]:
        """The model's text and (input, output) tokens; raises on any transport or API error."""

    async def review(self, alert: ReviewAlert, context: Any, ranking: Any, similar: Any, *,
                     on_usage: UsageSink | None = None) -> Verdict:
        prompt = build_prompt(alert, context, ranking, similar)
        tokens_in = tokens_out = 0
        started = time.monotonic()
        for attempt in (1, 2):
            call_started = time.monotonic()
            try:
                text, used_in, used_out = await self._complete(SYSTEM_PROMPT, prompt if attempt == 1 else
                                                               f"{prompt}\n\n{RETRY_PROMPT}")
            except Exception as exc:
                await self._record(on_usage, 0, 0, call_started, str(exc)[:200] or type(exc).__name__)
                raise
            tokens_in, tokens_out = tokens_in + used_in, tokens_out + used_out
            try:
                payload = parse_verdict(text)
            except MalformedAnswer as exc:
                await self._record(on_usage, used_in, used_out, call_started, f"malformed: {exc}")
                if attempt == 2:
                    raise
                log.info("%s answered malformed JSON; asking once more", self.provider)
                continue
            await self._record(on_usage, used_in, used_out, call_started, None)
            return Verdict(
                provider=self.provider, model=self.model, score=float(payload.score), reasons=tuple(payload.reasons),
                key_risk=payload.key_risk, recommendation=payload.recommendation.value,
                latency_ms=(time.monotonic() - started) * 1000, input_tokens=tokens_in, output_tokens=tokens_out,
                cost_usd=cost_usd(self.model, tokens_in, tokens_out),
            )
        raise MalformedAnswer("unreachable")

    async def _record(self, sink: UsageSink | None, used_in: int, used_out: int, started: float,
                      error: str | None) -> None:
        if sink is None:
            return
        await sink(UsageRecord(self.provider, self.model, used_in, used_out, cost_usd(self.model, used_in, used_out),
                               (time.monotonic() - started) * 1000, error is None, error))
