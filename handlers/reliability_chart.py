"""The backtest's reliability diagram as PNG bytes: forecast against what happened, per tenth, with counts.

Pure (bins in, bytes out) and drawn like handlers/charts.py: Agg backend, 8×5 inches at 150 dpi, phone-sized
letters. matplotlib is imported on the first drawing, off the event loop (`asyncio.to_thread`), so nothing
pays for it at start-up.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

BLUE, GREY = "#2b5fd9", "#8a8f98"
FIGSIZE, DPI = (8, 5), 150


def reliability_png(bins: Sequence[Any], *, title: str, subtitle: str = "") -> bytes:
    """`bins`: objects with low, high, count, mean_predicted and observed (pipeline.judge.report.ReliabilityBin)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    ax.tick_params(labelsize=12)
    ax.grid(alpha=0.25)
    ax.plot([0, 100], [0, 100], color=GREY, linestyle="--", linewidth=1.2, label="perfectly calibrated")
    filled = [b for b in bins if b.count and b.mean_predicted is not None and b.observed is not None]
    if not filled:
        ax.text(50, 50, "No closed trades to measure yet", ha="center", va="center", fontsize=16, color=GREY)
    else:
        xs = [b.mean_predicted * 100 for b in filled]
        ys = [b.observed * 100 for b in filled]
        ax.plot(xs, ys, color=BLUE, linewidth=2.5, marker="o", markersize=8, label="backtest")
        for b, x, y in zip(filled, xs, ys, strict=True):
            ax.annotate(f"n={b.count}", (x, y), textcoords="offset points", xytext=(0, 10), ha="center",
                        fontsize=10, color="#333333")
        ax.legend(loc="upper left", fontsize=11)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 105)
    ax.set_xlabel("Predicted chance of profit (%)", fontsize=13)
    ax.set_ylabel("Trades that made a profit (%)", fontsize=13)
    ax.set_title(title, fontsize=16, fontweight="bold")
    if subtitle:
        ax.text(0.99, 0.02, subtitle, ha="right", va="bottom", fontsize=10, color=GREY, transform=ax.transAxes)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
