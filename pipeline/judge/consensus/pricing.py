"""What each model costs, in USD per million tokens (input, output), for usage records and the monthly budget."""

from __future__ import annotations

PRICES: dict[str, tuple[float, float]] = {
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-sonnet-4-5": (3.0, 15.0),  # retiring; kept so past usage is still priced
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-opus-4-1": (15.0, 75.0),
    "deepseek-chat": (0.27, 1.10),
    "deepseek-reasoner": (0.55, 2.19),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.0),
}
# An unknown model is charged like the most expensive one above (Opus), so the budget errs on the safe side:
# it stops paid calls early rather than late.
UNKNOWN_MODEL: tuple[float, float] = (15.0, 75.0)


def price_for(model: str) -> tuple[float, float]:
    """Exact name first, then the longest known prefix, so dated ids ("claude-haiku-4-5-20251001") are priced."""
    name = model.removeprefix("models/")
    if name in PRICES:
        return PRICES[name]
    prefixes = [known for known in PRICES if name.startswith(known)]
    return PRICES[max(prefixes, key=len)] if prefixes else UNKNOWN_MODEL


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    price_in, price_out = price_for(model)
    return (input_tokens * price_in + output_tokens * price_out) / 1_000_000
