"""Ingestion figures: parse throughput, and the time of one pipeline run over 20 profiles on the loopback site.

Run: .venv/bin/python -m benchmarks.bench_ingest
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from pipeline.cycle import IngestionCycle
from pipeline.ingest.parser import parse_alert
from pipeline.ingest.scraper import PlaywrightAlertSource, ScraperConfig
from storage import chats, traders
from storage.db import Database
from tests.fakes.xtrades import FakeXtrades

TODAY = date(2026, 11, 23)
SYMBOLS = ["AAPL", "SPY", "TSLA", "NVDA", "MSFT", "AMD", "QQQ", "META", "BRK.B", "PLTR"]
TEMPLATES = [
    "BTO {sym} {strike}{cp} {m}/{d} @ {price}",
    "BTO {qty} ${sym} {m}/{d} {strike}{cp} @ {price} lotto",
    "STO {qty} {sym} {m}/{d}/27 {strike}p @ {price}",
    "STC {sym} {strike}{cp} {m}/{d} @{price} +42%",
    "🚨 <b>BTO</b> ${sym} {strike} {word} {mon} {d} @ ${price} SL 1.0 PT 3.0",
    "bought {qty} {sym} {strike}{cp} {m}/{d} at {price}",
    "BTO {qty} shares ${sym} @ {price} longterm",
    "GM everyone, watching {sym} for a breakout over {strike}",
    "{sym} calls up {price} from 1.75!",
    "trimming {sym} {strike}{cp} {m}/{d} @ {price} partial",
]


def alert_texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        texts.append(rng.choice(TEMPLATES).format(
            sym=rng.choice(SYMBOLS), strike=rng.choice([5, 12.5, 150, 170, 212.5, 450, 600]),
            cp=rng.choice("CPcp"), word=rng.choice(["call", "put", "calls"]), m=rng.randint(1, 12),
            d=rng.randint(1, 28), mon=rng.choice(["Dec", "Jan", "Feb"]), price=round(rng.uniform(0.05, 20), 2),
            qty=rng.randint(1, 20),
        ))
    return texts


def bench_parse(n: int = 10_000, repeats: int = 5) -> tuple[float, int]:
    texts = alert_texts(n)
    rates, parsed = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        parsed = sum(1 for t in texts if parse_alert(t, today=TODAY) is not None)
        rates.append(n / (time.perf_counter() - started))
    return statistics.median(rates), parsed


async def bench_cycle(profiles: int = 20, alerts_per_profile: int = 10) -> dict[str, float]:
    rng = random.Random(3)
    async with FakeXtrades() as site:
        names = [f"trader{i:02d}" for i in range(profiles)]
        for name in names:
            site.add_trader(name)
            for _ in range(alerts_per_profile):
                site.add_alert(name, symbol=rng.choice(SYMBOLS[:6]), direction=rng.choice(["call", "put"]),
                               strike=float(rng.choice([150, 170, 450])), expiration="2026-12-18",
                               price=round(rng.uniform(0.5, 5), 2))
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
            await db.create_schema()
            async with db.session() as s:
                await chats.get_or_create(s, 1, chat_type="private", title=None, min_score=80,
                                          rate_limit_per_hour=5)
                for name in names:
                    await traders.track(s, 1, name)
            state_file = Path(tmp) / "state.json"
            site.write_storage_state(state_file)
            source = PlaywrightAlertSource(ScraperConfig(base_url=site.base_url, storage_state_path=str(state_file),
                                                         chromium_path=None, email=None, password=None))
            cycle = IngestionCycle(db, source, interval_seconds=150)
            try:
                cold = await cycle.run_once()  # includes launching Chromium; a trader's first scrape
                for name in names[: profiles // 2]:
                    site.add_alert(name, symbol="SPY", direction="call", strike=600.0, expiration="2026-12-18",
                                   price=1.5)
                warm = await cycle.run_once()
                steady = await cycle.run_once()
            finally:
                await source.close()
                await db.close()
    return {"cold": cold.seconds, "warm": warm.seconds, "steady": steady.seconds,
            "new_events": warm.events["new"], "scraped": warm.scraped}


def main() -> None:
    rate, parsed = bench_parse()
    print(f"parse throughput: {rate:,.0f} alerts/s over 10,000 texts ({parsed:,} parsed as alerts)")
    figures = asyncio.run(bench_cycle())
    print(f"one cycle over {figures['scraped']:.0f} profiles (SCRAPE_MAX_CONCURRENT=10): "
          f"{figures['warm']:.2f} s with {figures['new_events']:.0f} new alerts; "
          f"{figures['steady']:.2f} s when nothing changed; first run incl. browser launch {figures['cold']:.2f} s")


if __name__ == "__main__":
    main()
