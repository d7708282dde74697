"""The card describes the trader's OWN trade: name, max profit and loss, breakevens and probability recomputed here
independently (hand formulas, our own lognormal), at quantity > 1, for every structure issue 11 lists; and no
alternative ever contradicts the trader's view or takes the other side of the trader's own contract."""

from __future__ import annotations

import math
import random
import re
from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from handlers.render import alert_message, analysis_message, own_trade_lines
from handlers.views import AlertCard, card_from_row
from pipeline.judge.flags import FlagFacts, sanity_flags
from pipeline.judge.own_trade import alternative_view, judge_own_trade, takes_other_side
from pipeline.judge.stage import says_spread
from pipeline.judge.strategies import StrategyInput, evaluate_strategies
from pipeline.memory.store import own_strategy
from pipeline.models import ChanceBasis, Leg, OwnTrade, ScorePart, Scoring
from pipeline.record import LEGACY_ALTERNATIVE, LEGACY_OWN, scoring_to_json

TODAY = date(2026, 11, 23)
EXPIRY = TODAY + timedelta(days=30)
YEARS = 30 / 365.0
RATE = 0.04  # the risk-free rate of the model


def p_above(spot: float, level: float, vol: float) -> float:
    """Risk-neutral lognormal P(S_T > level), written out again here rather than imported."""
    d2 = (math.log(spot / level) + (RATE - vol * vol / 2) * YEARS) / (vol * math.sqrt(YEARS))
    return 0.5 * (1 + math.erf(d2 / math.sqrt(2)))


def row_for(trade: SimpleNamespace, *, scoring: Scoring | None = None, score: float = 70.0,
            profit_probability: float | None = None, **old: object) -> SimpleNamespace:
    """An `xtrades_alerts` row as the card reads it: the scoring record (or an old row's dicts in `old`)."""
    values: dict[str, object] = dict(
        id=1, trade=trade, scoring=scoring_to_json(scoring) if scoring else None, score=score, reasoning=[],
        key_risk=None, recommendation=None, similar_trades_count=0, similar_trades_success_rate=None,
        consensus_agreement=None, claude_score=None, deepseek_score=None, gemini_score=None, local_score=None,
        profit_probability=profit_probability, score_parts=None, strategy_ranking=None, market_context=None,
        scorer_version="blend-2+uncalibrated")
    values.update(old)
    return SimpleNamespace(**values)


def card_for(inp: StrategyInput, *, legs: tuple[Leg, ...] = (), quantity: int | None = None,
             action: str | None = None, covered: bool = False) -> tuple[str, OwnTrade]:
    """Judge the alert as the stage does, store its scoring record as the stage does, render the card from it."""
    ranking = evaluate_strategies(inp)
    own = judge_own_trade(inp, ranking, legs=legs, quantity=quantity, covered=covered)
    scoring = Scoring(scorer_version="test", blend=70.0, score=70.0, own=own.trade, own_fit=own.fit,
                      alternative=own.alternative)
    trade = SimpleNamespace(trader=SimpleNamespace(username="behappy"), symbol=inp.symbol,
                            open_action=action or inp.action, option_type=inp.option_type, strike=inp.strike,
                            expiry=inp.expiry, entry_price=inp.price, quantity=quantity)
    return alert_message(card_from_row(row_for(trade, scoring=scoring)), today=TODAY, threshold=80), own.trade


def figures(text: str) -> dict[str, str]:
    out = {}
    out["strategy"] = re.search(r"Strategy: (.+?)(?: · (?:bullish|bearish|neutral))?\n", text).group(1)
    out["max"] = re.search(r"Max Profit: (\S+) \| Max Loss: (\S+)", text).groups()
    out["breakevens"] = re.search(r"Breakevens?: ([^\n]+)", text).group(1)
    out["pop"] = re.search(r"Probability of profit \([^)]*\): (\d+)%", text).group(1)
    return out


def dollars(value: float | None) -> str:
    return "unlimited" if value is None else f"${value:,.0f}"


def check(text: str, name: str, max_profit: float | None, max_loss: float | None, breakevens: list[float],
          pop: float) -> None:
    got = figures(text)
    assert got["strategy"] == name
    assert got["max"] == (dollars(max_profit), dollars(max_loss))
    assert got["breakevens"] == " / ".join(f"${b:,.2f}" for b in breakevens)
    assert abs(int(got["pop"]) - pop * 100) <= 0.5 + 1e-9


def base(**kw: object) -> StrategyInput:
    values: dict = dict(symbol="NVDA", spot=450.0, strike=460.0, option_type="call", action="BTO", price=7.39,
                        expiry=EXPIRY, today=TODAY, iv=0.40, iv_rank=40, trend="bullish")
    values.update(kw)
    return StrategyInput(**values)


def test_long_call_two_contracts() -> None:
    text, _ = card_for(base(contracts=2), quantity=2)
    check(text, "Long Call", None, 7.39 * 100 * 2, [467.39], p_above(450, 467.39, 0.40))
    assert "HIGH-QUALITY" not in text  # 70 is under this chat's 80


def test_long_put_three_contracts() -> None:
    inp = base(symbol="QQQ", spot=500.0, strike=485.0, option_type="put", price=4.20, trend="bearish", contracts=3)
    text, _ = card_for(inp, quantity=3)
    check(text, "Long Put", (485 - 4.20) * 300, 4.20 * 300, [480.80], 1 - p_above(500, 480.80, 0.40))


def test_cash_secured_put_five_contracts() -> None:
    """STO 5x TSLA 70P @ 1.50: max profit $750, max loss $34,250, breakeven $68.50 (the issue's example)."""
    inp = base(symbol="TSLA", spot=75.0, strike=70.0, option_type="put", action="STO", price=1.50, contracts=5)
    text, own = card_for(inp, quantity=5)
    check(text, "Short Put (cash-secured)", 750, 34_250, [68.50], p_above(75, 68.50, 0.40))
    assert "Capital tied up: $35,000" in text and own.view == "bullish"


def test_covered_call_two_contracts() -> None:
    inp = base(symbol="AAPL", spot=180.0, strike=190.0, option_type="call", action="STO", price=2.00, contracts=2)
    text, _ = card_for(inp, quantity=2, covered=True)
    # 200 shares at 180, two 190 calls sold at 2.00: capped at (190 − 180 + 2) × 200, loses (180 − 2) × 200
    check(text, "Covered Call", 12 * 200, 178 * 200, [178.00], p_above(180, 178, 0.40))


def test_vertical_call_debit_spread_four_contracts() -> None:
    """BTO 4 MSFT 340/350 call debit spread @ 3.00: max profit (10 − 3) × 400, max loss 3 × 400, BE 343."""
    legs = (Leg.of("buy", "call", 340.0, EXPIRY, 4), Leg.of("sell", "call", 350.0, EXPIRY, 4))
    inp = base(symbol="MSFT", spot=345.0, strike=340.0, price=3.00, contracts=4, iv=0.30)
    text, own = card_for(inp, legs=legs, quantity=4)
    check(text, "Call Debit Spread", 7 * 400, 3 * 400, [343.00], p_above(345, 343, 0.30))
    assert "buy 4x 340C / sell 4x 350C @ $3.00 net" in text  # read as two legs, not a single 340C
    assert own.net_premium == pytest.approx(1200.0)


def test_put_credit_spread_two_contracts() -> None:
    legs = (Leg.of("buy", "put", 575.0, EXPIRY, 2), Leg.of("sell", "put", 580.0, EXPIRY, 2))
    inp = base(symbol="SPY", spot=590.0, strike=580.0, option_type="put", action="STO", price=1.20, contracts=2,
               iv=0.20)
    text, _ = card_for(inp, legs=legs, quantity=2)
    check(text, "Put Credit Spread", 1.20 * 200, 3.80 * 200, [578.80], p_above(590, 578.80, 0.20))


def test_iron_condor_three_contracts() -> None:
    legs = (Leg.of("buy", "put", 560.0, EXPIRY, 3), Leg.of("sell", "put", 570.0, EXPIRY, 3),
            Leg.of("sell", "call", 600.0, EXPIRY, 3), Leg.of("buy", "call", 610.0, EXPIRY, 3))
    inp = base(symbol="SPY", spot=585.0, strike=560.0, option_type="put", action="STO", price=2.10, contracts=3,
               iv=0.20, trend="neutral")
    text, own = card_for(inp, legs=legs, quantity=3)
    low, high = 570 - 2.10, 600 + 2.10
    check(text, "Iron Condor", 2.10 * 300, (10 - 2.10) * 300, [low, high],
          p_above(585, low, 0.20) - p_above(585, high, 0.20))
    assert own.view == "neutral"


def test_shares_three_hundred() -> None:
    """BTO 300 AMD shares @ 160: no strategy label of another kind, loss to zero, breakeven the entry."""
    inp = base(symbol="AMD", spot=160.0, strike=None, option_type=None, price=160.0)
    text, _ = card_for(inp, quantity=300)
    check(text, "Shares (long)", None, 160 * 300, [160.00], p_above(160, 160, 0.40))
    assert "Bear Call" not in text


def test_long_call_card_names_no_other_strategy_in_its_figures() -> None:
    text, _ = card_for(base(contracts=2), quantity=2)
    top = text.split("Action:")[0]
    for other in ("Straddle", "Bull Put", "Bear Call", "Iron Condor", "Win Rate"):
        assert other not in top


@pytest.mark.parametrize(("action", "option_type", "name"), [
    ("BTO", "call", "Long Call"), ("BTO", "put", "Long Put"), ("STO", "put", "Short Put (cash-secured)"),
    ("STO", "call", "Short Call (naked)"), ("BTO", None, "Shares (long)"), ("STO", None, "Shares (short)"),
    ("STC", "call", "Long Call"), ("BTC", "put", "Short Put (cash-secured)"),
])
def test_a_structure_has_one_name_on_the_card_and_in_memory(action: str, option_type: str | None,
                                                            name: str) -> None:
    """The card's name of the trader's trade and memory's name of a trade seen only as history are one name
    (a short call was once "Short Call" in one place, "Short Call (naked)" in another and "covered call" in
    memory). A closing action is read as the position it closes."""
    inp = base(symbol="AAPL", spot=180.0, strike=185.0 if option_type else None, option_type=option_type,
               action=action, price=3.0 if option_type else 180.0)
    own = judge_own_trade(inp, evaluate_strategies(inp), quantity=1 if option_type else 100)
    assert own.trade.name == name == own_strategy(action, option_type)
    assert own.trade.probability_of_profit is not None and own.trade.pop_source == "implied volatility"


# --- alternatives -----------------------------------------------------------------------------------------

def random_alert(rng: random.Random) -> tuple[StrategyInput, tuple[Leg, ...]]:
    spot = rng.choice([12.0, 48.0, 95.0, 180.0, 450.0, 5900.0])
    kind = rng.choice(["call", "put", None])
    action = rng.choice(["BTO", "STO"]) if kind else "BTO"
    strike = round(spot * rng.uniform(0.85, 1.15), 0) if kind else None
    dte = rng.choice([0, 1, 2, 3, 7, 30, 60])
    inp = StrategyInput(symbol="X", spot=spot, strike=strike, option_type=kind, action=action,
                        price=round(spot * rng.uniform(0.005, 0.05), 2), expiry=TODAY + timedelta(days=dte),
                        today=TODAY, iv=rng.uniform(0.15, 0.9), iv_rank=rng.uniform(0, 100),
                        trend=rng.choice(["strong_bullish", "bullish", "neutral", "bearish", "strong_bearish"]),
                        contracts=rng.choice([1, 2, 5]))
    return inp, ()


def test_no_alternative_contradicts_the_view_or_takes_the_other_side_of_the_own_contract() -> None:
    rng = random.Random(11)
    offered = 0
    for _ in range(600):
        inp, legs = random_alert(rng)
        ranking = evaluate_strategies(inp)
        own = judge_own_trade(inp, ranking, legs=legs, quantity=inp.contracts if inp.option_type else 100)
        alt = own.alternative
        if alt is None:
            continue
        offered += 1
        evaluation = next(e for e in ranking.evaluations if e.short_name == alt.key)
        assert alternative_view(evaluation) == own.trade.view
        assert not takes_other_side(alt.legs, own.trade)
        for leg in alt.legs:  # the trader's own contract is never on the other side
            for mine in own.trade.legs:
                if leg.kind != "stock" and (leg.kind, leg.strike, leg.expiry) == (mine.kind, mine.strike,
                                                                                  mine.expiry):
                    assert leg.side == mine.side
        if alt.key in {"CAL", "DIAG", "PMCC"}:
            assert min(leg.expiry for leg in alt.legs if leg.expiry) > TODAY + timedelta(days=2)
        assert alt.capital <= max(own.trade.capital, evaluation.capital_required / max(1, inp.contracts)) + 0.01
    assert offered > 50  # the rules leave room for alternatives


def test_a_long_put_is_never_offered_a_bull_put_spread() -> None:
    """BTO QQQ 485P: the card once called it a Bull Put Spread, which sells the very put the trader buys."""
    inp = base(symbol="QQQ", spot=500.0, strike=485.0, option_type="put", price=4.20, trend="bullish")
    text, _ = card_for(inp, quantity=1)
    assert "Bull Put" not in text and "Cash-Secured" not in text
    alternative = [line for line in text.splitlines() if line.startswith("💡")]
    assert len(alternative) <= 1


# --- sanity flags --------------------------------------------------------------------------------------------

def test_sanity_flags_chasing_lotto_size_and_a_spread_read_as_one_leg() -> None:
    plain = FlagFacts("BTO", "call", 30, "standard", 2.00, 2.00, 2)
    assert sanity_flags(plain) == ()
    assert sanity_flags(FlagFacts("BTO", "call", 30, None, 2.20, 2.00, 2)) == ("chasing",)  # 10% over
    assert sanity_flags(FlagFacts("BTO", "call", 30, None, 2.19, 2.00, 2)) == ()
    assert sanity_flags(FlagFacts("STO", "put", 30, None, 2.50, 2.00, 2)) == ()  # selling higher is no chase
    assert sanity_flags(FlagFacts("BTO", "put", 1, None, 1.0, 1.0, 1)) == ("lotto",)  # 0-1 DTE
    assert sanity_flags(FlagFacts("BTO", "put", 20, "lotto", 1.0, 1.0, 1)) == ("lotto",)  # Xtrades says so
    assert sanity_flags(FlagFacts("BTO", "call", 30, None, 1.0, 1.0, 5000)) == ("absurd_quantity",)
    assert sanity_flags(FlagFacts("BTO", None, None, None, 150.0, None, 100_000)) == ("absurd_quantity",)
    assert sanity_flags(FlagFacts("BTO", "put", 30, None, 1.0, 1.0, 1, spread_text_one_leg=True)) == (
        "one_leg_spread",)
    assert says_spread("STO SPY 580/575 PCS 12/19") and says_spread("BTO AAPL iron condor")
    assert not says_spread("BTO AAPL 170P 12/19 @ 2.50") and not says_spread(None)


PUSHES = (("option prices' probability of profit", 0.12), ("days to expiry", 0.0), ("flag: chasing", -0.04),
          ("this trader's record against option prices", 0.09))


def analysis_card(*, calibrated: float | None) -> AlertCard:
    """A scored alert whose blend is pop 40×0.55 + ai 50×0.45 = 44.5, less 8 for chasing = 36.5; calibrated, the
    model starts at 45% for the average trade and the pushes take it to 62%."""
    chance = ChanceBasis("model", 1240, 0.41, 0.71, 88, PUSHES, 0.45) if calibrated is not None else \
        ChanceBasis(None, 0, 0.41, 0.71, 88)
    scoring = Scoring(scorer_version="blend-3+uncalibrated", blend=44.5, score=36.5,
                      parts=(ScorePart("pop", 40.0, 0.55, 1.0), ScorePart("ai", 50.0, 0.45, 1.0)),
                      penalties=(("chasing", 8.0),), calibrated=calibrated, chance=chance)
    shown = calibrated * 100 if calibrated is not None else scoring.score
    return AlertCard(alert_id=1, trader="t", symbol="MSFT", action="BTO", option_type="call", strike=340.0,
                     expiry=EXPIRY, entry_price=4.0, quantity=2, score=shown, scoring=scoring,
                     profit_probability=calibrated)


def test_the_analysis_arithmetic_adds_up_to_what_it_shows() -> None:
    """Uncalibrated: no chance, and the blend the alerts are ranked by is shown as the sum it is (each part's
    value × weight, less the flags). Calibrated: each feature's push from the average trade, adding up to the
    chance on the card."""
    text = re.sub(r"</?b>", "", analysis_message(analysis_card(calibrated=None)))
    assert "Chance of profit: not given yet — it is calibrated once 200 trades have closed" in text
    blend_line = next(line for line in text.splitlines() if "ranked by the blend = " in line)
    terms = re.findall(r"(\w+) (\d+)×(\d\.\d+) \((\d+\.\d)\)", blend_line)
    assert [t[0] for t in terms] == ["pop", "ai"]
    for _, value, weight, points in terms:
        assert float(value) * float(weight) == pytest.approx(float(points), abs=0.05)
    blend = float(blend_line.rsplit("= ", 1)[1])
    assert sum(float(t[3]) for t in terms) == pytest.approx(blend, abs=0.1)
    after_flags = float(re.search(r"Flags: [\d.]+ − chasing 8 = ([\d.]+)", text).group(1))
    assert after_flags == pytest.approx(blend - 8)
    assert "ranked meanwhile by the uncalibrated blend, 36/100" in text

    text = re.sub(r"</?b>", "", analysis_message(analysis_card(calibrated=0.62)))
    lines = text.splitlines()
    assert lines[1] == "Chance of profit 62%"
    assert lines[2] == "calibrated on 1,240 closed trades · option prices say 41% · this trader 71% on 88 trades"
    start = float(re.search(r"What moved it: the average trade (\d+)%", text).group(1))
    pushes = [float(p) for p in re.findall(r"[▲▼] .+ ([+-]\d+\.\d) pts", text)]
    assert "▼ flag: chasing -4.0 pts" in text and "▲ option prices' probability of profit +12.0 pts" in text
    assert "days to expiry" not in text  # a feature that did not move it is not listed
    assert start + sum(pushes) == pytest.approx(62, abs=0.5) and "= 62% chance of profit for a follower" in text


def test_a_row_scored_before_the_record_still_renders() -> None:
    """An old row: the own trade and the alternative marked by magic keys in `strategy_ranking`, the parts in
    `score_parts`, the market in `market_context`. Its card and its Analyze read them through the migration."""
    own = {"name": "Short Put (cash-secured)", "short_name": "CSP", "score": 61, "view": "bullish",
           "legs": [{"action": "sell", "kind": "put", "strike": 170.0, "expiry": "2026-12-23", "quantity": 2,
                     "price": 2.5}],
           "net_premium": -500.0, "max_profit": 500.0, "max_loss": 33500.0, "breakevens": [167.5],
           "capital_required": 34000.0, "probability_of_profit": 0.71, "fit": 61.0, "fit_parts": {"trend": 90.0},
           "flags": ["Chasing: 10% over the alert's price"], "reasons": [], LEGACY_OWN: True}
    alternative = {"name": "Bull Put Spread", "short_name": "BPS", "units": 3, "net_premium": -150.0,
                   "legs": [{"action": "sell", "kind": "put", "strike": 170.0, "expiry": "2026-12-23",
                             "quantity": 3, "price": 2.5},
                            {"action": "buy", "kind": "put", "strike": 165.0, "expiry": "2026-12-23",
                             "quantity": 3, "price": 2.0}],
                   "max_profit": 150.0, "max_loss": 1350.0, "capital_required": 1500.0,
                   "probability_of_profit": 0.66, "score": 80, LEGACY_ALTERNATIVE: True}
    ten = {"name": "Cash-Secured Put", "short_name": "CSP", "score": 84, "max_profit": 250.0, "max_loss": 16750.0,
           "breakevens": [167.5], "capital_required": 17000.0, "probability_of_profit": 0.8,
           "reasons": ["Bullish trend fits a put sale"]}
    parts = {"score": 53.4, "version": "blend-2", "pop": {"value": 71.0, "weight": 0.4, "confidence": 1.0},
             "ai": {"value": 55.0, "weight": 0.6, "confidence": 1.0}, "penalties": {"chasing": 8.0},
             "ai_probability_of_profit": None, "ai_confidence": 0.7}
    trade = SimpleNamespace(trader=SimpleNamespace(username="behappy"), symbol="AAPL", open_action="STO",
                            option_type="put", strike=170.0, expiry=EXPIRY, entry_price=2.5, quantity=2)
    row = row_for(trade, score=53.4, strategy_ranking=[ten, own, alternative], score_parts=parts,
                  market_context={"underlying_price": 180.0, "trend": "bullish", "iv": 0.3})
    card = card_from_row(row)
    text = alert_message(card, today=TODAY)
    assert "Strategy: Short Put (cash-secured) · bullish" in text
    assert "Max Profit: $500 | Max Loss: $33,500" in text and "Capital tied up: $34,000" in text
    assert "⚠️ Chasing: 10% over the alert's price" in text
    assert ("💡 Alternative, same view: Bull Put Spread ×3 (same number of contracts, priced at the trade's IV) — "
            "sell 3x 170P @ 2.50 / "
            "buy 3x 165P @ 2.00") in text
    analysis = re.sub(r"</?b>", "", analysis_message(card))
    assert "1. Cash-Secured Put: 84 — Bullish trend fits a put sale" in analysis
    assert "market fit 61" in analysis and "Price $180.00 · trend bullish" in analysis
    assert "ranked by the blend = pop 71×0.40 (28.4) + ai 55×0.60 (33.0) = 61.4" in analysis
    assert "Flags: 61.4 − chasing 8 = 53.4" in analysis


def test_a_card_without_a_size_says_its_figures_are_for_one() -> None:
    text, _ = card_for(base(), quantity=None)
    check(text, "Long Call", None, 739, [467.39], p_above(450, 467.39, 0.40))
    assert "(No size given: figures for one contract)" in text
    shares, _ = card_for(base(symbol="AMD", spot=160.0, strike=None, option_type=None, price=160.0), quantity=None)
    assert "(No size given: figures for one share)" in shares
    sized, _ = card_for(base(contracts=2), quantity=2)
    assert "No size given" not in sized


# --- the alternative over every structure (issue 22) -------------------------------------------------------------

STRUCTURES_22 = ["long call", "long put", "cash-secured put", "naked call", "covered call", "shares",
                 "call debit", "put debit", "put credit", "call credit", "iron condor", "reverse iron condor",
                 "long straddle", "short strangle", "long strangle"]


def structure_alert(name: str, rng: random.Random, iv: float | None
                    ) -> tuple[StrategyInput, tuple[Leg, ...], int, bool]:
    """One alert of the named structure at a random price, size and volatility: (input, legs, size, covered)."""
    spot = rng.choice([12.0, 48.0, 95.0, 180.0, 450.0])
    step = 0.5 if spot < 25 else 1.0 if spot < 200 else 5.0
    width = step * rng.choice([2, 4, 10])
    size = rng.choice([2, 3, 5])
    dte = rng.choice([3, 10, 30, 60])
    expiry = TODAY + timedelta(days=dte)
    vol = iv if iv is not None else 0.3
    years = dte / 365

    def premium(kind: str, strike: float) -> float:
        from pipeline.judge.options_math import bs_price
        return max(0.05, round(bs_price(spot, strike, years, vol, kind) * rng.uniform(0.85, 1.2), 2))

    near = round(spot / step) * step
    low, high = near - width, near + width
    kind, action, strike, price, covered = "call", "BTO", near, 0.0, False
    legs: tuple[Leg, ...] = ()

    def leg(side: str, k: str, s: float) -> Leg:
        return Leg.of(side, k, s, expiry, size)

    if name in ("long call", "long put", "cash-secured put", "naked call", "covered call"):
        kind = "put" if "put" in name else "call"
        action = "BTO" if name.startswith("long") else "STO"
        strike = low if name == "cash-secured put" else high if name in ("naked call", "covered call") else near
        price = premium(kind, strike)
        covered = name == "covered call"
    elif name == "shares":
        return (StrategyInput("X", spot, None, None, "BTO", round(spot * rng.uniform(0.97, 1.03), 2), None, TODAY,
                              iv=iv, iv_rank=rng.uniform(0, 100), trend=rng.choice(TRENDS), contracts=1),
                (), size * 100, False)
    else:
        spreads = {
            "call debit": (("buy", "call", near), ("sell", "call", high)),
            "put debit": (("buy", "put", near), ("sell", "put", low)),
            "put credit": (("sell", "put", near), ("buy", "put", low)),
            "call credit": (("sell", "call", near), ("buy", "call", high)),
            "iron condor": (("buy", "put", low - width), ("sell", "put", low), ("sell", "call", high),
                            ("buy", "call", high + width)),
            "reverse iron condor": (("sell", "put", low - width), ("buy", "put", low), ("buy", "call", high),
                                    ("sell", "call", high + width)),
            "long straddle": (("buy", "call", near), ("buy", "put", near)),
            "short strangle": (("sell", "put", low), ("sell", "call", high)),
            "long strangle": (("buy", "put", low), ("buy", "call", high)),
        }[name]
        legs = tuple(leg(*x) for x in spreads)
        net = sum((1 if s == "buy" else -1) * premium(k, x) for s, k, x in spreads)
        price = round(abs(net), 2) or 0.05
        kind, strike = legs[0].kind.value, legs[0].strike or near
        action = "BTO" if net > 0 else "STO"
    inp = StrategyInput("X", spot, strike, kind, action, price, expiry, TODAY, iv=iv, iv_rank=rng.uniform(0, 100),
                        trend=rng.choice(TRENDS), contracts=size)
    return inp, legs, size, covered


TRENDS = ("strong_bullish", "bullish", "neutral", "bearish", "strong_bearish")


def no_arbitrage(legs: tuple[Leg, ...]) -> bool:
    """Along one expiry's strikes a put never costs more lower down, a call never more higher up."""
    for expiry in {leg.expiry for leg in legs if leg.is_option}:
        for kind, falling in (("put", False), ("call", True)):
            same = sorted((leg.strike or 0.0, leg.price) for leg in legs if leg.kind == kind and leg.expiry == expiry)
            prices = [p for _, p in same]
            if prices != sorted(prices, reverse=falling):
                return False
    return True


@pytest.mark.parametrize("name", STRUCTURES_22)
def test_the_alternative_never_exceeds_the_trader_and_keeps_view_and_volatility(name: str) -> None:
    from pipeline.judge.own_trade import clearly_better, volatility_exposure

    rng = random.Random(name)
    offered = 0
    for _ in range(60):
        iv = rng.uniform(0.15, 0.9)
        inp, legs, size, covered = structure_alert(name, rng, iv)
        own = judge_own_trade(inp, evaluate_strategies(inp), legs=legs, quantity=size, covered=covered)
        assert own.trade.size == size
        alt = own.alternative
        if alt is None:
            continue
        offered += 1
        if own.trade.max_loss is not None:
            assert alt.max_loss is not None and alt.max_loss <= own.trade.max_loss + 0.01, (name, alt)
        if alt.sizing == "contracts":
            assert alt.units == max((leg.size for leg in own.trade.legs if leg.is_option), default=size // 100)
        assert alt.units >= 1 and no_arbitrage(alt.legs), alt
        net = sum(leg.sign * leg.price for leg in alt.legs if leg.is_option)
        if alt.key in ("CSP", "BPS", "BCS", "IC", "SS"):
            assert net < 0  # a credit strategy is never shown as a debit
        assert clearly_better(alt, own.trade)
        evaluation = next(e for e in evaluate_strategies(inp).evaluations if e.short_name == alt.key)
        assert alternative_view(evaluation) == own.trade.view
        exposure = volatility_exposure(own.trade.legs)
        if exposure:  # short premium stays short premium, long stays long
            assert volatility_exposure(alt.legs) == exposure, (name, alt)
    # With the market off (no IV) there is no alternative, and the record says why.
    for _ in range(5):
        inp, legs, size, covered = structure_alert(name, rng, None)
        own = judge_own_trade(inp, None, legs=legs, quantity=size, covered=covered)
        assert own.alternative is None and own.no_alternative == "no market IV"
        assert own.trade.probability_of_profit is None


def test_an_iron_condor_is_never_offered_a_long_straddle() -> None:
    """Issue 22: "same view" meant direction only, so a condor (short volatility) got a long straddle."""
    legs = (Leg.of("buy", "put", 535.0, EXPIRY, 2), Leg.of("sell", "put", 540.0, EXPIRY, 2),
            Leg.of("sell", "call", 580.0, EXPIRY, 2), Leg.of("buy", "call", 585.0, EXPIRY, 2))
    for trend in TRENDS:
        for rank in (5, 50, 95):
            inp = base(symbol="SPY", spot=560.0, strike=535.0, option_type="put", action="STO", price=1.50,
                       contracts=2, iv=0.20, iv_rank=rank, trend=trend)
            alt = judge_own_trade(inp, evaluate_strategies(inp), legs=legs, quantity=2).alternative
            assert alt is None or alt.key in ("IC", "SS"), alt


def test_five_put_sales_are_never_offered_220_spreads() -> None:
    """Issue 22: 5 AAPL cash-secured puts got "Bull Put Spread ×220 … max loss $83,820"."""
    inp = base(symbol="AAPL", spot=230.0, strike=220.0, option_type="put", action="STO", price=2.10, contracts=5,
               iv=0.28, trend="bullish")
    own = judge_own_trade(inp, evaluate_strategies(inp), quantity=5)
    alt = own.alternative
    assert alt is None or (alt.units <= 5 and alt.max_loss is not None and alt.max_loss <= own.trade.max_loss)


def test_the_chain_re_prices_the_alternative_or_takes_it_away() -> None:
    from pipeline.judge.own_trade import priced_by_chain

    inp = base(symbol="AAPL", spot=180.0, strike=170.0, option_type="put", action="STO", price=1.0, contracts=2,
               iv=0.3, trend="bullish")
    own = judge_own_trade(inp, evaluate_strategies(inp), quantity=2)
    alt = own.alternative
    assert alt is not None and alt.priced_from == "iv"
    keys = {(leg.kind, float(leg.strike or 0), leg.expiry): leg.price for leg in alt.legs if leg.is_option}
    assert priced_by_chain(alt, {}, own.trade, spot=180.0, vol=0.3, years=YEARS) is alt  # the chain lacks a leg
    at_the_chain = priced_by_chain(alt, keys, own.trade, spot=180.0, vol=0.3, years=YEARS)
    assert at_the_chain is not None and at_the_chain.priced_from == "chain"
    assert at_the_chain.max_loss == pytest.approx(alt.max_loss, abs=1.0)
    # A chain that prices the spread's credit away: no longer clearly better, so no alternative at all.
    worthless = {key: 0.05 for key in keys}
    assert priced_by_chain(alt, worthless, own.trade, spot=180.0, vol=0.3, years=YEARS) is None
    # A chain whose lower put costs more than the higher one breaks no-arbitrage: never shown.
    crossed = {key: (3.0 if key[1] == min(k[1] for k in keys) else 1.0) for key in keys}
    assert priced_by_chain(alt, crossed, own.trade, spot=180.0, vol=0.3, years=YEARS) is None


def test_capital_is_what_reg_t_holds_for_every_structure() -> None:
    """Issue 22: a strangle tied up both sides' naked margin. Each figure below is Reg-T written out by hand, for
    2 contracts at a $560 price."""
    from pipeline.judge.payoff import evaluate
    from pipeline.models import Position

    def capital(*legs: Leg) -> float | None:
        return evaluate(Position("SPY", legs), spot=560.0, vol=0.2, years=YEARS).capital

    def leg(side: str, kind: str, strike: float, price: float) -> Leg:
        return Leg.of(side, kind, strike, EXPIRY, 2, price)

    # A naked call: 20% of the price less the out-of-the-money amount, at least 10% of the price, plus premium.
    assert capital(leg("sell", "call", 580.0, 3.0)) == pytest.approx((max(0.2 * 560 - 20, 56) + 3.0) * 200)
    assert capital(leg("sell", "call", 700.0, 0.1)) == pytest.approx((56 + 0.1) * 200)  # the 10% floor
    # A cash-secured put: the strike in cash.
    assert capital(leg("sell", "put", 540.0, 4.0)) == pytest.approx(540 * 200)
    # Credit spreads and the condor: the width less the credit.
    assert capital(leg("sell", "put", 540.0, 4.0), leg("buy", "put", 535.0, 3.0)) == pytest.approx((5 - 1) * 200)
    assert capital(leg("sell", "call", 580.0, 3.0), leg("buy", "call", 590.0, 1.5)) == pytest.approx(
        (10 - 1.5) * 200)
    condor = (leg("buy", "put", 535.0, 3.0), leg("sell", "put", 540.0, 4.0), leg("sell", "call", 580.0, 3.0),
              leg("buy", "call", 585.0, 2.5))
    assert capital(*condor) == pytest.approx((5 - 1.5) * 200)
    # A short strangle: the larger side's naked requirement plus the other side's premium, not both sides.
    put, call = leg("sell", "put", 540.0, 4.0), leg("sell", "call", 580.0, 3.0)
    larger = max(max(0.2 * 560 - 20, 54) + 4.0 + 3.0, max(0.2 * 560 - 20, 56) + 3.0 + 4.0)
    assert capital(put, call) == pytest.approx(larger * 200)
    both_sides = (max(0.2 * 560 - 20, 54) + 4.0 + max(0.2 * 560 - 20, 56) + 3.0) * 200  # what it once showed
    assert capital(put, call) == pytest.approx(both_sides - 92 * 200)


@pytest.mark.parametrize(("legs", "what"), [
    ((), "a call bought at the market"),
    ((Leg.of("buy", "call", 460.0, None, 1), Leg.of("sell", "call", 470.0, None, 1)), "a spread with no net price"),
])
def test_no_entry_price_anywhere_shows_no_figure_that_would_rest_on_a_made_up_premium(
        legs: tuple[Leg, ...], what: str) -> None:
    """"BTO NVDA 460C @ m" with no quote for it: a Black-Scholes premium would be a stand-in, so the card says
    the price is missing and shows no max profit, max loss, breakeven, capital or probability; no alternative."""
    text, own = card_for(base(price=None), legs=legs)
    assert not own.figures_known and own.probability_of_profit is None, what
    assert "No entry price in the alert and no market quote for it" in text
    for figure in ("Max Profit", "Max Loss", "Breakeven", "Capital tied up", "Probability of profit", "Alternative"):
        assert figure not in text, (what, figure)


def test_an_entry_at_the_market_is_figured_at_the_markets_price_and_says_so() -> None:
    inp = base(price=7.25)  # the stage put the quote's mid at the alert's minute in the alert's place
    own = judge_own_trade(inp, evaluate_strategies(inp), price_source="market").trade
    assert own.figures_known and own.max_loss == pytest.approx(725.0)
    lines = own_trade_lines(own)
    assert lines[0] == "Entry price: none in the alert; figures at the market's price at the alert's minute"
    assert "Max Loss: $725" in lines[1]


def test_shares_bought_at_the_market_take_the_underlying_at_the_alert() -> None:
    own = judge_own_trade(base(option_type=None, strike=None, price=None), None, quantity=100).trade
    assert own.price_source == "market" and own.figures_known and own.net_premium == pytest.approx(45_000.0)
    unknown = judge_own_trade(base(option_type=None, strike=None, price=None, spot=0.0), None, quantity=100).trade
    assert not unknown.figures_known
