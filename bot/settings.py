"""Typed configuration from the environment (then `.env`), validated once at start-up.

A bad value stops start-up with one line per variable that says what is allowed; secrets are `SecretStr`
so they never show up in logs, reprs or error messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TELEGRAM_DEFAULT_API = "https://api.telegram.org"
XTRADES_DEFAULT_URL = "https://app.xtrades.net"
YAHOO_DEFAULT_URL = "https://query2.finance.yahoo.com"
DEEPSEEK_DEFAULT_URL = "https://api.deepseek.com"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# The project's own folder: the data and the model are found there whatever the working directory.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT / "data"


class SettingsError(Exception):
    """Configuration that cannot work; the message is ready to print, one line per variable."""


class Settings(BaseSettings):
    """Every variable of ARCHITECTURE.md, with its default. Field names are the variables' names."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False, env_ignore_empty=True,
    )

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = TELEGRAM_DEFAULT_API
    admin_chat_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)

    # Storage
    database_url: str = f"sqlite+aiosqlite:///{DATA_DIR / 'sentinel.db'}"
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_path: str = str(DATA_DIR / "qdrant")

    # Embeddings
    embedding_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    embedding_model_path: str | None = None
    # Cores the running bot embeds on; 0 = every core. 1 leaves a core to the event loop (see README).
    embedding_threads: int = Field(0, ge=0, le=64)

    # Xtrades source
    xtrades_base_url: str = XTRADES_DEFAULT_URL
    xtrades_storage_state: str | None = None
    xtrades_email: str | None = None
    xtrades_password: SecretStr | None = None
    chromium_path: str | None = None
    scrape_interval_seconds: int = Field(150, ge=1, le=86_400)
    # Profiles scraped at once: a cycle over ten traders is one wave, so the last is not seconds behind the first.
    scrape_max_concurrent: int = Field(10, ge=1, le=20)
    # The bearer for the API and the push feed; unset: read from the Playwright session's localStorage
    xtrades_token: SecretStr | None = None
    xtrades_api_reads: bool = True  # read /api/v2/alerts over HTTP when a token is known (browser as fallback)
    xtrades_push_feed: bool = True  # Xtrades' SignalR push feed, when a token is known
    scrape_interval_push_seconds: int = Field(600, ge=1, le=86_400)  # polling while the push feed is healthy
    push_silence_seconds: float = Field(60.0, ge=1, le=3600)  # nothing from the hub this long: reconnect
    history_max_pages: int = Field(50, ge=1, le=1000)  # a trader's first read: API pages per side

    # AI analysts
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    claude_model: str = "claude-sonnet-4-6"
    deepseek_api_key: SecretStr | None = None
    deepseek_base_url: str = DEEPSEEK_DEFAULT_URL
    deepseek_model: str = "deepseek-chat"
    google_api_key: SecretStr | None = None
    gemini_base_url: str | None = None
    gemini_model: str = "gemini-2.5-flash"
    ai_monthly_budget_usd: float = Field(10.0, ge=0, le=100_000)
    ai_timeout_seconds: float = Field(20.0, ge=1, le=120)
    # Alerts judged at once: the AI calls are waits, not work, so a burst of 100 goes in one wave.
    ai_concurrency: int = Field(100, ge=1, le=1000)
    ai_weight_claude: float = Field(0.5, ge=0, le=1)
    ai_weight_deepseek: float = Field(0.3, ge=0, le=1)
    ai_weight_gemini: float = Field(0.2, ge=0, le=1)

    # Market data: Yahoo Finance's JSON, keyless (YAHOO_BASE_URL points it at another server, e.g. a test's);
    # MARKET_HISTORY_DIR instead judges from recorded daily closes in that folder (offline, no option chain)
    yahoo_base_url: str = YAHOO_DEFAULT_URL
    market_history_dir: str | None = None

    # A new chat's settings
    default_min_score: int = Field(80, ge=0, le=100)
    default_rate_limit_per_hour: int = Field(5, ge=1, le=60)

    # Delivery
    delivery_interval_seconds: float = Field(3.0, ge=0.2, le=300)
    # An alert first seen this long after it was posted (a re-track, an outage) is noted, not announced as new
    late_alert_minutes: int = Field(30, ge=1, le=10_080)

    # The dashboard (Telegram Mini App): served on WEBAPP_HOST:WEBAPP_PORT when WEBAPP_URL, the public HTTPS
    # address a reverse proxy or tunnel gives that port, is set; 0 picks a free port (tests)
    webapp_url: str | None = None
    webapp_port: int = Field(8080, ge=0, le=65535)
    webapp_host: str = "127.0.0.1"

    log_level: LogLevel = "INFO"
    # Unset: the standard error stream, for the process manager to keep. Set: this file, rotated at 10 MB (5 kept).
    log_file: str | None = None

    @field_validator("admin_chat_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        """Accept "1, -1002" as well as a list: a comma list is what people write in `.env`."""
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            return [p for p in parts if p]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "telegram_api_base_url", "xtrades_base_url", "deepseek_base_url", "anthropic_base_url",
        "gemini_base_url", "qdrant_url", "webapp_url",
    )
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            if info.field_name is not None and cls.model_fields[info.field_name].default is None:
                return None  # an empty optional URL in `.env` means "not set"
            raise ValueError("must not be empty")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
        return value

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _token_shape(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
            bot_id, _, secret = value.partition(":")
            if not bot_id.isdigit() or not secret:
                # Never echo the value: it is a secret even when malformed.
                raise ValueError("must look like 123456789:AA… (the token @BotFather gives you)")
        return value

    # Derived values: computed here so no other module re-derives them differently.

    @property
    def telegram_base_url(self) -> str:
        """What PTB's `base_url` wants: it appends the token, so the URL must end in `/bot`."""
        return f"{self._telegram_root()}/bot"

    @property
    def telegram_base_file_url(self) -> str:
        return f"{self._telegram_root()}/file/bot"

    def _telegram_root(self) -> str:
        root = self.telegram_api_base_url.rstrip("/")
        return root[: -len("/bot")] if root.endswith("/bot") else root

    def secret_values(self) -> list[str]:
        """Every secret's plain value, for the log redaction filter."""
        values = []
        for name in type(self).model_fields:
            field_value = getattr(self, name)
            if isinstance(field_value, SecretStr) and field_value.get_secret_value():
                values.append(field_value.get_secret_value())
        return values


def _bounds(field_name: str) -> tuple[Any, Any]:
    low = high = None
    for meta in Settings.model_fields[field_name].metadata:
        low = getattr(meta, "ge", low) if getattr(meta, "ge", None) is not None else low
        high = getattr(meta, "le", high) if getattr(meta, "le", None) is not None else high
    return low, high


def _describe(error: ErrorDetails) -> str:
    """One line per bad variable: its name and what is allowed, never its (possibly secret) value."""
    loc = error.get("loc") or ("?",)
    field_name = str(loc[0])
    var = field_name.upper()
    kind = error.get("type", "")
    low, high = _bounds(field_name) if field_name in Settings.model_fields else (None, None)
    if var == "ADMIN_CHAT_IDS":
        return f"{var} must be a comma-separated list of numeric chat ids"
    if kind in {"greater_than_equal", "less_than_equal"} and low is not None and high is not None:
        return f"{var} must be between {low} and {high}"
    if kind in {"int_parsing", "int_from_float"}:
        span = f" between {low} and {high}" if low is not None and high is not None else ""
        return f"{var} must be a whole number{span}"
    if kind == "float_parsing":
        span = f" between {low} and {high}" if low is not None and high is not None else ""
        return f"{var} must be a number{span}"
    if kind == "literal_error":
        return f"{var} must be one of {error.get('ctx', {}).get('expected', '')}"
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"{var} {message}"


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the configuration, or raise SettingsError with one line per bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = sorted({_describe(err) for err in exc.errors(include_input=False)})
        raise SettingsError("\n".join(lines)) from None

