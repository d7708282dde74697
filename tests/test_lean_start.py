"""A lean start: matplotlib and the AI SDKs are imported when first used, not when the bot starts."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import json, sys
from bot.app import analyst_config, build_application
from bot.settings import load_settings
from pipeline.judge.consensus.panel import build_analysts
settings = load_settings(telegram_bot_token="123:abc", anthropic_api_key="k1", deepseek_api_key="k2",
                         google_api_key="k3")
build_application(settings)
analysts = build_analysts(analyst_config(settings))
heavy = ("matplotlib", "anthropic", "openai", "google.genai")
at_start = [m for m in heavy if m in sys.modules]
from handlers import charts
charts.leaderboard_png([charts.LeaderboardRow("a", 10.0, 0.5, 2)], period="week")
print(json.dumps({"analysts": len(analysts), "at_start": at_start, "after_chart": "matplotlib" in sys.modules}))
"""


def test_the_bot_starts_without_matplotlib_or_any_ai_sdk_and_draws_a_chart_when_asked() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"analysts": 3, "at_start": [], "after_chart": True}
