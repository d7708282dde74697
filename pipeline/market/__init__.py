"""Market data behind one interface (`MarketData`): the keyless default provider speaking Yahoo Finance's wire
format (`yahoo`), recorded daily closes for the demo and the backtest (`recorded`), a short-TTL single-flight cache
(`cache`) and the exchange calendar (`calendar`)."""

from pipeline.market.calendar import TradingCalendar, load_calendar
from pipeline.market.models import MarketData, PriceHistory, Quote, SourceHealth
from pipeline.market.recorded import RecordedMarket
from pipeline.market.yahoo import YahooMarket

__all__ = ["MarketData", "PriceHistory", "Quote", "RecordedMarket", "SourceHealth", "TradingCalendar",
           "YahooMarket", "load_calendar"]
