"""`make run` without a token: the guidance, then the demo through the real pipeline, offline, in under a minute."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pipeline.memory.model_files import DEFAULT_DIR
from tests.conftest import ROOT


def test_run_without_a_token_explains_then_shows_the_demo(tmp_path: Path, embedder: object) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "EMBEDDING_MODEL_PATH": str(ROOT / DEFAULT_DIR)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "@BotFather" in out and "TELEGRAM_BOT_TOKEN" in out
    assert out.count("HIGH-QUALITY TRADE ALERT") >= 3
    assert "Score:" in out and "Max Profit:" in out and "[🔍 Analyze]" in out
    assert "closed @" in out and "P&L" in out  # a follow-up of a trade the chat was told about
    assert "300 closed trades remembered" in out
    last = out.strip().splitlines()[-1]  # the demo ends with the backtest's one-line summary
    assert last.startswith("Backtest: ") and "closed trades" in last and "Brier" in last
    for chart in ("leaderboard.png", "pnl.png", "reliability.png"):
        png = tmp_path / "data" / "demo" / chart
        assert png.read_bytes().startswith(b"\x89PNG")
    assert "Traceback" not in done.stderr
    assert elapsed < 60
