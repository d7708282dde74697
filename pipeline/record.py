"""The one (de)serialiser of a `Scoring`: the JSON document in `xtrades_alerts.scoring`, with its format version.

Rows scored before the record existed kept their scoring in two dicts (`score_parts`, `strategy_ranking`, with
the own trade and the alternative marked by magic keys) and the market in `market_context`; `legacy_scoring`
migrates such a row on reading, so old cards still render. Nothing else reads those columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, cast

from pipeline.models import (
    STRUCTURES,
    Alternative,
    ChanceBasis,
    ContractQuote,
    Follower,
    Leg,
    MarketInputs,
    OptionKind,
    OwnTrade,
    PriceSource,
    RankedStrategy,
    ScorePart,
    Scoring,
    SizeSource,
    View,
)

FORMAT = 1  # bump when a field changes meaning; `scoring_from_json` then needs a branch for the older one
VIEWS: frozenset[str] = frozenset({"bullish", "bearish", "neutral"})


# --- writing ----------------------------------------------------------------------------------------------------


def scoring_to_json(s: Scoring) -> dict[str, Any]:
    return {
        "format": FORMAT, "scorer_version": s.scorer_version, "blend": _r(s.blend), "score": _r(s.score),
        "parts": [{"name": p.name, "value": _r(p.value), "weight": _r(p.weight), "confidence": _r(p.confidence)}
                  for p in s.parts],
        "penalties": [[flag, points] for flag, points in s.penalties], "flags": list(s.flags),
        "calibrated": _r(s.calibrated), "own": _own_to_json(s.own) if s.own else None, "own_fit": _r(s.own_fit),
        "fit_parts": [[name, _r(value)] for name, value in s.fit_parts], "notes": list(s.notes),
        "alternative": _alternative_to_json(s.alternative) if s.alternative else None,
        "no_alternative": s.no_alternative,
        "ranking": [_ranked_to_json(r) for r in s.ranking], "market": _market_to_json(s.market),
        "ai_probability_of_profit": _r(s.ai_probability_of_profit), "ai_confidence": _r(s.ai_confidence),
        "chance": _chance_to_json(s.chance),
    }


def _chance_to_json(c: ChanceBasis) -> dict[str, Any]:
    return {"basis": c.basis, "trades": c.trades, "market": _r(c.market), "trader": _r(c.trader),
            "trader_closed": c.trader_closed, "pushes": [[name, _r(v)] for name, v in c.pushes], "start": _r(c.start)}


def _chance_from_json(d: Mapping[str, Any]) -> ChanceBasis:
    basis = d.get("basis")
    return ChanceBasis(basis=basis if basis in ("model", "market", "trader") else None,
                       trades=int(d.get("trades") or 0), market=_f(d.get("market")), trader=_f(d.get("trader")),
                       trader_closed=int(d.get("trader_closed") or 0),
                       pushes=tuple((str(n), float(v)) for n, v in d.get("pushes") or ()), start=_f(d.get("start")))


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def _legs(legs: Sequence[Leg]) -> list[dict[str, Any]]:
    return [leg.to_json() for leg in legs]


def _own_to_json(t: OwnTrade) -> dict[str, Any]:
    return {"key": t.key, "name": t.name, "view": t.view, "legs": _legs(t.legs), "net_premium": _r(t.net_premium),
            "max_profit": _r(t.max_profit), "max_loss": _r(t.max_loss), "breakevens": [_r(b) for b in t.breakevens],
            "capital": _r(t.capital), "probability_of_profit": _r(t.probability_of_profit),
            "pop_source": t.pop_source, "size": t.size, "size_source": t.size_source,
            "price_source": t.price_source}


def _alternative_to_json(a: Alternative) -> dict[str, Any]:
    return {"name": a.name, "key": a.key, "legs": _legs(a.legs), "units": a.units, "net_premium": _r(a.net_premium),
            "max_profit": _r(a.max_profit), "max_loss": _r(a.max_loss), "capital": _r(a.capital),
            "probability_of_profit": _r(a.probability_of_profit), "score": a.score, "sizing": a.sizing,
            "priced_from": a.priced_from}


def _ranked_to_json(r: RankedStrategy) -> dict[str, Any]:
    return {"name": r.name, "key": r.key, "score": r.score, "max_profit": _r(r.max_profit),
            "max_loss": _r(r.max_loss), "breakevens": [_r(b) for b in r.breakevens], "capital": _r(r.capital),
            "probability_of_profit": _r(r.probability_of_profit), "reasons": list(r.reasons)}


def _market_to_json(m: MarketInputs) -> dict[str, Any]:
    return {"underlying_price": _r(m.underlying_price), "trend": m.trend, "volatility_regime": m.volatility_regime,
            "iv": _r(m.iv), "iv_rank": _r(m.iv_rank), "iv_hv": _r(m.iv_hv), "hv_30": _r(m.hv_30),
            "next_earnings": m.next_earnings.isoformat() if m.next_earnings else None,
            "sources": list(m.sources), "notes": list(m.notes), "data_source": m.data_source,
            "quotes": [_quote_to_json(q) for q in m.quotes], "not_priced": m.not_priced,
            "trading_dte": m.trading_dte, "follower": _follower_to_json(m.follower) if m.follower else None}


def _quote_to_json(q: ContractQuote) -> dict[str, Any]:
    return {"kind": q.kind.value, "strike": _r(q.strike), "expiry": q.expiry.isoformat(), "bid": _r(q.bid),
            "ask": _r(q.ask), "last": _r(q.last), "iv": _r(q.iv), "volume": q.volume,
            "open_interest": q.open_interest}


def _follower_to_json(f: Follower) -> dict[str, Any]:
    return {"side": f.side, "price": _r(f.price), "breakevens": [_r(b) for b in f.breakevens],
            "probability_of_profit": _r(f.probability_of_profit)}


# --- reading ----------------------------------------------------------------------------------------------------


def scoring_from_json(data: Mapping[str, Any]) -> Scoring:
    """A stored document back as the record. An unknown format is a ValueError (a newer writer: never guessed)."""
    if data.get("format") != FORMAT:
        raise ValueError(f"scoring format {data.get('format')!r} is not {FORMAT}")
    own, alternative = data.get("own"), data.get("alternative")
    return Scoring(
        scorer_version=str(data["scorer_version"]), blend=float(data["blend"]), score=float(data["score"]),
        parts=tuple(ScorePart(name=str(p["name"]), value=float(p["value"]), weight=float(p["weight"]),
                              confidence=float(p["confidence"])) for p in data.get("parts") or ()),
        penalties=tuple((str(flag), float(points)) for flag, points in data.get("penalties") or ()),
        flags=tuple(str(f) for f in data.get("flags") or ()), calibrated=_f(data.get("calibrated")),
        own=_own_from_json(own) if own else None, own_fit=_f(data.get("own_fit")),
        fit_parts=tuple((str(name), float(value)) for name, value in data.get("fit_parts") or ()),
        notes=tuple(str(n) for n in data.get("notes") or ()),
        alternative=_alternative_from_json(alternative) if alternative else None,
        no_alternative=data.get("no_alternative") if isinstance(data.get("no_alternative"), str) else None,
        ranking=tuple(_ranked_from_json(r) for r in data.get("ranking") or ()),
        market=_market_from_json(data.get("market") or {}),
        ai_probability_of_profit=_f(data.get("ai_probability_of_profit")), ai_confidence=_f(data.get("ai_confidence")),
        chance=_chance_from_json(data.get("chance") or {}),
    )


def _f(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _view(value: Any) -> View:
    return cast(View, value) if value in VIEWS else "neutral"


def _price_source(value: Any) -> PriceSource:
    if value == "market":
        return "market"
    return "none" if value == "none" else "trader"  # rows from before the field: the trader's price


def _size_source(value: Any) -> SizeSource:
    if value == "order":
        return "order"
    return "text" if value == "text" else "none"


def _legs_from(rows: Any) -> tuple[Leg, ...]:
    return tuple(Leg.from_json(row) for row in rows or ())


def _own_from_json(d: Mapping[str, Any]) -> OwnTrade:
    return OwnTrade(key=str(d["key"]), name=str(d["name"]), view=_view(d.get("view")), legs=_legs_from(d.get("legs")),
                    net_premium=float(d.get("net_premium") or 0.0), max_profit=_f(d.get("max_profit")),
                    max_loss=_f(d.get("max_loss")), breakevens=tuple(float(b) for b in d.get("breakevens") or ()),
                    capital=_f(d.get("capital")), probability_of_profit=_f(d.get("probability_of_profit")),
                    pop_source=d.get("pop_source"), size=int(d.get("size") or 1),
                    size_source=_size_source(d.get("size_source")), price_source=_price_source(d.get("price_source")))


def _alternative_from_json(d: Mapping[str, Any]) -> Alternative:
    return Alternative(name=str(d["name"]), key=str(d["key"]), legs=_legs_from(d.get("legs")),
                       units=int(d.get("units") or 1), net_premium=float(d.get("net_premium") or 0.0),
                       max_profit=_f(d.get("max_profit")), max_loss=_f(d.get("max_loss")),
                       capital=float(d.get("capital") or 0.0),
                       probability_of_profit=float(d.get("probability_of_profit") or 0.0),
                       score=int(d.get("score") or 0),
                       sizing="max_loss" if d.get("sizing") == "max_loss" else "contracts",
                       priced_from="chain" if d.get("priced_from") == "chain" else "iv")


def _ranked_from_json(d: Mapping[str, Any]) -> RankedStrategy:
    return RankedStrategy(name=str(d["name"]), key=str(d["key"]), score=int(d.get("score") or 0),
                          max_profit=_f(d.get("max_profit")), max_loss=_f(d.get("max_loss")),
                          breakevens=tuple(float(b) for b in d.get("breakevens") or ()),
                          capital=float(d.get("capital") or 0.0),
                          probability_of_profit=float(d.get("probability_of_profit") or 0.0),
                          reasons=tuple(str(r) for r in d.get("reasons") or ()))


def _market_from_json(d: Mapping[str, Any]) -> MarketInputs:
    earnings = d.get("next_earnings")
    return MarketInputs(underlying_price=_f(d.get("underlying_price")), trend=str(d.get("trend") or "neutral"),
                        volatility_regime=str(d.get("volatility_regime") or "normal"), iv=_f(d.get("iv")),
                        iv_rank=_f(d.get("iv_rank")), iv_hv=_f(d.get("iv_hv")), hv_30=_f(d.get("hv_30")),
                        next_earnings=date.fromisoformat(earnings) if isinstance(earnings, str) else None,
                        sources=tuple(str(s) for s in d.get("sources") or ()),
                        notes=tuple(str(n) for n in d.get("notes") or ()), data_source=d.get("data_source"),
                        quotes=tuple(_quote_from_json(q) for q in d.get("quotes") or ()),
                        not_priced=d.get("not_priced"), trading_dte=_i(d.get("trading_dte")),
                        follower=_follower_from_json(d["follower"]) if d.get("follower") else None)


def _i(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _quote_from_json(d: Mapping[str, Any]) -> ContractQuote:
    return ContractQuote(kind=OptionKind(str(d["kind"])), strike=float(d["strike"]),
                         expiry=date.fromisoformat(str(d["expiry"])), bid=_f(d.get("bid")), ask=_f(d.get("ask")),
                         last=_f(d.get("last")), iv=_f(d.get("iv")), volume=_i(d.get("volume")),
                         open_interest=_i(d.get("open_interest")))


def _follower_from_json(d: Mapping[str, Any]) -> Follower:
    side = d.get("side")
    return Follower(side=side if side in ("ask", "bid", "net") else "net", price=float(d.get("price") or 0.0),
                    breakevens=tuple(float(b) for b in d.get("breakevens") or ()),
                    probability_of_profit=_f(d.get("probability_of_profit")))


# --- rows scored before the record (migration on reading) -------------------------------------------------------

LEGACY_OWN, LEGACY_ALTERNATIVE = "is_alert_strategy", "is_alternative"  # the magic keys of the old shape


def legacy_scoring(score_parts: Mapping[str, Any] | None, strategy_ranking: Sequence[Mapping[str, Any]] | None,
                   market_context: Mapping[str, Any] | None, *, score: float | None,
                   profit_probability: float | None, scorer_version: str | None) -> Scoring:
    """An old row's two dicts as the record. Figures the old shape did not keep stay unknown."""
    parts_in = dict(score_parts or {})
    entries = list(strategy_ranking or ())
    own = next((e for e in entries if e.get(LEGACY_OWN)), None)
    alternative = next((e for e in entries if e.get(LEGACY_ALTERNATIVE)), None)
    ranked = [e for e in entries if not e.get(LEGACY_OWN) and not e.get(LEGACY_ALTERNATIVE)]
    parts = tuple(ScorePart(name, float(p["value"]), float(p["weight"]), float(p.get("confidence") or 1.0))
                  for name, p in parts_in.items() if isinstance(p, Mapping) and "value" in p and "weight" in p)
    penalties_in = parts_in.get("penalties")
    penalties = tuple((str(k), float(v)) for k, v in penalties_in.items()) if isinstance(penalties_in, Mapping) \
        else ()
    blend_score = _f(parts_in.get("score"))
    final = blend_score if blend_score is not None else float(score or 0.0)
    blend = sum(p.contribution for p in parts) if parts else final + sum(v for _, v in penalties)
    return Scoring(
        scorer_version=str(parts_in.get("version") or scorer_version or "unknown"), blend=blend, score=final,
        parts=parts, penalties=penalties, flags=tuple(str(f) for f in (own or {}).get("flags") or ()),
        calibrated=profit_probability, own=_legacy_own(own) if own else None,
        own_fit=_f((own or {}).get("fit")),
        fit_parts=tuple((str(k), float(v)) for k, v in ((own or {}).get("fit_parts") or {}).items()),
        notes=tuple(str(r) for r in (own or {}).get("reasons") or ()),
        alternative=_legacy_alternative(alternative) if alternative else None,
        ranking=tuple(_legacy_ranked(e) for e in ranked), market=_market_from_json(market_context or {}),
        ai_probability_of_profit=_f(parts_in.get("ai_probability_of_profit")),
        ai_confidence=_f(parts_in.get("ai_confidence")),
    )


def _legacy_key(entry: Mapping[str, Any]) -> str:
    key = str(entry.get("short_name") or "CUSTOM")
    return key if key in STRUCTURES else "CUSTOM"


def _legacy_own(e: Mapping[str, Any]) -> OwnTrade:
    return OwnTrade(key=_legacy_key(e), name=str(e.get("name") or "?"), view=_view(e.get("view")),
                    legs=_legs_from(e.get("legs")), net_premium=float(e.get("net_premium") or 0.0),
                    max_profit=_f(e.get("max_profit")), max_loss=_f(e.get("max_loss")),
                    breakevens=tuple(float(b) for b in e.get("breakevens") or ()),
                    capital=float(e.get("capital_required") or 0.0),
                    probability_of_profit=_f(e.get("probability_of_profit")))


def _legacy_alternative(e: Mapping[str, Any]) -> Alternative:
    return Alternative(name=str(e.get("name") or "?"), key=_legacy_key(e), legs=_legs_from(e.get("legs")),
                       units=int(e.get("units") or 1), net_premium=float(e.get("net_premium") or 0.0),
                       max_profit=_f(e.get("max_profit")), max_loss=_f(e.get("max_loss")),
                       capital=float(e.get("capital_required") or 0.0),
                       probability_of_profit=float(e.get("probability_of_profit") or 0.0),
                       score=int(e.get("score") or 0))


def _legacy_ranked(e: Mapping[str, Any]) -> RankedStrategy:
    return RankedStrategy(name=str(e.get("name") or "?"), key=_legacy_key(e), score=int(e.get("score") or 0),
                          max_profit=_f(e.get("max_profit")), max_loss=_f(e.get("max_loss")),
                          breakevens=tuple(float(b) for b in e.get("breakevens") or ()),
                          capital=float(e.get("capital_required") or 0.0),
                          probability_of_profit=float(e.get("probability_of_profit") or 0.0),
                          reasons=tuple(str(r) for r in e.get("reasons") or ()))


def scoring_of(row: Any) -> Scoring | None:
    """The scoring of an `xtrades_alerts` row: its record, or an old row's dicts migrated; None if unscored."""
    if row.scoring:
        return scoring_from_json(row.scoring)
    if row.score_parts is None and row.strategy_ranking is None:
        return None
    return legacy_scoring(row.score_parts, row.strategy_ranking, row.market_context, score=row.score,
                          profit_probability=row.profit_probability, scorer_version=row.scorer_version)
