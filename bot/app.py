"""The composition root: builds the PTB Application, every service, every handler and every job.

Services are built in `post_init` (inside the running event loop) and closed in `post_shutdown`, so a
SIGINT/SIGTERM during polling closes the browser and the database cleanly.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from datetime import time as dt_time

from telegram import BotCommand, LinkPreviewOptions, MenuButtonWebApp, Update, WebAppInfo
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot import jobs
from bot import summaries as daily
from bot.context import CONTEXT_TYPES, App
from bot.delivery import Deliverer
from bot.settings import Settings
from bot.telegram_client import TolerantBot
from bot.wiring import Runtime, build_feed, build_runtime, session_token
from handlers import callbacks, commands, groups
from handlers.errors import on_error
from handlers.outbox import SEND_READ_TIMEOUT_SECONDS, TelegramOutbox
from handlers.services import Services
from pipeline.cycle import AlertSource
from pipeline.memory.embedder import Embedder

log = logging.getLogger(__name__)

FIRST_CYCLE_DELAY_SECONDS = 5.0
POLITE_INTERVAL_SECONDS = 60
NO_PREVIEWS = LinkPreviewOptions(is_disabled=True)
CALIBRATION_FIRST_DELAY_SECONDS = 60.0
RATE_LIMIT_RETRIES = 3
CALIBRATION_TIME = dt_time(4, 30, tzinfo=UTC)  # nightly, after US markets close and most exits are in


def build_application(settings: Settings, *, source: AlertSource | None = None,
                      embedder: Embedder | None = None) -> App:
    """The Application, talking to `TELEGRAM_API_BASE_URL`, with every handler and job registered."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")

    async def post_init(app: App) -> None:
        notify = jobs.admin_notifier(app, settings.admin_chat_ids)
        runtime = await build_runtime(settings, notify_admins=notify, source=source, embedder=embedder)
        app.bot_data.runtime = runtime
        runtime.outbox = TelegramOutbox(app.bot, runtime.db)
        runtime.deliverer = Deliverer(
            runtime.db, runtime.outbox, late_after=timedelta(minutes=settings.late_alert_minutes),
            on_card_sent=runtime.calibration.on_card_delivered if runtime.calibration else None)
        await runtime.deliverer.recover_interrupted()
        runtime.summaries = daily.DailySummaries(runtime.db, runtime.outbox)
        runtime.feed = build_feed(settings, runtime.cycle, session_token(settings, runtime.source),
                                  on_health=jobs.catch_up_on_feed_changes(app))
        if runtime.feed is not None:
            runtime.feed.start()
            runtime.closers.append(runtime.cycle.drain)  # closers run last-first: the feed stops, then this
            runtime.closers.append(runtime.feed.stop)
        app.bot_data.services = Services(
            db=runtime.db,
            outbox=runtime.outbox,
            default_min_score=settings.default_min_score,
            default_rate_limit_per_hour=settings.default_rate_limit_per_hour,
            admin_chat_ids=frozenset(settings.admin_chat_ids),
            profile_exists=runtime.source.profile_exists,
            similar_lines=runtime.memory.lines_for_alert if runtime.memory else None,
            pipeline_status=runtime.status,
            backtest=runtime.backtest_report,
            chance_advice=runtime.chance_advice,
            read_now=lambda names: jobs.read_now(app, names),
            reschedule_summary=lambda chat_id: daily.reschedule(app, runtime.db, chat_id),
            webapp_url=settings.webapp_url,
        )
        await start_dashboard(app, runtime, settings)
        await app.bot.set_my_commands([BotCommand(c.name, c.summary) for c in commands.COMMANDS])
        schedule_jobs(app, settings)
        await daily.schedule_all(app, runtime.db)
        await runtime.summaries.catch_up()  # a summary missed today while the bot was down goes out now, once
        log.info("bot @%s ready: %d commands, pipeline every %ss", app.bot.username, len(commands.COMMANDS),
                 settings.scrape_interval_seconds)

    async def post_shutdown(app: App) -> None:
        runtime, app.bot_data.runtime = app.bot_data.runtime, None
        if runtime is not None:
            await runtime.close()
        log.info("bot stopped; database closed")

    bot = TolerantBot(
        token=settings.telegram_bot_token.get_secret_value(), base_url=settings.telegram_base_url,
        base_file_url=settings.telegram_base_file_url,
        defaults=Defaults(parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEWS),
        # Sends wait for Telegram's answer rather than time out and leave us guessing (handlers.outbox).
        request=HTTPXRequest(connection_pool_size=256, read_timeout=SEND_READ_TIMEOUT_SECONDS),
        get_updates_request=HTTPXRequest(), rate_limiter=rate_limiter())
    app = (
        ApplicationBuilder()
        .concurrent_updates(True)
        .bot(bot)
        .context_types(CONTEXT_TYPES)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    register_handlers(app)
    return app


async def start_dashboard(app: App, runtime: Runtime, settings: Settings) -> None:
    """The Mini App (issue 27), when WEBAPP_URL is set: its web server in this event loop, stopped first among the
    runtime's closers (so within the stop budget), and the chat menu button that opens it. A port that cannot be
    bound leaves the bot running without the dashboard, and /dashboard says it is not enabled."""
    if settings.webapp_url is None or settings.telegram_bot_token is None:
        return
    from handlers.webapp.access import Access, bot_member_lookup
    from handlers.webapp.gate import Dashboard
    from handlers.webapp.server import WebAppServer

    svc = app.bot_data.services
    assert svc is not None, "services are built before the dashboard"
    board = Dashboard(services=svc, bot_token=settings.telegram_bot_token.get_secret_value(),
                      access=Access(runtime.db, bot_member_lookup(app.bot)))
    server = WebAppServer(board, host=settings.webapp_host, port=settings.webapp_port)
    try:
        await server.start()
    except OSError as exc:
        log.error("dashboard off: cannot listen on %s:%s (%s)", settings.webapp_host, settings.webapp_port, exc)
        svc.webapp_url = None
        return
    runtime.closers.append(server.stop)
    try:
        await app.bot.set_chat_menu_button(
            menu_button=MenuButtonWebApp(text="Dashboard", web_app=WebAppInfo(url=settings.webapp_url)))
    except TelegramError as exc:  # the dashboard still opens from /dashboard
        log.warning("could not set the menu button to the dashboard: %s", exc)


class _RetriesOutLoggedByCaller(logging.Filter):
    """The limiter logs its last 429 as a traceback; the caller logs it once with the wait instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Rate limit hit after maximum")


_LIMITER_LOG = logging.getLogger("telegram.ext.AIORateLimiter")
if not any(isinstance(f, _RetriesOutLoggedByCaller) for f in _LIMITER_LOG.filters):
    _LIMITER_LOG.addFilter(_RetriesOutLoggedByCaller())


def rate_limiter() -> AIORateLimiter:
    """Telegram's limits, and its 429s through one path: the limiter waits `retry_after` (pausing every request
    meanwhile: a flood wait is the bot's, not one chat's) and tries again, logging the wait once per 429 ("Rate
    limit hit. Retrying after …"); only after these retries does a caller see it (`outbox.RateLimited`: delivery
    pauses that chat, a reply is dropped with one warning)."""
    return AIORateLimiter(max_retries=RATE_LIMIT_RETRIES)


def register_handlers(app: App) -> None:
    """Every handler, in one place. The catch-all for unknown commands comes last."""
    new_messages = filters.UpdateType.MESSAGE  # an edited message never runs its command again
    for spec in commands.COMMANDS:
        app.add_handler(CommandHandler(spec.name, spec.callback, filters=new_messages))
    for pattern, button in callbacks.BUTTONS:
        app.add_handler(CallbackQueryHandler(button, pattern=pattern))
    app.add_handler(CallbackQueryHandler(callbacks.on_unknown_button))
    app.add_handler(ChatMemberHandler(groups.on_my_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, groups.on_migration))
    app.add_handler(MessageHandler(filters.COMMAND & new_messages, commands.unknown))
    app.add_error_handler(on_error)


def schedule_jobs(app: App, settings: Settings) -> None:
    """The pipeline on the JobQueue: never two runs at once, the first a few seconds after start-up."""
    interval = settings.scrape_interval_seconds
    if interval < POLITE_INTERVAL_SECONDS:
        log.warning("SCRAPE_INTERVAL_SECONDS=%s is below %ss: fine for tests and demos, impolite to Xtrades",
                    interval, POLITE_INTERVAL_SECONDS)
    assert app.job_queue is not None, "python-telegram-bot must be installed with the job-queue extra"
    job_kwargs = {"max_instances": jobs.MAX_INSTANCES, "coalesce": True, "misfire_grace_time": None}
    app.job_queue.run_repeating(
        jobs.OneAtATime("cycle", jobs.run_cycle, interval), interval=interval,
        first=min(FIRST_CYCLE_DELAY_SECONDS, interval), name="cycle", job_kwargs=job_kwargs,
    )
    # Calibration: once soon after start (a new installation with history calibrates at once), then nightly.
    app.job_queue.run_once(jobs.refit_calibration, when=CALIBRATION_FIRST_DELAY_SECONDS, name="calibration-start")
    app.job_queue.run_daily(jobs.refit_calibration, time=CALIBRATION_TIME, name="calibration",
                            job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})
    app.job_queue.run_repeating(
        jobs.OneAtATime("deliver", jobs.deliver, settings.delivery_interval_seconds),
        interval=settings.delivery_interval_seconds, first=1.0, name="deliver", job_kwargs=job_kwargs,
    )


async def start_application(app: App, *, poll_timeout: float = 10,
                            allowed_updates: list[str] | None = None) -> None:
    """Start like `run_polling` does, for callers that own the event loop (`python -m bot run`, tests)."""
    await app.initialize()
    if app.post_init is not None:
        await app.post_init(app)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=int(poll_timeout),
                                    allowed_updates=allowed_updates or Update.ALL_TYPES,
                                    drop_pending_updates=False)


async def stop_application(app: App) -> None:
    assert app.updater is not None
    if app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await app.shutdown()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)


def runtime_of(app: App) -> Runtime:
    runtime = app.bot_data.runtime
    if runtime is None:
        raise RuntimeError("the runtime is not built yet (before post_init) or already closed")
    return runtime
