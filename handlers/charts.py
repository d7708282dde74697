"""Charts as PNG bytes, drawn with matplotlib's Agg backend (no display). Pure: data in, bytes out.

matplotlib is imported at the first chart, not at start (it costs the bot about 40 MB and a second); figures are
plain `Figure`s, not pyplot's, so nothing global keeps them alive.

Callers run these off the event loop (`asyncio.to_thread`): drawing takes tens of milliseconds.
Sized and lettered to be read on a phone: 8×5 inches at 150 dpi, large fonts, units on the axes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

GREEN, RED, GREY = "#1a9c5b", "#d2453c", "#8a8f98"
FIGSIZE, DPI = (8, 5), 150


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    trader: str
    pnl: float  # dollars
    win_rate: float  # 0-1
    trades: int


@dataclass(frozen=True, slots=True)
class PnlPoint:
    day: date
    cumulative_pnl: float  # dollars


def _figure() -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    ax = fig.subplots()
    ax.tick_params(labelsize=12)
    ax.grid(alpha=0.25)
    return fig, ax


def _nothing_to_draw(ax: Axes) -> None:
    ax.text(0.5, 0.5, "No closed trades in this period", ha="center", va="center", fontsize=16,
            transform=ax.transAxes, color=GREY)
    ax.set_axis_off()


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _dollars(value: float, _pos: object = None) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}${value / 1000:,.3g}k" if value >= 1_000 else f"{sign}${value:,.0f}"


def leaderboard_png(rows: Sequence[LeaderboardRow], *, period: str) -> bytes:
    """Horizontal bars of realised P&L per trader, best on top, labelled with win rate and trade count."""
    fig, ax = _figure()
    if not rows:
        _nothing_to_draw(ax)
    else:
        ordered = sorted(rows, key=lambda r: r.pnl)
        names = [r.trader for r in ordered]
        values = [r.pnl for r in ordered]
        bars = ax.barh(names, values, color=[GREEN if v >= 0 else RED for v in values])
        for bar, row in zip(bars, ordered, strict=True):
            ax.annotate(f" {row.win_rate:.0%} win · {row.trades} trades", (max(bar.get_width(), 0), bar.get_y()
                        + bar.get_height() / 2), va="center", fontsize=11, color="#333333")
        ax.axvline(0, color=GREY, linewidth=1)
        ax.xaxis.set_major_formatter(_dollars)
        ax.set_xlabel("Realised P&L (USD)", fontsize=13)
        ax.margins(x=0.35)
    ax.set_title(f"Trader leaderboard — {period}", fontsize=16, fontweight="bold")
    return _png(fig)


MIN_SPAN_DAYS = 7  # a curve over less than a week still gets a week of axis, so its dates read as dates


PNL_LABEL = "Cumulative P&L (USD)"


def pnl_png(points: Sequence[PnlPoint], *, title: str, start: date | None = None, end: date | None = None,
            zone_name: str | None = None, ylabel: str = PNL_LABEL) -> bytes:
    """Cumulative realised P&L over time, green above zero and red below, as PNG bytes."""
    return _png(pnl_figure(points, title=title, start=start, end=end, zone_name=zone_name, ylabel=ylabel))


def pnl_figure(points: Sequence[PnlPoint], *, title: str, start: date | None = None,
               end: date | None = None, zone_name: str | None = None, ylabel: str = PNL_LABEL) -> Figure:
    """The P&L curve over the period asked for (`start`..`end`, else the points' own days), not matplotlib's
    guess: trades all closed on one day would otherwise get an axis of years. Dates are "Nov 03", local days of
    the chat's zone (named in the axis title), with the year on each label when the period crosses one and in
    the axis title when it does not."""
    fig, ax = _figure()
    if not points:
        _nothing_to_draw(ax)
    else:
        days = [p.day for p in points]
        values = [p.cumulative_pnl for p in points]
        ax.plot(days, values, color="#2b5fd9", linewidth=2.5, marker="o" if len(points) < 30 else None)
        ax.fill_between(days, values, 0, where=[v >= 0 for v in values], color=GREEN, alpha=0.2, interpolate=True)
        ax.fill_between(days, values, 0, where=[v < 0 for v in values], color=RED, alpha=0.2, interpolate=True)
        ax.axhline(0, color=GREY, linewidth=1)
        ax.yaxis.set_major_formatter(_dollars)
        ax.set_ylabel(ylabel, fontsize=13)
        from matplotlib import dates as mdates

        first, last = _date_span(start or min(days), end or max(days))
        ax.set_xlim(first, last)
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))
        crosses_year = first.year != last.year
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d %Y" if crosses_year else "%b %d"))
        where = f" ({zone_name})" if zone_name else ""
        ax.set_xlabel(f"Date closed{where}" if crosses_year else f"Date closed, {first.year}{where}", fontsize=13)
        fig.autofmt_xdate()
    ax.set_title(title, fontsize=16, fontweight="bold")
    return fig


def _date_span(first: date, last: date) -> tuple[date, date]:
    """At least MIN_SPAN_DAYS, ending on `last`, so one day of trades is a point on a readable axis."""
    if last < first:
        first, last = last, first
    if (last - first).days < MIN_SPAN_DAYS:
        first = last - timedelta(days=MIN_SPAN_DAYS)
    return first, last
