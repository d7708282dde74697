"""`pytest --days-ahead N`: the wall clock moves in the test process and in every `python -m bot …` a test starts."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from time_machine import escape_hatch

from tests import clock
from tests.conftest import ROOT


def real_now() -> datetime:
    return escape_hatch.datetime.datetime.now(UTC) if escape_hatch.is_travelling() else datetime.now(UTC)


def shift() -> timedelta:
    """How far the suite's wall clock is from the real one."""
    return datetime.now(UTC) - real_now()


def test_a_further_shift_moves_the_wall_clock_here_and_in_started_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    configured = timedelta(days=clock.days_ahead)
    assert abs(shift() - configured) < timedelta(minutes=1)
    traveller = clock.travel(30)
    monkeypatch.setattr(clock, "days_ahead", clock.days_ahead + 30)
    try:
        assert abs(shift() - configured - timedelta(days=30)) < timedelta(minutes=1)
        done = subprocess.run(clock.python_m("tests.test_clock"), cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        child_now, child_real = (datetime.fromisoformat(line) for line in done.stdout.split())
        assert abs(child_now - child_real - configured - timedelta(days=30)) < timedelta(minutes=1)
    finally:
        traveller.stop()
    assert abs(shift() - configured) < timedelta(minutes=1)


if __name__ == "__main__":  # what the test above starts: this process's idea of now, and the real now
    print(datetime.now(UTC).isoformat(), real_now().isoformat())
