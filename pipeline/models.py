"""The typed core: the plain data types that flow through the pipeline. What a scrape yields, the legs of a
trade, the trader's own trade as judged, and the scoring record the judge writes and everyone else reads.

They carry no I/O and no Telegram; storage rows are built from them (`pipeline/record.py` turns a `Scoring` into
the JSON its one column holds, and back).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pipeline.ingest.detector import TradeEvent

Action = Literal["BTO", "STC", "STO", "BTC"]
OptionType = Literal["call", "put"]
EventKind = Literal["new", "update", "close"]

OPENING_ACTIONS: frozenset[str] = frozenset({"BTO", "STO"})
# The opening side of each closing action: an exit record is read as the position it closes.
OPENING_OF: dict[str, str] = {"STC": "BTO", "BTC": "STO"}
MULTIPLIER = 100  # shares per option contract


def opening_action(action: str) -> str:
    """BTO/STO as written; STC/BTC as the position they close (BTO/STO). Upper-cased."""
    upper = action.upper()
    return OPENING_OF.get(upper, upper)


class Side(StrEnum):
    """Which side of a contract a leg is on. A StrEnum, so stored JSON keeps the plain words."""

    BUY = "buy"
    SELL = "sell"


class OptionKind(StrEnum):
    """What a leg holds: a call, a put, or the shares themselves."""

    CALL = "call"
    PUT = "put"
    STOCK = "stock"


@dataclass(frozen=True, slots=True)
class OptionContract:
    """One listed contract, as market data is asked for it (symbol, kind, strike, expiry)."""

    symbol: str
    kind: OptionKind  # CALL or PUT
    strike: float
    expiry: date


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg of a position. `quantity` is signed: positive bought, negative sold (contracts for options, shares
    for stock). `price` is per share (the premium, or the share price); 0 while a parsed leg is not yet priced."""

    quantity: int
    kind: OptionKind
    strike: float | None = None  # None for stock
    expiry: date | None = None  # None for stock, and for a parsed leg (the alert's expiry applies)
    price: float = 0.0

    @classmethod
    def of(cls, side: Side | str, kind: OptionKind | str, strike: float | None, expiry: date | None, size: int,
           price: float = 0.0) -> Leg:
        """A leg from a side and an unsigned size (how traders and the strategies say it)."""
        sign = 1 if Side(side) is Side.BUY else -1
        return cls(sign * abs(size), OptionKind(kind), strike, expiry, price)

    @property
    def side(self) -> Side:
        return Side.BUY if self.quantity >= 0 else Side.SELL

    @property
    def sign(self) -> float:
        return 1.0 if self.quantity >= 0 else -1.0

    @property
    def size(self) -> int:
        """How many contracts (or shares), unsigned."""
        return abs(self.quantity)

    @property
    def is_option(self) -> bool:
        return self.kind is not OptionKind.STOCK

    @property
    def units(self) -> int:
        """Shares the leg controls: contracts ×100, or the shares themselves."""
        return self.size * (MULTIPLIER if self.is_option else 1)

    def sized(self, size: int) -> Leg:
        return replace(self, quantity=(1 if self.quantity >= 0 else -1) * abs(size))

    def priced(self, price: float) -> Leg:
        return replace(self, price=price)

    def text(self, *, with_price: bool = True) -> str:
        """"buy 2x 460C @ 7.39", "sell 200 shares"."""
        if self.is_option:
            body = f"{self.side} {self.size}x {self.strike or 0:g}{self.kind[0].upper()}"
        else:
            body = f"{self.side} {self.size} shares"
        return f"{body} @ {self.price:.2f}" if with_price else body

    def to_json(self) -> dict[str, Any]:
        return {"side": self.side.value, "kind": self.kind.value, "strike": self.strike,
                "expiry": self.expiry.isoformat() if self.expiry else None, "quantity": self.size,
                "price": self.price}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Leg:
        """Also reads the older shape, whose side was called "action" (quantity was always unsigned)."""
        expiry = data.get("expiry")
        strike = data.get("strike")
        return cls.of(str(data.get("side") or data.get("action")), str(data["kind"]),
                      float(strike) if isinstance(strike, int | float) else None,
                      date.fromisoformat(expiry) if isinstance(expiry, str) else None,
                      int(data.get("quantity") or 1), float(data.get("price") or 0.0))


@dataclass(frozen=True, slots=True)
class Position:
    """A trade as a set of legs on one underlying: what the payoff of a trade is computed from."""

    symbol: str
    legs: tuple[Leg, ...]

    @property
    def options(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in self.legs if leg.is_option)

    @property
    def stock(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in self.legs if not leg.is_option)


View = Literal["bullish", "bearish", "neutral"]
# Where the trade's size came from: the order Xtrades recorded (its JSON quantity), the alert's text ("3x",
# "3 contracts"), or nowhere (figures for one contract, or one share).
SizeSource = Literal["order", "text", "none"]
# Where the entry price the figures rest on came from: the trader's alert, the market at the alert's minute (the
# quote's mid, or the underlying for shares) when the alert gave none, or nowhere (then no figure is shown).
PriceSource = Literal["trader", "market", "none"]
# How the alternative was sized: to the trader's number of contracts, or down to the trader's max loss.
Sizing = Literal["contracts", "max_loss"]
# What the alternative's legs are priced at: the option chain's quotes (mid), or the own trade's volatility.
PricedFrom = Literal["chain", "iv"]


@dataclass(frozen=True, slots=True)
class Structure:
    """A kind of position as traders name it: the one place a structure's name is written."""

    key: str
    name: str
    view: View


def _structures(*rows: tuple[str, str, View]) -> dict[str, Structure]:
    return {key: Structure(key, name, view) for key, name, view in rows}


# Every structure the bot names: the trader's own trade (`structure_of`) and the ten alternatives
# (`pipeline.judge.strategies.TEN`). A key names one thing, and a thing has one key and one name.
STRUCTURES: dict[str, Structure] = _structures(
    ("LONG_CALL", "Long Call", "bullish"), ("LONG_PUT", "Long Put", "bearish"),
    ("CSP", "Short Put (cash-secured)", "bullish"), ("SHORT_CALL", "Short Call (naked)", "bearish"),
    ("CC", "Covered Call", "bullish"), ("LONG_STOCK", "Shares (long)", "bullish"),
    ("SHORT_STOCK", "Shares (short)", "bearish"), ("CALL_DEBIT", "Call Debit Spread", "bullish"),
    ("CALL_CREDIT", "Call Credit Spread", "bearish"), ("PUT_DEBIT", "Put Debit Spread", "bearish"),
    ("PUT_CREDIT", "Put Credit Spread", "bullish"), ("IC", "Iron Condor", "neutral"),
    ("REVERSE_IC", "Reverse Iron Condor", "neutral"), ("LONG_STRADDLE", "Long Straddle", "neutral"),
    ("LONG_STRANGLE", "Long Strangle", "neutral"), ("SHORT_STRADDLE", "Short Straddle", "neutral"),
    ("SHORT_STRANGLE", "Short Strangle", "neutral"), ("CUSTOM", "Custom", "neutral"),
    # The ten alternatives that have no own-trade twin above.
    ("PMCC", "Poor Man's Covered Call", "bullish"), ("BPS", "Bull Put Spread", "bullish"),
    ("BCS", "Bear Call Spread", "bearish"), ("SS", "Short Strangle", "neutral"),
    ("CAL", "Calendar Spread", "neutral"), ("DIAG", "Diagonal Spread", "bullish"),
    ("STRADDLE", "Long Straddle", "neutral"),
)


def structure_of(legs: Sequence[Leg]) -> Structure:
    """The structure of a set of legs, as a trader would name it."""
    options = [leg for leg in legs if leg.is_option]
    stock = [leg for leg in legs if not leg.is_option]
    if not options:
        return STRUCTURES["LONG_STOCK" if stock and all(leg.side is Side.BUY for leg in stock) else "SHORT_STOCK"]
    if len(options) == 1:
        opt = options[0]
        if stock:
            if opt.kind is OptionKind.CALL and opt.side is Side.SELL and all(s.side is Side.BUY for s in stock):
                return STRUCTURES["CC"]
            return Structure("CUSTOM", "Shares with an option",
                             "bullish" if stock[0].side is Side.BUY else "bearish")
        if opt.side is Side.BUY:
            return STRUCTURES["LONG_CALL" if opt.kind is OptionKind.CALL else "LONG_PUT"]
        return STRUCTURES["CSP" if opt.kind is OptionKind.PUT else "SHORT_CALL"]
    custom = Structure("CUSTOM", f"Custom ({len(legs)} legs)", "neutral")
    if stock:
        return custom
    if len(options) == 2:
        a, b = sorted(options, key=lambda leg: (leg.strike or 0.0, leg.kind))
        if a.kind == b.kind and a.side != b.side and a.expiry == b.expiry:
            low_bought = a.side is Side.BUY
            if a.kind is OptionKind.CALL:
                return STRUCTURES["CALL_DEBIT" if low_bought else "CALL_CREDIT"]
            return STRUCTURES["PUT_CREDIT" if low_bought else "PUT_DEBIT"]
        if a.kind != b.kind and a.side == b.side:
            same = math.isclose(a.strike or 0.0, b.strike or 0.0)
            side = "LONG" if a.side is Side.BUY else "SHORT"
            return STRUCTURES[f"{side}_{'STRADDLE' if same else 'STRANGLE'}"]
    if len(options) == 4:
        puts = sorted((leg for leg in options if leg.kind is OptionKind.PUT), key=lambda leg: leg.strike or 0.0)
        calls = sorted((leg for leg in options if leg.kind is OptionKind.CALL), key=lambda leg: leg.strike or 0.0)
        if len(puts) == 2 and len(calls) == 2 and (puts[1].strike or 0) <= (calls[0].strike or 0):
            sides = (puts[0].side, puts[1].side, calls[0].side, calls[1].side)
            if sides == (Side.BUY, Side.SELL, Side.SELL, Side.BUY):
                return STRUCTURES["IC"]
            if sides == (Side.SELL, Side.BUY, Side.BUY, Side.SELL):
                return STRUCTURES["REVERSE_IC"]
    return custom


@dataclass(frozen=True, slots=True)
class OwnTrade:
    """The trader's own position as judged: every figure the card's top half shows. Money in dollars for the
    whole position. The probability of profit is None when the market gave nothing to compute it from; its
    source says what it was computed from."""

    key: str  # a key of STRUCTURES (or CUSTOM)
    name: str
    view: View
    legs: tuple[Leg, ...]
    net_premium: float  # positive = debit paid, negative = credit received (shares count as paid)
    max_profit: float | None  # None = unlimited
    max_loss: float | None  # positive; None = unlimited
    breakevens: tuple[float, ...]  # underlying prices at expiry, ascending
    capital: float | None  # tied up; None when a margin estimate would need an underlying price not known
    probability_of_profit: float | None  # 0-1
    pop_source: str | None = None  # where its volatility came from, and its horizon: "option prices, to expiry"
    size: int = 1  # contracts (or shares) every figure above is for
    size_source: SizeSource = "none"
    price_source: PriceSource = "trader"

    @property
    def figures_known(self) -> bool:
        """Whether max profit, max loss, breakevens, capital and the probability rest on a real entry price."""
        return self.price_source != "none"

    def prompt_facts(self) -> dict[str, Any]:
        return {
            "structure": self.name, "view": self.view,
            "legs": [leg.text() for leg in self.legs],
            "net": ("debit " if self.net_premium >= 0 else "credit ") + f"${abs(self.net_premium):,.2f}",
            "max_profit": "unlimited" if self.max_profit is None else round(self.max_profit, 2),
            "max_loss": "unlimited" if self.max_loss is None else round(self.max_loss, 2),
            "breakevens": [round(b, 2) for b in self.breakevens],
            "probability_of_profit": None if self.probability_of_profit is None
            else round(self.probability_of_profit, 3),
            "capital": None if self.capital is None else round(self.capital, 2),
            "size": self.size,
            "sold_strikes": {kind: sorted({leg.strike for leg in self.legs if leg.kind is OptionKind(kind)
                                           and leg.side is Side.SELL and leg.strike is not None})
                             for kind in ("put", "call")},
        }


@dataclass(frozen=True, slots=True)
class Alternative:
    """The one strategy the card offers beside the own trade: same view and volatility exposure, sized to the
    trader's contracts (or down to the trader's max loss), priced at the own trade's volatility."""

    name: str
    key: str  # one of the ten
    legs: tuple[Leg, ...]
    units: int  # how many of the strategy's unit: the trader's contracts, or as many as the max loss allows
    net_premium: float  # positive = debit, negative = credit
    max_profit: float | None
    max_loss: float | None
    capital: float
    probability_of_profit: float
    score: int
    sizing: Sizing = "contracts"
    priced_from: PricedFrom = "iv"


@dataclass(frozen=True, slots=True)
class RankedStrategy:
    """One of the ten standard strategies as Analyze lists it."""

    name: str
    key: str
    score: int
    max_profit: float | None
    max_loss: float | None
    breakevens: tuple[float, ...]
    capital: float
    probability_of_profit: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScorePart:
    """One input of the blend: its value 0-100, the weight it got after redistribution, how sure it was."""

    name: str  # pop | ai | fit | trader | similar
    value: float
    weight: float
    confidence: float

    @property
    def contribution(self) -> float:
        """Points this part adds to the blend: value × weight (the weights sum to 1)."""
        return self.value * self.weight


@dataclass(frozen=True, slots=True)
class ContractQuote:
    """One of the trader's contracts as the option chain quoted it when the alert was judged."""

    kind: OptionKind
    strike: float
    expiry: date
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    iv: float | None = None  # annualised fraction, the chain's own
    volume: int | None = None
    open_interest: int | None = None


@dataclass(frozen=True, slots=True)
class Follower:
    """Following the trade at the market when it was judged: buying at the ask, selling at the bid."""

    side: Literal["ask", "bid", "net"]  # one contract bought (ask) or sold (bid), or a combination's net
    price: float  # per share; a combination's net, debit positive
    breakevens: tuple[float, ...] = ()
    probability_of_profit: float | None = None


@dataclass(frozen=True, slots=True)
class MarketInputs:
    """The market facts the judgement used, and where they came from."""

    underlying_price: float | None = None
    trend: str = "neutral"
    volatility_regime: str = "normal"
    iv: float | None = None  # annualised fraction
    iv_rank: float | None = None  # 0-100
    iv_hv: float | None = None
    hv_30: float | None = None
    next_earnings: date | None = None
    sources: tuple[str, ...] = ()  # the providers the snapshot was read from
    notes: tuple[str, ...] = ()  # what was missing or assumed
    # From the market-data source (pipeline.market), for the card's market lines:
    data_source: str | None = None  # the source's name ("Yahoo Finance")
    quotes: tuple[ContractQuote, ...] = ()  # the trader's contracts in the chain
    not_priced: str | None = None  # why no probability was given ("no market data for TSLA"); None when priced
    trading_dte: int | None = None  # NYSE sessions from the alert's New York date to expiry
    follower: Follower | None = None


@dataclass(frozen=True, slots=True)
class ChanceBasis:
    """What the card's "Chance of profit" rests on (issue 24): the calibrated model, or the better baseline
    named when the model does not yet beat it; the two baselines' own numbers; each feature's push."""

    basis: Literal["model", "market", "trader"] | None = None  # None: no chance yet (under 200 closed trades)
    trades: int = 0  # closed trades the calibrator was fitted on
    market: float | None = None  # option prices' probability of profit, 0-1
    trader: float | None = None  # the trader's shrunk record on the follower's outcomes, 0-1
    trader_closed: int = 0
    pushes: tuple[tuple[str, float], ...] = ()  # feature -> probability it added (model basis only)
    start: float | None = None  # the model at every feature's average, where the pushes start


@dataclass(frozen=True, slots=True)
class Scoring:
    """Everything the judge decided about one alert: written once by the judge, read by the card, Analyze,
    Similar, memory and the backtest. Stored as one JSON document (`pipeline/record.py`)."""

    scorer_version: str
    blend: float  # 0-100: the weighted parts, before the flags' penalties
    score: float  # 0-100: the blend less the penalties, clamped (what a chat's threshold meets uncalibrated)
    parts: tuple[ScorePart, ...] = ()
    penalties: tuple[tuple[str, float], ...] = ()  # (flag key, points subtracted)
    flags: tuple[str, ...] = ()  # the sanity flags as sentences
    calibrated: float | None = None  # 0-1: the calibrated chance of profit; None while uncalibrated
    own: OwnTrade | None = None
    own_fit: float | None = None  # 0-100: the own trade's market fit (no POP)
    fit_parts: tuple[tuple[str, float], ...] = ()
    notes: tuple[str, ...] = ()  # assumptions made in building the own trade
    alternative: Alternative | None = None
    no_alternative: str | None = None  # why no alternative could be priced ("no market IV"); None otherwise
    ranking: tuple[RankedStrategy, ...] = ()  # the ten, best first
    market: MarketInputs = field(default_factory=MarketInputs)
    ai_probability_of_profit: float | None = None  # the models' own estimate, kept beside the score
    ai_confidence: float | None = None
    chance: ChanceBasis = field(default_factory=ChanceBasis)

    def part(self, name: str) -> ScorePart | None:
        return next((p for p in self.parts if p.name == name), None)


@dataclass(frozen=True, slots=True)
class RawAlert:
    """One alert record as a trader's profile shows it (from the app's JSON, or a rendered post).

    Xtrades reuses `alert_id` for an entry and its exit, so (trader, alert_id, action) identifies a record.
    An exit record (STC/BTC) may also carry the entry's price in `entry_price`.
    """

    alert_id: str
    trader: str
    action: Action
    symbol: str
    option_type: OptionType | None = None
    strike: float | None = None
    expiry: date | None = None
    price: float | None = None  # the price of this record's action (entry price, or exit price for STC/BTC)
    entry_price: float | None = None  # for exit records: what the position was opened at, when known
    quantity: int | None = None
    status: str | None = None  # Xtrades' "open" / "closed"
    is_partial: bool = False  # a trim / partial exit that leaves the position open
    last_price: float | None = None
    underlying_price: float | None = None
    posted_at: datetime | None = None
    # For an exit record: when its entry was posted (`timeOfEntryAlert`), so a trade read only from its exit keeps
    # its opening time.
    opened_at: datetime | None = None
    risk: str | None = None  # "standard" | "high" | "lotto"
    text: str = ""
    source: Literal["json", "dom"] = "json"
    # Every leg of a multi-leg alert, read from its text (one contract each, unpriced, no expiry: the position has
    # `quantity` of each and the alert's `expiry`); empty for a single contract or shares.
    legs: tuple[Leg, ...] = field(default=(), compare=False, hash=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_entry(self) -> bool:
        return self.action in OPENING_ACTIONS

    @property
    def is_option(self) -> bool:
        return self.option_type is not None


@dataclass(frozen=True, slots=True)
class ScrapeResult:
    """What one profile scrape produced. `status` says whether `alerts` can be trusted."""

    trader: str
    status: Literal["ok", "session_expired", "not_found", "failed"]
    alerts: tuple[RawAlert, ...] = ()
    source: Literal["json", "dom", "none"] = "none"
    duration_seconds: float = 0.0
    error: str | None = None
    pages_fetched: int = 0
    started_at: float | None = None  # time.monotonic() when the scrape was asked for (queueing included)
    finished_at: float | None = None  # and when its result was ready
    unreadable: int = 0  # records of the answer that could not be read as alerts (counted, never stored)


@dataclass(frozen=True, slots=True)
class SimilarSummary:
    """What the memory stage says about the nearest closed trades (the memory issue fills it in)."""

    count: int = 0
    success_rate: float | None = None
    avg_pnl_pct: float | None = None
    mean_similarity: float | None = None
    point_id: str | None = None
    lines: tuple[str, ...] = ()
    used: tuple[tuple[int, bool | None], ...] = ()  # (trade id, won) of each neighbour counted, kept with the score

    def prompt_facts(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, (), 0) and k not in ("point_id", "used")}


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event and the id of the `xtrades_alerts` row that records it."""

    alert_row_id: int
    trade_id: int
    event: TradeEvent
