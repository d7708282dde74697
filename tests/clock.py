"""The suite's clock: `pytest --days-ahead N` moves it N days ahead (time-machine), in this process and in every
`python -m bot …` the tests start, so a test that silently depends on today's date fails now, not in N days.

time-machine shifts the wall clock only (`time.time`, `datetime.now`, `date.today`, …), with `tick=True` so time
keeps running; the monotonic clock that asyncio, PTB's long polling and APScheduler's waits use is untouched.
Chromium is a separate process and keeps the real date, so the loopback pages take every date from Python.

`python -m tests.clock DAYS MODULE [ARGS…]` runs MODULE as `python -m MODULE ARGS…` would, DAYS days ahead.
"""

from __future__ import annotations

import runpy
import sys
from datetime import UTC, datetime, timedelta

import time_machine

days_ahead = 0  # set once by conftest from --days-ahead


def travel(days: float) -> time_machine.travel:
    """A started shift of the wall clock `days` ahead of now, ticking."""
    traveller = time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True)
    traveller.start()
    return traveller


def python_m(module: str, *args: str) -> list[str]:
    """The argv of `python -m module args…`, on the suite's clock."""
    if not days_ahead:
        return [sys.executable, "-m", module, *args]
    return [sys.executable, "-m", "tests.clock", str(days_ahead), module, *args]


def main() -> None:
    days, module, *args = sys.argv[1:]
    travel(float(days))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
