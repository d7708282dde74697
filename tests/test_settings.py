"""Configuration: defaults, validation messages a person can act on, and secrets that never leak."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT, Settings, SettingsError, load_settings
from tests.clock import python_m

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer `.env` or exported variable may change what these tests see."""
    monkeypatch.chdir(tmp_path)
    for name in ("TELEGRAM_BOT_TOKEN", "DEFAULT_MIN_SCORE", "ADMIN_CHAT_IDS", "DATABASE_URL", "LOG_LEVEL",
                 "SCRAPE_INTERVAL_SECONDS", "TELEGRAM_API_BASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_match_the_architecture() -> None:
    settings = load_settings()
    assert settings.telegram_bot_token is None
    # in the project's own folder, whatever the working directory (these tests run in a temporary one)
    assert settings.database_url == f"sqlite+aiosqlite:///{PROJECT_ROOT / 'data' / 'sentinel.db'}"
    assert settings.qdrant_path == str(PROJECT_ROOT / "data" / "qdrant") and Path.cwd() != PROJECT_ROOT
    assert settings.scrape_interval_seconds == 150
    assert settings.scrape_max_concurrent == 10
    assert settings.default_min_score == 80
    assert settings.default_rate_limit_per_hour == 5
    assert settings.ai_monthly_budget_usd == 10
    assert settings.embedding_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert settings.telegram_base_url == "https://api.telegram.org/bot"
    assert settings.telegram_base_file_url == "https://api.telegram.org/file/bot"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEFAULT_MIN_SCORE", "120", "DEFAULT_MIN_SCORE must be between 0 and 100"),
        ("DEFAULT_RATE_LIMIT_PER_HOUR", "0", "DEFAULT_RATE_LIMIT_PER_HOUR must be between 1 and 60"),
        ("SCRAPE_INTERVAL_SECONDS", "soon", "SCRAPE_INTERVAL_SECONDS must be a whole number between 1 and 86400"),
        ("SCRAPE_MAX_CONCURRENT", "99", "SCRAPE_MAX_CONCURRENT must be between 1 and 20"),
        ("ADMIN_CHAT_IDS", "12, me", "ADMIN_CHAT_IDS must be a comma-separated list of numeric chat ids"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL must be one of"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL"),
        ("XTRADES_BASE_URL", "app.xtrades.net", "XTRADES_BASE_URL must start with http:// or https://"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(message)
    assert len(str(caught.value).splitlines()) == 1


def test_values_from_the_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DEFAULT_MIN_SCORE=70\nADMIN_CHAT_IDS=1, -1001234\nLOG_LEVEL=debug\n")
    monkeypatch.setenv("DEFAULT_MIN_SCORE", "65")  # the environment wins over .env
    settings = load_settings()
    assert settings.default_min_score == 65
    assert settings.admin_chat_ids == [1, -1001234]
    assert settings.log_level == "DEBUG"


def test_api_base_url_gets_the_bot_suffix_ptb_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    for given in ("http://127.0.0.1:8081", "http://127.0.0.1:8081/", "http://127.0.0.1:8081/bot"):
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", given)
        settings = load_settings()
        assert settings.telegram_base_url == "http://127.0.0.1:8081/bot"
        assert settings.telegram_base_file_url == "http://127.0.0.1:8081/file/bot"


def test_secrets_never_show_in_reprs_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "987654321:ZZsecretsecretsecretsecretsecret12345"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-not-a-real-key-000")
    settings = load_settings()
    assert token not in repr(settings) and token not in str(settings.model_dump())
    assert "sk-ant-not-a-real-key-000" not in repr(settings)
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == token

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "not a token but secret-ish")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "secret-ish" not in str(caught.value)
    assert str(caught.value).startswith("TELEGRAM_BOT_TOKEN must look like")


def test_bad_configuration_stops_start_up_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "DEFAULT_MIN_SCORE": "120"}
    done = subprocess.run(python_m("bot", "run"), cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "DEFAULT_MIN_SCORE must be between 0 and 100" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_lists_the_subcommands(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(python_m("bot", "--help"), cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    assert "run" in done.stdout and "check" in done.stdout


def test_env_example_documents_every_variable_and_loads_as_is(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    example = (ROOT / ".env.example").read_text()
    documented = {line.split("=", 1)[0].lstrip("# ").strip() for line in example.splitlines() if "=" in line}
    missing = {name.upper() for name in Settings.model_fields} - documented
    assert not missing, f".env.example lacks {sorted(missing)}"
    (tmp_path / ".env").write_text(example)
    settings = load_settings()  # placeholders are empty: the defaults apply, nothing fails
    assert settings.telegram_bot_token is None and settings.database_url.startswith("sqlite+aiosqlite")
