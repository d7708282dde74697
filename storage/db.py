"""The async engine, its session factory, and schema creation/migration at start.

SQLite (the embedded default) runs in WAL mode so the delivery job can read while a cycle writes; the same
code runs on PostgreSQL through `postgresql+asyncpg://`.

On SQLite every write session (`Database.session`) starts with `BEGIN IMMEDIATE`: it takes the write lock
first, waiting for it up to the busy timeout. A deferred transaction that reads and then writes cannot wait:
when another connection wrote in between, SQLite refuses the upgrade at once with "database is locked" (two of
three delivery runs to 1,000 chats failed so, 64 chats writing in parallel). Read sessions stay deferred.
Write sessions of this process also take turns on one in-process FIFO lock first: SQLite admits one writer
anyway, and a queue hands the turn on at once and in order, where SQLite's busy handler sleeps and retries (up
to 100 ms a try, first come not first served), which let a burst's hundreds of small writes starve a cycle's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage.models import Base

log = logging.getLogger(__name__)


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix):
        return None
    rest = url[len(prefix):].split("?", 1)[0]
    return None if rest in ("", ":memory:") else Path(rest)


IMMEDIATE = "sqlite_begin_immediate"  # execution option set on the writers' engine


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own: `_sqlite_begin` does
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    return on_connect


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE for write sessions (the lock is waited for, never refused mid-transaction), else BEGIN."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(IMMEDIATE) else "BEGIN")


def _add_missing_columns(sync_conn: Connection) -> list[str]:
    """Additive migration: columns that the models have and an older database lacks are added.

    Enough for a young schema (new nullable or defaulted columns); anything destructive needs a real
    migration tool, and none has been needed yet.
    """
    inspector = inspect(sync_conn)
    added: list[str] = []
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        existing = {col["name"] for col in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in existing:
                continue
            col_type = column.type.compile(dialect=sync_conn.dialect)
            default = ""
            if column.default is not None and getattr(column.default, "is_scalar", False):
                value = column.default.arg
                # TRUE/FALSE, not 1/0: PostgreSQL refuses an integer default on a boolean column
                default = f" DEFAULT {str(value).upper() if isinstance(value, bool) else repr(value)}"
            ddl = f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {col_type}{default}'
            sync_conn.exec_driver_sql(ddl)
            added.append(f"{table.name}.{column.name}")
    return added


class Database:
    """Owns the engine; hands out sessions. One per process."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_ms: int = 10_000) -> None:
        self.url = url
        sqlite_file = _sqlite_file(url)
        if sqlite_file is not None:
            sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, pool_pre_ping=sqlite_file is None)
        writers = self.engine
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms))
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            writers = self.engine.execution_options(**{IMMEDIATE: True})
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(writers, expire_on_commit=False)
        self._writer = asyncio.Lock() if url.startswith("sqlite") else None
        self._busy_timeout_s = busy_timeout_ms / 1000

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    async def create_schema(self) -> None:
        """Create missing tables and add missing columns; safe to run at every start."""
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            added = await conn.run_sync(_add_missing_columns)
        if added:
            log.info("database migrated: added columns %s", ", ".join(added))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends normally, rolled back on any error."""
        if self._writer is None:
            async with self._write_sessions() as session, session.begin():
                yield session
            return
        try:
            await asyncio.wait_for(self._writer.acquire(), self._busy_timeout_s)
        except TimeoutError:
            raise TimeoutError(f"no write turn on the database within {self._busy_timeout_s:g}s") from None
        try:
            async with self._write_sessions() as session, session.begin():
                yield session
        finally:
            self._writer.release()

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A read-only session (no commit)."""
        async with self._sessions() as session:
            yield session

    async def close(self) -> None:
        await self.engine.dispose()
