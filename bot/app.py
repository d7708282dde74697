"""The composition root: builds the PTB Application, every service, every handler and every job.

Services are built in `post_init` (inside the running event loop) and closed in `post_shutdown`, so a
SIGINT/SIGTERM during polling closes the browser and the database cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
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
from bot.backtesting import build_calibration
from bot.delivery import Deliverer
from bot.settings import PROJECT_ROOT, Settings
from bot.telegram_client import TolerantBot
from handlers import callbacks, commands, groups
from handlers.errors import on_error
from handlers.services import SERVICES_KEY, Services
from pipeline.cycle import AlertSource, IngestionCycle
from pipeline.ingest.push_feed import FeedConfig, PushFeed
from pipeline.ingest.token import SessionToken
from pipeline.judge.consensus.base import UsageRecord
from pipeline.judge.consensus.panel import AnalystConfig, ConsensusPanel, build_analysts
from pipeline.judge.market import MarketData, default_history_provider
from pipeline.judge.refit import Calibration
from pipeline.judge.stage import Judgement
from pipeline.memory.embedder import Embedder, resolve_model_path
from pipeline.memory.model_files import DEFAULT_DIR as MODEL_DIR
from pipeline.memory.stage import MemoryStage
from pipeline.memory.store import TradeMemory, open_vector_store
from storage import ai_usage
from storage.db import Database

if TYPE_CHECKING:
    from pipeline.ingest.scraper import ScraperConfig

log = logging.getLogger(__name__)

RUNTIME_KEY = "runtime"
FIRST_CYCLE_DELAY_SECONDS = 5.0
POLITE_INTERVAL_SECONDS = 60
NO_PREVIEWS = LinkPreviewOptions(is_disabled=True)
CALIBRATION_FIRST_DELAY_SECONDS = 60.0
CALIBRATION_TIME = dt_time(4, 30, tzinfo=UTC)  # nightly, after US markets close and most exits are in


class ModelMissing(Exception):
    """The embedding model is not on this machine; the message says how to build it."""


@dataclass(slots=True)
class Runtime:
    """Everything the bot runs on, in one place, so shutdown can close all of it."""

    settings: Settings
    db: Database
    source: AlertSource
    cycle: IngestionCycle
    closers: list[Any] = field(default_factory=list)
    memory: MemoryStage | None = None
    judgement: Judgement | None = None
    calibration: Calibration | None = None
    deliverer: Deliverer | None = None
    feed: PushFeed | None = None
    summaries: daily.DailySummaries | None = None

    def poll_due(self, now: datetime) -> bool:
        """Polling runs at SCRAPE_INTERVAL_SECONDS, and slows to SCRAPE_INTERVAL_PUSH_SECONDS while the push feed
        is healthy: it stays the safety net, and is back to normal the moment the feed drops."""
        if self.feed is None or not self.feed.healthy:
            return True
        last = self.cycle.last_run_at
        slack = self.settings.scrape_interval_seconds / 2
        return last is None or (now - last).total_seconds() >= self.settings.scrape_interval_push_seconds - slack
    running_jobs: set[asyncio.Task[Any]] = field(default_factory=set)

    @contextlib.contextmanager
    def job(self) -> Iterator[None]:
        """Marks the running JobQueue callback, so a shutdown can cancel it rather than wait for it."""
        task = asyncio.current_task()
        if task is not None:
            self.running_jobs.add(task)
        try:
            yield
        finally:
            self.running_jobs.discard(task)  # type: ignore[arg-type]

    async def cancel_jobs(self, grace_seconds: float = 1.0) -> None:
        """Shutdown: no new notifications; running jobs get `grace_seconds` to finish, then are cancelled."""
        if self.deliverer is not None:
            self.deliverer.stop_sending()
        running = [t for t in self.running_jobs if not t.done()]
        if not running:
            return
        _, late = await asyncio.wait(running, timeout=grace_seconds)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)
            log.info("stopping: %d running job(s) cancelled; their work is redone after the restart", len(late))

    def status(self) -> dict[str, Any]:
        """What /status shows about the pipeline itself."""
        report = self.cycle.last_report
        info: dict[str, Any] = {"ai_budget": self.settings.ai_monthly_budget_usd}
        info["feed"] = self.feed.status.as_dict() if self.feed is not None else {
            "state": "off", "reason": "XTRADES_PUSH_FEED=false" if not self.settings.xtrades_push_feed
            else "no Xtrades token"}
        if self.cycle.last_run_at is not None and report is not None:
            info["last_run"] = f"{self.cycle.last_run_at:%H:%M:%S} UTC, {report.seconds:.1f}s"
            info["last_run_at"], info["last_run_seconds"] = self.cycle.last_run_at, report.seconds  # shown locally
            info["last_summary"] = report.summary()
            if report.session_expired:
                info["source"] = "Xtrades session expired (admins were told)"
        delivering = self.feed is not None and self.feed.healthy  # then alerts arrive whatever polling does
        if self.cycle.source_problem is not None and "source" not in info and not delivering:
            info["source"] = f"Xtrades {self.cycle.source_problem} (admins were told)"
        return info

    async def backtest_report(self) -> Any:
        """/backtest: the whole history replayed now (the same service the nightly refit uses)."""
        assert self.calibration is not None
        _, report = await self.calibration.backtest()
        return report

    async def close(self) -> None:
        for closer in reversed(self.closers):
            try:
                await closer()
            except Exception:
                log.exception("error while closing %s", closer)


def build_memory(settings: Settings, *, embedder: Embedder | None = None, threads: int | None = None) -> TradeMemory:
    """Similar-trades memory: the configured (or offline-prepared) model, local Qdrant or QDRANT_URL; the model
    runs on `threads` cores (None: EMBEDDING_THREADS, what the running bot uses; 0: every core)."""
    if embedder is None:
        path = resolve_model_path(settings.embedding_model_path, PROJECT_ROOT / MODEL_DIR)
        try:
            # Offline only: fastembed's download would retry for 40 s (3 + 9 + 27) on a machine without the hub.
            embedder = Embedder(settings.embedding_model, path, local_files_only=path is None,
                                threads=settings.embedding_threads if threads is None else threads)
        except Exception as exc:
            raise ModelMissing(f"no embedding model could be loaded offline ({path or settings.embedding_model}: "
                               f"{type(exc).__name__}); build it with `make` or `python -m bot prepare-model`, or "
                               "set EMBEDDING_MODEL_PATH") from None
        log.info("similar-trades memory: embedding model loaded from %s", path or "fastembed's cache")
    client = open_vector_store(
        url=settings.qdrant_url, path=settings.qdrant_path,
        api_key=settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
    )
    return TradeMemory(client, embedder)


def scraper_config(settings: Settings) -> ScraperConfig:
    from pipeline.ingest.scraper import ScraperConfig

    return ScraperConfig(
        base_url=settings.xtrades_base_url,
        chromium_path=settings.chromium_path,
        storage_state_path=settings.xtrades_storage_state,
        email=settings.xtrades_email,
        password=settings.xtrades_password.get_secret_value() if settings.xtrades_password else None,
        max_concurrent=settings.scrape_max_concurrent,
        api_reads=settings.xtrades_api_reads,
        token=settings.xtrades_token.get_secret_value() if settings.xtrades_token else None,
        history_max_pages=settings.history_max_pages,
    )


def session_token(settings: Settings, source: Any) -> SessionToken:
    """The bearer the API reader and the push feed share: the browser source's own, else one from settings."""
    token = getattr(source, "token", None)
    if isinstance(token, SessionToken):
        return token
    return SessionToken(settings.xtrades_base_url, storage_state_path=settings.xtrades_storage_state,
                        explicit=settings.xtrades_token.get_secret_value() if settings.xtrades_token else None)


def build_feed(settings: Settings, cycle: IngestionCycle, token: SessionToken, *,
               on_health: Any = None) -> PushFeed | None:
    """The push feed, when it is on and a token can come from somewhere; pushed alerts go through the cycle."""
    if not settings.xtrades_push_feed or not token.configured:
        log.info("push feed off (%s); polling every %ss", "XTRADES_PUSH_FEED=false" if not
                 settings.xtrades_push_feed else "no XTRADES_TOKEN and no Xtrades session",
                 settings.scrape_interval_seconds)
        return None
    config = FeedConfig(base_url=settings.xtrades_base_url, silence_seconds=settings.push_silence_seconds)
    return PushFeed(config, token, on_alerts=cycle.ingest_pushed, on_expired=cycle.mark_session_expired,
                    on_health=on_health)


def analyst_config(settings: Settings) -> AnalystConfig:
    def secret(value: Any) -> str | None:
        return value.get_secret_value() if value else None

    return AnalystConfig(
        anthropic_api_key=secret(settings.anthropic_api_key), anthropic_base_url=settings.anthropic_base_url,
        claude_model=settings.claude_model, deepseek_api_key=secret(settings.deepseek_api_key),
        deepseek_base_url=settings.deepseek_base_url, deepseek_model=settings.deepseek_model,
        google_api_key=secret(settings.google_api_key), gemini_base_url=settings.gemini_base_url,
        gemini_model=settings.gemini_model, timeout_seconds=settings.ai_timeout_seconds,
    )


def build_panel(settings: Settings, db: Database, notify_admins: Any = None) -> ConsensusPanel:
    """The AI panel, recording every call's usage and keeping to the monthly budget."""

    async def record(usage: UsageRecord) -> None:
        async with db.session() as session:
            await ai_usage.record(session, provider=usage.provider, model=usage.model,
                                  input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                                  cost_usd=usage.cost_usd, latency_ms=usage.latency_ms, success=usage.success,
                                  error=usage.error)

    async def spent() -> float:
        async with db.reader() as session:
            return await ai_usage.month_spend(session)

    weights = {"claude": settings.ai_weight_claude, "deepseek": settings.ai_weight_deepseek,
               "gemini": settings.ai_weight_gemini}
    return ConsensusPanel(build_analysts(analyst_config(settings)), weights=weights,
                          timeout_seconds=settings.ai_timeout_seconds, record_usage=record, month_spend=spent,
                          monthly_budget_usd=settings.ai_monthly_budget_usd, notify_admins=notify_admins)


async def build_runtime(settings: Settings, *, notify_admins: Any = None, source: AlertSource | None = None,
                        embedder: Embedder | None = None) -> Runtime:
    """Open the database (creating or migrating the schema) and wire the pipeline: scrape → detect → store →
    remember outcomes → judge."""
    db = Database(settings.database_url)
    await db.create_schema()
    closers: list[Any] = [db.close]
    if source is None:
        from pipeline.ingest.scraper import PlaywrightAlertSource

        playwright_source = PlaywrightAlertSource(scraper_config(settings))
        closers.append(playwright_source.close)
        source = playwright_source
    memory_stage: MemoryStage | None = None
    try:
        memory = build_memory(settings, embedder=embedder)
    except ModelMissing as exc:  # judge without memory, said in one line
        log.error("similar-trades memory is off: %s", exc)
    except Exception as exc:
        log.error("similar-trades memory is off (%s: %s); run `make run` or set EMBEDDING_MODEL_PATH",
                  type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
    else:
        closers.append(memory.close)
        memory_stage = MemoryStage(db, memory)
        if memory.local:  # read the search copy now (and return the load's scratch memory), not at the first alert
            await memory.ensure_collection()
    history_dir = Path(settings.market_history_dir) if settings.market_history_dir else None
    market = MarketData(default_history_provider(history_dir))
    calibration = build_calibration(settings, db, memory_stage)
    await calibration.load()
    judgement = Judgement(db, market, build_panel(settings, db, notify_admins),
                          similar=memory_stage.similar_for if memory_stage else None, calibrator=calibration,
                          concurrency=settings.ai_concurrency)
    sinks: list[Any] = [memory_stage.on_events] if memory_stage else []
    cycle = IngestionCycle(db, source, interval_seconds=settings.scrape_interval_seconds,
                           notify_admins=notify_admins, sinks=[*sinks, calibration.on_events, judgement],
                           closes=market.close_on)
    closers.append(calibration.close)
    return Runtime(settings=settings, db=db, source=source, cycle=cycle, closers=closers, memory=memory_stage,
                   judgement=judgement, calibration=calibration)


def build_application(settings: Settings, *, source: AlertSource | None = None,
                      embedder: Embedder | None = None) -> Application:
    """The Application, talking to `TELEGRAM_API_BASE_URL`, with every handler and job registered."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")

    async def post_init(app: Application) -> None:
        notify = jobs.admin_notifier(app, settings.admin_chat_ids)
        runtime = await build_runtime(settings, notify_admins=notify, source=source, embedder=embedder)
        app.bot_data[RUNTIME_KEY] = runtime
        runtime.deliverer = Deliverer(runtime.db, app.bot)
        await runtime.deliverer.recover_interrupted()
        runtime.summaries = daily.DailySummaries(runtime.db, app.bot)
        runtime.feed = build_feed(settings, runtime.cycle, session_token(settings, runtime.source),
                                  on_health=jobs.catch_up_on_feed_changes(app))
        if runtime.feed is not None:
            runtime.feed.start()
            runtime.closers.append(runtime.cycle.drain)  # closers run last-first: the feed stops, then this
            runtime.closers.append(runtime.feed.stop)
        app.bot_data[SERVICES_KEY] = Services(
            db=runtime.db,
            default_min_score=settings.default_min_score,
            default_rate_limit_per_hour=settings.default_rate_limit_per_hour,
            admin_chat_ids=frozenset(settings.admin_chat_ids),
            profile_exists=getattr(runtime.source, "profile_exists", None),
            similar_lines=runtime.memory.lines_for_alert if runtime.memory else None,
            pipeline_status=runtime.status,
            backtest=runtime.backtest_report,
            read_now=lambda names: jobs.read_now(app, names),
            reschedule_summary=lambda chat_id: daily.reschedule(app, runtime.db, chat_id),
        )
        await app.bot.set_my_commands([BotCommand(c.name, c.summary) for c in commands.COMMANDS])
        schedule_jobs(app, settings)
        await daily.schedule_all(app, runtime.db)
        await runtime.summaries.catch_up()  # a summary missed today while the bot was down goes out now, once
        log.info("bot @%s ready: %d commands, pipeline every %ss", app.bot.username, len(commands.COMMANDS),
                 settings.scrape_interval_seconds)

    async def post_shutdown(app: Application) -> None:
        runtime: Runtime | None = app.bot_data.pop(RUNTIME_KEY, None)
        if runtime is not None:
            await runtime.close()
        log.info("bot stopped; database closed")

    bot = TolerantBot(
        token=settings.telegram_bot_token.get_secret_value(), base_url=settings.telegram_base_url,
        base_file_url=settings.telegram_base_file_url,
        defaults=Defaults(parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEWS),
        request=HTTPXRequest(connection_pool_size=256), get_updates_request=HTTPXRequest(),
        rate_limiter=AIORateLimiter())
    app = (
        ApplicationBuilder()
        .concurrent_updates(True)
        .bot(bot)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    register_handlers(app)
    return app


def register_handlers(app: Application) -> None:
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


def schedule_jobs(app: Application, settings: Settings) -> None:
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


async def start_application(app: Application, *, poll_timeout: float = 10,
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
