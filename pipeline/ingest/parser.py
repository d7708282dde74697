"""Reads a trader's alert text (`BTO 5 SPY 450C 12/15 @ 1.20 lotto`) into a `ParsedAlert`. Pure; never raises.

The grammar is loose (shared/xtrades/alert-formats.md):

    ACTION [QTY] [$]SYMBOL [EXPIRY] STRIKE(C|P|call|put) [EXPIRY] @ PRICE [notes]

The text is cleaned (tags, entities, emoji, bidi and control characters, fancy punctuation), cut into tokens
by one compiled pattern, and read left to right by small functions: the action near the start, then the size
and the symbol, then the price marker splits the rest into the contract and the notes. Anything that is not
an alert, or is impossible (month 13, Feb 30, a zero price, a seven-letter "ticker"), gives None: a missed
alert is logged upstream, a wrong one would be sent to people.

Where the grammar is ambiguous:
- A date without a year is the next such date on or after `today`; a month alone ("Dec", "Jan 2027",
  "Jan '27") is that month's third Friday. "Jan 27" is January 27th, not January 2027.
- "0DTE" is `today`; "NDTE" is N business days later (Mon-Fri, no holiday calendar) for N <= 5, and N
  calendar days for larger N ("45 DTE").
- A price is read only after a marker (`@`, `at`, `for`) or, for shares, a `$`: "BTO SPY 450C 12/15 1.20"
  keeps price None rather than guess. "@ m" / "@ market" gives price None with is_market True.
- Never invent a single-leg trade: a strike without call/put, a call/put without a strike, a dated contract
  without either, two different strikes or expiries, a contract named only after the price, or a spread whose
  type is not said (or is mixed: condor, straddle) all give None. A spread keeps its first (short) leg.
- "SL 1.0" is stop_loss 1.0; "SL: 50%" is stop_loss_pct 50.0 (no price is derived from it).
- is_partial is only set on exits (STC/BTC), is_average only on entries (BTO/STO); the "partial" and "avg"
  flags record the words whatever the side.
- Explicit years must lie between 2000 and five years after `today`; past expiries are kept (old posts).
- The first date-like "m/d" after the symbol is the expiry ("1/2" is Jan 2 there); before the symbol or
  after an expiry, "1/2" or "2/5" is a part of the position.
- A plan ("if it breaks", "watching") or a second action before the price ("Long day, sold SPY...") gives
  None. A common word that is also a ticker (NOW, ON, IT) is the symbol only with "$", or in capitals right
  before the contract when nothing else can be; grammar words (THE, CALLS, LOTTO) only with "$".
- Only the first 4,000 characters are read (600 after cleaning): alerts are short.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import re
import unicodedata
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple

from pipeline.ingest.legs import rewrite_combination, vertical_legs
from pipeline.models import Leg

__all__ = ["ParsedAlert", "clean", "failures", "parse_alert", "third_friday"]

log = logging.getLogger(__name__)
LOGGED_TEXT_CHARS = 200  # a failing text is logged this far: enough to reproduce, never a wall of someone's post
_failed = 0  # texts the parser raised on since the process started (each one a parser bug)


def failures() -> int:
    """How many texts the parser has failed on since the process started; the cycle reports each run's share."""
    return _failed


@dataclass(frozen=True, slots=True)
class ParsedAlert:
    """One alert as its text states it: numbers positive, dates real, nothing guessed."""

    action: str  # BTO | STC | STO | BTC
    symbol: str  # upper case, no "$"; may hold a dot (BRK.B)
    option_type: str | None  # "call" | "put"; None for shares
    strike: float | None
    expiry: date | None
    price: float | None  # None: at market (see is_market) or not given
    quantity: int | None
    is_partial: bool = False  # an exit of part of the position: trim, partial, 1/2, half, some
    is_average: bool = False  # adding to an open position (avg, averaging, adding): action stays BTO/STO
    is_spread: bool = False  # multi-leg: strike and option_type are the first leg's
    is_market: bool = False  # "@ m", "@ mkt", "at market"
    flags: frozenset[str] = frozenset()  # lowercase notes: lotto, risky, swing, longterm, partial, avg, sl...
    stop_loss: float | None = None  # "SL 1.0"
    stop_loss_pct: float | None = None  # "SL: 50%"
    profit_target: str | None = None  # raw: "3.0", "125%"
    legs_text: str | None = None  # a spread's legs as written: "580/575 PCS"
    legs: tuple[Leg, ...] = ()  # every leg of a multi-leg alert (a vertical, condor, straddle, strangle)


class _Invalid(Exception):
    """The text names something impossible (a bad date, a zero price, an untyped spread): not an alert."""


# --- cleaning -----------------------------------------------------------------------------------------------

_MAX_RAW = 4_000  # alerts are short; hostile 10,000-character texts are cut before any work
_MAX_CLEAN = 600
_TAG = re.compile(r"<[^<>]{0,300}>")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufe00-\ufe0f\ufeff]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_JUNK = re.compile(r"[\x00-\x1f\x7f*_~`|\\]+")  # control characters and Discord markdown
_FANCY = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2044": "/", "\u2215": "/", "\u00d7": "x",
})


def clean(text: str) -> str:
    """The alert as one line of plain ASCII: tags out, entities decoded, emoji and invisible characters
    dropped, fancy quotes and dashes made plain, whitespace collapsed. The grammar is all ASCII."""
    text = text[:_MAX_RAW]
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
        if "<" in text:
            text = _TAG.sub(" ", text)  # escaped markup (&lt;b&gt;) is markup too
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_FANCY)  # full-width letters, ＠, ½: ASCII
        text = _NON_ASCII.sub(" ", _INVISIBLE.sub("", text))
    if "://" in text or "www." in text:
        text = _URL.sub(" ", text)
    text = _JUNK.sub(" ", text)
    return " ".join(text.split())[:_MAX_CLEAN]


# --- tokens -------------------------------------------------------------------------------------------------

_N = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
# Run over the lower-cased text; the most common kind (words) is tried first, numbers only where one starts.
_TOKEN = re.compile(rf"""[ ]*(?:
    (?P<word>\$?[a-z]+(?:\.[a-z]{{1,2}}\b)?(?:'[a-z]+)?(?:-[a-z]+)*)
  | (?=[\d.$'])(?:(?P<iso>(?<![\d.])\d{{4}}-\d{{1,2}}-\d{{1,2}}(?![\d.]))
  | (?P<date3>(?<![\d.])\d{{1,2}}/\d{{1,2}}/(?:\d{{4}}|\d{{2}})(?![\d/.]))
  | (?P<pair>\$?(?P<a>{_N})(?P<sa>[a-z]*)[ ]?/[ ]?\$?(?P<b>{_N})(?P<sb>[a-z%]*))
  | (?P<time>\d{{1,2}}:\d{{2}}(?:[ap]m)?)
  | (?P<num>\$?(?P<n>{_N})(?P<sn>[a-z%]*))
  | (?P<year>'\d{{2}}(?!\d)))
  | (?P<punct>\S)
)""", re.X)


class _Tok(NamedTuple):
    kind: str  # iso | date3 | pair | time | num | year | word | punct
    text: str
    low: str  # lower case, without a leading "$"
    match: re.Match[str]  # over the lower-cased text


def _tokenize(text: str) -> list[_Tok]:
    tokens = []
    new = tuple.__new__  # builds the named tuple in C: tokenizing is most of the parsing time
    for m in _TOKEN.finditer(text.lower()):
        kind = m.lastgroup or "punct"
        start, end = m.span(kind)
        low = m.group(kind)
        if low[0] == "$" and kind != "punct":
            low = low[1:]
        tokens.append(new(_Tok, (kind, text[start:end], low, m)))
    return tokens


def _number(tok: _Tok, group: str = "n") -> float:
    return float(tok.match.group(group).replace(",", ""))


def _suffix(tok: _Tok, group: str = "sn") -> str:
    return tok.match.group(group)  # lower case: the pattern runs over the lower-cased text


def _is(tok: _Tok | None, kind: str, texts: Container[str] = ()) -> bool:
    """Whether `tok` is of `kind` (and, when given, one of `texts`, lower case)."""
    return tok is not None and tok.kind == kind and (not texts or tok.low in texts)


def _at(tokens: list[_Tok], index: int) -> _Tok | None:
    return tokens[index] if 0 <= index < len(tokens) else None


# --- vocabulary ---------------------------------------------------------------------------------------------

class _Action(NamedTuple):
    action: str
    partial: bool = False
    average: bool = False
    if_short: str | None = None  # the action when "short" follows: "sold short", "closed short"


_BTO, _STO, _STC, _BTC = _Action("BTO"), _Action("STO"), _Action("STC"), _Action("BTC")
_CLOSER = _Action("STC", if_short="BTC")
_TRIM = _Action("STC", partial=True)
_AVG = _Action("BTO", average=True, if_short="STO")
_PHRASES: dict[str, _Action] = {
    "bto": _BTO, "entry": _BTO, "buy to open": _BTO, "bought to open": _BTO, "buying to open": _BTO,
    "bought": _BTO, "buy": _BTO, "buying": _BTO, "long": _BTO, "entered": _BTO, "entering": _BTO,
    "opened": _BTO, "opening": _BTO,
    "sto": _STO, "sell to open": _STO, "sold to open": _STO, "selling to open": _STO, "short": _STO,
    "shorted": _STO, "shorting": _STO,
    "stc": _STC, "sell to close": _STC, "sold to close": _STC, "selling to close": _STC,
    "sold": _Action("STC", if_short="STO"), "sell": _Action("STC", if_short="STO"),
    "selling": _Action("STC", if_short="STO"),
    "closed": _CLOSER, "closing": _CLOSER, "close": _CLOSER, "exited": _CLOSER, "exiting": _CLOSER,
    "exit": _CLOSER, "out of": _CLOSER, "all out of": _CLOSER, "all out": _CLOSER, "took profits": _CLOSER,
    "took profit": _CLOSER, "taking profits": _CLOSER, "taking profit": _CLOSER,
    "trim": _TRIM, "trimming": _TRIM, "trimmed": _TRIM, "scaling out of": _TRIM, "scaled out of": _TRIM,
    "scaling out": _TRIM, "scaled out": _TRIM, "took some profits": _TRIM, "taking some profits": _TRIM,
    "btc": _BTC, "buy to close": _BTC, "bought to close": _BTC, "buying to close": _BTC, "covering": _BTC,
    "covered": _BTC, "cover": _BTC,
    "avg": _AVG, "avging": _AVG, "averaging": _AVG, "averaged": _AVG, "adding": _AVG, "added": _AVG,
    "add": _AVG,
}


def _index_phrases() -> dict[str, list[tuple[tuple[str, ...], _Action]]]:
    """First word -> [(the other words, action)], longest phrase first, so "sold to open" beats "sold"."""
    index: dict[str, list[tuple[tuple[str, ...], _Action]]] = {}
    for words, action in sorted(((p.split(), a) for p, a in _PHRASES.items()), key=lambda pa: -len(pa[0])):
        index.setdefault(words[0], []).append((tuple(words[1:]), action))
    return index


_PHRASE_INDEX = _index_phrases()
_CODES = {"bto": "BTO", "sto": "STO", "stc": "STC", "btc": "BTC"}

# Words that may come before the action ("New alert: BTO", "I bought", "Lotto BTO ...")
_LEAD = frozenset("""new alert alerts trade update position play option options just i we i'm im we're
i've we've also and ok okay so now today quick small starter officially finally hey guys team everyone here
lotto risky swing scalp yolo day""".split())
_ACTION_WINDOW = 8  # tokens in which the action must start
_SENTENCE_ENDS = frozenset("@,.;!")

_TYPES = {"c": "call", "call": "call", "calls": "call", "p": "put", "put": "put", "puts": "put"}
_MONTHS = {name: n for n, names in enumerate(
    [(), ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
     ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
     ("nov", "november"), ("dec", "december")]) for name in names}
_ORDINALS = frozenset({"st", "nd", "rd", "th"})
_DAY_SUFFIXES = _ORDINALS | {""}
_SPREAD_TYPED = {"pcs": "put", "bps": "put", "pds": "put", "ccs": "call", "bcs": "call", "cds": "call"}
_SPREAD_WORDS = frozenset({"spread", "spreads", "vertical", "credit", "debit", "butterfly", "fly", "calendar",
                           "diagonal"})
_BULL_BEAR = frozenset({"bull", "bear"})  # "600/610 bull call spread": only after legs
_LEG_WORDS = frozenset({*_TYPES, *_SPREAD_TYPED, *_SPREAD_WORDS, *_BULL_BEAR})  # what may follow legs
_MIXED_LEGS = frozenset({"condor", "condors", "ic", "iron", "straddle", "straddles", "strangle", "strangles",
                         "collar", "combo"})
_QTY_WORDS = frozenset({"x", "contracts", "contract", "cons", "con", "lots", "shares", "share"})
_SHARE_WORDS = frozenset({"shares", "share", "stock", "commons"})
_SECOND_ACTIONS = frozenset({*_CODES, "bought", "sold", "buying", "selling", "trimmed", "trimming", "closed",
                             "closing", "covered", "covering", "entered", "exited"})
_PLAN_WORDS = frozenset({"if", "watching", "watch", "watchlist", "looking", "waiting", "eyeing",
                         "considering", "maybe", "might", "thinking"})
_MARKET = frozenset({"m", "mkt", "market"})
_SL_WORDS = frozenset({"sl", "stop", "stoploss", "stop-loss"})
_PT_WORDS = frozenset({"pt", "pts", "tp", "target", "targets"})
_TARGET_LINKS = frozenset({":", "=", "@", "$", "-", "~", "loss", "at", "is", "below", "above", "under",
                           "around", "of"})
_PARTIAL_BEFORE = frozenset({"half", "some", "partial", "partials", "part", "portion"})
_PARTIAL_NOTES = frozenset({"partial", "partials", "half", "trim", "trimmed", "trimming", "runner",
                            "runners"})
_AVG_WORDS = frozenset({"avg", "avging", "averaging", "averaged", "adding", "added"})
_FLAG_WORDS = {
    "lotto": "lotto", "lottos": "lotto", "yolo": "lotto", "risky": "risky", "high-risk": "risky",
    "highrisk": "risky", "swing": "swing", "swings": "swing", "swinging": "swing", "longterm": "longterm",
    "long-term": "longterm", "lt": "longterm", "investment": "investment", "invest": "investment",
    "partial": "partial", "partials": "partial", "scalp": "scalp", "scalping": "scalp", "leap": "leaps",
    "leaps": "leaps", "hedge": "hedge", "hedging": "hedge", "daytrade": "day", "day-trade": "day",
    "starter": "starter",
}
_FLAG_PAIRS = {("high", "risk"): "risky", ("long", "term"): "longterm", ("day", "trade"): "day"}

_TICKER = re.compile(r"[A-Z]{1,6}(?:\.[A-Z]{1,2})?")
# Grammar words: never a symbol unless written with "$" ($C, $M and $X are real tickers)
_NEVER = frozenset("""
A I AT TO THE FOR AND OF MY CALL CALLS PUT PUTS C P SHARE SHARES STOCK CONTRACT CONTRACTS CONS CON X LOTS
LOTTO LOTTOS SWING AVG DTE PT SL TP STO BTO STC BTC M MKT PARTIAL HALF SOME EXP STRIKE SPREAD PCS CCS
JAN FEB MAR APR MAY JUN JUL AUG SEP SEPT OCT NOV DEC
""".split())
# Common words that are also tickers (NOW, ON, ALL, OPEN): a symbol only when nothing better is written
_STOPWORDS = _NEVER | frozenset("""
IN ON ALL MORE REST NOW OUT OPEN CLOSE NEW ALERT ENTRY EXIT UP DOWN INTO LONG SHORT ADD ADDING IT IS SO GO
ME WE US BE NO OR IF AN AS BY OK THIS THAT WITH FROM JUST HERE BACK AGAIN TODAY FEW BIT LOT POSITION POS DIP
RUNNERS SMALL SIZE STARTER RISKY SCALP YOLO LEAPS HEDGE REMAINING ANOTHER TRIM PROFIT PROFITS MARKET
""".split())


# --- dates --------------------------------------------------------------------------------------------------

def third_friday(year: int, month: int) -> date:
    """Monthly options expire on the third Friday."""
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def _calendar_date(year: int | None, month: int, day: int, today: date) -> date:
    """The date, or without a year the next such date on or after today (Feb 29 may be years away)."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise _Invalid
    if year is None:
        for candidate_year in range(today.year, today.year + 9):
            try:
                candidate = date(candidate_year, month, day)
            except ValueError:
                continue
            if candidate >= today:
                return candidate
        raise _Invalid  # Feb 30, Apr 31
    _check_year(year, today)
    try:
        return date(year, month, day)
    except ValueError:
        raise _Invalid from None


def _monthly(year: int | None, month: int, today: date) -> date:
    """A month alone is its third Friday; without a year the next one on or after today."""
    if year is not None:
        _check_year(year, today)
        return third_friday(year, month)
    friday = third_friday(today.year, month)
    return friday if friday >= today else third_friday(today.year + 1, month)


def _check_year(year: int, today: date) -> None:
    if not 2000 <= year <= today.year + 5:
        raise _Invalid


def _full_year(text: str) -> int:
    year = int(text.lstrip("'"))
    return year + 2000 if year < 100 else year


def _days_to_expiry(days: int, today: date) -> date:
    """0DTE is today; a few DTE count trading days (Mon-Fri), more count calendar days ("45 DTE")."""
    if days > 5:
        return today + timedelta(days=days)
    expiry = today
    while days > 0:
        expiry += timedelta(days=1)
        if expiry.weekday() < 5:
            days -= 1
    return expiry


# --- the alert being read -----------------------------------------------------------------------------------

@dataclass(slots=True)
class _Draft:
    """What has been read so far; turned into a ParsedAlert once it is checked."""

    action: str
    action_words: _Action
    partial: bool = False
    average: bool = False
    quantity: int | None = None
    symbol: str = ""
    option_type: str | None = None
    strike: float | None = None
    expiry: date | None = None
    price: float | None = None
    is_market: bool = False
    is_shares: bool = False
    is_spread: bool = False
    multi_leg_word: bool = False  # "spread", "PCS"... seen: there must be legs
    legs_text: str | None = None
    loose_types: set[str] = field(default_factory=set)  # "calls" with no number of its own
    bare_numbers: list[float] = field(default_factory=list)  # numbers in the contract part that are nothing
    contract_in_notes: bool = False  # a strike written after the price
    stop_loss: float | None = None
    stop_loss_pct: float | None = None
    profit_target: str | None = None
    flags: set[str] = field(default_factory=set)

    def set_expiry(self, expiry: date) -> None:
        if self.expiry is not None and self.expiry != expiry:
            raise _Invalid  # two expiries: more than one contract
        self.expiry = expiry

    def set_strike(self, strike: float, option_type: str) -> None:
        strike = _positive(strike)
        if self.strike is not None and (self.strike, self.option_type) != (strike, option_type):
            raise _Invalid  # two strikes that are not a written spread
        self.strike, self.option_type = strike, option_type


def _positive(value: float) -> float:
    if not 0 < value < 1_000_000:
        raise _Invalid
    return value


# --- reading ------------------------------------------------------------------------------------------------

def parse_alert(text: str, *, today: date | None = None) -> ParsedAlert | None:
    """The alert stated in `text`, or None when it is not one or is impossible. Never raises."""
    if isinstance(today, datetime):
        today = today.date()  # a datetime does not compare with dates
    try:
        return _parse(text, today or date.today())
    except _Invalid:
        return None
    except Exception:  # a safety net only: every impossible input is meant to be caught by a check above
        global _failed
        _failed += 1
        log.warning("the parser failed on %r; the text is skipped as no alert", str(text)[:LOGGED_TEXT_CHARS],
                    exc_info=True)
        return None


def _parse(raw: object, today: date) -> ParsedAlert | None:
    if not isinstance(raw, str):
        return None
    text = clean(raw)
    tokens = _tokenize(text)
    found = _read_action(tokens)
    if found is None:
        return None
    combination = rewrite_combination(text, found[0].action)
    if combination is not None:  # a condor, straddle or strangle: read with its first leg, legs kept apart
        text, combo_legs = combination
        tokens = _tokenize(text)
        found = _read_action(tokens)
        if found is None:
            return None
    else:
        combo_legs = ()
    draft, start = found
    symbol_at = _read_subject(tokens, start, draft)
    if symbol_at is None:
        return None
    body = _take_targets(tokens[symbol_at + 1:], draft)
    contract, notes = _split_at_price(body, draft)
    _read_contract(contract, today, draft)
    _read_notes(notes, draft)
    _read_flags(tokens[start:], draft)
    parsed = _finish(draft, today)
    if parsed is None:
        return None
    if combo_legs:
        return dataclasses.replace(parsed, is_spread=True, legs=combo_legs, flags=parsed.flags | {"spread"})
    if parsed.is_spread and parsed.legs_text and parsed.option_type and parsed.strike is not None:
        other = _other_strike(parsed.legs_text, parsed.strike)
        if other is not None:
            legs = vertical_legs(parsed.strike, other, parsed.option_type, parsed.action, text)
            return dataclasses.replace(parsed, legs=legs)
    return parsed


_LEG_NUMBERS = re.compile(r"\$?(\d+(?:\.\d+)?|\.\d+)")


def _other_strike(legs_text: str, first: float) -> float | None:
    """The second strike of "580/575 PCS"."""
    numbers = [float(n) for n in _LEG_NUMBERS.findall(legs_text)[:2]]
    if len(numbers) != 2 or numbers[0] == numbers[1]:
        return None
    return numbers[1] if abs(numbers[0] - first) < 1e-9 else numbers[0]


def _read_action(tokens: list[_Tok]) -> tuple[_Draft, int] | None:
    """The action near the start (after punctuation and a few lead words: "New alert:", "I", "Lotto").
    Anything else first ("Should I BTO...", "PLTR calls up...", "Watching NVDA") means it is not an alert."""
    lead_flags: set[str] = set()
    for index, tok in enumerate(tokens[:_ACTION_WINDOW]):
        if tok.kind == "punct":
            if tok.text == "?":
                return None
            continue
        if tok.kind != "word":
            return None
        for rest, act in _PHRASE_INDEX.get(tok.low, ()):
            end = index + 1 + len(rest)
            if all(_is(_at(tokens, index + 1 + k), "word", (word,)) for k, word in enumerate(rest)):
                draft = _Draft(action=act.action, action_words=act, partial=act.partial, average=act.average)
                draft.flags |= lead_flags
                return draft, end
        if tok.low not in _LEAD:
            return None
        if tok.low in _FLAG_WORDS:
            lead_flags.add(_FLAG_WORDS[tok.low])
    return None


def _read_subject(tokens: list[_Tok], start: int, draft: _Draft) -> int | None:
    """Reads the size ("5", "5x", "200 shares"), partial words ("1/2", "half") and the symbol that come after
    the action; returns the symbol's index. Numbers end this part: a symbol comes before its contract."""
    words: list[int] = []
    stop = min(len(tokens), start + 12)
    index = start
    while index < stop:
        tok = tokens[index]
        if tok.kind == "punct":
            if tok.text == "?":
                raise _Invalid
            if tok.text in _SENTENCE_ENDS:
                stop = index  # "Long day, sold..." has no symbol before its comma
                break
        elif tok.kind == "pair" and _fraction(tok):
            draft.partial = True
        elif tok.kind == "num" and not words and draft.quantity is None and (
                quantity := _quantity_at(tokens, index)):
            draft.quantity = quantity
        elif tok.kind != "word":
            stop = index
            break
        else:
            _read_subject_word(tokens, index, draft, words)
        index += 1
    chosen = _choose_symbol(tokens, words, start, stop)
    if chosen is not None:
        draft.symbol = tokens[chosen].text.lstrip("$").upper()
    return chosen


def _read_subject_word(tokens: list[_Tok], index: int, draft: _Draft, words: list[int]) -> None:
    low = tokens[index].low
    if low in _CODES:
        draft.action = _CODES[low]  # "Exit: BTC ...", "avg STO ..."
    elif low == "short" and draft.action_words.if_short:
        draft.action = draft.action_words.if_short  # "sold short", "closed short", "adding to my short"
    elif low in _PARTIAL_BEFORE:
        draft.partial = True
    elif low in _AVG_WORDS:
        draft.average = True
    elif low in _SHARE_WORDS:
        draft.is_shares = True
    elif _TICKER.fullmatch(tokens[index].text.lstrip("$").upper()):
        words.append(index)


def _quantity_at(tokens: list[_Tok], index: int) -> int | None:
    """A whole number before the symbol is a size ("BTO 5 SPY", "5x", "200 shares"), not a strike or year."""
    tok, after = tokens[index], _at(tokens, index + 1)
    number, suffix = tok.match.group("n"), _suffix(tok)
    if tok.text.startswith("$") or "." in number or suffix not in ("", "x"):
        return None
    if _is(_at(tokens, index - 1), "word", _MONTHS):
        return None  # "Jan 2027" is a year
    if suffix == "" and not (after is not None and after.kind == "word" and after.low not in _MONTHS and (
            after.low in _QTY_WORDS or _TICKER.fullmatch(after.text.lstrip("$").upper()))):
        return None
    return _size(float(number.replace(",", "")))


def _choose_symbol(tokens: list[_Tok], words: list[int], start: int, stop: int) -> int | None:
    """The symbol among the ticker-shaped words: a "$" one, else an upper-case one ("Bought the dip on NVDA"),
    else the first that is not a common word; a common word that is a ticker (NOW, ON) only when written in
    capitals right before the contract ("BTO NOW 900C")."""
    names = [i for i in words if tokens[i].text.startswith("$") or tokens[i].text.upper() not in _NEVER]
    for i in names:
        if tokens[i].text.startswith("$"):
            return i
    plain = [i for i in names if tokens[i].text.upper() not in _STOPWORDS]
    for i in plain:
        if tokens[i].text.isupper():
            return i
    if plain:
        return plain[0]
    last = next((i for i in range(stop - 1, start - 1, -1) if tokens[i].kind != "punct"), None)
    if last is not None and last in names and tokens[last].text.isupper() and stop < len(tokens):
        return last
    return None


def _fraction(tok: _Tok) -> bool:
    """"1/2", "2/5": a part of a position (never a date when it comes before the symbol or after a date)."""
    a, b = tok.match.group("a"), tok.match.group("b")
    return a.isdigit() and b.isdigit() and not tok.match.group("sa") and not tok.match.group("sb") and (
        0 < int(a) < int(b) <= 10)


def _take_targets(body: list[_Tok], draft: _Draft) -> list[_Tok]:
    """Takes "SL 1.0", "SL: 50%", "PT 3.0", "PT: 125%" out wherever they are, so their numbers are never read
    as a strike or a price."""
    used: set[int] = set()
    for index, tok in enumerate(body):
        if tok.kind != "word" or (tok.low not in _SL_WORDS and tok.low not in _PT_WORDS):
            continue
        end = index + 1
        while end < len(body) and end - index < 4 and body[end].low in _TARGET_LINKS:
            end += 1
        value = _at(body, end)
        if _is(value, "num") and value is not None and value.text.isdigit() and len(value.text) == 1 and _is(
                _at(body, end + 1), "num"):
            end += 1  # "PT1 1.50 PT2 2.00": the first target
            value = body[end]
        if value is None or value.kind not in ("num", "pair"):
            continue
        used.update(range(index, end + 1))
        if tok.low in _PT_WORDS:
            draft.profit_target = draft.profit_target or value.text.lstrip("$")
            draft.flags.add("pt")
            continue
        draft.flags.add("sl")
        amount = _number(value, "n" if value.kind == "num" else "a")
        if value.kind == "num" and _suffix(value) == "%":
            draft.stop_loss_pct = _positive(amount)
        else:
            draft.stop_loss = _positive(amount)
    return [tok for index, tok in enumerate(body) if index not in used] if used else body


def _split_at_price(body: list[_Tok], draft: _Draft) -> tuple[list[_Tok], list[_Tok]]:
    """Reads the price ("@ 2.50", "@2.5", "@ .45", "@ $3.10", "at 2.05", "for 1.10", "@ m"); returns what
    comes before it (the contract) and after it (the notes)."""
    for index, tok in enumerate(body):
        is_at = tok.kind == "punct" and tok.text == "@"
        if not is_at and not _is(tok, "word", ("at", "for")):
            continue
        at = index + 1 + _is(_at(body, index + 1), "punct", ("$",))
        value = _at(body, at)
        if _is(value, "punct", ("-",)) and _is(_at(body, at + 1), "num"):
            raise _Invalid  # a negative price
        after = _at(body, at + 1)  # "@ 450 calls", "for 2 contracts": not a price
        not_a_price = _is(after, "word", _TYPES) or (not is_at and _is(after, "word", _QTY_WORDS))
        if value is not None and value.kind == "num" and _suffix(value) == "" and not not_a_price:
            draft.price = _positive(_number(value))
            return body[:index], body[at + 1:]
        if is_at and value is not None and value.kind == "pair" and not _suffix(value, "sa"):
            draft.price = _positive(_number(value, "a"))  # "@ 1.20/1.25": the first
            return body[:index], body[at + 1:]
        if value is not None and value.low in _MARKET and (is_at or tok.low == "at"):
            draft.is_market = True
            return body[:index], body[at + 1:]
        if is_at:
            return body[:index], body[at:]  # "@ open": the contract ends here, the price is not stated
    if not any(_names_option(body, i) for i in range(len(body))):  # shares: "BTO NVDA $142.35"
        for index, tok in enumerate(body):
            if tok.kind == "num" and tok.text.startswith("$") and _suffix(tok) == "":
                draft.price = _positive(_number(tok))
                return body[:index], body[index + 1:]
    return body, []


def _names_option(tokens: list[_Tok], index: int) -> bool:
    """Whether the token at `index` says call or put ("450C", "450 calls", "puts")."""
    tok = tokens[index]
    if tok.kind == "num":
        return _suffix(tok) in _TYPES
    return tok.kind == "word" and (tok.low in _TYPES or tok.low in _SPREAD_TYPED)


def _read_contract(tokens: list[_Tok], today: date, draft: _Draft) -> None:
    """Strike, type and expiry from the part between the symbol and the price, in any order."""
    index = 0
    while index < len(tokens):
        tok = tokens[index]
        if tok.kind == "punct" and tok.text == "?":
            raise _Invalid  # a question
        if tok.kind == "iso":
            year, month, day = (int(part) for part in tok.text.split("-"))
            draft.set_expiry(_calendar_date(year, month, day, today))
        elif tok.kind == "date3":
            month_text, day_text, year_text = tok.text.split("/")
            draft.set_expiry(_calendar_date(_full_year(year_text), int(month_text), int(day_text), today))
        elif tok.kind == "pair":
            index = _read_pair(tokens, index, today, draft)
            continue
        elif tok.kind == "num":
            index = _read_number(tokens, index, today, draft)
            continue
        elif tok.kind == "word":
            index = _read_word(tokens, index, today, draft)
            continue
        index += 1


def _read_pair(tokens: list[_Tok], index: int, today: date, draft: _Draft) -> int:
    """"12/19" is a date, "1/2" after a date is a part, "580/575 PCS" or "450c/455c" is a spread."""
    tok = tokens[index]
    types = {_TYPES.get(_suffix(tok, "sa")), _TYPES.get(_suffix(tok, "sb"))}
    spread_word = False
    end = index + 1
    while _is(word := _at(tokens, end), "word", _LEG_WORDS) and word is not None:
        types.add(_TYPES.get(word.low) or _SPREAD_TYPED.get(word.low))
        spread_word = spread_word or word.low not in _TYPES
        end += 1
    kinds = {kind for kind in types if kind is not None}
    a, b = tok.match.group("a"), tok.match.group("b")
    date_like = (not (_suffix(tok, "sa") or _suffix(tok, "sb")) and a.isdigit() and b.isdigit()
                 and len(a) <= 2 and len(b) <= 2 and not spread_word
                 and not (draft.multi_leg_word and not draft.is_spread))  # "put spread 12/11": legs
    if date_like:
        if draft.expiry is not None and _fraction(tok):
            draft.partial = True
        else:
            draft.set_expiry(_calendar_date(None, int(a), int(b), today))
        return index + 1
    if draft.multi_leg_word:
        kinds |= draft.loose_types  # "put spread 220/215"
    if len(kinds) != 1:
        raise _Invalid  # legs whose type is not said ("580/575", "13/19") or mixed ("450c/440p")
    draft.set_strike(_number(tok, "a"), kinds.pop())
    _positive(_number(tok, "b"))
    draft.is_spread = True
    draft.legs_text = " ".join(t.text for t in tokens[index:end])
    return end


def _read_number(tokens: list[_Tok], index: int, today: date, draft: _Draft) -> int:
    """A number in the contract: a strike ("400p", "212.5C", "450 calls"), a DTE ("0DTE", "1 DTE"), a
    day before its month ("19 Dec", "19th Dec"), a size ("5 contracts", "5x"), or a bare number (no type)."""
    tok, after = tokens[index], _at(tokens, index + 1)
    value, suffix = _number(tok), _suffix(tok)
    if suffix in _TYPES:
        draft.set_strike(value, _TYPES[suffix])
        return index + 1
    if suffix == "dte" or (suffix == "" and _is(after, "word", ("dte",))):
        return _read_dte(tokens, index, value, today, draft) + (suffix == "")
    if suffix in _MONTHS or (suffix in _DAY_SUFFIXES and 1 <= value <= 31 and _is(after, "word", _MONTHS)):
        month_at = index if suffix in _MONTHS else index + 1
        month = _MONTHS[suffix] if suffix in _MONTHS else _MONTHS[after.low] if after else 0
        year, end = _year_after(tokens, month_at + 1)
        draft.set_expiry(_calendar_date(year, month, _whole(value), today))
        return end
    if suffix == "x" or (suffix == "" and _is(after, "word", _QTY_WORDS)):
        draft.quantity = draft.quantity or _size(value)
        draft.is_shares = draft.is_shares or _is(after, "word", ("shares", "share"))
        return index + 1 + (suffix == "")
    if suffix == "" and _is(after, "word", _TYPES):
        draft.set_strike(value, _TYPES[after.low] if after else "")
        return index + 2
    if suffix == "" and _is(after, "word", ("strike",)) and _is(_at(tokens, index + 2), "word", _TYPES):
        draft.set_strike(value, _TYPES[tokens[index + 2].low])  # "450 strike calls"
        return index + 3
    if (suffix == "" and not tok.text.startswith("$")) or suffix in _ORDINALS:
        draft.bare_numbers.append(value)
    return index + 1


def _read_dte(tokens: list[_Tok], index: int, value: float, today: date, draft: _Draft) -> int:
    days = _whole(value)
    if days > 400:
        raise _Invalid
    draft.set_expiry(_days_to_expiry(days, today))
    if days <= 1:
        draft.flags.add(f"{days}dte")
    return index + 1


def _size(value: float) -> int:
    """A number of contracts or shares: whole and positive."""
    size = _whole(value)
    if not 0 < size <= 1_000_000:
        raise _Invalid
    return size


def _whole(value: float) -> int:
    if value != int(value):
        raise _Invalid
    return int(value)


def _year_after(tokens: list[_Tok], index: int) -> tuple[int | None, int]:
    """An optional year after a day ("Dec 19 '26", "Dec 19, 2026", "19 Dec 2026"): (year, next index)."""
    at = index + _is(_at(tokens, index), "punct", (",",))
    tok = _at(tokens, at)
    if tok is not None and tok.kind == "year":
        return _full_year(tok.text), at + 1
    if tok is not None and tok.kind == "num" and len(tok.text) == 4 and tok.text.isdigit() and not _is(
            _at(tokens, at + 1), "word", _TYPES):  # "Dec 19 2026", not "Dec 19 2500 calls"
        return int(tok.text), at + 1
    return None, index


def _read_word(tokens: list[_Tok], index: int, today: date, draft: _Draft) -> int:
    """A word in the contract: a month, a lone call/put, a spread name, a plan or a second action (not an
    alert); other words are commentary."""
    tok = tokens[index]
    low = tok.low
    if low in _MONTHS:
        return _read_month(tokens, index, today, draft)
    if low in _TYPES:
        draft.loose_types.add(_TYPES[low])
    elif low in _SPREAD_TYPED:
        draft.multi_leg_word = True
        draft.loose_types.add(_SPREAD_TYPED[low])
    elif low in _SPREAD_WORDS:
        draft.multi_leg_word = True
    elif low in _MIXED_LEGS:
        raise _Invalid  # a condor or straddle has both types: no single type to report
    elif low in _PLAN_WORDS:
        raise _Invalid  # "Buy SPY 450C if it breaks 450": a plan, not a fill
    elif low in _SECOND_ACTIONS:
        raise _Invalid  # "Long day today, sold SPY 450C": the first word was not the action
    elif low == "x" and _is(_at(tokens, index + 1), "num") and _suffix(tokens[index + 1]) == "":
        draft.quantity = draft.quantity or _size(_number(tokens[index + 1]))  # "x5"
        return index + 2
    return index + 1


def _read_month(tokens: list[_Tok], index: int, today: date, draft: _Draft) -> int:
    """"Dec 19", "December 19th", "Dec 19 '26", "Jan 2027", "Jan '27" and "Dec" alone (the third Friday)."""
    tok = tokens[index]
    month = _MONTHS[tok.low]
    at = index + 1 + _is(_at(tokens, index + 1), "punct", (".",))
    nxt = _at(tokens, at)
    if nxt is not None and nxt.kind == "year":
        draft.set_expiry(_monthly(_full_year(nxt.text), month, today))  # "Jan '27": the monthly
        return at + 1
    if nxt is not None and nxt.kind == "num" and nxt.text[0] != "$" and _suffix(nxt) in _DAY_SUFFIXES:
        value = _number(nxt)
        if _suffix(nxt) == "" and len(nxt.text) == 4 and nxt.text.isdigit():
            draft.set_expiry(_monthly(int(nxt.text), month, today))  # "Jan 2027"
            return at + 1
        if value == int(value) and 1 <= value <= 31 and not _is(_at(tokens, at + 1), "word", _TYPES):
            year, end = _year_after(tokens, at + 1)
            draft.set_expiry(_calendar_date(year, month, int(value), today))
            return end
    if tok.text == "may":
        return index + 1  # the verb, not the month
    draft.set_expiry(_monthly(None, month, today))  # "Dec 450C", "Dec 12 calls": the monthly
    return index + 1


def _read_notes(notes: list[_Tok], draft: _Draft) -> None:
    """After the price: partial words, averaging words, a size, and any contract named too late to trust."""
    if notes and _is(notes[0], "punct", ("?",)):
        raise _Invalid  # "BTO ... @ 2.50?" asks
    for index, tok in enumerate(notes):
        after = _at(notes, index + 1)
        if tok.kind == "pair" and _fraction(tok):
            draft.partial = True
        elif tok.kind == "num":
            if _suffix(tok) in _TYPES or (_suffix(tok) == "" and _is(after, "word", _TYPES)):
                draft.contract_in_notes = True
            elif tok.text.replace(",", "").isdigit() and _is(after, "word", _QTY_WORDS - {"x"}):
                draft.quantity = draft.quantity or _size(_number(tok))  # "..., 5 contracts", "(100 shares)"
            elif _suffix(tok) == "x" and tok.match.group("n").isdigit():
                draft.quantity = draft.quantity or _size(_number(tok))  # "@ 1.50 2x"
        elif tok.kind == "word":
            if tok.low == "x" and _is(after, "num") and after is not None and _suffix(after) == "" \
                    and after.text.isdigit():
                draft.quantity = draft.quantity or _size(_number(after))  # "@ 1.50 x2"
            elif tok.low in _PARTIAL_NOTES or (tok.low == "some" and _is(after, "word", ("off",))):
                draft.partial = True
            elif tok.low in _AVG_WORDS:
                draft.average = True


def _read_flags(body: list[_Tok], draft: _Draft) -> None:
    previous = ""
    for tok in body:
        if tok.kind != "word":
            previous = ""
            continue
        if tok.low in _FLAG_WORDS:
            draft.flags.add(_FLAG_WORDS[tok.low])
        elif (previous, tok.low) in _FLAG_PAIRS:
            draft.flags.add(_FLAG_PAIRS[previous, tok.low])
        previous = tok.low


def _finish(draft: _Draft, today: date) -> ParsedAlert | None:
    """Checks that the pieces make one trade, never guessing a missing one."""
    if draft.multi_leg_word and not draft.is_spread:
        return None  # "spread" or "PCS" without legs
    if draft.strike is None and len(draft.loose_types) == 1 and len(draft.bare_numbers) == 1:
        draft.set_strike(draft.bare_numbers.pop(), next(iter(draft.loose_types)))  # "SPY calls 450 12/19"
    if draft.option_type is not None:
        if draft.loose_types - {draft.option_type} or draft.is_shares:
            return None  # "450C ... puts", "200 shares ... 450C"
    elif draft.expiry or draft.bare_numbers or draft.loose_types or draft.contract_in_notes:
        return None  # a contract without a strike or a type
    elif draft.price is None and not draft.is_market and not (draft.is_shares and draft.quantity):
        return None  # an action and a name but nothing traded: "closed green today"
    exit_ = draft.action in ("STC", "BTC")
    flags = draft.flags
    if draft.partial:
        flags.add("partial")
    if draft.average:
        flags.add("avg")
    if draft.is_spread:
        flags.add("spread")
    if draft.expiry == today and draft.option_type is not None:
        flags.add("0dte")
    return ParsedAlert(
        action=draft.action, symbol=draft.symbol, option_type=draft.option_type, strike=draft.strike,
        expiry=draft.expiry, price=draft.price, quantity=draft.quantity, is_partial=exit_ and draft.partial,
        is_average=not exit_ and draft.average, is_spread=draft.is_spread, is_market=draft.is_market,
        flags=frozenset(flags), stop_loss=draft.stop_loss, stop_loss_pct=draft.stop_loss_pct,
        profit_target=draft.profit_target, legs_text=draft.legs_text,
    )
