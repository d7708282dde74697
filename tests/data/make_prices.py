"""Generates the recorded daily price series under tests/data/prices/ (values invented, labelled so).

Geometric Brownian motion with a fixed seed per symbol, so the files are reproducible:
    .venv/bin/python -m tests.data.make_prices
"""

from __future__ import annotations

import csv
import math
import random
from datetime import date, timedelta
from pathlib import Path

OUT = Path(__file__).parent / "prices"
END = date(2026, 11, 20)
DAYS = 320
RECENT_DAYS = 60
# symbol: (start price, annual drift, annual volatility, drift of the last 60 days, next earnings or None)
# The recent drift gives each symbol a clear trend today (AAPL up, TSLA down, SPY flat), which tests rely on.
SERIES: dict[str, tuple[float, float, float, float, date | None]] = {
    "AAPL": (150.0, 0.35, 0.22, 1.5, date(2027, 1, 28)),
    "SPY": (560.0, 0.02, 0.12, 0.0, None),
    "TSLA": (330.0, -0.45, 0.55, -2.5, date(2026, 12, 3)),
    "NVDA": (110.0, 0.60, 0.45, 1.5, date(2027, 2, 25)),
    "MSFT": (420.0, 0.10, 0.20, 0.3, date(2027, 1, 27)),
    "AMD": (140.0, -0.10, 0.48, -1.0, date(2027, 2, 3)),
    "QQQ": (480.0, 0.15, 0.17, 0.6, None),
    "SPX": (5600.0, 0.02, 0.12, 0.2, None),
}


def trading_days(end: date, count: int) -> list[date]:
    days, day = [], end
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    days = trading_days(END, DAYS)
    for symbol, (start, drift, vol, recent, earnings) in SERIES.items():
        rng = random.Random(symbol)
        price, dt = start, 1 / 252
        with (OUT / f"{symbol}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["date", "close", "next_earnings"])
            for n, day in enumerate(days):
                mu = recent if n >= len(days) - RECENT_DAYS else drift
                price *= math.exp((mu - vol * vol / 2) * dt + vol * math.sqrt(dt) * rng.gauss(0, 1))
                writer.writerow([day.isoformat(), f"{price:.2f}", earnings.isoformat() if earnings else ""])
    (OUT / "README.md").write_text("Invented daily closes (not market data), made by tests/data/make_prices.py.\n")


if __name__ == "__main__":
    main()
