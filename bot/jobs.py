"""JobQueue callbacks: the pipeline run, and (later) delivery. Thin: the work lives in pipeline/."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

log = logging.getLogger(__name__)


async def run_cycle(context: ContextTypes.DEFAULT_TYPE) -> None:
    """One pipeline run. An error is logged once and the next run starts afresh."""
    runtime = context.bot_data.get("runtime")
    if runtime is None:
        return
    try:
        with runtime.job():
            await runtime.cycle.run_once()
            if runtime.judgement is not None:  # alerts whose judging was cut short (a stop, a crash)
                await runtime.judgement.score_pending()
    except asyncio.CancelledError:  # the bot is stopping: what the run did not commit is redone after the restart
        log.info("pipeline run cancelled by shutdown")
    except Exception:
        log.exception("pipeline run failed; the next run will retry")


async def deliver(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send what the queue and each chat's hourly limit allow."""
    runtime = context.bot_data.get("runtime")
    if runtime is None or runtime.deliverer is None:
        return
    try:
        with runtime.job():
            await runtime.deliverer.run_once()
    except asyncio.CancelledError:  # stopping: rows not tried went back to the queue, the one in flight stays sending
        log.info("delivery run cancelled by shutdown")
    except Exception:
        log.exception("delivery run failed; the queue is kept for the next run")


def admin_notifier(app: Application, admin_chat_ids: Sequence[int]) -> Callable[[str], Awaitable[None]]:
    """Tell every admin chat something (health warnings); a chat that can't be reached is skipped."""

    async def notify(text: str) -> None:
        if not admin_chat_ids:
            log.warning("no ADMIN_CHAT_IDS set; admin notice not sent: %s", text)
            return
        for chat_id in admin_chat_ids:
            try:
                await app.bot.send_message(chat_id, text)
            except TelegramError as exc:
                log.warning("could not notify admin chat %s: %s", chat_id, exc)

    return notify
