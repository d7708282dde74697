"""End to end: the real bot process against the loopback Xtrades site, loopback AI servers with realistic delays
(Claude 3 s, DeepSeek 2 s, Gemini 1.5 s) and the loopback Bot API.

Measures, for one alert and for a burst of 100, the time from the start of the scrape that first sees an alert
to the `sendMessage` that carries it, split by stage (scrape, detect+store, context, strategies, memory, AI,
store score, deliver), and the alerts per hour the burst sustains. The wait until that scrape belongs to the
polling interval (on average half of SCRAPE_INTERVAL_SECONDS) and is reported apart.

The push section (`push_main`) measures post → `sendMessage` through Xtrades' push feed (the loopback SignalR
hub), with SCRAPE_INTERVAL_SECONDS=600 so polling plays no part: 50 alerts, one after another, median and p95.

Run: .venv/bin/python -m benchmarks.bench_e2e          (both)
     .venv/bin/python -m benchmarks.bench_e2e --push   (the push feed only)
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pipeline.memory.model_files import DEFAULT_DIR, prepare_offline_model
from tests.fakes.ai import FakeAI
from tests.fakes.signalr import FakeSignalRHub
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:E2E-TOKEN-abcdefghijklmnopqrstuvwxyz"
TRADERS = [f"trader{i:02d}" for i in range(10)]
INTERVAL = 5
ALERT = "HIGH-QUALITY TRADE ALERT"
TIMING = re.compile(r"timings (alert|profile)=(\S+) (.*)")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def sends(telegram: FakeTelegram) -> list[float]:
    return [c.at for c in telegram.calls if c.method == "sendMessage" and ALERT in c.params.get("text", "")]


async def wait_until(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not get there in time")
        await asyncio.sleep(0.05)


def parse_timings(log_text: str, skip_alert_ids: set[str]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    per_alert: dict[str, list[float]] = {}
    per_profile: dict[str, list[float]] = {}
    for kind, key, rest in TIMING.findall(log_text):
        fields = dict(part.split("=", 1) for part in rest.split() if "=" in part)
        if kind == "alert" and key not in skip_alert_ids:
            for name, value in fields.items():
                per_alert.setdefault(name, []).append(float(value))
        elif kind == "profile" and int(fields.get("events", 0)) > 0:
            per_profile.setdefault("scrape", []).append(float(fields["scrape"]))
            per_profile.setdefault("detect+store", []).append(float(fields["detect_store"]))
    return per_profile, per_alert


def alert_ids(log_text: str) -> set[str]:
    return {key for kind, key, _ in TIMING.findall(log_text) if kind == "alert"}


async def main() -> None:
    model = prepare_offline_model(ROOT / DEFAULT_DIR)
    async with FakeXtrades() as site, FakeAI() as ai, FakeTelegram(token=TOKEN) as telegram:
        ai.claude.delay, ai.deepseek.delay, ai.gemini.delay = 3.0, 2.0, 1.5
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            state = site.write_storage_state(tmp / "state.json")
            for name in TRADERS:
                site.add_trader(name)
            env = {**os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_BOT_TOKEN": TOKEN,
                   "TELEGRAM_API_BASE_URL": telegram.root_url, "XTRADES_BASE_URL": site.base_url,
                   "XTRADES_STORAGE_STATE": str(state), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'e2e.db'}",
                   "XTRADES_API_READS": "false", "XTRADES_PUSH_FEED": "false",  # this part times the browser path
                   "QDRANT_PATH": str(tmp / "qdrant"), "EMBEDDING_MODEL_PATH": str(model),
                   "SCRAPE_INTERVAL_SECONDS": str(INTERVAL), "DELIVERY_INTERVAL_SECONDS": "0.5",
                   "DEFAULT_MIN_SCORE": "0", "DEFAULT_RATE_LIMIT_PER_HOUR": "60", "LOG_LEVEL": "DEBUG",
                   "ANTHROPIC_API_KEY": ai.claude.key, "ANTHROPIC_BASE_URL": ai.base_url,
                   "DEEPSEEK_API_KEY": ai.deepseek.key, "DEEPSEEK_BASE_URL": ai.base_url,
                   "GOOGLE_API_KEY": ai.gemini.key, "GEMINI_BASE_URL": ai.base_url, "AI_MONTHLY_BUDGET_USD": "1000"}
            log_path = tmp / "bot.log"
            with log_path.open("wb") as log:
                proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=tmp, env=env,
                                                            stdout=log, stderr=log)
            try:
                await telegram.wait_for("setMyCommands", timeout=90)
                for n, name in enumerate(TRADERS, start=1):
                    telegram.push_message(n, f"/track {name}")
                await telegram.wait_for("sendMessage", count=len(TRADERS), timeout=60,
                                        predicate=lambda c: "Now tracking" in c.params["text"])
                baseline = len(site.profile_requests)
                await wait_until(lambda: len(site.profile_requests) >= baseline + 2 * len(TRADERS), 60)
                await asyncio.sleep(1)
                known = alert_ids(log_path.read_text())

                # One alert
                added = time.monotonic()
                site.add_alert(TRADERS[0], symbol="AAPL", side="sto", direction="put", strike=235, price=3.1,
                               expiration="2027-01-15")
                await wait_until(lambda: len(sends(telegram)) >= 1, 120)
                scrape_start = min(t for name, t in site.profile_requests if name == TRADERS[0] and t >= added)
                one_e2e = sends(telegram)[0] - scrape_start
                await asyncio.sleep(1)
                text = log_path.read_text()
                one_profile, one_alert = parse_timings(text, known)
                known |= alert_ids(text)

                # A burst of 100: ten alerts for each of ten traders, all in one scrape
                symbols = ["AAPL", "SPY", "NVDA", "TSLA", "MSFT"]
                burst_added = time.monotonic()
                for name in TRADERS:
                    for i in range(10):
                        site.add_alert(name, symbol=symbols[i % 5], direction="call" if i % 2 else "put",
                                       strike=100.0 + i, price=1.0 + i / 10, expiration="2027-01-15")
                await wait_until(lambda: len(sends(telegram)) >= 101, 600)
                burst_start = min(t for _, t in site.profile_requests if t >= burst_added)
                burst_sends = sorted(sends(telegram)[1:])
                burst_e2e = [t - burst_start for t in burst_sends]
                await asyncio.sleep(1)
                burst_profile, burst_alert = parse_timings(log_path.read_text(), known)
            finally:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), timeout=60)
                Path("/tmp/bench_e2e_bot.log").write_bytes(log_path.read_bytes())  # noqa: ASYNC240 (kept to read)

    def row(label: str, values: list[float]) -> str:
        if not values:
            return f"{label:<28}{'-':>12}{'-':>12}"
        return f"{label:<28}{statistics.median(values):>10.0f}ms{percentile(values, 0.95):>10.0f}ms"

    for title, profile, alerts, e2e in (("one alert", one_profile, one_alert, [one_e2e]),
                                        ("burst of 100", burst_profile, burst_alert, burst_e2e)):
        print(f"\n{title}: stage{'median':>28}{'p95':>12}")
        for name in ("scrape", "detect+store"):
            print(row(name, profile.get(name, [])))
        for name in ("context", "strategies", "memory", "ai", "store"):
            print(row(name if name != "store" else "store score", alerts.get(name, [])))
        stages = sum(statistics.median(v) for v in list(profile.values()) + list(alerts.values())) / 1000
        deliver = [max(0.0, e - stages) * 1000 for e in e2e]
        print(row("deliver (incl. queue wait)", deliver))
        print(row("scrape start → sendMessage", [e * 1000 for e in e2e]))
    span = burst_sends[-1] - burst_start
    print(f"\nburst: 100 alerts delivered {span:.1f} s after their scrape began: {100 / span * 3600:,.0f} alerts/hour")
    print(f"plus the wait for the next scrape: on average half of SCRAPE_INTERVAL_SECONDS "
          f"({INTERVAL / 2:.1f} s here, 75 s with the default 150 s)")


PUSH_ALERTS = 50
PUSH_INTERVAL = 600


async def push_main() -> None:
    """Post → sendMessage through the push feed, AI delays 3 s / 2 s / 1.5 s, polling every 600 s."""
    model = prepare_offline_model(ROOT / DEFAULT_DIR)
    async with (FakeXtrades() as site, FakeSignalRHub() as hub, FakeAI() as ai,
                FakeTelegram(token=TOKEN) as telegram):
        ai.claude.delay, ai.deepseek.delay, ai.gemini.delay = 3.0, 2.0, 1.5
        site.hub_url, site.hub_access_token = hub.hub_url, hub.access_token
        trader = "pushtrader"
        site.add_trader(trader)
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            state = site.write_storage_state(tmp / "state.json")
            env = {**os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_BOT_TOKEN": TOKEN,
                   "TELEGRAM_API_BASE_URL": telegram.root_url, "XTRADES_BASE_URL": site.base_url,
                   "XTRADES_STORAGE_STATE": str(state), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'push.db'}",
                   "QDRANT_PATH": str(tmp / "qdrant"), "EMBEDDING_MODEL_PATH": str(model),
                   "SCRAPE_INTERVAL_SECONDS": str(PUSH_INTERVAL), "DELIVERY_INTERVAL_SECONDS": "0.5",
                   "DEFAULT_MIN_SCORE": "0", "DEFAULT_RATE_LIMIT_PER_HOUR": "60", "LOG_LEVEL": "INFO",
                   "ANTHROPIC_API_KEY": ai.claude.key, "ANTHROPIC_BASE_URL": ai.base_url,
                   "DEEPSEEK_API_KEY": ai.deepseek.key, "DEEPSEEK_BASE_URL": ai.base_url,
                   "GOOGLE_API_KEY": ai.gemini.key, "GEMINI_BASE_URL": ai.base_url, "AI_MONTHLY_BUDGET_USD": "1000"}
            log_path = tmp / "bot.log"
            with log_path.open("wb") as log:
                proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=tmp, env=env,
                                                            stdout=log, stderr=log)
            latencies: list[float] = []
            try:
                await telegram.wait_for("setMyCommands", timeout=90)
                telegram.push_message(1, f"/track {trader}")
                await telegram.wait_for("sendMessage", timeout=60,
                                        predicate=lambda c: "Now tracking" in c.params["text"])
                await hub.wait_connected(timeout=60)
                await wait_until(lambda: sum(1 for u, _, _ in site.api_log if u == trader) >= 4, 60)  # baseline
                await asyncio.sleep(6)  # the start-up poll has run too
                symbols = ["AAPL", "SPY", "NVDA", "TSLA", "MSFT"]
                for i in range(PUSH_ALERTS):
                    alert = site.add_alert(trader, symbol=symbols[i % 5], direction="call" if i % 2 else "put",
                                           strike=100.0 + i, price=1.0 + i / 10, expiration="2027-01-15",
                                           time_of_entry=datetime.now(UTC))
                    posted = time.monotonic()
                    await hub.publish(alert)
                    await wait_until(lambda n=i: len(sends(telegram)) >= n + 1, 60)
                    latencies.append(sends(telegram)[i] - posted)
                polls = sum(1 for u, side, _ in site.api_log if u == trader and side == "bto")
            finally:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), timeout=60)
                Path("/tmp/bench_e2e_push_bot.log").write_bytes(log_path.read_bytes())  # noqa: ASYNC240
    print(f"\npush feed, {PUSH_ALERTS} alerts one after another, AI delays 3 s / 2 s / 1.5 s, "
          f"SCRAPE_INTERVAL_SECONDS={PUSH_INTERVAL}, DELIVERY_INTERVAL_SECONDS=0.5:")
    print(f"{'post → sendMessage':<28}{statistics.median(latencies) * 1000:>10.0f}ms"
          f"{percentile(latencies, 0.95) * 1000:>10.0f}ms   (median, p95)")
    print(f"entry polls of the trader during the run: {polls} (baseline and start-up; none per alert)")


if __name__ == "__main__":
    if "--push" not in sys.argv:
        asyncio.run(main())
    asyncio.run(push_main())
