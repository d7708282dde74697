"""The legs of a multi-leg alert, read from its text: verticals, iron condors, straddles and strangles. Pure.

- A vertical ("340/350 call debit spread", "580/575 PCS", "220/215 put spread"): which strike is bought follows
  from credit or debit, said by a word (credit, debit, PCS/BPS/CCS/BCS = credit, PDS/CDS = debit, bull call
  and bear put = debit, bull put and bear call = credit) or, when no word says it, by the action (BTO opens a
  debit, STO a credit). A call debit buys the lower strike, a call credit sells it; a put credit sells the
  higher strike, a put debit buys it.
- An iron condor ("570/575/600/605 iron condor", "535/540/580/585 IC", or its two spreads "540/535P 580/585C"):
  the four strikes in any order, sold inside, bought outside (a "reverse" condor the other way round).
- A straddle ("580 straddle") buys (BTO) or sells (STO) a call and a put at one strike; a strangle
  ("570/590 strangle") the put at the lower strike and the call at the higher.

The parser reads everything else (symbol, expiry, price, size) from the text with the combination written as
its first leg, so one grammar serves all; each leg here has the alert's quantity and shares its expiry.
"""

from __future__ import annotations

import re

from pipeline.models import Leg

__all__ = ["rewrite_combination", "vertical_legs"]

_NUM = r"\$?(\d+(?:\.\d+)?)"
_CONDOR = re.compile(rf"{_NUM}\s*[cp]?\s*/\s*{_NUM}\s*[cp]?\s*/\s*{_NUM}\s*[cp]?\s*/\s*{_NUM}\s*[cp]?"
                     r"(?P<words>(?:\s+(?:reverse|long|short|iron|condor|condors|ic|credit|debit|spread))+)", re.I)
# "540/535P 580/585C" (a put pair and a call pair, in either order): a condor written as its two spreads.
_PAIRS = re.compile(rf"{_NUM}\s*/\s*{_NUM}\s*(?P<k1>[cp])\s+{_NUM}\s*/\s*{_NUM}\s*(?P<k2>[cp])"
                    r"(?P<words>(?:\s+(?:reverse|long|short|iron|condor|condors|ic|credit|debit|spread))*)", re.I)
_CONDOR_WORDS = re.compile(r"\b(?:condor|condors|ic)\b", re.I)
_STRANGLE = re.compile(rf"{_NUM}\s*[cp]?\s*/\s*{_NUM}\s*[cp]?\s+(?P<words>(?:long\s+|short\s+)?strangles?)\b", re.I)
_STRADDLE = re.compile(rf"{_NUM}\s*[cp]?\s+(?P<words>(?:long\s+|short\s+)?straddles?)\b", re.I)
_CREDIT = re.compile(r"\b(?:credit|pcs|bps|ccs|bcs)\b|\bbull\s+put\b|\bbear\s+call\b", re.I)
_DEBIT = re.compile(r"\b(?:debit|pds|cds)\b|\bbull\s+call\b|\bbear\s+put\b", re.I)


def _contract(side: str, kind: str, strike: float) -> Leg:
    """One contract of a combination as written: no expiry (the alert's applies) and no price yet."""
    return Leg.of(side, kind, strike, None, 1)


def _credit_spread(text: str, action: str) -> bool:
    if _CREDIT.search(text):
        return True
    if _DEBIT.search(text):
        return False
    return action.upper() in ("STO", "BTC")


def vertical_legs(first: float, second: float, kind: str, action: str, text: str) -> tuple[Leg, Leg]:
    """The two legs of a vertical, lower strike first."""
    low, high = sorted((first, second))
    credit = _credit_spread(text, action)
    buy_low = not credit if kind == "call" else credit
    return (_contract("buy" if buy_low else "sell", kind, low), _contract("sell" if buy_low else "buy", kind, high))


def rewrite_combination(text: str, action: str) -> tuple[str, tuple[Leg, ...]] | None:
    """A condor, straddle or strangle in `text` (cleaned): the text with the combination replaced by its first
    leg (so the usual grammar reads the rest), and the legs. None when there is no such combination."""
    opening_buy = action.upper() in ("BTO", "STC")
    match = _CONDOR.search(text)
    pairs = _PAIRS.search(text)
    if pairs and {pairs.group("k1").lower(), pairs.group("k2").lower()} == {"c", "p"}:
        match = pairs
    if match and (match is pairs or _CONDOR_WORDS.search(match.group("words"))):
        strikes = sorted(float(match.group(i)) for i in (1, 2, 4, 5)) if match is pairs else \
            sorted(float(match.group(i)) for i in range(1, 5))
        if len(set(strikes)) != 4:
            return None
        words = match.group("words").lower()
        reverse = "reverse" in words or ("long" in words and "iron" not in words) or "debit" in words
        inner, outer = ("buy", "sell") if reverse else ("sell", "buy")
        legs = (_contract(outer, "put", strikes[0]), _contract(inner, "put", strikes[1]),
                _contract(inner, "call", strikes[2]), _contract(outer, "call", strikes[3]))
        return _replace(text, match, f"{strikes[0]:g}p"), legs
    match = _STRANGLE.search(text)
    if match:
        low, high = sorted((float(match.group(1)), float(match.group(2))))
        side = _combination_side(match.group("words"), opening_buy)
        return _replace(text, match, f"{low:g}p"), (_contract(side, "put", low), _contract(side, "call", high))
    match = _STRADDLE.search(text)
    if match:
        strike = float(match.group(1))
        side = _combination_side(match.group("words"), opening_buy)
        return _replace(text, match, f"{strike:g}c"), (_contract(side, "call", strike), _contract(side, "put", strike))
    return None


def _combination_side(words: str, opening_buy: bool) -> str:
    words = words.lower()
    if "short" in words:
        return "sell"
    if "long" in words:
        return "buy"
    return "buy" if opening_buy else "sell"


def _replace(text: str, match: re.Match[str], leg: str) -> str:
    return f"{text[:match.start()]}{leg}{text[match.end():]}"
