"""The chance of profit (issue 24): the follower's outcome it is fitted on, the model's directions, its walk-forward
Brier against both baselines on a generated history whose truth is known, and the better baseline shown, named,
when the model does not beat it."""

from __future__ import annotations

import statistics
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.demo_history import DEMO_TRADERS, PRICES, Invented, Persona, invent, plant
from handlers.render import alert_message, chance_lines
from handlers.views import AlertCard
from pipeline.judge.backtest import AsOfMarket, Replayed, replay, summarise
from pipeline.judge.calibration import Calibrator, ChanceFeatures, choose_basis, fit
from pipeline.judge.follower import (
    QuoteSample,
    SpreadModel,
    TradeFacts,
    fit_spread_model,
    follower_outcome,
    quoted_share,
)
from pipeline.judge.refit import Calibration
from pipeline.market.recorded import RecordedMarket
from pipeline.models import ChanceBasis, Follower, MarketInputs, Scoring
from pipeline.record import scoring_to_json
from storage import alerts, chats, traders
from storage import trades as trades_repo
from storage.db import Database
from storage.models import NotificationQueueItem
from tests.fakes.yahoo import FakeYahoo

START, END = date(2025, 11, 3), date(2026, 10, 2)  # posted a year back, every expiry before the last close
POSTED, CLOSED = date(2026, 3, 2), date(2026, 3, 20)


def facts(action: str = "BTO", *, entry: float = 2.0, exit_: float = 3.0, settled: bool = False,
          kind: str | None = "call") -> TradeFacts:
    return TradeFacts(action, kind, 100.0, date(2026, 4, 17), entry, exit_, POSTED, CLOSED, settled,
                      underlying=100.0)


# --- the follower's outcome ----------------------------------------------------------------------------------


def test_a_follower_buys_at_the_ask_and_sells_at_the_bid_so_a_small_win_can_be_a_loss() -> None:
    model = SpreadModel()
    bought = follower_outcome(facts(entry=2.00, exit_=2.10), model)
    assert bought is not None and bought.estimated
    assert bought.entry > 2.00 and bought.exit < 2.10 and not bought.won  # the trader's +5% is the follower's loss
    sold = follower_outcome(facts("STO", entry=2.00, exit_=1.90, kind="put"), model)
    assert sold is not None and sold.entry < 2.00 and sold.exit > 1.90 and not sold.won
    # Settlement at expiry crosses no spread; a recorded ask at delivery is the entry, and nothing is estimated.
    settled = follower_outcome(facts(entry=2.00, exit_=3.00, settled=True), model, entry_quote=2.10)
    assert settled is not None and (settled.entry, settled.exit, settled.pnl_pct) == (2.10, 3.00, 42.86)
    assert not settled.estimated and settled.won
    assert follower_outcome(facts(entry=2.00, exit_=3.00, settled=True, kind=None), model, entry_quote=None) \
        is not None  # shares too: a couple of basis points
    assert follower_outcome(replace(facts(), exit_price=None), model) is None  # no exit price, no outcome
    # The contract's own quoted half-spread comes before the model: 1.90 / 2.10 is 5% of the mid either side.
    quoted = follower_outcome(facts(entry=2.00, exit_=3.00), model, quoted_share=quoted_share(1.90, 2.10))
    assert quoted is not None and (quoted.entry, quoted.exit) == (2.10, 2.85) and quoted.estimated
    assert quoted_share(0.0, 0.05) is None and quoted_share(2.0, 1.9) is None


def test_the_modelled_spread_widens_as_expiry_nears_and_out_of_the_money_and_fits_recorded_quotes() -> None:
    model = SpreadModel()
    assert model.share(1, 0.0) > model.share(30, 0.0) > model.share(365, 0.0)
    assert model.share(30, 0.2) > model.share(30, 0.0)
    assert model.half_spread(0.05, 1, 0.1, option=True) == 0.01  # never inside a tick
    assert fit_spread_model([QuoteSample(1.0, 1.1, 30, 0.0)] * 5) == SpreadModel()  # too few: the default
    # Quotes made by a known rule: the fit recovers it.
    truth = SpreadModel(0.02, 0.10, 0.30)
    quotes = []
    for days in (0, 1, 2, 3, 5, 7, 14, 30, 60):
        for money in (0.0, 0.05, 0.1, 0.2):
            share = truth.share(days, money)
            quotes.append(QuoteSample(2.0 * (1 - share), 2.0 * (1 + share), days, money))
    fitted = fit_spread_model(quotes)
    assert fitted.quotes == len(quotes)
    assert (fitted.base, fitted.short_dated, fitted.otm) == pytest.approx((0.02, 0.10, 0.30), abs=1e-6)


async def test_the_refit_stores_the_followers_outcome_beside_the_traders_for_every_closed_trade(
        db: Database) -> None:
    truth = await plant(db, invent(count=60, seed=3, start=START, end=END))
    quoted = next(iter(truth))  # one trade's card recorded the ask at delivery
    async with db.session() as session:
        [row] = await alerts.for_trade(session, quoted)
        t = truth[quoted]
        row.scored_at = t.posted_at
        row.scoring = scoring_to_json(Scoring("x", 0.0, 0.0, market=MarketInputs(
            underlying_price=t.spot, follower=Follower("ask" if t.action == "BTO" else "bid", 1.23))))
    await Calibration(db, RecordedMarket(PRICES)).refit()
    async with db.reader() as session:
        rows = await trades_repo.by_ids(session, list(truth))
    assert all(r.follower_pnl_pct is not None and r.pnl_pct is not None for r in rows)
    by_id = {r.id: r for r in rows}
    assert by_id[quoted].follower_entry == 1.23 and by_id[quoted].follower_estimated is False
    others = [r for r in rows if r.id != quoted]
    assert all(r.follower_estimated for r in others)
    # Buying at the ask costs the follower on every bought trade held to settlement (but the worthless ones,
    # lost whole either way).
    bought = [r for r in others if r.open_action == "BTO"]
    assert bought and all(r.follower_pnl_pct < r.pnl_pct for r in bought if r.exit_price)
    assert all(r.follower_pnl_pct == r.pnl_pct == -100 for r in bought if not r.exit_price)


# --- a generated history whose truth is known ----------------------------------------------------------------


@pytest.fixture
async def history(db: Database) -> tuple[dict[int, Invented], list[Replayed]]:
    truth = await plant(db, invent(count=1500, seed=5000, start=START, end=END))
    return truth, await replay(db, AsOfMarket(RecordedMarket(PRICES)))


async def test_the_price_process_makes_the_market_right_on_average_and_each_edge_its_stated_size(
        history: tuple[dict[int, Invented], list[Replayed]]) -> None:
    truth, replayed = history
    for name, persona in DEMO_TRADERS.items():
        mine = [r for r in replayed if r.trader == name]
        # The judge reads the market's probability from the trader's own price, as the generator set it.
        assert statistics.fmean(abs((r.features.market_pop or 0) - truth[r.trade_id].market_pop) for r in mine) < 0.01
        edge = statistics.fmean(float(bool(r.trader_won)) - truth[r.trade_id].market_pop for r in mine)
        assert edge == pytest.approx(persona.edge, abs=0.06)  # ~370 trades each: 2.5 standard errors
    none = invent(count=2000, seed=9, start=START, end=END, personas={"flat": Persona(0.0, ("AAPL", "NVDA",
                                                                                           "TSLA"), "mixed")})
    assert statistics.fmean(t.won for t in none) == pytest.approx(statistics.fmean(t.market_pop for t in none),
                                                                  abs=0.025)


async def test_walk_forward_the_model_beats_both_baselines_on_the_generated_history(
        history: tuple[dict[int, Invented], list[Replayed]]) -> None:
    _, replayed = history
    report = summarise(replayed)
    assert report.trades == 1500 and report.calibrated_trades > 1000
    assert report.brier is not None and report.brier_pop_only is not None and report.brier_trader_only is not None
    assert report.brier < report.brier_pop_only and report.brier < report.brier_trader_only
    assert report.basis == "model" and report.ece is not None and report.ece < 0.05
    row = next(r for r in report.thresholds if r.min_score == 70)
    assert row.notified and row.hit_rate_low is not None and row.hit_rate_low <= row.hit_rate <= row.hit_rate_high


async def test_the_chance_moves_the_right_way_with_the_market_and_the_flags_all_else_fixed(
        history: tuple[dict[int, Invented], list[Replayed]]) -> None:
    _, replayed = history
    calibrator = fit([r.features for r in replayed], [r.won for r in replayed])
    assert calibrator is not None
    for r in replayed[::50]:
        base = r.features
        rising = [calibrator.probability(replace(base, market_pop=p)) for p in (0.04, 0.2, 0.4, 0.6, 0.8, 0.95)]
        assert rising == sorted(rising) and rising[-1] - rising[0] > 0.3
        clean = calibrator.probability(replace(base, flags=()))
        for flag in ("chasing", "lotto", "absurd_quantity", "one_leg_spread"):
            assert calibrator.probability(replace(base, flags=(flag,))) <= clean
        better = calibrator.probability(replace(base, trader_edge=base.trader_edge + 0.5))
        assert better >= calibrator.probability(base)
    # Common sense: a long call option prices give 18% stays near that for a trader with no record against the
    # market, and rises only with a record that earned it.
    call = ChanceFeatures(market_pop=0.18, days_to_expiry=21, moneyness=0.03, defined_risk=True, long_premium=True)
    plain = calibrator.probability(call)
    earned = calibrator.probability(replace(call, trader_edge=0.6, trader_wins=60, trader_closed=150))
    assert plain < 0.25 and earned > plain + 0.02
    # Each feature is used once: the pushes name every feature of the model exactly once.
    chance = calibrator.chance(replayed[-1].features)
    assert len({name for name, _ in chance.pushes}) == len(chance.pushes) == len(calibrator.names)
    assert chance.baseline is not None
    assert chance.baseline + sum(p for _, p in chance.pushes) == pytest.approx(chance.probability, abs=1e-9)
    # A flag the trade does not carry is named as absent, never as if it were raised.
    names = dict(calibrator.chance(replace(replayed[-1].features, flags=("lotto",))).pushes)
    assert "flag: lotto" in names and "no chasing flag" in names and "flag: chasing" not in names


# --- the better number, honestly ------------------------------------------------------------------------------


def test_the_better_baseline_is_chosen_and_named_when_the_model_does_not_beat_both() -> None:
    assert choose_basis(0.20, 0.21, 0.22) == "model"
    assert choose_basis(0.215, 0.21, 0.22) == "market"
    assert choose_basis(0.214, 0.22, 0.207) == "trader"  # the demo: the chance worse than the record
    assert choose_basis(None, 0.22, 0.21) == "trader"  # not tested walk-forward yet: never the model
    samples = [ChanceFeatures(market_pop=0.3 + 0.4 * (i % 2), trader_wins=40, trader_closed=50) for i in range(300)]
    fitted = fit(samples, [i % 3 != 0 for i in range(300)])
    assert fitted is not None
    trader = fitted.with_evidence(basis="trader", briers={"model": 0.214, "market": 0.25, "trader": 0.207},
                                  advice=None)
    chance = trader.chance(samples[0])
    assert chance.basis == "trader" and chance.probability == pytest.approx(samples[0].trader_rate)
    again = Calibrator.from_params(trader.params(), trades=trader.trades, base_rate=trader.base_rate,
                                   scorer_version=trader.scorer_version)
    assert again.basis == "trader" and again.briers["trader"] == 0.207
    card = AlertCard(1, "t", "NVDA", "BTO", "call", 200.0, date(2026, 12, 18), 3.0, 1, score=chance.probability * 100,
                     scoring=Scoring("v", 40.0, 40.0, calibrated=chance.probability,
                                     chance=ChanceBasis("trader", 300, 0.18, chance.probability, 50)),
                     profit_probability=chance.probability)
    assert chance_lines(card) == [
        f"Chance of profit <b>{chance.probability:.0%}</b>: this trader's record; the model is not yet better",
        f"model tested on 300 closed trades · option prices say 18% · this trader {chance.probability:.0%} on 50 "
        "trades"]
    text = alert_message(card, today=datetime(2026, 12, 1, tzinfo=UTC).date())
    assert "Score:" not in text and text.count("Chance of profit") == 1


async def test_backtest_here_covers_only_the_cards_this_chat_was_sent(db: Database) -> None:
    truth = await plant(db, invent(count=300, seed=11, start=START, end=END))
    sent = sorted(truth)[::4]
    async with db.session() as session:
        await chats.get_or_create(session, 42, chat_type="private", title="Desk", min_score=0, rate_limit_per_hour=5)
        for trade_id in sent:
            [row] = await alerts.for_trade(session, trade_id)
            session.add(NotificationQueueItem(alert_id=row.id, chat_id=42, status="sent"))
        [skipped] = await alerts.for_trade(session, sorted(truth)[1])
        session.add(NotificationQueueItem(alert_id=skipped.id, chat_id=42, status="skipped"))  # never reached it
    calibration = Calibration(db, RecordedMarket(PRICES))
    _, everything = await calibration.backtest()
    _, here = await calibration.backtest(chat_id=42, chat_title="Desk")
    assert everything.trades == 300 and everything.chat is None
    assert here.trades == len(sent) and here.chat == "Desk" and here.as_json()["chat"] == "Desk"
    won = sum(1 for r in (await replay(db, AsOfMarket(RecordedMarket(PRICES)))) if r.trade_id in sent and r.won)
    assert here.base_rate == pytest.approx(won / len(sent))


async def test_a_trade_closing_gets_its_followers_outcome_at_once(db: Database) -> None:
    from pipeline.ingest.detector import Position, TradeEvent
    from pipeline.models import StoredEvent

    truth = await plant(db, invent(count=12, seed=4, start=START, end=END))
    closing = sorted(truth)[5]
    calibration = Calibration(db, RecordedMarket(PRICES))
    # Calibrated already (so no early refit runs and stores everything): the close alone stores its outcome.
    calibration.current = fit([ChanceFeatures(market_pop=0.2 + 0.6 * (i % 2)) for i in range(300)],
                              [i % 3 != 0 for i in range(300)])
    event = TradeEvent("close", truth[closing].trader, Position(alert_id="x", open_action="BTO", symbol="AAPL"))
    await calibration.on_events([StoredEvent(alert_row_id=1, trade_id=closing, event=event)])  # type: ignore[arg-type]
    async with db.reader() as session:
        rows = {r.id: r for r in await trades_repo.by_ids(session, list(truth))}
    assert all(r.follower_pnl_pct is None for r in rows.values() if r.id != closing)
    assert rows[closing].follower_pnl_pct is not None and rows[closing].follower_estimated
    assert rows[closing].follower_entry is not None and rows[closing].entry_price is not None
    assert (rows[closing].follower_entry > rows[closing].entry_price) == (rows[closing].open_action == "BTO")


def test_the_chats_scoreboard_counts_the_followers_pnl_once_stored() -> None:
    from handlers.record import follower_pnl
    from storage.models import Trade, XtradesAlert

    trade = Trade(open_action="BTO", option_type="call", quantity=2, status="closed", pnl=220.0, legs=None)
    card = XtradesAlert(trade=trade)
    assert follower_pnl(card).source == "trader" and follower_pnl(card).amount == 220.0  # not computed yet
    trade.follower_entry, trade.follower_exit = 2.10, 2.95
    assert (follower_pnl(card).amount, follower_pnl(card).source) == (170.0, "follower")  # 0.85 × 100 × 2
    short = XtradesAlert(trade=Trade(open_action="STO", option_type="put", quantity=1, status="closed", pnl=90.0,
                                     legs=None, follower_entry=1.90, follower_exit=1.05))
    assert follower_pnl(short).amount == 85.0


async def test_a_live_exit_reads_the_bid_from_the_chain_and_with_the_recorded_ask_is_not_estimated(
        db: Database, yahoo: FakeYahoo) -> None:
    """The follower's exit when a trader exits live: the chain's bid then (loopback Yahoo Finance, the real
    client); with the ask recorded when the card was made, nothing about the outcome is estimated."""
    from pipeline.ingest.detector import Position, TradeEvent
    from pipeline.market.yahoo import YahooMarket
    from pipeline.models import StoredEvent

    now = datetime.now(UTC)
    expiry = (now + timedelta(days=24)).date()
    yahoo.add_symbol("AAPL", 247.1)
    yahoo.add_option("AAPL", "call", 250.0, expiry, bid=5.90, ask=6.20, last=6.0, iv=0.28)
    async with db.session() as session:
        trader = await traders.get_or_create(session, "behappy")
        trade = await trades_repo.upsert(session, trader.id, "live-x", "BTO", {
            "symbol": "AAPL", "option_type": "call", "strike": 250.0, "expiry": expiry, "entry_price": 5.00,
            "exit_price": 6.05, "quantity": 1, "status": "closed", "close_reason": "exit", "pnl": 105.0,
            "pnl_pct": 21.0, "opened_at": now - timedelta(days=3), "closed_at": now, "exit_keys": []})
        row = await alerts.record_event(session, trade, "new", details={}, historical=False)
        row.scored_at = now - timedelta(days=3)
        row.scoring = scoring_to_json(Scoring("x", 0.0, 0.0, market=MarketInputs(
            underlying_price=245.0, follower=Follower("ask", 5.15))))
        trade_id = trade.id
    market = YahooMarket(yahoo.base_url)
    try:
        calibration = Calibration(db, RecordedMarket(PRICES), quotes=market)
        calibration.current = fit([ChanceFeatures(market_pop=0.2 + 0.6 * (i % 2)) for i in range(300)],
                                  [i % 3 != 0 for i in range(300)])  # calibrated: no early refit
        event = TradeEvent("close", "behappy", Position(alert_id="live-x", open_action="BTO", symbol="AAPL"))
        await calibration.on_events([StoredEvent(alert_row_id=row.id, trade_id=trade_id, event=event)])
    finally:
        await market.aclose()
    async with db.reader() as session:
        [stored] = await trades_repo.by_ids(session, [trade_id])
    assert (stored.follower_entry, stored.follower_exit, stored.follower_estimated) == (5.15, 5.90, False)
    assert stored.follower_pnl_pct == pytest.approx((5.90 - 5.15) / 5.15 * 100, abs=0.01)
    # The nightly refit recomputes every outcome: the bid read at the exit is kept, not estimated over.
    await Calibration(db, RecordedMarket(PRICES)).refit()
    async with db.reader() as session:
        [again] = await trades_repo.by_ids(session, [trade_id])
    assert (again.follower_entry, again.follower_exit, again.follower_estimated) == (5.15, 5.90, False)
