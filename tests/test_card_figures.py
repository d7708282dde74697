"""The card a trader can trust (issue 22): the size written only in the alert's text scales every figure, recomputed
here with this test's own formulas (hand payoffs, its own lognormal, Reg-T written out) for a long call, a
cash-secured put, a covered call, a put credit spread, an iron condor written as its two spreads, a short strangle
and shares. Each alert goes the real way: the alerts API's JSON (no quantity in it) mapped by the real reader,
stored, judged against the loopback Yahoo Finance (the chain's IV, the underlying at the alert's minute) and
rendered from the stored record. With the market on, any alternative stays inside the trader's max loss and its
legs keep no-arbitrage; with the market off there is none."""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from handlers.render import alert_message
from handlers.views import card_from_row
from pipeline.cycle import IngestionCycle, ReplaySource
from pipeline.ingest.alerts_api import alert_from_json
from pipeline.judge.consensus.panel import ConsensusPanel
from pipeline.judge.stage import Judgement
from pipeline.market.yahoo import YahooMarket
from pipeline.models import RawAlert
from storage import alerts, chats, traders
from storage.db import Database
from tests.fakes.xtrades import FakeXtrades
from tests.fakes.yahoo import FakeYahoo
from tests.test_market_card import regular_wednesday

NEW_YORK = ZoneInfo("America/New_York")
RATE = 0.04


def n(x: float) -> float:
    return statistics.NormalDist().cdf(x)


def p_above(spot: float, level: float, years: float, vol: float) -> float:
    """P(S_T > level), S_T lognormal with drift RATE: N(d2), written out here."""
    return n((math.log(spot / level) + (RATE - vol * vol / 2) * years) / (vol * math.sqrt(years)))


def reg_t_naked(kind: str, spot: float, strike: float) -> float:
    """Reg-T for one naked short option, per share, before its premium: 20% of the price less the
    out-of-the-money amount, at least 10% of the price (call) or strike (put)."""
    otm = max(0.0, strike - spot) if kind == "call" else max(0.0, spot - strike)
    return max(0.2 * spot - otm, 0.1 * (spot if kind == "call" else strike))


class Replay(ReplaySource):
    def __init__(self) -> None:
        self.records: list[RawAlert] = []

    def records_for(self, username: str) -> Sequence[RawAlert]:
        return [r for r in self.records if r.trader == username]


@dataclass
class Case:
    name: str
    symbol: str
    spot: float
    iv: float
    text: str  # the size is written here only: the JSON has no quantity
    direction: str  # the JSON's one contract
    strike: float | None
    price: float
    side: str
    chain: list[tuple[str, float]] = field(default_factory=list)  # (kind, strike) the chain quotes
    # What the card must show, from the hand formulas (years is filled in by the test):
    structure: str = ""
    size_words: str = ""


def expected(case: Case, years: float, hv: float | None) -> dict[str, Any]:
    """Every figure, by hand, for the trader's size (3 or 2 or 300)."""
    s, v = case.spot, case.iv
    if case.name == "long call":  # BTO 3x AAPL 250C @ 7.25
        return dict(max_profit=None, max_loss=7.25 * 300, breakevens=[257.25], capital=7.25 * 300,
                    pop=p_above(s, 257.25, years, v))
    if case.name == "cash-secured put":  # STO 2x TSLA 70P @ 1.50
        return dict(max_profit=150 * 2, max_loss=(70 - 1.50) * 200, breakevens=[68.50], capital=70 * 200,
                    pop=p_above(s, 68.50, years, v))
    if case.name == "covered call":  # 200 shares at the price, two 190 calls sold at 2.00
        # Reg-T: the shares paid in full, the call's premium taken in against them.
        return dict(max_profit=(190 - s + 2.00) * 200, max_loss=(s - 2.00) * 200, breakevens=[s - 2.00],
                    capital=(s - 2.00) * 200, pop=p_above(s, s - 2.00, years, v))
    if case.name == "put credit spread":  # STO 2x SPY 580/575 put credit spread @ 1.20
        return dict(max_profit=1.20 * 200, max_loss=(5 - 1.20) * 200, breakevens=[578.80],
                    capital=(5 - 1.20) * 200, pop=p_above(s, 578.80, years, v))
    if case.name == "iron condor":  # STO 3x SPY 540/535P 580/585C @ 1.50
        low, high = 540 - 1.50, 580 + 1.50
        return dict(max_profit=1.50 * 300, max_loss=(5 - 1.50) * 300, breakevens=[low, high],
                    capital=(5 - 1.50) * 300, pop=p_above(s, low, years, v) - p_above(s, high, years, v))
    if case.name == "short strangle":  # STO 2x SPY 540/580 strangle @ 4.00
        low, high = 540 - 4.00, 580 + 4.00
        # Reg-T: the larger side's naked requirement plus both premiums (its own and the other side's).
        margin = max(reg_t_naked("put", s, 540), reg_t_naked("call", s, 580)) + 4.00
        return dict(max_profit=4.00 * 200, max_loss=None, breakevens=[low, high], capital=margin * 200,
                    pop=p_above(s, low, years, v) - p_above(s, high, years, v))
    assert case.name == "shares" and hv is not None  # BTO 300 shares AMD @ 160, 30 days at the 30-day HV
    return dict(max_profit=None, max_loss=160 * 300, breakevens=[160.0], capital=160 * 300,
                pop=p_above(s, 160.0, 30 / 365, hv))


def cases(expiry: date) -> list[Case]:
    day = f"{expiry:%m/%d}"
    return [
        Case("long call", "AAPL", 247.10, 0.283, f"BTO 3x AAPL 250C {day} @ 7.25", "call", 250.0, 7.25, "bto",
             [("call", 250.0)], "Long Call", "Size: 3 contracts (from the alert's text)"),
        Case("cash-secured put", "TSLA", 75.0, 0.40, f"STO TSLA 70P {day} @ 1.50 x2", "put", 70.0, 1.50, "sto",
             [("put", 70.0)], "Short Put (cash-secured)", "Size: 2 contracts (from the alert's text)"),
        Case("covered call", "AAPL", 180.0, 0.30, f"STO AAPL 190C {day} @ 2.00 covered call, 2 contracts", "call",
             190.0, 2.00, "sto", [("call", 190.0)], "Covered Call", "Size: 2 contracts (from the alert's text)"),
        Case("put credit spread", "SPY", 590.0, 0.20, f"STO 2x SPY 580/575 put credit spread {day} @ 1.20", "put",
             580.0, 1.20, "sto", [("put", 580.0), ("put", 575.0)], "Put Credit Spread",
             "Size: 2 contracts (from the alert's text)"),
        Case("iron condor", "SPY", 560.0, 0.20, f"STO 3x SPY 540/535P 580/585C iron condor {day} @ 1.50", "put",
             535.0, 1.50, "sto", [("put", 535.0), ("put", 540.0), ("call", 580.0), ("call", 585.0)], "Iron Condor",
             "Size: 3 contracts (from the alert's text)"),
        Case("short strangle", "SPY", 560.0, 0.20, f"STO 2x SPY 540/580 strangle {day} @ 4.00", "put", 540.0, 4.00,
             "sto", [("put", 540.0), ("call", 580.0)], "Short Strangle", "Size: 2 contracts (from the alert's text)"),
        Case("shares", "AMD", 161.0, 0.0, "BTO 300 shares AMD @ 160", "none", None, 160.0, "bto", [],
             "Shares (long)", "Size: 300 shares (from the alert's text)"),
    ]


def money(value: float | None) -> str:
    return "unlimited" if value is None else f"${value:,.0f}"


def figures(text: str) -> dict[str, Any]:
    got = re.search(r"Max Profit: (\S+) \| Max Loss: (\S+)", text)
    evens = re.search(r"Breakevens?: ([^\n]+)", text)
    pop = re.search(r"Probability of profit \([^)]*\): (\d+)%", text)
    capital = re.search(r"Capital tied up: (\S+)", text)
    assert got and evens and capital, text
    return dict(max_profit=got.group(1), max_loss=got.group(2), breakevens=evens.group(1),
                capital=capital.group(1), pop=int(pop.group(1)) if pop else None)


def hv_30(closes: dict[date, float], today: date) -> float:
    """The 30-day historical volatility of the closes the loopback serves, written out here."""
    tail = [c for d, c in sorted(closes.items()) if d <= today][-31:]
    returns = [math.log(b / a) for a, b in itertools.pairwise(tail)]
    return statistics.stdev(returns) * math.sqrt(252)


async def judged_card(db: Database, site: FakeXtrades, yahoo: FakeYahoo, case: Case, expiry: date, *,
                      market_up: bool = True) -> tuple[str, datetime]:
    """The alert's JSON as the API serves it (no quantity), through the reader, the detector, the judge (with the
    loopback market) and the card renderer; the card's text and the alert's moment."""
    trader = "sizewriter"
    async with db.session() as s:
        await chats.get_or_create(s, 1, chat_type="private", title=None, min_score=0, rate_limit_per_hour=50)
        await traders.track(s, 1, trader)
    replay = Replay()
    market = YahooMarket(yahoo.base_url, error_ttl=0.0)
    judgement = Judgement(db, market, ConsensusPanel([]))
    cycle = IngestionCycle(db, replay, interval_seconds=150, sinks=[judgement])
    try:
        await cycle.run_once()  # the trader's first read: nothing posted yet
        posted = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
        yahoo.add_symbol(case.symbol, case.spot)
        yahoo.set_price(case.symbol, posted, case.spot)
        for kind, strike in case.chain:
            yahoo.add_option(case.symbol, kind, strike, expiry, bid=1.0, ask=1.1, last=1.05, iv=case.iv)
        if not market_up:
            await yahoo.take_down()
        item = site.add_alert(trader, symbol=case.symbol, side=case.side, direction=case.direction,
                              strike=case.strike, price=case.price, qty=None, message=case.text,
                              expiration=expiry.isoformat() if case.strike else None, time_of_entry=posted)
        assert "quantity" not in item  # the size is in the text only
        raw = alert_from_json(item, trader)
        assert raw is not None
        replay.records.append(raw)
        report = await cycle.run_once()
    finally:
        await market.aclose()
        if not market_up:
            await yahoo.bring_up()
    [new] = [stored for stored in report.stored if stored.event.kind == "new"]
    async with db.reader() as s:
        row = await alerts.by_id(s, new.alert_row_id)
        assert row is not None and row.scored_at is not None
        text = alert_message(card_from_row(row), today=posted.date(), now=posted + timedelta(minutes=2))
    return text, posted


def alternative_figures(text: str) -> tuple[float | None, list[tuple[str, str, float, float]]] | None:
    """The alternative's max loss and its legs (side, kind, strike, price), or None when the card offers none."""
    line = next((x for x in text.splitlines() if x.startswith("💡 Alternative")), None)
    if line is None:
        return None
    loss = re.search(r"max loss (\S+);", line)
    assert loss
    value = None if loss.group(1) == "unlimited" else float(loss.group(1).strip("$").replace(",", ""))
    legs = [(side, kind, float(strike), float(price)) for side, _, strike, kind, price
            in re.findall(r"(buy|sell) (\d+)x ([\d.]+)([CP]) @ ([\d.]+)", line)]
    return value, legs


@pytest.mark.parametrize("name", ["long call", "cash-secured put", "covered call", "put credit spread",
                                  "iron condor", "short strangle", "shares"])
async def test_the_size_written_in_the_text_scales_every_figure(name: str, db: Database, site: FakeXtrades,
                                                                  yahoo: FakeYahoo) -> None:
    expiry = regular_wednesday(datetime.now(UTC).date() + timedelta(days=30))
    case = next(c for c in cases(expiry) if c.name == name)
    text, posted = await judged_card(db, site, yahoo, case, expiry)
    years = (datetime.combine(expiry, time(16, 0), tzinfo=NEW_YORK) - posted).total_seconds() / (365 * 86400)
    hv = hv_30(yahoo.symbols[case.symbol].closes, posted.date()) if name == "shares" else None
    want = expected(case, years, hv)

    assert f"Strategy: {case.structure}" in text
    assert case.size_words in text and "No size given" not in text
    got = figures(text)
    assert (got["max_profit"], got["max_loss"]) == (money(want["max_profit"]), money(want["max_loss"]))
    assert got["breakevens"] == " / ".join(f"${b:,.2f}" for b in want["breakevens"])
    assert got["capital"] == money(want["capital"])
    assert got["pop"] is not None and abs(got["pop"] - want["pop"] * 100) <= 1.0
    assert "posted " in text and "ET · 2 min ago" in text

    alternative = alternative_figures(text)
    if alternative is not None:  # never past the trader's max loss, and priced without arbitrage
        loss, legs = alternative
        if want["max_loss"] is not None:
            assert loss is not None and loss <= want["max_loss"] + 0.5
        for kind, falling in (("P", False), ("C", True)):  # a put costs more the higher its strike, a call less
            same = sorted((strike, price) for _, k, strike, price in legs if k == kind)
            prices = [p for _, p in same]
            assert prices == sorted(prices, reverse=falling), line_of(text)
        credit = re.search(r", (credit|debit) \$", line_of(text))
        assert credit is not None


def line_of(text: str) -> str:
    return next((x for x in text.splitlines() if x.startswith("💡")), "")


@pytest.mark.parametrize("name", ["long call", "iron condor", "shares"])
async def test_with_the_market_down_no_alternative_and_no_probability(name: str, db: Database,
                                                                      site: FakeXtrades, yahoo: FakeYahoo) -> None:
    expiry = regular_wednesday(datetime.now(UTC).date() + timedelta(days=30))
    case = next(c for c in cases(expiry) if c.name == name)
    text, _ = await judged_card(db, site, yahoo, case, expiry, market_up=False)
    assert "Not priced" in text and "💡" not in text and "Probability of profit" not in text
    assert case.size_words in text  # the trader's size still scales what the trader's own prices give


async def test_the_alternative_is_priced_at_the_chains_quotes_when_the_chain_has_every_leg(
        db: Database, site: FakeXtrades, yahoo: FakeYahoo) -> None:
    """A whole chain around the price: the condor's alternative is re-priced at each leg's mid and its figures
    recomputed from those prices, still inside the trader's max loss."""
    from pipeline.judge.options_math import bs_price

    expiry = regular_wednesday(datetime.now(UTC).date() + timedelta(days=30))
    case = next(c for c in cases(expiry) if c.name == "iron condor")
    years = (expiry - datetime.now(UTC).date()).days / 365
    mids: dict[tuple[str, float], float] = {}
    for strike in range(480, 645, 5):
        for kind in ("put", "call"):
            fair = bs_price(case.spot, float(strike), years, case.iv, kind)
            bid, ask = max(0.01, round(fair - 0.05, 2)), round(fair + 0.05, 2) + (0.01 if fair < 0.06 else 0.0)
            mids[(kind[0].upper(), float(strike))] = round((bid + ask) / 2, 4)
            if (kind, float(strike)) not in case.chain:
                yahoo.add_option(case.symbol, kind, float(strike), expiry, bid=bid, ask=ask, last=fair, iv=case.iv)
    text, _ = await judged_card(db, site, yahoo, case, expiry)
    line = line_of(text)
    assert "priced at the chain's quotes" in line, text
    alternative = alternative_figures(text)
    assert alternative is not None
    loss, legs = alternative
    for _, kind, strike, price in legs:
        assert price == pytest.approx(mids[(kind, strike)], abs=0.006)  # each leg at its mid
    credit = sum((1 if side == "sell" else -1) * price for side, _, _, price in legs)
    puts = sorted(s for _, k, s, _ in legs if k == "P")
    calls = sorted(s for _, k, s, _ in legs if k == "C")
    width = max(puts[1] - puts[0], calls[1] - calls[0])
    units = int(re.search(r"×(\d+)", line).group(1))  # type: ignore[union-attr]
    assert loss == pytest.approx((width - credit) * 100 * units, abs=1.0)  # width less the credit, at the mids
    assert loss <= (5 - 1.50) * 300 + 0.5  # never past the trader's max loss
