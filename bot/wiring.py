"""The one wiring point: builds the runtime the bot (`run`), the demo and the backtest CLI work on, from the
settings and whatever a caller replaces (the demo's recorded source, prices, clock and local-only panel).

No Telegram here: `bot/app.py` builds the Application around a `Runtime`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.delivery import Deliverer
from bot.settings import PROJECT_ROOT, Settings
from handlers.outbox import TelegramOutbox
from pipeline.cycle import AdminNotifier, AlertSource, EventSink, IngestionCycle
from pipeline.ingest.push_feed import FeedConfig, PushFeed
from pipeline.ingest.token import SessionToken
from pipeline.judge.consensus.base import UsageRecord
from pipeline.judge.consensus.panel import AnalystConfig, ConsensusPanel, build_analysts
from pipeline.judge.market import HistoryProvider
from pipeline.judge.refit import Calibration
from pipeline.judge.stage import Judgement, Panel
from pipeline.market.models import MarketData, SourceHealth
from pipeline.memory.embedder import Embedder, resolve_model_path
from pipeline.memory.model_files import DEFAULT_DIR as MODEL_DIR
from pipeline.memory.stage import MemoryStage, backfill
from pipeline.memory.store import TradeMemory, open_vector_store
from storage import ai_usage
from storage.db import Database

if TYPE_CHECKING:
    from bot.summaries import DailySummaries
    from pipeline.ingest.scraper import ScraperConfig

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[Any]]


@dataclass(slots=True)
class Runtime:
    """Everything the bot runs on, in one place, so shutdown can close all of it."""

    settings: Settings
    db: Database
    source: AlertSource
    cycle: IngestionCycle
    closers: list[Closer] = field(default_factory=list)
    memory: MemoryStage | None = None
    judgement: Judgement | None = None
    calibration: Calibration | None = None
    deliverer: Deliverer | None = None
    outbox: TelegramOutbox | None = None  # the one way out to Telegram, once the bot exists
    feed: PushFeed | None = None
    market: MarketData | None = None
    summaries: DailySummaries | None = None

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
            if task is not None:
                self.running_jobs.discard(task)

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
        if self.market is not None:
            info["market"] = self.market.health
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


class ModelMissing(Exception):
    """The embedding model is not on this machine; the message says how to build it."""


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


def session_token(settings: Settings, source: AlertSource) -> SessionToken:
    """The bearer the API reader and the push feed share: the browser source's own, else one from settings."""
    if source.token is not None:
        return source.token
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


async def build_runtime(settings: Settings, *, notify_admins: AdminNotifier | None = None,
                        source: AlertSource | None = None, embedder: Embedder | None = None,
                        market: MarketData | None = None, panel: Panel | None = None,
                        clock: Callable[[], datetime] | None = None, refit_on_close: bool = True) -> Runtime:
    """Open the database (creating or migrating the schema) and wire the pipeline: scrape → detect → store →
    remember outcomes → judge. `run` takes every default; the demo passes its recorded source, prices (a
    `RecordedMarket`), clock and local-only panel, and refits calibration itself (`refit_on_close=False`)."""
    db = Database(settings.database_url)
    await db.create_schema()
    closers: list[Closer] = [db.close]
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
    market = market if market is not None else build_market(settings, on_health=market_health_notice(notify_admins))
    if hasattr(market, "aclose"):
        closers.append(market.aclose)
    await market.calendar()  # the NYSE table (a child process, ~0.5 s) now, not in the first alert's judging
    now = clock or (lambda: datetime.now(UTC))
    calibration = build_calibration(db, market, memory_stage, clock=now)
    await calibration.load()
    judgement = Judgement(db, market, panel if panel is not None else build_panel(settings, db, notify_admins),
                          similar=memory_stage.similar_for if memory_stage else None, calibrator=calibration,
                          concurrency=settings.ai_concurrency, clock=now)
    sinks: list[EventSink] = [memory_stage.on_events] if memory_stage else []
    if refit_on_close:
        sinks.append(calibration.on_events)
    cycle = IngestionCycle(db, source, interval_seconds=settings.scrape_interval_seconds,
                           notify_admins=notify_admins, sinks=[*sinks, judgement], closes=market.close_on, clock=now)
    closers.append(calibration.close)
    return Runtime(settings=settings, db=db, source=source, cycle=cycle, closers=closers, memory=memory_stage,
                   judgement=judgement, calibration=calibration, market=market)


def build_market(settings: Settings, *, on_health: Any = None) -> MarketData:
    """Market data for live scoring, settlement and the replay alike: Yahoo Finance's JSON at YAHOO_BASE_URL
    (keyless), or recorded daily closes when MARKET_HISTORY_DIR is set."""
    if settings.market_history_dir:
        from pipeline.market.recorded import RecordedMarket

        return RecordedMarket(Path(settings.market_history_dir))
    from pipeline.market.yahoo import YahooMarket

    return YahooMarket(settings.yahoo_base_url, on_health=on_health)


def market_health_notice(notify_admins: AdminNotifier | None) -> Callable[[SourceHealth], Awaitable[None]]:
    """Admins hear once when market data fails and once when it is back (the provider calls on each change)."""

    async def tell(health: SourceHealth) -> None:
        if notify_admins is None:
            return
        if health.healthy:
            await notify_admins(f"✅ Market data ({health.name}) is back: alerts are priced again.")
        else:
            await notify_admins(f"⚠️ Market data ({health.name}) is down ({health.last_error}): alerts are scored "
                                "without market prices and their cards say \"Not priced\" until it is back.")

    return tell


def build_calibration(db: Database, history: HistoryProvider | None, memory_stage: MemoryStage | None, *,
                      clock: Callable[[], datetime] | None = None) -> Calibration:
    """The replay sees what live scoring sees: the same history provider, the same memory (stored vectors)."""
    now = clock or (lambda: datetime.now(UTC))
    if memory_stage is None:
        return Calibration(db, history, clock=now)
    stage = memory_stage

    async def remember_closed_trades() -> None:
        """Closed trades memory lacks (an old database) are indexed once, so no replay embeds one by one."""
        report = await backfill(db, stage.memory)
        if report.indexed:
            log.info("backtest: %d closed trades added to memory first", report.indexed)

    return Calibration(db, history, similar=stage.similar_as_of, vectors=stage.memory.stored_vectors,
                       prepare=remember_closed_trades, clock=now)


@dataclass(slots=True)
class Backtesting:
    """What the backtest CLI runs on: the database, the calibration service, and what to close afterwards."""

    db: Database
    calibration: Calibration
    memory: TradeMemory | None

    async def close(self) -> None:
        if self.memory is not None:
            await self.memory.close()
        await self.db.close()


async def build_backtesting(settings: Settings) -> Backtesting:
    """The backtest CLI's wiring: the same calibration service the bot refits nightly, memory when it opens."""
    db = Database(settings.database_url)
    await db.create_schema()
    memory = None
    try:
        memory = build_memory(settings)
    except Exception as exc:
        log.warning("similar trades left out of the backtest: memory unavailable (%s)", type(exc).__name__)
    calibration = build_calibration(db, build_market(settings), MemoryStage(db, memory) if memory else None)
    return Backtesting(db, calibration, memory)
