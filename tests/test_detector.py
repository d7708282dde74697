"""Detection and P&L with plain values: new, update and close events, and nothing twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from pipeline.ingest.detector import Position, detect
from pipeline.ingest.pnl import opening_side, position_pnl
from pipeline.models import Leg, RawAlert

TODAY = date(2026, 11, 23)
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def entry(alert_id: str = "a1", **kw: object) -> RawAlert:
    values: dict = dict(alert_id=alert_id, trader="behappy", action="BTO", symbol="AAPL", option_type="put",
                        strike=170.0, expiry=date(2026, 12, 18), price=2.50, quantity=2, status="open",
                        posted_at=T0, text="BTO 2 AAPL 170P 12/18 @ 2.50")
    values.update(kw)
    return RawAlert(**values)


def exit_(alert_id: str = "a1", price: float = 3.10, **kw: object) -> RawAlert:
    values: dict = dict(alert_id=alert_id, trader="behappy", action="STC", symbol="AAPL", option_type="put",
                        strike=170.0, expiry=date(2026, 12, 18), price=price, entry_price=2.50, status="closed",
                        posted_at=T1, text=f"STC AAPL 170P 12/18 @ {price}")
    values.update(kw)
    return RawAlert(**values)


def rescan(alerts: list[RawAlert], positions: list[Position]) -> list[Position]:
    """Apply a detection to a 'store' of positions, as the cycle does."""
    book = {p.key: p for p in positions}
    book.update(detect("behappy", alerts, positions, today=TODAY).changed)
    return list(book.values())


@pytest.mark.parametrize(
    ("action", "option", "entry_price", "exit_price", "qty", "amount", "pct"),
    [
        ("BTO", True, 2.50, 3.10, 2, 120.0, 24.0),  # (3.10 - 2.50) * 100 * 2
        ("BTO", True, 1.20, 0.60, None, -60.0, -50.0),  # no quantity: one contract
        ("STO", True, 3.10, 0.45, 2, 530.0, 85.48),  # short: (entry - exit) * 100 * qty
        ("STO", True, 1.00, 2.50, 1, -150.0, -150.0),
        ("BTO", False, 142.35, 150.00, 200, 1530.0, 5.37),  # shares: no ×100
        ("BTO", True, 0.96, 0.0, 3, -288.0, -100.0),  # expired worthless
    ],
)
def test_pnl_by_hand(action: str, option: bool, entry_price: float, exit_price: float, qty: int | None,
                     amount: float, pct: float) -> None:
    pnl = position_pnl(action, is_option=option, entry=entry_price, exit_price=exit_price, quantity=qty)
    assert pnl.amount == pytest.approx(amount)
    assert pnl.pct == pytest.approx(pct, abs=0.01)
    assert pnl.won is (amount > 0)


def test_pnl_is_unknown_without_an_entry_price() -> None:
    assert position_pnl("BTO", is_option=True, entry=None, exit_price=1.0, quantity=1).amount is None


def test_a_new_alert_is_one_new_event_and_seeing_it_again_is_none() -> None:
    first = detect("behappy", [entry()], [], today=TODAY)
    assert [e.kind for e in first.events] == ["new"]
    assert first.events[0].position.entry_price == 2.50
    store = list(first.changed.values())
    assert detect("behappy", [entry()], store, today=TODAY).events == []


def test_the_exit_under_the_same_id_closes_with_the_right_pnl() -> None:
    store = rescan([entry()], [])
    result = detect("behappy", [entry(), exit_()], store, today=TODAY)
    [close] = result.events
    assert close.kind == "close"
    assert close.position.status == "closed" and close.position.exit_price == 3.10
    assert close.details["pnl"] == pytest.approx(120.0) and close.details["pnl_pct"] == pytest.approx(24.0)
    store = rescan([entry(), exit_()], store)
    assert detect("behappy", [entry(), exit_()], store, today=TODAY).events == []  # seen again: nothing


def test_entry_and_exit_in_one_scrape_make_new_then_close() -> None:
    result = detect("behappy", [exit_(), entry()], [], today=TODAY)
    assert [e.kind for e in result.events] == ["new", "close"]


def test_an_exit_whose_entry_was_never_seen_is_kept_as_a_closed_trade() -> None:
    result = detect("behappy", [exit_()], [], today=TODAY)
    [close] = result.events
    assert close.kind == "close" and close.position.entry_price == 2.50
    assert close.details["pnl"] == pytest.approx(60.0)  # one contract: quantity unknown


def test_averaging_in_and_a_partial_exit_are_updates() -> None:
    store = rescan([entry()], [])
    averaged = detect("behappy", [entry(price=2.20, quantity=4)], store, today=TODAY)
    [update] = averaged.events
    assert update.kind == "update" and update.details["entry_price"] == [2.50, 2.20]
    store = rescan([entry(price=2.20, quantity=4)], store)
    partial = exit_(price=3.00, is_partial=True, status="open")
    [trim] = detect("behappy", [partial], store, today=TODAY).events
    assert trim.kind == "update" and trim.position.status == "open" and trim.details["partial_exits"] == 1
    store = rescan([partial], store)
    assert detect("behappy", [partial], store, today=TODAY).events == []  # the same trim is not counted twice


def test_the_last_price_is_news_only_when_it_moves_a_band() -> None:
    store = rescan([entry(last_price=2.55)], [])
    assert detect("behappy", [entry(last_price=2.60)], store, today=TODAY).events == []
    [moved] = detect("behappy", [entry(last_price=3.10)], store, today=TODAY).events
    assert moved.kind == "update" and moved.details["last_price"] == [2.55, 3.10]


def test_a_short_is_closed_by_btc_and_never_confused_with_a_long() -> None:
    sto = entry("s1", action="STO", symbol="TSLA", strike=200.0, price=3.10, quantity=2)
    btc = exit_("s1", action="BTC", symbol="TSLA", strike=200.0, price=0.45, entry_price=3.10)
    store = rescan([sto], [])
    [close] = detect("behappy", [sto, btc], store, today=TODAY).events
    assert close.position.open_action == "STO" and close.details["pnl"] == pytest.approx(530.0)


def test_an_option_past_its_expiry_with_no_close_known_closes_with_its_result_unknown() -> None:
    """Without the expiry-day close nothing says whether it expired in or out of the money: no P&L is made up
    (taking it as worthless would book every short option as a win). With the close it settles at intrinsic
    value (tests/test_settlement.py)."""
    opened = detect("behappy", [entry(expiry=date(2026, 11, 20))], [], today=date(2026, 11, 20))
    assert [e.kind for e in opened.events] == ["new"]  # expiry day itself: still open
    store = list(opened.changed.values())
    [expired] = detect("behappy", [], store, today=TODAY).events
    assert expired.kind == "close" and expired.details["reason"] == "expired"
    assert expired.position.exit_price is None and expired.details["pnl"] is None
    assert expired.position.outcome is None and expired.details["won"] is None
    assert "no close known" in expired.details["settlement"]
    worthless = detect("behappy", [], store, today=TODAY, closes={("AAPL", date(2026, 11, 20)): 250.0}).events
    assert worthless[0].details["pnl"] == pytest.approx(-500.0)  # the close says out of the money: worthless
    store = rescan([], store)
    assert detect("behappy", [], store, today=TODAY).events == []


def test_rendered_posts_exit_matches_the_open_contract() -> None:
    """Posts carry no shared id: the exit finds the open position with the same contract."""
    store = rescan([entry("dom-entry", source="dom")], [])
    post_exit = exit_("dom-exit", source="dom", entry_price=None)
    [close] = detect("behappy", [post_exit], store, today=TODAY).events
    assert close.position.alert_id == "dom-entry" and close.details["pnl"] == pytest.approx(120.0)
    store = rescan([post_exit], store)
    assert detect("behappy", [post_exit], store, today=TODAY).events == []


def test_first_scrape_events_are_historical() -> None:
    result = detect("behappy", [entry(), exit_("old")], [], today=TODAY, historical=True)
    assert result.events and all(e.historical for e in result.events)


def test_shares_pnl_has_no_multiplier() -> None:
    shares = entry("n1", symbol="NVDA", option_type=None, strike=None, expiry=None, price=142.35, quantity=200)
    sold = exit_("n1", symbol="NVDA", option_type=None, strike=None, expiry=None, price=150.0,
                 entry_price=142.35)
    [close] = detect("behappy", [shares, sold], rescan([shares], []), today=TODAY).events
    assert close.details["pnl"] == pytest.approx(1530.0)
    assert replace(close.position, status="open").status == "open"


# --- settlement (issue 11): intrinsic value at expiry, closed at the expiry, partials weighted, flat ---------

def test_a_short_put_expiring_in_the_money_is_a_loss_at_intrinsic_value() -> None:
    """STO 5x TSLA 70P @ 1.50, TSLA closes at 62 on expiry day: loss (70 − 62 − 1.50) × 100 × 5 = $3,250."""
    short_put = Position(alert_id="p1", open_action="STO", symbol="TSLA", option_type="put", strike=70.0,
                         expiry=date(2026, 11, 20), entry_price=1.50, quantity=5)
    out = detect("behappy", [], [short_put], today=TODAY, closes={("TSLA", date(2026, 11, 20)): 62.0})
    [event] = out.events
    closed = event.position
    assert event.kind == "close" and closed.close_reason == "expired"
    assert closed.exit_price == pytest.approx(8.0)
    assert closed.pnl == pytest.approx(-(70 - 62 - 1.50) * 100 * 5)
    assert closed.outcome == "lost" and event.details["won"] is False
    assert closed.closed_at is not None and closed.closed_at.date() == date(2026, 11, 20)
    assert event.details["underlying_close"] == 62.0


def test_a_short_put_expiring_out_of_the_money_keeps_the_premium() -> None:
    short_put = Position(alert_id="p1", open_action="STO", symbol="TSLA", option_type="put", strike=70.0,
                         expiry=date(2026, 11, 20), entry_price=1.50, quantity=5)
    out = detect("behappy", [], [short_put], today=TODAY, closes={("TSLA", date(2026, 11, 20)): 75.0})
    assert out.events[0].position.pnl == pytest.approx(750.0)
    assert out.events[0].position.outcome == "won"


def test_a_long_call_in_the_money_at_expiry_is_worth_its_intrinsic_value() -> None:
    call = Position(alert_id="c1", open_action="BTO", symbol="NVDA", option_type="call", strike=460.0,
                    expiry=date(2026, 11, 20), entry_price=7.39, quantity=2)
    out = detect("behappy", [], [call], today=TODAY, closes={("NVDA", date(2026, 11, 20)): 470.0})
    assert out.events[0].position.pnl == pytest.approx((10 - 7.39) * 100 * 2)


def test_a_credit_spread_settles_from_both_legs() -> None:
    """STO 2 SPY 580/575 BPS @ 1.20, SPY at 576: the spread costs 4 to close: (1.20 − 4) × 200."""
    legs = (Leg.of("sell", "put", 580.0, None, 1), Leg.of("buy", "put", 575.0, None, 1))
    spread = Position(alert_id="s1", open_action="STO", symbol="SPY", option_type="put", strike=580.0,
                      expiry=date(2026, 11, 20), entry_price=1.20, quantity=2, legs=legs)
    out = detect("behappy", [], [spread], today=TODAY, closes={("SPY", date(2026, 11, 20)): 576.0})
    assert out.events[0].position.pnl == pytest.approx((1.20 - 4.0) * 200)
    below = detect("behappy", [], [spread], today=TODAY, closes={("SPY", date(2026, 11, 20)): 500.0})
    assert below.events[0].position.pnl == pytest.approx((1.20 - 5.0) * 200)  # never more than the width


def test_a_0dte_closes_the_evening_it_expires_and_not_before() -> None:
    zero = Position(alert_id="z1", open_action="BTO", symbol="SPX", option_type="put", strike=5900.0,
                    expiry=TODAY, entry_price=3.20, quantity=1)
    closes = {("SPX", TODAY): 5950.0}
    assert detect("behappy", [], [zero], today=TODAY, closes=closes).events == []
    evening = detect("behappy", [], [zero], today=TODAY, closes=closes, after_close=True)
    [event] = evening.events
    assert event.kind == "close" and event.position.pnl == pytest.approx(-320.0)
    assert event.position.closed_at is not None and event.position.closed_at.date() == TODAY


def test_partial_exits_count_in_the_pnl_weighted_by_size() -> None:
    """BTO 4 @ 2.50; trim 2 @ 4.00 (+$300), the other 2 out @ 1.50 (−$200): +$100 in all, not −$400."""
    positions = rescan([entry(quantity=4)], [])
    positions = rescan([exit_(price=4.0, quantity=2, status="open", is_partial=True, posted_at=T0)], positions)
    [trimmed] = positions
    assert trimmed.realized_pnl == pytest.approx(300.0) and trimmed.closed_quantity == 2
    out = detect("behappy", [exit_(price=1.50)], positions, today=TODAY)
    [event] = out.events
    assert event.position.pnl == pytest.approx(300.0 - 200.0)
    assert event.position.pnl_pct == pytest.approx(100.0 / 1000.0 * 100)


def test_breaking_even_is_flat_neither_won_nor_lost() -> None:
    pnl = position_pnl("BTO", is_option=True, entry=2.50, exit_price=2.50, quantity=3)
    assert pnl.outcome == "flat" and pnl.won is None
    assert position_pnl("BTO", is_option=True, entry=2.50, exit_price=2.60, quantity=1).outcome == "won"
    assert position_pnl("STO", is_option=True, entry=2.50, exit_price=2.60, quantity=1).outcome == "lost"
    out = detect("behappy", [exit_(price=2.50)], rescan([entry()], []), today=TODAY)
    assert out.events[0].position.outcome == "flat" and out.events[0].details["outcome"] == "flat"


def test_a_credit_spread_written_as_bto_is_still_short_in_the_pnl() -> None:
    """Xtrades' side is "bto" for any opening: "BTO SPY 580/575 PCS @ 1.10" took a credit of 1.10."""
    legs = (Leg.of("buy", "put", 575.0, None, 1), Leg.of("sell", "put", 580.0, None, 1))
    spread = Position(alert_id="s2", open_action="BTO", symbol="SPY", option_type="put", strike=580.0,
                      expiry=date(2026, 11, 20), entry_price=1.10, quantity=1, legs=legs)
    out = detect("behappy", [], [spread], today=TODAY, closes={("SPY", date(2026, 11, 20)): 600.0})
    assert out.events[0].position.pnl == pytest.approx(110.0) and out.events[0].position.outcome == "won"
    assert opening_side("BTO", legs) == "STO"
    assert opening_side("STO", (Leg.of("buy", "call", 340.0, None, 1),
                                Leg.of("sell", "call", 350.0, None, 1))) == "BTO"
    condor = (Leg.of("buy", "put", 560.0, None, 1), Leg.of("sell", "put", 570.0, None, 1),
              Leg.of("sell", "call", 600.0, None, 1), Leg.of("buy", "call", 610.0, None, 1))
    assert opening_side("BTO", condor) == "STO" and opening_side("STO", None) == "STO"
