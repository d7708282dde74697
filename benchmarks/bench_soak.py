"""Every card exactly once, under kill -9: the real bot process (`python -m bot run`) against the loopback Xtrades
site and Bot API, killed at a random moment mid-delivery and restarted.

Kill mode (default): RUNS runs; each posts a burst of 40 alerts by one trader whom 3 fresh chats track (120
cards), with the Bot API taking 300 ms per sendMessage; once cards flow, the bot is killed with SIGKILL at a
random moment and started again; the run ends when every card of the burst is settled. Slow mode (`--slow`):
one burst with the Bot API taking 6 s per sendMessage for a minute (then 300 ms), no kill.

Per run it prints: expected cards (alert × chat), received (distinct cards the Bot API accepted), duplicated
(accepted more than once), lost (never accepted), "may-not-have-reached" (cards the chats were told may not have
reached them) and, for the kill, the card sends truly in flight at the kill: claimed (`sending`) and not yet
recorded, at most one per chat, and of them how many the Bot API had not answered yet (the rest it had
answered, and the bot was waiting to record them). A card counts by the chat it went to and the alert id on
its buttons.

Run: .venv/bin/python -m benchmarks.bench_soak [--runs N] [--slow]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import sqlite3
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.memory.model_files import DEFAULT_DIR, prepare_offline_model
from tests.conftest import TEST_TOKEN
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades
from tests.test_faults import BotProcess

ROOT = Path(__file__).resolve().parents[1]
TRADER = "soaktrader"
ALERTS_PER_RUN = 40
CHATS_PER_RUN = 3
SEND_SECONDS = 0.3
SLOW_SEND_SECONDS = 6.0
SLOW_FOR_SECONDS = 60.0
KILL_WITHIN_SECONDS = 8.0  # after the run's first card: 40 cards a chat at 300 ms take about 12 s
ALERT = "HIGH-QUALITY TRADE ALERT"
ALERT_ID = re.compile(r"[\"']a:(\d+)[\"']")
MAYBE = "may not have reached you"
SYMBOLS = ["AAPL", "SPY", "NVDA", "TSLA", "MSFT", "AMD", "META", "AMZN"]


class Bot(BotProcess):
    """The deployed bot process (the suite's own harness), restartable, on one database, polling only."""

    def __init__(self, tmp: Path, telegram: FakeTelegram, site: FakeXtrades, state: Path, model: Path) -> None:
        super().__init__(tmp, telegram, site, state)
        self.db_path, self.log_path = tmp / "bot.db", tmp / "bot.log"
        self.env.update({"EMBEDDING_MODEL_PATH": str(model), "DEFAULT_RATE_LIMIT_PER_HOUR": "60",
                         "XTRADES_PUSH_FEED": "false"})

    def rows(self, chat_ids: list[int]) -> list[tuple[int, int, str]]:
        """(chat, alert, status) of the queue rows of these chats, read with the standard library."""
        marks = ",".join("?" * len(chat_ids))
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=10)) as conn:
            return conn.execute(f"SELECT chat_id, alert_id, status FROM xtrades_notification_queue "
                                f"WHERE chat_id IN ({marks})", chat_ids).fetchall()


def cards(telegram: FakeTelegram, chat_ids: list[int], *, in_flight: bool = False) -> Counter[tuple[int, int]]:
    """(chat, alert) → how many times the Bot API accepted that card (in_flight: holds it, not answered yet)."""
    out: Counter[tuple[int, int]] = Counter()
    for call in telegram.calls:
        if call.method != "sendMessage" or ALERT not in str(call.params.get("text", "")):
            continue
        answered = call.finished and not call.failed
        if (call.finished if in_flight else not answered):
            continue
        chat, match = int(call.params["chat_id"]), ALERT_ID.search(str(call.params.get("reply_markup", "")))
        if chat in chat_ids and match:
            out[(chat, int(match.group(1)))] += 1
    return out


def told_maybe(telegram: FakeTelegram, chat_ids: list[int]) -> int:
    """Cards the chats were told may not have reached them: the lines under that heading in their digests."""
    lines = 0
    for call in telegram.sent_messages():
        text = str(call.params.get("text", ""))
        if int(call.params["chat_id"]) in chat_ids and MAYBE in text:
            lines += sum(1 for line in text.split(MAYBE, 1)[1].splitlines() if "@" in line)
    return lines


async def wait_until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not in {timeout:.0f}s: {what}")
        await asyncio.sleep(0.1)


async def run_burst(bot: Bot, telegram: FakeTelegram, site: FakeXtrades, run: int, *, kill: bool,
                    slow: bool) -> dict[str, int]:
    chat_ids = [10_000 + run * CHATS_PER_RUN + k for k in range(CHATS_PER_RUN)]
    for chat in chat_ids:
        telegram.push_message(chat, f"/track {TRADER}")
    await telegram.wait_for("sendMessage", count=CHATS_PER_RUN, timeout=60,
                            predicate=lambda c: int(c.params["chat_id"]) in chat_ids
                            and "Now tracking" in c.params["text"])
    expiry = (datetime.now(UTC) + timedelta(days=45)).date().isoformat()
    if slow:
        telegram.set_delay("sendMessage", SLOW_SEND_SECONDS)
        slow_until = time.monotonic() + SLOW_FOR_SECONDS
    for i in range(ALERTS_PER_RUN):
        site.add_alert(TRADER, symbol=SYMBOLS[i % len(SYMBOLS)], direction="call" if i % 2 else "put",
                       strike=100.0 + run * 50 + i, price=1.0 + i / 20, expiration=expiry)
    in_flight = unanswered = 0
    if kill:
        await wait_until(lambda: sum(cards(telegram, chat_ids).values()) >= 1, 120, "the first card")
        await asyncio.sleep(random.uniform(0.0, KILL_WITHIN_SECONDS))
        await bot.kill()
        unanswered = sum(cards(telegram, chat_ids, in_flight=True).values())
        in_flight = sum(1 for *_, status in bot.rows(chat_ids) if status == "sending")
        commands = len(telegram.calls_to("setMyCommands"))
        await bot.start()
        await telegram.wait_for("setMyCommands", count=commands + 1, timeout=90)
    if slow:
        await wait_until(lambda: time.monotonic() >= slow_until, SLOW_FOR_SECONDS + 5, "the slow minute")
        telegram.set_delay("sendMessage", SEND_SECONDS)

    def settled() -> bool:
        rows = bot.rows(chat_ids)
        return (len(rows) >= ALERTS_PER_RUN * CHATS_PER_RUN
                and not any(status in ("pending", "rate_limited", "sending") for _, _, status in rows))

    await wait_until(settled, 600, "every card of the burst settled")
    await asyncio.sleep(3)  # the digests that follow a restart, and any late duplicate
    rows = bot.rows(chat_ids)
    for chat in chat_ids:  # the next burst goes to the next run's chats only
        telegram.push_message(chat, f"/untrack {TRADER}")
    await telegram.wait_for("sendMessage", count=CHATS_PER_RUN, timeout=60,
                            predicate=lambda c: int(c.params["chat_id"]) in chat_ids
                            and "Stopped tracking" in c.params["text"])
    expected = {(chat, alert) for chat, alert, _ in rows}
    got = cards(telegram, chat_ids)
    return {"expected": len(expected), "received": len(set(got) & expected),
            "duplicated": sum(n - 1 for n in got.values() if n > 1), "lost": len(expected - set(got)),
            "maybe": told_maybe(telegram, chat_ids), "in_flight": in_flight, "unanswered": unanswered,
            "unsure": sum(1 for *_, status in rows if status == "unsure")}


async def main(runs: int, slow: bool) -> None:
    model = prepare_offline_model(ROOT / DEFAULT_DIR)
    results: list[dict[str, int]] = []
    async with FakeXtrades() as site, FakeTelegram(token=TEST_TOKEN) as telegram:
        telegram.set_delay("sendMessage", SEND_SECONDS)
        site.add_trader(TRADER)
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            bot = Bot(tmp, telegram, site, site.write_storage_state(tmp / "state.json"), model)
            await bot.start()
            try:
                await telegram.wait_for("setMyCommands", timeout=120)
                print(f"{'run':>4} {'expected':>9} {'received':>9} {'duplicated':>11} {'lost':>5} "
                      f"{'may-not-have-reached':>21} {'in flight at kill':>18} {'of them unanswered':>19}",
                      flush=True)
                for run in range(1, runs + 1):
                    result = await run_burst(bot, telegram, site, run, kill=not slow, slow=slow)
                    results.append(result)
                    print(f"{run:>4} {result['expected']:>9} {result['received']:>9} {result['duplicated']:>11} "
                          f"{result['lost']:>5} {result['maybe']:>21} "
                          f"{result['in_flight'] if not slow else '-':>18} "
                          f"{result['unanswered'] if not slow else '-':>19}", flush=True)
            finally:
                await bot.stop()
                Path("/tmp/bench_soak_bot.log").write_bytes(bot.log_path.read_bytes())  # noqa: ASYNC240
    total = {key: sum(r[key] for r in results) for key in results[0]}
    mode = (f"Bot API {SLOW_SEND_SECONDS:g} s per send for {SLOW_FOR_SECONDS:g} s" if slow
            else f"kill -9 mid-delivery, Bot API {SEND_SECONDS * 1000:.0f} ms per send")
    print(f"\n{mode}, {len(results)} run(s): expected {total['expected']}, received {total['received']}, "
          f"duplicated {total['duplicated']}, lost {total['lost']}, may-not-have-reached {total['maybe']}"
          + ("" if slow else f", in flight at the kills {total['in_flight']} (of them unanswered by the Bot "
             f"API: {total['unanswered']})"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--slow", action="store_true", help="the Bot API takes 6 s per send for a minute")
    args = parser.parse_args()
    asyncio.run(main(1 if args.slow else args.runs, args.slow))
