"""The composition root: builds the PTB Application, every service, every handler and every job.

Services are built in `post_init` (inside the running event loop) and closed in `post_shutdown`, so a
SIGINT/SIGTERM during polling closes the browser and the database cleanly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)

from bot import jobs
from bot.settings import Settings
from handlers import commands
from handlers.errors import on_error
from handlers.services import SERVICES_KEY, Services
from pipeline.cycle import AlertSource, IngestionCycle
from pipeline.memory import Embedder, TradeMemory, open_vector_store, resolve_model_path
from pipeline.model_files import DEFAULT_DIR as MODEL_DIR
from storage.db import Database

if TYPE_CHECKING:
    from pipeline.scraper import ScraperConfig

log = logging.getLogger(__name__)

RUNTIME_KEY = "runtime"
FIRST_CYCLE_DELAY_SECONDS = 5.0
POLITE_INTERVAL_SECONDS = 60
NO_PREVIEWS = LinkPreviewOptions(is_disabled=True)


@dataclass(slots=True)
class Runtime:
    """Everything the bot runs on, in one place, so shutdown can close all of it."""

    settings: Settings
    db: Database
    source: AlertSource
    cycle: IngestionCycle
    closers: list[Any] = field(default_factory=list)

    async def close(self) -> None:
        for closer in reversed(self.closers):
            try:
                await closer()
            except Exception:
                log.exception("error while closing %s", closer)


def build_memory(settings: Settings, *, embedder: Embedder | None = None) -> TradeMemory:
    """Similar-trades memory: the configured (or offline-prepared) model, local Qdrant or QDRANT_URL."""
    if embedder is None:
        embedder = Embedder(settings.embedding_model, resolve_model_path(settings.embedding_model_path, MODEL_DIR))
    client = open_vector_store(
        url=settings.qdrant_url, path=settings.qdrant_path,
        api_key=settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
    )
    return TradeMemory(client, embedder)


def scraper_config(settings: Settings) -> ScraperConfig:
    from pipeline.scraper import ScraperConfig

    return ScraperConfig(
        base_url=settings.xtrades_base_url,
        chromium_path=settings.chromium_path,
        storage_state_path=settings.xtrades_storage_state,
        email=settings.xtrades_email,
        password=settings.xtrades_password.get_secret_value() if settings.xtrades_password else None,
        max_concurrent=settings.scrape_max_concurrent,
    )


async def build_runtime(settings: Settings, *, notify_admins: Any = None,
                        source: AlertSource | None = None) -> Runtime:
    """Open the database (creating or migrating the schema) and wire the pipeline."""
    db = Database(settings.database_url)
    await db.create_schema()
    closers: list[Any] = [db.close]
    if source is None:
        from pipeline.scraper import PlaywrightAlertSource

        playwright_source = PlaywrightAlertSource(scraper_config(settings))
        closers.append(playwright_source.close)
        source = playwright_source
    cycle = IngestionCycle(db, source, interval_seconds=settings.scrape_interval_seconds,
                           notify_admins=notify_admins)
    return Runtime(settings=settings, db=db, source=source, cycle=cycle, closers=closers)


def build_application(settings: Settings, *, source: AlertSource | None = None) -> Application:
    """The Application, talking to `TELEGRAM_API_BASE_URL`, with every handler and job registered."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")

    async def post_init(app: Application) -> None:
        notify = jobs.admin_notifier(app, settings.admin_chat_ids)
        runtime = await build_runtime(settings, notify_admins=notify, source=source)
        app.bot_data[RUNTIME_KEY] = runtime
        app.bot_data[SERVICES_KEY] = Services(
            db=runtime.db,
            default_min_score=settings.default_min_score,
            default_rate_limit_per_hour=settings.default_rate_limit_per_hour,
            admin_chat_ids=frozenset(settings.admin_chat_ids),
        )
        await app.bot.set_my_commands([BotCommand(c.name, c.summary) for c in commands.COMMANDS])
        schedule_jobs(app, settings)
        log.info("bot @%s ready: %d commands, pipeline every %ss", app.bot.username, len(commands.COMMANDS),
                 settings.scrape_interval_seconds)

    async def post_shutdown(app: Application) -> None:
        runtime: Runtime | None = app.bot_data.pop(RUNTIME_KEY, None)
        if runtime is not None:
            await runtime.close()
        log.info("bot stopped; database closed")

    app = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEWS))
        .rate_limiter(AIORateLimiter())
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    register_handlers(app)
    return app


def register_handlers(app: Application) -> None:
    """Every handler, in one place. The catch-all for unknown commands comes last."""
    for spec in commands.COMMANDS:
        app.add_handler(CommandHandler(spec.name, spec.callback))
    app.add_handler(MessageHandler(filters.COMMAND, commands.unknown))
    app.add_error_handler(on_error)


def schedule_jobs(app: Application, settings: Settings) -> None:
    """The pipeline on the JobQueue: never two runs at once, the first a few seconds after start-up."""
    interval = settings.scrape_interval_seconds
    if interval < POLITE_INTERVAL_SECONDS:
        log.warning("SCRAPE_INTERVAL_SECONDS=%s is below %ss: fine for tests and demos, impolite to Xtrades",
                    interval, POLITE_INTERVAL_SECONDS)
    assert app.job_queue is not None, "python-telegram-bot must be installed with the job-queue extra"
    app.job_queue.run_repeating(
        jobs.run_cycle, interval=interval, first=min(FIRST_CYCLE_DELAY_SECONDS, interval), name="cycle",
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )


async def start_application(app: Application, *, poll_timeout: float = 10) -> None:
    """Start like `run_polling` does, for callers that own the event loop (tests, benchmarks)."""
    await app.initialize()
    if app.post_init is not None:
        await app.post_init(app)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=int(poll_timeout),
                                    allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)


async def stop_application(app: Application) -> None:
    assert app.updater is not None
    if app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await app.shutdown()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)


def runtime_of(app: Application) -> Runtime:
    return app.bot_data[RUNTIME_KEY]
