"""Running the bot until SIGINT/SIGTERM, and stopping it within a bounded time whatever the outside servers do.

PTB's `run_polling` stops step by step and waits for each: the last getUpdates confirmation, every running
job (a scrape of a hung page may take 75 s, an AI call 20 s), every handler. With Telegram, Xtrades or an AI
server not answering that took 10-25 s. Here a stop signal cancels the running jobs at once (what they were
doing is either committed or rolled back: an unscored alert is scored after the restart, a scrape is redone, a
notification not yet tried goes back to the queue), then each PTB step gets what is left of one budget, and
the database and browser are closed last, in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.context import App

log = logging.getLogger(__name__)

STOP_BUDGET_SECONDS = 7.0  # the whole stop, closing included, well inside the 10 s a supervisor allows
CLOSE_RESERVE_SECONDS = 2.5  # kept back for closing the database, memory and browser


async def serve(app: App, start: Callable[[App], Awaitable[None]],
                stop_signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """Start the application, run until a stop signal, then stop within `STOP_BUDGET_SECONDS`.

    A signal during start-up (Telegram not answering getMe, say) cancels the start-up and stops the same way.
    Errors of the start-up itself (a refused token) are raised after the stop."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in stop_signals:
        loop.add_signal_handler(sig, stopping.set)
    starting: asyncio.Future[Any] = asyncio.ensure_future(start(app))
    waiting: asyncio.Future[Any] = asyncio.create_task(stopping.wait())
    failure: BaseException | None = None
    try:
        await asyncio.wait({starting, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done() and starting.exception() is not None:
            failure = starting.exception()
        elif starting.done():
            log.info("running; SIGINT or SIGTERM stops the bot")
            await waiting
    finally:
        for sig in stop_signals:
            loop.remove_signal_handler(sig)
        waiting.cancel()
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(BaseException):
                await starting
        await stop_within_budget(app)
    if failure is not None:
        raise failure


async def stop_within_budget(app: App, budget: float = STOP_BUDGET_SECONDS) -> None:
    """Cancel the running jobs, then stop polling, the application and its bot, then close the runtime."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    if app.job_queue is not None and app.job_queue.scheduler.running:
        app.job_queue.scheduler.pause()  # no new cycle or delivery run starts while stopping
    runtime = app.bot_data.runtime
    if runtime is not None:
        await runtime.cancel_jobs()

    async def step(name: str, action: Callable[[], Awaitable[object]]) -> bool:
        remaining = deadline - CLOSE_RESERVE_SECONDS - loop.time()
        try:
            async with asyncio.timeout(max(0.1, remaining)):
                await action()
            return True
        except TimeoutError:
            log.warning("stopping: %s did not finish in time; going on without it", name)
        except Exception:
            log.exception("stopping: %s failed; going on", name)
        return False

    if app.updater is not None and app.updater.running:
        await step("polling (Telegram not answering?)", app.updater.stop)
    stopped = not app.running or await step("the application's jobs and handlers", app.stop)
    if stopped:
        await step("the Bot API client", app.shutdown)
    if app.post_shutdown is not None:  # the database, memory and browser: always, with the reserve
        try:
            async with asyncio.timeout(max(0.5, deadline - loop.time())):
                await app.post_shutdown(app)
        except TimeoutError:
            log.warning("stopping: closing the runtime did not finish in time")
        except Exception:
            log.exception("stopping: closing the runtime failed")
