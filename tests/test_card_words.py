"""Words from facts (issue 22), rendered from plain values: the size line says where the size came from, every
card says when the trader posted, flags are said once, "AI reasoning" heads a model's reasons and "Rules" the local
analyst's, the agreement line needs two models, trader names link to their Xtrades profile and are never an
"@" mention, a lotto says why, and /positions, /alerts, results and the daily lines name the structure, not its
first leg."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from handlers.render import (
    alert_message,
    alerts_list,
    analysis_message,
    close_followup,
    daily_summary,
    digest,
    digest_line,
    missed_line,
    positions_list,
)
from handlers.views import AlertCard
from pipeline.judge.flags import FlagFacts, flag_text, sanity_flags
from pipeline.models import Alternative, Leg, OwnTrade, Scoring

POSTED = datetime(2026, 11, 23, 19, 25, tzinfo=UTC)  # 14:25 in New York
EXPIRY = date(2026, 12, 18)
CONDOR_LEGS = (Leg.of("buy", "put", 535.0, EXPIRY, 3, 0.8), Leg.of("sell", "put", 540.0, EXPIRY, 3, 1.4),
               Leg.of("sell", "call", 580.0, EXPIRY, 3, 1.3), Leg.of("buy", "call", 585.0, EXPIRY, 3, 0.4))


def condor(**changes: Any) -> OwnTrade:
    values: dict[str, Any] = dict(key="IC", name="Iron Condor", view="neutral", legs=CONDOR_LEGS, net_premium=-450.0,
                                  max_profit=450.0, max_loss=1050.0, breakevens=(538.5, 581.5), capital=1050.0,
                                  probability_of_profit=0.55, pop_source="option prices, to expiry", size=3,
                                  size_source="text")
    values.update(changes)
    return OwnTrade(**values)


def card(own: OwnTrade | None = None, **changes: Any) -> AlertCard:
    scoring = Scoring(scorer_version="t", blend=70.0, score=70.0, own=own or condor(),
                      flags=changes.pop("flags", ()), alternative=changes.pop("alternative", None),
                      no_alternative=changes.pop("no_alternative", None))
    values: dict[str, Any] = dict(alert_id=1, trader="behappy", symbol="SPY", action="STO", option_type="put",
                                  strike=535.0, expiry=EXPIRY, entry_price=1.50, quantity=3, score=70.0,
                                  scoring=scoring, posted_at=POSTED)
    values.update(changes)
    return AlertCard(**values)


def test_the_size_line_says_where_the_size_came_from() -> None:
    text = alert_message(card(), today=POSTED.date(), now=POSTED + timedelta(minutes=2))
    assert "Size: 3 contracts (from the alert's text)" in text
    ordered = alert_message(card(condor(size_source="order")), today=POSTED.date())
    assert "Size: 3 contracts (the size on the Xtrades order)" in ordered
    none = alert_message(card(condor(size=1, size_source="none"), quantity=None), today=POSTED.date())
    assert "(No size given: figures for one contract)" in none and "Size:" not in none


def test_every_card_says_when_the_trader_posted() -> None:
    text = alert_message(card(), today=POSTED.date(), now=POSTED + timedelta(minutes=2))
    assert "posted 14:25 ET · 2 min ago" in text
    days_later = alert_message(card(), today=POSTED.date(), now=POSTED + timedelta(days=3))
    assert "posted Nov 23 14:25 ET · 3 days ago" in days_later
    unknown = alert_message(card(posting_known=False), today=POSTED.date(), now=POSTED + timedelta(minutes=5))
    assert "seen 14:25 ET · 5 min ago" in unknown and "posted" not in unknown  # no posting time: never claimed


def test_trader_names_link_to_the_xtrades_profile_never_an_at_mention() -> None:
    text = alert_message(card(), today=POSTED.date())
    assert '<a href="https://app.xtrades.net/profile/behappy">behappy</a>' in text
    analysis = analysis_message(card())
    for rendered in (text, analysis, digest_line(card()), alerts_list([(card(), POSTED)], POSTED.date())):
        assert not re.search(r"@behappy", rendered), rendered


def test_each_flag_is_said_once_and_the_heading_says_whose_reasons_they_are() -> None:
    chasing = "Chasing: entry $3.2 is 25% above the $2.56 at the alert"
    rules = card(flags=(chasing, chasing), reasons=(f"{chasing} (counted in the score)", "A stop loss is stated (+3)"),
                 key_risk=chasing, model_scores={"local": 55.0})
    text = alert_message(rules, today=POSTED.date())
    assert text.count("Chasing") == 1
    assert "<b>Rules:</b>" in text and "AI reasoning" not in text
    ai = card(reasons=("IV is rich for a condor",), model_scores={"claude": 70.0, "local": 55.0})
    assert "<b>AI reasoning:</b>" in alert_message(ai, today=POSTED.date())


def test_the_agreement_line_needs_two_models() -> None:
    one = analysis_message(card(model_scores={"local": 56.0}, agreement=1.0))
    assert "Local 56" in one and "agreement" not in one
    two = analysis_message(card(model_scores={"claude": 70.0, "local": 56.0}, agreement=0.8))
    assert "agreement 80%" in two


def test_a_lotto_says_why() -> None:
    tagged = FlagFacts("BTO", "call", 4, "lotto", 1.0, 1.0, 1)
    assert sanity_flags(tagged) == ("lotto",)
    assert flag_text("lotto", tagged) == "Lotto: tagged lotto by the trader"
    same_day = FlagFacts("BTO", "call", 0, None, 1.0, 1.0, 1)
    assert flag_text("lotto", same_day) == "Lotto: 0 DTE, most expire worthless"


def test_the_alternative_says_how_it_was_sized_and_none_says_why() -> None:
    alt = Alternative("Iron Condor", "IC", CONDOR_LEGS[:2], 2, -200.0, 200.0, 800.0, 800.0, 0.7, 80, "max_loss")
    text = alert_message(card(alternative=alt), today=POSTED.date())
    assert "Iron Condor ×2 (sized down to the trader's max loss, priced at the trade's IV)" in text
    same = alert_message(card(alternative=Alternative("Iron Condor", "IC", CONDOR_LEGS, 3, -450.0, 450.0, 1000.0,
                                                      1000.0, 0.7, 80)), today=POSTED.date())
    assert "×3 (same number of contracts, priced at the trade's IV)" in same
    none = alert_message(card(no_alternative="no market IV"), today=POSTED.date())
    assert "💡 No alternative: no market IV to price one at" in none


def row(**values: Any) -> SimpleNamespace:
    base: dict[str, Any] = dict(trader=SimpleNamespace(username="behappy"), open_action="STO", symbol="SPY",
                                option_type="put", strike=535.0, quantity=3, entry_price=1.50, last_price=1.0,
                                legs=[leg.to_json() for leg in CONDOR_LEGS], status="open", pnl=None, pnl_pct=None,
                                exit_price=None, opened_at=POSTED, first_seen_at=POSTED, closed_at=None)
    base.update(values)
    return SimpleNamespace(**base)


def test_positions_alerts_results_and_summaries_name_the_structure() -> None:
    positions = positions_list([row()], "open")
    assert "SPY Iron Condor 535/540/580/585 ×3" in positions and "$535 PUT" not in positions
    spread = row(legs=[Leg.of("buy", "call", 340.0, None, 1).to_json(), Leg.of("sell", "call", 350.0, None, 1)
                       .to_json()], option_type="call", strike=340.0, open_action="BTO", symbol="MSFT")
    assert "MSFT Call Debit Spread 340/350" in positions_list([spread], "open")
    listed = alerts_list([(card(), POSTED)], POSTED.date())
    assert "SPY Iron Condor 535/540/580/585 @ $1.50" in listed and "$535 PUT" not in listed
    result = close_followup(trader="behappy", symbol="SPY", open_action="STO", strike=535.0, option_type="put",
                            quantity=3, expiry=EXPIRY, exit_price=0.2, pnl=390.0, pnl_pct=87.0, held_days=20,
                            legs=[leg.to_json() for leg in CONDOR_LEGS])
    assert "SPY Iron Condor 535/540/580/585 closed" in result
    best = SimpleNamespace(symbol="SPY", structure="Iron Condor", option_type="put", strike=535.0,
                           trader="behappy", pnl=390.0)
    summary = SimpleNamespace(day=POSTED.date(), cards_sent=1, closed=1, won=1, lost=0, pnl=390.0,
                              pnl_source="trader", best=best, worst=best)
    text = daily_summary(summary)
    assert "Best: SPY Iron Condor by" in text and "$535 PUT" not in text


def test_an_alert_posted_while_not_tracking_is_listed_with_its_time() -> None:
    line = missed_line(card(), POSTED + timedelta(days=3))
    note = digest(80, [], missed=[line])
    assert note.startswith("🕓 1 alert posted while you weren't tracking (not new; shown once):")
    assert "posted Nov 23 14:25 ET · 3 days ago" in note and "TRADE ALERT" not in note


def test_the_dashboard_names_the_structure_too() -> None:
    from handlers.webapp.shapes import position

    shown = position(row(id=7, expiry=EXPIRY), "open")  # type: ignore[arg-type]
    assert shown["contract"] == "SPY Iron Condor 535/540/580/585"
