"""The market-data client (`pipeline.market.yahoo`) against a loopback server in Yahoo's wire format: the
underlying at an alert's minute, daily history and earnings, chain quotes behind the crumb, expiry closes;
one request per symbol in flight; health when the server goes down and comes back; exchange-time DTE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest

from pipeline.judge import pricing
from pipeline.market.calendar import load_calendar, trading_days_to_expiry
from pipeline.market.models import SourceHealth
from pipeline.market.yahoo import YahooMarket
from pipeline.models import Leg, OptionContract, OptionKind
from tests.fakes.yahoo import FakeYahoo

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
TODAY = NOW.date()


@pytest.fixture
async def yahoo() -> AsyncIterator[FakeYahoo]:
    async with FakeYahoo() as fake:
        yield fake


@pytest.fixture
async def client(yahoo: FakeYahoo) -> AsyncIterator[YahooMarket]:
    market = YahooMarket(yahoo.base_url)
    yield market
    await market.aclose()


def expiry_ahead(days: int) -> date:
    return TODAY + timedelta(days=days)


async def test_the_underlying_at_the_alerts_minute_not_the_last_price(yahoo: FakeYahoo, client: YahooMarket
                                                                      ) -> None:
    moment = NOW - timedelta(minutes=90, seconds=-27)  # 27 seconds into a minute
    yahoo.add_symbol("SPY", 586.0)
    yahoo.set_price("SPY", moment, 581.25, before=580.0, after=586.0)
    assert await client.price_at("SPY", moment) == 581.25
    assert await client.price_at("SPY", moment + timedelta(minutes=5)) == 586.0  # a later alert sees the rally


async def test_older_alerts_use_the_days_close_and_history_has_earnings(yahoo: FakeYahoo, client: YahooMarket
                                                                        ) -> None:
    earnings = TODAY + timedelta(days=20)
    series = yahoo.add_symbol("AAPL", 247.1, earnings=earnings)
    old_day = max(d for d in series.closes if d <= TODAY - timedelta(days=30))
    moment = datetime.combine(old_day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=18)
    assert await client.price_at("AAPL", moment) == series.closes[old_day]
    history = await client.history("AAPL")
    assert history is not None and history.closes[-1] == 247.1 and len(history.closes) == 400
    assert history.next_earnings == earnings


async def test_chain_quotes_through_the_cookie_and_crumb(yahoo: FakeYahoo, client: YahooMarket) -> None:
    expiry = expiry_ahead(30)
    yahoo.add_symbol("AAPL", 247.1)
    yahoo.add_option("AAPL", "call", 250.0, expiry, bid=7.1, ask=7.4, last=7.2, iv=0.285, volume=1234,
                     open_interest=5678)
    wanted = OptionContract("AAPL", OptionKind.CALL, 250.0, expiry)
    missing = OptionContract("AAPL", OptionKind.PUT, 250.0, expiry)
    quotes = await client.quotes([wanted, missing])
    assert list(quotes) == [wanted]
    q = quotes[wanted]
    assert (q.bid, q.ask, q.last, q.iv, q.volume, q.open_interest) == (7.1, 7.4, 7.2, 0.285, 1234, 5678)
    assert q.mid == pytest.approx(7.25)
    assert yahoo.requests["crumb"] == 1 and yahoo.requests["cookie"] == 1


async def test_an_expiry_close_only_once_that_session_is_over(yahoo: FakeYahoo, client: YahooMarket) -> None:
    yahoo.add_symbol("TSLA", 400.0)
    day = max(d for d in yahoo.symbols["TSLA"].closes if d < TODAY - timedelta(days=3))
    yahoo.set_close("TSLA", day, 412.5)
    assert await client.close_on("TSLA", day) == 412.5
    assert await client.close_on("TSLA", TODAY + timedelta(days=3)) is None  # not closed yet: no price at all


async def test_a_burst_on_ten_symbols_makes_about_ten_requests_of_each_kind(yahoo: FakeYahoo,
                                                                            client: YahooMarket) -> None:
    symbols = [f"S{n}" for n in range(10)]
    expiry = expiry_ahead(20)
    for n, symbol in enumerate(symbols):
        yahoo.add_symbol(symbol, 100.0 + n)
        yahoo.set_price(symbol, NOW - timedelta(minutes=3), 100.0 + n)
        yahoo.add_option(symbol, "call", 100.0, expiry, bid=2.0, ask=2.2, last=2.1, iv=0.3)
    contract = {s: OptionContract(s, OptionKind.CALL, 100.0, expiry) for s in symbols}

    async def alert(n: int) -> None:
        symbol = symbols[n % 10]
        moment = NOW - timedelta(minutes=3, seconds=-(n % 50))
        await asyncio.gather(client.price_at(symbol, moment), client.history(symbol),
                             client.quotes([contract[symbol]]))

    await asyncio.gather(*(alert(n) for n in range(100)))
    assert yahoo.requests["intraday"] == 10 and yahoo.requests["daily"] == 10
    assert yahoo.requests["options"] == 10 and yahoo.requests["earnings"] == 10 and yahoo.requests["crumb"] == 1


async def test_a_source_down_answers_none_and_admins_hear_once_each_way(yahoo: FakeYahoo) -> None:
    told: list[SourceHealth] = []

    async def listen(health: SourceHealth) -> None:
        told.append(health)

    client = YahooMarket(yahoo.base_url, on_health=listen)
    try:
        yahoo.add_symbol("AAPL", 247.1)
        await yahoo.take_down()
        for symbol in ("AAPL", "MSFT", "NVDA"):
            assert await client.price_at(symbol, NOW - timedelta(minutes=2)) is None
            assert await client.quotes([OptionContract(symbol, OptionKind.CALL, 250.0, expiry_ahead(9))]) == {}
        assert not client.health.healthy and "ConnectError" in (client.health.last_error or "")
        assert [h.healthy for h in told] == [False]
        await yahoo.bring_up()
        assert await client.history("QQQ") is None  # 404: the source answers again
        assert client.health.healthy and [h.healthy for h in told] == [False, True]
    finally:
        await client.aclose()


async def test_days_to_expiry_count_trading_days_in_new_york() -> None:
    calendar = await load_calendar()
    thursday = date(2026, 12, 3)
    assert thursday.weekday() == 3
    evening = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)  # 15:00 in New York, already Friday's date in Asia
    assert trading_days_to_expiry(calendar, evening, thursday + timedelta(days=1)) == 1
    assert trading_days_to_expiry(calendar, evening, thursday) == 0
    # Christmas Eve (a Thursday, a half day) to the Monday after: Christmas and the weekend are no trading days.
    assert trading_days_to_expiry(calendar, datetime(2026, 12, 24, 15, 0, tzinfo=UTC), date(2026, 12, 28)) == 1
    assert calendar.close_at(date(2026, 11, 27)).hour == 13  # the day after Thanksgiving closes early


class Broken:
    """A provider that breaks every promise: the judge still gets an answer that says it is not priced."""

    health = SourceHealth("broken", healthy=False)

    async def calendar(self) -> object:
        return await load_calendar()

    async def price_at(self, symbol: str, moment: datetime) -> float | None:
        raise ConnectionError("down")

    async def history(self, symbol: str, *, days: int = 400) -> None:
        raise ConnectionError("down")

    async def quotes(self, contracts: object) -> dict:
        raise ConnectionError("down")

    async def close_on(self, symbol: str, day: date) -> None:
        raise ConnectionError("down")


async def test_no_market_means_not_priced_never_a_stand_in() -> None:
    legs = (Leg.of("buy", "call", 395.0, expiry_ahead(2), 1, 1.2),)
    inputs = await pricing.gather(Broken(), symbol="TSLA", legs=legs, moment=NOW, now=NOW,  # type: ignore[arg-type]
                                  trader_price=1.2)
    assert not inputs.priced and inputs.vol is None and inputs.underlying is None
    assert inputs.missing == "no market data for TSLA"


async def test_iv_solved_from_the_traders_price_when_the_chain_lacks_the_contract(yahoo: FakeYahoo,
                                                                                  client: YahooMarket) -> None:
    from pipeline.judge.options_math import bs_price

    expiry = expiry_ahead(30)
    yahoo.add_symbol("MSFT", 400.0)
    yahoo.set_price("MSFT", NOW - timedelta(minutes=1), 400.0)
    inputs = await pricing.gather(client, symbol="MSFT", legs=(Leg.of("buy", "call", 410.0, expiry, 1, 0.0),),
                                  moment=NOW - timedelta(minutes=1), now=NOW, trader_price=9.0)
    assert inputs.priced and inputs.vol_source == pricing.FROM_TRADER and inputs.years is not None
    assert bs_price(400.0, 410.0, inputs.years, inputs.vol or 0, "call") == pytest.approx(9.0, abs=1e-4)


async def test_a_spreads_volatility_comes_from_each_legs_quote(yahoo: FakeYahoo, client: YahooMarket) -> None:
    expiry = expiry_ahead(21)
    yahoo.add_symbol("SPY", 580.0)
    yahoo.set_price("SPY", NOW - timedelta(minutes=1), 580.0)
    yahoo.add_option("SPY", "put", 575.0, expiry, bid=5.0, ask=5.2, last=5.1, iv=0.16)
    yahoo.add_option("SPY", "put", 570.0, expiry, bid=3.9, ask=4.1, last=4.0, iv=0.18)
    spread = (Leg.of("sell", "put", 575.0, expiry, 2), Leg.of("buy", "put", 570.0, expiry, 2))
    inputs = await pricing.gather(client, symbol="SPY", legs=spread, moment=NOW - timedelta(minutes=1), now=NOW,
                                  trader_price=1.1)
    assert inputs.vol_source == pricing.FROM_CHAIN and inputs.vol == pytest.approx(0.17)
    follower, legs = pricing.follow_now(spread, inputs)
    assert follower is not None and follower.side == "net"
    assert follower.price == pytest.approx(-(5.0 - 4.1))  # sell at the bid, buy at the ask: a 0.90 credit
    assert [leg.price for leg in legs] == [5.0, 4.1]


async def test_a_spread_the_chain_lacks_is_priced_at_the_one_volatility_its_net_implies(yahoo: FakeYahoo,
                                                                                         client: YahooMarket) -> None:
    from pipeline.judge.options_math import bs_price

    expiry = expiry_ahead(21)
    yahoo.add_symbol("QQQ", 500.0)
    yahoo.set_price("QQQ", NOW - timedelta(minutes=1), 500.0)
    spread = (Leg.of("buy", "call", 500.0, expiry, 1), Leg.of("sell", "call", 510.0, expiry, 1))
    inputs = await pricing.gather(client, symbol="QQQ", legs=spread, moment=NOW - timedelta(minutes=1), now=NOW,
                                  trader_price=4.0)
    assert inputs.vol_source == pricing.FROM_TRADER and inputs.years is not None and inputs.vol is not None
    net = bs_price(500.0, 500.0, inputs.years, inputs.vol, "call") - bs_price(500.0, 510.0, inputs.years, inputs.vol,
                                                                            "call")
    assert net == pytest.approx(4.0, abs=1e-4)


def test_chasing_is_against_the_market_at_the_alert_and_never_for_an_averaged_entry() -> None:
    from types import SimpleNamespace

    from pipeline.judge.flags import sanity_flags
    from pipeline.judge.stage import flag_facts

    def trade(text: str) -> SimpleNamespace:
        return SimpleNamespace(open_action="BTO", option_type="call", expiry=expiry_ahead(30), risk=None,
                               entry_price=3.6, quantity=1, legs=None, entry_text=text,
                               raw={"actualPriceAtTimeOfAlert": 3.5})  # an earlier average, not the market
    assert "chasing" in sanity_flags(flag_facts(trade("BTO AAPL 250C @ 3.60"), TODAY, market_price=3.1))
    assert "chasing" not in sanity_flags(flag_facts(trade("BTO AAPL 250C @ 3.60"), TODAY, market_price=3.5))
    assert "chasing" not in sanity_flags(flag_facts(trade("Adding AAPL 250C @ 3.60 avg"), TODAY, market_price=3.1))
