"""The AI panel through the real SDKs (anthropic, openai, google-genai) against loopback servers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import date

import pytest

from pipeline.consensus.base import MalformedAnswer, ReviewAlert, UsageRecord, parse_verdict
from pipeline.consensus.local import LocalAnalyst
from pipeline.consensus.panel import AnalystConfig, ConsensusPanel, build_analysts
from pipeline.consensus.pricing import cost_usd
from tests.fakes.ai import FakeAI

ALERT = ReviewAlert(trader="behappy", action="STO", symbol="AAPL", option_type="put", strike=170.0,
                    expiry=date(2026, 12, 23), days_to_expiry=30, entry_price=2.5, underlying_price=180.0,
                    risk="standard", text="STO AAPL 170P 12/23 @ 2.50", trader_win_rate=0.7, trader_closed_trades=20)
RANKING = {"alert_strategy_name": "Cash-Secured Put", "alert_strategy_score": 80, "alert_strategy_pop": 0.8,
           "best_name": "Bull Put Spread", "best_score": 84}
CONTEXT = {"trend": "bullish", "volatility_regime": "high", "iv": 0.32, "iv_rank": 70}


@pytest.fixture(scope="module")
async def ai() -> AsyncIterator[FakeAI]:
    async with FakeAI() as server:
        yield server


@pytest.fixture
def fake(ai: FakeAI) -> FakeAI:
    ai.reset()
    return ai


def config(ai: FakeAI, **kw: object) -> AnalystConfig:
    values: dict = dict(anthropic_api_key=ai.claude.key, anthropic_base_url=ai.base_url,
                        deepseek_api_key=ai.deepseek.key, deepseek_base_url=ai.base_url,
                        google_api_key=ai.gemini.key, gemini_base_url=ai.base_url, timeout_seconds=5.0)
    values.update(kw)
    return AnalystConfig(**values)


def panel(ai: FakeAI, usage: list[UsageRecord] | None = None, **kw: object) -> ConsensusPanel:
    async def record(u: UsageRecord) -> None:
        if usage is not None:
            usage.append(u)

    cfg = config(ai, **{k: v for k, v in kw.items() if k in AnalystConfig.__dataclass_fields__})
    rest = {k: v for k, v in kw.items() if k not in AnalystConfig.__dataclass_fields__}
    return ConsensusPanel(build_analysts(cfg), timeout_seconds=cfg.timeout_seconds, record_usage=record, **rest)


async def test_three_sdks_in_parallel_take_the_slowest_not_the_sum(fake: FakeAI) -> None:
    fake.claude.delay, fake.deepseek.delay, fake.gemini.delay = 0.6, 0.4, 0.3
    fake.claude.answer = {**fake.claude.answer, "score": 90}
    fake.deepseek.answer = {**fake.deepseek.answer, "score": 70}
    fake.gemini.answer = {**fake.gemini.answer, "score": 60}
    three = panel(fake)
    started = time.monotonic()
    result = await three.judge(ALERT, CONTEXT, RANKING, None)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"took {elapsed:.2f}s: the analysts ran one after another"
    assert result.used == ("claude", "deepseek", "gemini")
    assert result.score == pytest.approx(0.5 * 90 + 0.3 * 70 + 0.2 * 60)
    assert result.agreement == pytest.approx(0.70)
    assert result.recommendation == "BUY" and result.reasons == tuple(fake.claude.answer["reasons"])
    assert {v.provider for v in result.verdicts} == {"claude", "deepseek", "gemini", "local"}
    for provider in (fake.claude, fake.deepseek, fake.gemini):  # the prompt reached every model
        assert "AAPL" in str(provider.requests[0]["body"])


async def test_malformed_once_is_retried(fake: FakeAI) -> None:
    fake.deepseek.queue = ["malformed", "ok"]
    usage: list[UsageRecord] = []
    result = await panel(fake, usage).judge(ALERT, CONTEXT, RANKING, None)
    assert "deepseek" in result.used and len(fake.deepseek.requests) == 2
    assert "previous answer was not the JSON" in str(fake.deepseek.requests[1]["body"])
    deepseek = [u for u in usage if u.provider == "deepseek"]
    assert [u.success for u in deepseek] == [False, True]


async def test_malformed_twice_is_left_out_and_weights_renormalise(fake: FakeAI) -> None:
    fake.claude.queue = ["malformed", "malformed"]
    fake.deepseek.answer = {**fake.deepseek.answer, "score": 70}
    fake.gemini.answer = {**fake.gemini.answer, "score": 60}
    result = await panel(fake).judge(ALERT, CONTEXT, RANKING, None)
    assert result.used == ("deepseek", "gemini") and "claude" in result.failures
    assert result.score == pytest.approx((0.3 * 70 + 0.2 * 60) / 0.5)


@pytest.mark.parametrize("mode", ["500", "429"])
async def test_an_erroring_analyst_is_left_out(fake: FakeAI, mode: str) -> None:
    fake.gemini.queue = [mode]
    result = await panel(fake).judge(ALERT, CONTEXT, RANKING, None)
    assert result.used == ("claude", "deepseek") and "gemini" in result.failures
    assert len(fake.gemini.requests) == 1  # no silent SDK retries: we decide


async def test_a_slow_analyst_times_out(fake: FakeAI) -> None:
    fake.claude.delay = 2.0
    impatient = panel(fake, timeout_seconds=0.5)
    started = time.monotonic()
    result = await impatient.judge(ALERT, CONTEXT, RANKING, None)
    assert time.monotonic() - started < 1.5
    assert "claude" in result.failures and "within" in result.failures["claude"]
    assert result.used == ("deepseek", "gemini")


async def test_everyone_down_leaves_the_local_analyst(fake: FakeAI) -> None:
    for provider in (fake.claude, fake.deepseek, fake.gemini):
        provider.queue = ["500"]
    result = await panel(fake).judge(ALERT, CONTEXT, RANKING, None)
    assert result.used == ("local",) and set(result.failures) == {"claude", "deepseek", "gemini"}
    local = LocalAnalyst().judge(ALERT, CONTEXT, RANKING, {})
    assert result.score == local.score and len(result.reasons) == 3


async def test_no_keys_means_only_the_local_analyst(fake: FakeAI) -> None:
    assert build_analysts(AnalystConfig()) == []
    result = await ConsensusPanel([]).judge(ALERT, CONTEXT, RANKING, None)
    assert result.used == ("local",) and 0 <= result.score <= 100
    assert not fake.claude.requests and not fake.deepseek.requests and not fake.gemini.requests


async def test_wrong_key_is_left_out_clearly(fake: FakeAI) -> None:
    result = await panel(fake, anthropic_api_key="wrong").judge(ALERT, CONTEXT, RANKING, None)
    assert ("claude" in result.failures and "401" in result.failures["claude"]) or "auth" in result.failures["claude"]
    assert result.used == ("deepseek", "gemini")


async def test_usage_and_cost_are_recorded(fake: FakeAI) -> None:
    usage: list[UsageRecord] = []
    await panel(fake, usage).judge(ALERT, CONTEXT, RANKING, None)
    by = {u.provider: u for u in usage}
    assert set(by) == {"claude", "deepseek", "gemini"}
    assert (by["claude"].input_tokens, by["claude"].output_tokens) == (900, 120)
    assert by["claude"].cost_usd == pytest.approx(cost_usd("claude-sonnet-4-6", 900, 120))
    assert by["claude"].cost_usd == pytest.approx((900 * 3 + 120 * 15) / 1e6)
    assert all(u.success and u.latency_ms > 0 for u in usage)


async def test_past_the_budget_paid_models_are_skipped_and_the_admin_told_once(fake: FakeAI) -> None:
    notices: list[str] = []

    async def spent() -> float:
        return 12.5

    async def notify(text: str) -> None:
        notices.append(text)

    budgeted = panel(fake, month_spend=spent, monthly_budget_usd=10.0, notify_admins=notify)
    for _ in range(2):
        result = await budgeted.judge(ALERT, CONTEXT, RANKING, None)
        assert result.used == ("local",)
    assert not fake.claude.requests and not fake.deepseek.requests and not fake.gemini.requests
    assert len(notices) == 1 and "budget" in notices[0]


@pytest.mark.parametrize("text", [
    '{"score": 101, "reasons": ["a", "b", "c"], "key_risk": "x", "recommendation": "BUY"}',
    '{"score": 80, "reasons": ["a", "b"], "key_risk": "x", "recommendation": "BUY"}',
    '{"score": 80, "reasons": ["a", "b", "c"], "key_risk": "", "recommendation": "BUY"}',
    '{"score": 80, "reasons": ["a", "b", "c"], "key_risk": "x", "recommendation": "MAYBE"}',
    "no json here", "",
])
def test_invalid_verdicts_are_refused(text: str) -> None:
    with pytest.raises(MalformedAnswer):
        parse_verdict(text)


def test_a_verdict_in_prose_and_fences_is_found() -> None:
    text = 'Here you go:\n```json\n{"score": 77, "reasons": ["a", "b", "c", "d"], "key_risk": "gap", ' \
           '"recommendation": "BUY"}\n```'
    verdict = parse_verdict(text)
    assert verdict.score == 77 and verdict.reasons == ["a", "b", "c"]


def test_the_local_analyst_explains_itself() -> None:
    lotto = ReviewAlert(trader="yolo", action="BTO", symbol="SPX", option_type="put", strike=5900, expiry=None,
                        days_to_expiry=0, entry_price=3.2, underlying_price=5950, risk="lotto", text="")
    bearish_good = LocalAnalyst().judge(ALERT, {"trend": "bullish"}, RANKING, {"count": 5, "success_rate": 0.8})
    risky = LocalAnalyst().judge(lotto, {"trend": "bullish"}, {"alert_strategy_score": 50,
                                                              "alert_strategy_pop": 0.2}, {})
    assert bearish_good.score > risky.score
    assert any("similar trades" in r for r in bearish_good.reasons)
    assert "zero" in risky.key_risk or "lotto" in " ".join(risky.reasons).lower()
