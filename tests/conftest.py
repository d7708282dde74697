"""Shared fixtures. One event loop per session (pytest-asyncio), so one browser and one model serve all tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_application, start_application, stop_application
from bot.settings import Settings
from pipeline.ingest.scraper import PlaywrightAlertSource, ScraperConfig
from pipeline.memory.embedder import Embedder
from pipeline.memory.model_files import DEFAULT_DIR, prepare_offline_model
from storage import chats, traders
from storage.db import Database
from tests import clock
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades
from tests.fakes.yahoo import FakeYahoo

ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--days-ahead", type=int, default=0, metavar="N",
                     help="run the whole suite with the clock moved N days ahead (proves no test depends on today)")


def pytest_configure(config: pytest.Config) -> None:
    """Start the shift before collection, so even module-level dates see the moved clock."""
    days = config.getoption("--days-ahead")
    if days:
        clock.days_ahead = days
        config.add_cleanup(clock.travel(days).stop)


def pytest_report_header(config: pytest.Config) -> str | None:
    days = config.getoption("--days-ahead")
    return f"clock: {days} days ahead, today is {date.today().isoformat()}" if days else None

TEST_TOKEN = "123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings isolated from the developer's environment and `.env`: a fresh SQLite file per test."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'sentinel.db'}",
            "qdrant_path": str(tmp_path / "qdrant"),
            "telegram_bot_token": TEST_TOKEN,
            "scrape_interval_seconds": 3600,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
DATABASES = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


@pytest.fixture(params=DATABASES)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database per test: SQLite always, and PostgreSQL too when TEST_DATABASE_URL is set
    (`TEST_POSTGRES=1 make test`), so the same code is proven on both."""
    if request.param == "postgresql":
        assert POSTGRES_URL is not None
        database = Database(POSTGRES_URL)
        async with database.engine.begin() as conn:
            await conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            await conn.exec_driver_sql("CREATE SCHEMA public")
    else:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await database.create_schema()
    yield database
    await database.close()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """One real embedding model per test session, loaded offline from the folder `make test` prepares."""
    folder = prepare_offline_model(ROOT / DEFAULT_DIR)
    return Embedder("sentence-transformers/all-MiniLM-L6-v2", folder)


@pytest.fixture(scope="session")
async def xtrades_site() -> AsyncIterator[FakeXtrades]:
    async with FakeXtrades() as site:
        yield site


@pytest.fixture
async def site(xtrades_site: FakeXtrades) -> FakeXtrades:
    """The session's loopback Xtrades, emptied for this test."""
    xtrades_site.reset()
    return xtrades_site


@pytest.fixture(scope="session")
async def yahoo_server() -> AsyncIterator[FakeYahoo]:
    async with FakeYahoo() as server:
        yield server


@pytest.fixture
async def yahoo(yahoo_server: FakeYahoo) -> FakeYahoo:
    """The session's loopback Yahoo Finance (market data), emptied and up for this test."""
    await yahoo_server.bring_up()
    yahoo_server.reset()
    return yahoo_server


@pytest.fixture(scope="session")
def storage_state(xtrades_site: FakeXtrades, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return xtrades_site.write_storage_state(tmp_path_factory.mktemp("xtrades") / "state.json")


@pytest.fixture(scope="session")
async def alert_source(xtrades_site: FakeXtrades, storage_state: Path) -> AsyncIterator[PlaywrightAlertSource]:
    """One real Chromium for the whole session, logged in through a saved storage state."""
    source = PlaywrightAlertSource(ScraperConfig(base_url=xtrades_site.base_url, storage_state_path=str(storage_state),
                                                 page_timeout_seconds=15, json_wait_seconds=5))
    yield source
    await source.close()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """A loopback Bot API for this test."""
    async with FakeTelegram(token=TEST_TOKEN) as fake:
        yield fake


@pytest.fixture
async def start_app(make_settings: Callable[..., Settings], telegram: FakeTelegram, site: FakeXtrades,
                    yahoo: FakeYahoo, alert_source: Any, embedder: Embedder) -> AsyncIterator[Callable[..., Any]]:
    """Start the real Application against the loopback Bot API, Xtrades site and Yahoo Finance; stopped after
    the test."""
    apps: list[Any] = []

    async def start(**overrides: Any) -> Any:
        settings = make_settings(**{"telegram_api_base_url": telegram.root_url, "xtrades_base_url": site.base_url,
                                    "yahoo_base_url": yahoo.base_url, **overrides})
        app = build_application(settings, source=alert_source, embedder=embedder)
        await start_application(app, poll_timeout=1)
        apps.append(app)
        return app

    yield start
    for app in apps:
        await stop_application(app)


async def track(db: Database, chat_id: int, *usernames: str) -> None:
    """A private chat (default settings) that tracks these traders, as /start and /track would leave it."""
    async with db.session() as s:
        await chats.get_or_create(s, chat_id, chat_type="private", title=None, min_score=80, rate_limit_per_hour=5)
        for name in usernames:
            await traders.track(s, chat_id, name)


@pytest.fixture
async def api_source(site: FakeXtrades, storage_state: Path) -> AsyncIterator[PlaywrightAlertSource]:
    """An Xtrades source that reads the API directly (httpx) with the session's token; Chromium only if the API
    refuses it."""
    source = PlaywrightAlertSource(ScraperConfig(base_url=site.base_url, storage_state_path=str(storage_state),
                                                 api_reads=True, page_timeout_seconds=15, json_wait_seconds=5,
                                                 history_max_pages=3))
    yield source
    await source.close()
