"""The market's inputs to one alert, gathered once: the underlying at the alert's minute, each contract's quote,
the volatility the probability of profit is priced at (and where it came from), the time left to expiry in
exchange time; and what a follower would pay now. Nothing here stands in for a missing input: what the market
could not give stays None, and `missing` says why.

The volatility of a position is the quantity-weighted mean of its legs' implied volatilities, each from its own
line in the option chain ("option prices, to expiry"); when the chain lacks a leg, the one volatility at which
Black-Scholes gives the trader's own price (a spread's net) against the underlying at the alert's minute
("the trader's price, to expiry"). Shares are priced at their 30-day historical volatility over 30 days.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pipeline.judge.market import historical_volatility
from pipeline.judge.options_math import DAYS_PER_YEAR, bs_price, implied_volatility
from pipeline.judge.strategies import DEFAULT_DTE
from pipeline.market.calendar import TradingCalendar, trading_days_to_expiry, years_to_expiry
from pipeline.market.models import MarketData, PriceHistory, Quote
from pipeline.models import ContractQuote, Follower, Leg, OptionContract, Side

log = logging.getLogger(__name__)

FROM_CHAIN = "option prices, to expiry"
FROM_TRADER = "the trader's price, to expiry"
FROM_HISTORY = f"30-day price history, over {DEFAULT_DTE} days"
FRESH_QUOTE = timedelta(minutes=15)  # a quote this close to the alert stands for the market at the alert
VOL_RANGE = (0.005, 5.0)


@dataclass(frozen=True, slots=True)
class AlertMarket:
    """What the market said about one alert (every field None when it could not say)."""

    symbol: str
    source: str  # the market-data source's name
    moment: datetime  # the alert's moment
    underlying: float | None  # at the alert's minute
    history: PriceHistory | None
    quotes: tuple[Quote, ...]  # the trade's contracts as the chain quotes them now
    vol: float | None  # what the probability of profit is priced at
    vol_source: str | None  # FROM_CHAIN | FROM_TRADER | FROM_HISTORY
    years: float | None  # to the expiry's close (options); the horizon for shares
    trading_dte: int | None  # sessions to expiry, America/New_York
    quotes_fresh: bool = False  # judged soon enough after the alert for the quote to be the alert's market

    @property
    def priced(self) -> bool:
        return self.underlying is not None and self.vol is not None and self.years is not None

    @property
    def missing(self) -> str | None:
        """Why the alert is not priced, for the card ("no market data for TSLA")."""
        if self.priced:
            return None
        if self.underlying is None:
            return f"no market data for {self.symbol}"
        return f"no option quote or implied volatility for {self.symbol}"

    def quote_for(self, leg: Leg) -> Quote | None:
        return next((q for q in self.quotes if q.contract.kind is leg.kind and leg.strike is not None
                     and abs(q.contract.strike - leg.strike) < 1e-6 and q.contract.expiry == leg.expiry), None)


def contracts_of(symbol: str, legs: Sequence[Leg]) -> list[OptionContract]:
    return [OptionContract(symbol, leg.kind, float(leg.strike), leg.expiry) for leg in legs
            if leg.is_option and leg.strike is not None and leg.expiry is not None]


def seen(quote: Quote) -> ContractQuote:
    """A provider's quote as the scoring record keeps it."""
    c = quote.contract
    return ContractQuote(c.kind, c.strike, c.expiry, quote.bid, quote.ask, quote.last, quote.iv, quote.volume,
                         quote.open_interest)


async def gather(market: MarketData, *, symbol: str, legs: Sequence[Leg], moment: datetime, now: datetime,
                 trader_price: float | None, source: str = "") -> AlertMarket:
    """Ask the market about one alert. `legs`: the trade's contracts with the trader's sides and sizes (prices
    unused); `trader_price`: the alert's price (a spread's net), to solve a volatility from when the chain
    cannot give one. Never raises: a source that fails gives an AlertMarket that says so. The three questions
    go out together (each is cached and single-flight in the provider)."""
    options = [leg for leg in legs if leg.is_option]

    async def no_quotes() -> dict[OptionContract, Quote]:
        return {}

    calendar: TradingCalendar | None
    try:
        calendar = await market.calendar()
        underlying, history, quotes = await asyncio.gather(
            market.price_at(symbol, moment), market.history(symbol),
            market.quotes(contracts_of(symbol, options)) if options else no_quotes())
    except Exception:  # a provider is not to raise; if one does, the alert is judged without it
        log.exception("market data for %s failed", symbol)
        calendar, underlying, history, quotes = None, None, None, {}
    if underlying is None:
        quotes = {}  # a quote without the underlying prices nothing
    expiry = options[0].expiry if options else None
    years = dte = None
    if calendar is not None and expiry is not None:
        years = years_to_expiry(calendar, moment, expiry)
        dte = trading_days_to_expiry(calendar, moment, expiry)
    inputs = AlertMarket(symbol, source, moment, underlying, history, tuple(quotes.values()), None, None, years, dte,
                         quotes_fresh=now - moment <= FRESH_QUOTE)
    vol, label = volatility(inputs, legs, trader_price)
    if not options:
        years = DEFAULT_DTE / DAYS_PER_YEAR
    return AlertMarket(symbol, source, moment, underlying, history, inputs.quotes, vol, label, years, dte,
                       inputs.quotes_fresh)


def volatility(inputs: AlertMarket, legs: Sequence[Leg], trader_price: float | None
               ) -> tuple[float | None, str | None]:
    """The position's volatility and its label (module docstring), or (None, None)."""
    options = [leg for leg in legs if leg.is_option]
    if not options:
        hv = _hv(inputs.history)
        return (hv, FROM_HISTORY) if hv is not None and inputs.underlying is not None else (None, None)
    if inputs.underlying is None or not inputs.years or inputs.years <= 0:
        return None, None
    ivs = [(q.iv, leg.size) for leg in options if (q := inputs.quote_for(leg)) is not None and q.iv]
    if len(ivs) == len(options):
        weight = sum(n for _, n in ivs)
        return sum(float(v or 0.0) * n for v, n in ivs) / weight, FROM_CHAIN
    solved = solve_vol(options, trader_price, inputs.underlying, inputs.years)
    return (solved, FROM_TRADER) if solved is not None else (None, None)


def solve_vol(legs: Sequence[Leg], price: float | None, spot: float, years: float) -> float | None:
    """The one volatility at which Black-Scholes prices the legs at the trader's price (a spread's net size)."""
    if not price or price <= 0 or years <= 0:
        return None
    if len(legs) == 1:
        leg = legs[0]
        vol = implied_volatility(price, spot, leg.strike or 0.0, years * DAYS_PER_YEAR, leg.kind.value)
        return float(vol) if vol is not None else None

    def net(vol: float) -> float:  # per share, positive = debit
        return abs(sum(leg.quantity * bs_price(spot, leg.strike or 0.0, years, vol, leg.kind.value)
                       for leg in legs) / max(1, min(leg.size for leg in legs)))

    # A spread's net need not rise with volatility all the way (a debit spread's peaks, then falls): the lowest
    # volatility that gives the net is taken, found by a scan and then bisection inside the first bracket.
    low_end, high_end = VOL_RANGE
    grid = [low_end * (high_end / low_end) ** (n / 60) for n in range(61)]
    for low, high in itertools.pairwise(grid):
        f_low, f_high = net(low) - price, net(high) - price
        if f_low == 0:
            return float(low)
        if f_low * f_high < 0:
            break
    else:
        return None
    for _ in range(80):
        mid = (low + high) / 2
        f_mid = net(mid) - price
        if (f_mid > 0) == (f_high > 0):
            high, f_high = mid, f_mid
        else:
            low = mid
        if high - low < 1e-9:
            break
    return float((low + high) / 2)


def _hv(history: PriceHistory | None) -> float | None:
    return historical_volatility(history.closes) if history is not None else None


def market_price_at_alert(inputs: AlertMarket, legs: Sequence[Leg]) -> float | None:
    """A single contract's market price (the quote's mid) when the quote is the alert's market, else None."""
    options = [leg for leg in legs if leg.is_option]
    if len(options) != 1 or not inputs.quotes_fresh:
        return None
    quote = inputs.quote_for(options[0])
    return quote.mid if quote is not None else None


def follow_now(legs: Sequence[Leg], inputs: AlertMarket) -> tuple[Follower | None, tuple[Leg, ...]]:
    """The legs re-priced at the market now (ask to buy, bid to sell); None when a leg has no such side quoted.
    The caller evaluates the legs; this says at what price."""
    options = [leg for leg in legs if leg.is_option]
    if not options or not inputs.priced:
        return None, ()
    priced: list[Leg] = []
    for leg in legs:
        if not leg.is_option:
            priced.append(leg.priced(inputs.underlying or leg.price))
            continue
        quote = inputs.quote_for(leg)
        fill = (quote.ask if leg.side is Side.BUY else quote.bid) if quote is not None else None
        if fill is None:
            return None, ()
        priced.append(leg.priced(fill))
    if len(options) == 1 and len(priced) == 1:
        side: Literal["ask", "bid", "net"] = "ask" if options[0].side is Side.BUY else "bid"
        return Follower(side, priced[0].price), tuple(priced)
    unit = max(1, min(leg.size for leg in options))
    net = sum(leg.quantity * leg.price for leg in priced if leg.is_option) / unit
    return Follower("net", round(net, 4)), tuple(priced)
