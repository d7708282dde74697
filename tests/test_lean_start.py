"""A lean start: matplotlib and the AI SDKs are imported when first used, not when the bot starts, and
qdrant-client's generated REST models are built when first used, not all at import."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import json, sys
from bot.app import build_application
from bot.wiring import analyst_config
from bot.settings import load_settings
from pipeline.judge.consensus.panel import build_analysts
settings = load_settings(telegram_bot_token="123:abc", anthropic_api_key="k1", deepseek_api_key="k2",
                         google_api_key="k3")
build_application(settings)
analysts = build_analysts(analyst_config(settings))
heavy = ("matplotlib", "anthropic", "openai", "google.genai")
at_start = [m for m in heavy if m in sys.modules]
from pydantic import BaseModel
from qdrant_client import models
generated = [m for m in vars(models).values() if isinstance(m, type) and issubclass(m, BaseModel)
             and m.__module__ == "qdrant_client.http.models.models"]
built_at_start = sum(m.__pydantic_complete__ for m in generated)
point = models.PointStruct(id=1, vector=[0.5], payload={"symbol": "AAPL"})
try:
    models.PointStruct(id=1, vector=[0.5], payload={}, unknown_field=1)
    refused = False
except ValueError:
    refused = True
from handlers import charts
charts.leaderboard_png([charts.LeaderboardRow("a", 10.0, 0.5, 2)], period="week")
print(json.dumps({"analysts": len(analysts), "at_start": at_start, "after_chart": "matplotlib" in sys.modules,
                  "generated": len(generated) > 300, "built_at_start": built_at_start,
                  "point": point.model_dump()["payload"], "refused": refused}))
"""


def test_the_bot_starts_without_matplotlib_any_ai_sdk_or_qdrants_models_and_builds_each_when_used() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    built_at_start = result.pop("built_at_start")
    assert built_at_start < 20  # of the ~340 generated models: only what opening a store touches
    assert result == {"analysts": 3, "at_start": [], "after_chart": True, "generated": True,
                      "point": {"symbol": "AAPL"}, "refused": True}
