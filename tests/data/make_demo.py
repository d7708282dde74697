"""Generates the demo's sample of Xtrades activity (tests/data/demo/activity.json). Values are invented.

Four traders with a few hundred closed trades (the memory the demo learns from), a dozen new alerts, and three
exits of those alerts. Records have the shape of Xtrades' `/api/v2/alerts` items, so the demo replays them
through the real mapping, detector, judgement, memory and delivery. Run:
    .venv/bin/python -m tests.data.make_demo
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).parent / "demo" / "activity.json"
TODAY = date(2026, 11, 23)
# trader: (skill: chance a trade wins, favourite symbols, style)
TRADERS = {
    "behappy": (0.68, ["AAPL", "MSFT", "SPY"], "premium seller"),
    "fibonaccizer": (0.60, ["NVDA", "AMD", "QQQ"], "swing buyer"),
    "yoyomun": (0.45, ["TSLA", "SPX", "SPY"], "lotto hunter"),
    "optiongirl": (0.55, ["AAPL", "NVDA", "TSLA"], "mixed"),
}
SPOT = {"AAPL": 240.0, "MSFT": 335.0, "SPY": 670.0, "NVDA": 440.0, "AMD": 78.0, "QQQ": 510.0, "TSLA": 74.0,
        "SPX": 5880.0}


def _strike(spot: float, offset: float) -> float:
    step = 0.5 if spot < 25 else 1 if spot < 200 else 5
    return round(spot * (1 + offset) / step) * step


def record(rng: random.Random, n: int, trader: str, *, opened: datetime, closed: datetime | None, win: bool | None,
           live: bool) -> list[dict]:
    skill, symbols, style = TRADERS[trader]
    symbol = rng.choice(symbols)
    spot = SPOT[symbol] * rng.uniform(0.9, 1.1) if not live else SPOT[symbol]
    selling = style == "premium seller" or (style == "mixed" and rng.random() < 0.4)
    direction = "put" if selling or rng.random() < 0.35 else "call"
    side = "sto" if selling else "bto"
    offset = -0.05 if direction == "put" else 0.04
    if style == "lotto hunter":
        offset *= 0.4
    strike = _strike(spot, offset)
    days = 2 if style == "lotto hunter" and rng.random() < 0.5 else rng.choice([21, 30, 35, 45])
    expiry = (opened + timedelta(days=days)).date()
    price = round(max(0.1, spot * rng.uniform(0.006, 0.02)), 2)
    alert_id = f"demo-{n:05d}"
    message = f"{side.upper()} {symbol} {strike:g}{direction[0].upper()} {expiry:%m/%d} @ {price}"
    base = {
        "id": alert_id, "userId": f"u-{trader}", "userName": trader, "userMeta": {"discordRankDisplayName": "Pro"},
        "symbol": symbol, "type": "options", "direction": direction, "strike": strike,
        "expiration": f"{expiry.isoformat()}T00:00:00", "side": side, "status": "open", "result": "inProgress",
        "pricePaid": price, "actualPriceAtTimeOfAlert": price, "priceAtExit": None, "lastCheckedPrice": price,
        "risk": "lotto" if days <= 2 else "standard", "timeOfEntryAlert": opened.isoformat(),
        "timeOfFullExitAlert": None, "originalMessage": message, "originalExitMessage": None,
        "quantity": rng.choice([1, 1, 2, 3, 5]), "demo": "invented values",
    }
    records = [base]
    if closed is not None:
        change = rng.uniform(0.3, 0.9) if win else -rng.uniform(0.3, 1.0)
        exit_price = round(max(0.01, price * (1 - change if selling else 1 + change)), 2)
        exit_side = "btc" if selling else "stc"
        records.append(dict(base, side=exit_side, status="closed", result="win" if win else "loss",
                            priceAtExit=exit_price, lastCheckedPrice=exit_price,
                            timeOfFullExitAlert=closed.isoformat(),
                            originalExitMessage=f"{exit_side.upper()} {symbol} {strike:g}{direction[0].upper()} "
                                                f"{expiry:%m/%d} @ {exit_price}"))
    return records


def main() -> None:
    rng = random.Random(2026)
    history, live, exits = [], [], []
    n = 0
    start = datetime(2026, 5, 1, 14, 30, tzinfo=UTC)
    for _ in range(300):
        trader = rng.choice(list(TRADERS))
        opened = start + timedelta(hours=rng.randint(0, 24 * 170))
        closed = opened + timedelta(days=rng.randint(1, 20))
        history += record(rng, n, trader, opened=opened, closed=closed, win=rng.random() < TRADERS[trader][0],
                          live=False)
        n += 1
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    for i in range(12):
        trader = list(TRADERS)[i % 4]
        [entry] = record(rng, n, trader, opened=now - timedelta(minutes=5 + i), closed=None, win=None, live=True)
        live.append(entry)
        n += 1
    for entry in live[:3]:
        [_, exit_record] = record(random.Random(entry["id"]), int(entry["id"][5:]), entry["userName"],
                                  opened=now, closed=now + timedelta(hours=2), win=True, live=True)
        exits.append(dict(exit_record, id=entry["id"], symbol=entry["symbol"], direction=entry["direction"],
                          strike=entry["strike"], expiration=entry["expiration"], pricePaid=entry["pricePaid"],
                          priceAtExit=round(entry["pricePaid"] * (0.4 if entry["side"] == "sto" else 1.6), 2)))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"note": "Invented sample of Xtrades activity for the demo; not real trades.",
                               "today": TODAY.isoformat(), "history": history, "live": live, "exits": exits},
                              indent=0))


if __name__ == "__main__":
    main()
