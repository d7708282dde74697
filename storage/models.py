"""The tables of ARCHITECTURE.md as SQLAlchemy 2 typed models.

Times are stored timezone-aware in UTC. Telegram chat ids are 64-bit (supergroups are -100…), so BigInteger.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in and out, on SQLite too (which drops the offset and hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON,
    }


class Trader(Base):
    """An Xtrades profile that some chat tracks (or once did)."""

    __tablename__ = "traders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # stored lower case
    display_name: Mapped[str | None] = mapped_column(String(128))
    xtrades_user_id: Mapped[str | None] = mapped_column(String(64))
    rank_name: Mapped[str | None] = mapped_column(String(64))
    xscore: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When a chat first tracked this trader: alerts posted before it are history, anything after is announced.
    tracked_since: Mapped[datetime | None]


class Trade(Base):
    """One position, open → closed. Keyed on (trader, Xtrades alert id, opening action)."""

    __tablename__ = "trades"
    __table_args__ = (
        UniqueConstraint("trader_id", "xtrades_alert_id", "open_action", name="uq_trades_position"),
        Index("ix_trades_trader_status", "trader_id", "status"),
        Index("ix_trades_symbol", "symbol"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trader_id: Mapped[int] = mapped_column(ForeignKey("traders.id", ondelete="CASCADE"))
    xtrades_alert_id: Mapped[str] = mapped_column(String(80))
    open_action: Mapped[str] = mapped_column(String(3))  # BTO | STO
    symbol: Mapped[str] = mapped_column(String(12))
    option_type: Mapped[str | None] = mapped_column(String(4))  # call | put | None for shares
    strike: Mapped[float | None] = mapped_column(Float)
    expiry: Mapped[date | None] = mapped_column(Date)
    entry_price: Mapped[float | None] = mapped_column(Float)
    quantity: Mapped[int | None] = mapped_column(Integer)
    exit_price: Mapped[float | None] = mapped_column(Float)
    last_price: Mapped[float | None] = mapped_column(Float)
    underlying_price: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | closed
    close_reason: Mapped[str | None] = mapped_column(String(16))  # exit | expired
    partial_exits: Mapped[int] = mapped_column(Integer, default=0)
    pnl: Mapped[float | None] = mapped_column(Float)
    pnl_pct: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(8))  # won | lost | flat, once closed with a known P&L
    # The follower's outcome (issue 24): entered at the ask when the card was delivered, out at the bid when the
    # trader exits or at settlement; estimated (a modelled spread around the trader's prices) where no quote was
    # recorded. The chance of profit is fitted on this, not on the trader's own P&L.
    follower_entry: Mapped[float | None] = mapped_column(Float)
    follower_exit: Mapped[float | None] = mapped_column(Float)
    follower_pnl_pct: Mapped[float | None] = mapped_column(Float)
    follower_estimated: Mapped[bool | None] = mapped_column(Boolean)
    follower_exit_quote: Mapped[float | None] = mapped_column(Float)  # the chain's bid (ask) read at a live exit
    follower_entry_quote: Mapped[float | None] = mapped_column(Float)  # the ask (bid) read as its first card went out
    market_pop_at_alert: Mapped[float | None] = mapped_column(Float)  # option prices' probability when judged
    legs: Mapped[list[Any] | None]  # a multi-leg alert's legs (`pipeline.models.Leg.to_json` each), else None
    realized_pnl: Mapped[float | None] = mapped_column(Float)  # dollars booked by partial exits so far
    closed_quantity: Mapped[float | None] = mapped_column(Float)  # contracts (or shares) closed by partials
    risk: Mapped[str | None] = mapped_column(String(16))
    exit_alert_id: Mapped[str | None] = mapped_column(String(80))  # when the exit came under another id
    exit_keys: Mapped[list[Any] | None]  # exit records already applied, so none is applied twice
    entry_text: Mapped[str | None] = mapped_column(Text)
    exit_text: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    raw: Mapped[dict[str, Any] | None]

    trader: Mapped[Trader] = relationship(lazy="joined")


class XtradesAlert(Base):
    """One detected event on a trade and, once judged, its scoring.

    Stored in the same transaction as the trade change that caused it, so no event is lost between
    detection and scoring; `scored_at` is set exactly once.
    """

    __tablename__ = "xtrades_alerts"
    __table_args__ = (Index("ix_alerts_unscored", "scored_at", "event_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trade_id: Mapped[int] = mapped_column(ForeignKey("trades.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(8))  # new | update | close
    is_historical: Mapped[bool] = mapped_column(Boolean, default=False)  # seen on a profile's first scrape
    details: Mapped[dict[str, Any] | None]  # what changed (update), P&L (close)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Scoring (filled by the judgement stages)
    scored_at: Mapped[datetime | None]
    score: Mapped[float | None] = mapped_column(Float)
    # The judge's whole scoring record, one JSON document with a format version (pipeline/record.py)
    scoring: Mapped[dict[str, Any] | None]
    # Rows scored before that record kept it in these three; read only to migrate such a row on reading
    score_parts: Mapped[dict[str, Any] | None]
    strategy_name: Mapped[str | None] = mapped_column(String(64))
    strategy_ranking: Mapped[list[Any] | None]
    market_context: Mapped[dict[str, Any] | None]
    claude_score: Mapped[float | None] = mapped_column(Float)
    deepseek_score: Mapped[float | None] = mapped_column(Float)
    gemini_score: Mapped[float | None] = mapped_column(Float)
    local_score: Mapped[float | None] = mapped_column(Float)
    consensus_score: Mapped[float | None] = mapped_column(Float)
    consensus_agreement: Mapped[float | None] = mapped_column(Float)
    reasoning: Mapped[list[Any] | None]
    key_risk: Mapped[str | None] = mapped_column(Text)
    recommendation: Mapped[str | None] = mapped_column(String(16))
    similar_trades_count: Mapped[int | None] = mapped_column(Integer)
    similar_trades_success_rate: Mapped[float | None] = mapped_column(Float)
    qdrant_point_id: Mapped[str | None] = mapped_column(String(64))
    # Kept at scoring time, so a backtest and a calibrator can see exactly what the score knew (issue 12)
    raw_score: Mapped[float | None] = mapped_column(Float)  # the blend before calibration, 0-100
    profit_probability: Mapped[float | None] = mapped_column(Float)  # calibrated 0-1; None while uncalibrated
    scorer_version: Mapped[str | None] = mapped_column(String(64))
    trader_wins_at_score: Mapped[int | None] = mapped_column(Integer)
    trader_closed_at_score: Mapped[int | None] = mapped_column(Integer)
    # A judge that raised: how often, and why; past MAX_JUDGE_ATTEMPTS the alert is parked, never retried
    judge_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    judge_error: Mapped[str | None] = mapped_column(Text)
    similar_trades_used: Mapped[list[Any] | None]  # [{"trade_id": 12, "won": true}, …] as found then

    trade: Mapped[Trade] = relationship(lazy="joined")


class Calibrator(Base):
    """A fitted map from a score's parts to a probability of profit, refit nightly; the newest of the
    running scorer version is applied (issue 12). Parameters are plain JSON, never a pickle."""

    __tablename__ = "calibrators"
    __table_args__ = (Index("ix_calibrators_version", "scorer_version", "fitted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scorer_version: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(32))
    fitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    trades: Mapped[int] = mapped_column(Integer)  # closed trades it was fitted on
    base_rate: Mapped[float] = mapped_column(Float)
    brier: Mapped[float | None] = mapped_column(Float)  # walk-forward Brier of the backtest that fitted it
    params: Mapped[dict[str, Any]]


class Chat(Base):
    """A private chat or group that uses the bot, with its settings."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(16))  # private | group | supergroup | channel
    title: Mapped[str | None] = mapped_column(String(256))
    min_score: Mapped[int] = mapped_column(Integer)
    rate_limit_per_hour: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Issue 26; the rules of each are in handlers/chat_settings.py.
    timezone: Mapped[str | None] = mapped_column(String(64))  # IANA name; None: never set, times in UTC
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "22:00" in the chat's zone; None: no quiet hours
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    quiet_mode: Mapped[str] = mapped_column(String(8), default="silent")  # silent | hold
    notify_cards: Mapped[str] = mapped_column(String(8), default="on")  # on | silent | off, per kind
    notify_results: Mapped[str] = mapped_column(String(8), default="on")
    notify_digests: Mapped[str] = mapped_column(String(8), default="on")
    notify_health: Mapped[str] = mapped_column(String(8), default="on")
    summary_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    summary_time: Mapped[str] = mapped_column(String(5), default="17:00")  # local time of the daily summary
    summary_sent_on: Mapped[date | None] = mapped_column(Date)  # the local day of the last summary sent

    # The settings a group keeps when it becomes a supergroup.
    SETTINGS: ClassVar[tuple[str, ...]] = (
        "min_score", "rate_limit_per_hour", "timezone", "quiet_start", "quiet_end", "quiet_mode", "notify_cards",
        "notify_results", "notify_digests", "notify_health", "summary_enabled", "summary_time", "summary_sent_on")


class ChatTrader(Base):
    """Who a chat tracks."""

    __tablename__ = "chat_traders"

    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    trader_id: Mapped[int] = mapped_column(ForeignKey("traders.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatMute(Base):
    """A trader a chat does not want to hear from, until `until` (None: until unmuted)."""

    __tablename__ = "chat_mutes"

    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    trader_id: Mapped[int] = mapped_column(ForeignKey("traders.id", ondelete="CASCADE"), primary_key=True)
    until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationQueueItem(Base):
    """One alert for one chat; unique on the pair so a chat is told at most once."""

    __tablename__ = "xtrades_notification_queue"
    __table_args__ = (
        UniqueConstraint("alert_id", "chat_id", name="uq_queue_alert_chat"),
        Index("ix_queue_chat_status", "chat_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("xtrades_alerts.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # pending | sending | sent | failed | rate_limited | skipped
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    error_message: Mapped[str | None] = mapped_column(Text)


class ScraperState(Base):
    """Health and pacing of one profile's scraping."""

    __tablename__ = "xtrades_scraper_state"

    profile: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_scraped_at: Mapped[datetime | None]  # last successful scrape
    last_attempt_at: Mapped[datetime | None]
    session_valid_until: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    is_healthy: Mapped[bool] = mapped_column(Boolean, default=True)
    avg_scrape_duration_seconds: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)


class IngestRejection(Base):
    """Alert records refused at the ingest edge, counted per trader, reason and day (what /status shows admins)."""

    __tablename__ = "xtrades_ingest_rejections"

    trader: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime | None]
    example: Mapped[str | None] = mapped_column(Text)  # the last refused record's id and figures, short


class AIUsage(Base):
    """One call to a paid (or local) analyst: tokens, latency and cost, for the monthly budget."""

    __tablename__ = "ai_usage"
    __table_args__ = (Index("ix_ai_usage_created", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(64))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    error: Mapped[str | None] = mapped_column(Text)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("xtrades_alerts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IVRecord(Base):
    """One at-the-money implied volatility per symbol and day, recorded as alerts arrive: what IV rank is
    measured against once a year of them exists."""

    __tablename__ = "iv_history"

    symbol: Mapped[str] = mapped_column(String(12), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    atm_iv: Mapped[float] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer, default=1)
