"""Reads a trader's alert text (`BTO 5 SPY 450C 12/15 @ 1.20 lotto`) into a `ParsedAlert`. Pure; never raises.

The grammar is loose (../shared/xtrades/alert-formats.md): `ACTION [QTY] [$]SYMBOL [EXPIRY] STRIKE(C|P) [EXPIRY]
@ PRICE [notes]`, with words for actions, the expiry before or after the strike, emoji and HTML around it. The
text is cleaned, the action found near the start, then each piece is taken out by its own small pattern. Anything
that is not an alert, or is impossible (month 13, a zero price, a seven-letter "ticker"), gives None: a missed
alert is logged upstream, a wrong one would be sent to people.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

MAX_TEXT = 600  # alerts are short; past this only the start is read (hostile 10,000-character texts)

_TAG = re.compile(r"<[^>]{0,200}>")
_SPACES = re.compile(r"\s+")
_DASHES = str.maketrans({"–": "-", "—": "-", "−": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "＄": "$"})

# Actions, longest phrases first; (pattern, action, partial, average)
_ACTIONS: list[tuple[re.Pattern[str], str, bool, bool]] = [
    (re.compile(p), a, partial, avg) for p, a, partial, avg in [
        (r"\b(?:bought|buy|buying)\s+to\s+open\b", "BTO", False, False),
        (r"\b(?:sold|sell|selling)\s+to\s+open\b", "STO", False, False),
        (r"\b(?:sold|sell|selling)\s+to\s+close\b", "STC", False, False),
        (r"\b(?:bought|buy|buying)\s+to\s+close\b", "BTC", False, False),
        (r"\bbto\b", "BTO", False, False),
        (r"\bsto\b", "STO", False, False),
        (r"\bstc\b", "STC", False, False),
        (r"\bbtc\b", "BTC", False, False),
        (r"\b(?:trimming|trimmed|trim)\b", "STC", True, False),
        (r"\b(?:took|taking|take)\s+(?:some\s+)?profits?\s+(?:on|in)\b", "STC", True, False),
        (r"\b(?:avg|averaging|averaged|adding|added)\b(?:\s+(?:down|up|more|in|into|to))?", "BTO", False, True),
        (r"\b(?:covering|covered)\b", "BTC", False, False),
        (r"\b(?:bought|buying|long|entered|entering)\b", "BTO", False, False),
        (r"\b(?:shorted|shorting|short)\b", "STO", False, False),
        (r"\b(?:sold|selling|closed|closing|exited|exiting|out\s+of)\b", "STC", False, False),
    ]
]
_ACTION_WINDOW = 24  # the action must start within the first characters (after cleaning)

_TICKER = re.compile(r"^\$?([A-Za-z]{1,6}(?:\.[A-Za-z]{1,2})?)$")
_STOPWORDS = frozenset("""
A I AT TO THE FOR AND OF ON IN MY SOME MORE ALL HALF REST PARTIAL CALL CALLS PUT PUTS SHARES SHARE STOCK
LOTTO SWING AVG DTE PT SL STO BTO STC BTC X CONTRACT CONTRACTS OPEN CLOSE OUT PROFIT PROFITS ANOTHER NEW
ALERT ENTRY EXIT POSITION POS LONG SHORT MARKET MKT M C P UP DOWN INTO ADD ADDING WEEKLY WEEKLIES
JAN FEB MAR APR MAY JUN JUL AUG SEP SEPT OCT NOV DEC
""".split())
_MONTHS = {name: n for n, names in enumerate(
    [(), ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")]) for name in names}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))

_NUM = r"\d+(?:\.\d+)?|\.\d+"
_PRICE = re.compile(rf"(?:@|\bat\b|\bfor\b)\s*(-?)\s*\$?\s*({_NUM}|m\b|mkt\b|market\b)", re.I)
# A spread names its type by letter or word, or by PCS/CCS; "12/19" alone is a date, never a spread.
_SPREAD = re.compile(
    rf"\$?({_NUM})\s*/\s*\$?({_NUM})\s*(?:(c|p|calls?|puts?)\b\s*)?(credit\s+spread|debit\s+spread|spread|pcs|ccs|cs|ps)?",
    re.I)
_STRIKE = re.compile(rf"(?<![\d/.])\$?({_NUM})\s*(c|p|calls?|puts?)\b", re.I)
_QTY = re.compile(r"^(\d{1,5})\s*(?:x\b|contracts?\b|cons?\b|shares?\b)?", re.I)

_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_MDY = re.compile(r"(?<![\d.$])(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?(?![\d/])")
_MON_DAY = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s*'?(\d{{4}}|\d{{2}})\b)?", re.I)
_DAY_MON = re.compile(rf"\b(\d{{1,2}})\s+({_MONTH_RE})\b(?:\s+'?(\d{{4}}|\d{{2}})\b)?", re.I)
_MON_YEAR = re.compile(rf"\b({_MONTH_RE})\.?\s+'?(\d{{4}})\b", re.I)
_MON_ALONE = re.compile(rf"\b({_MONTH_RE})\b\.?(?!\s*\d)", re.I)
_DTE = re.compile(r"\b([01])\s*dte\b", re.I)

_SL = re.compile(rf"\b(?:sl|stop(?:\s*loss)?)\s*:?\s*\$?((?:{_NUM})%?)", re.I)
_PT = re.compile(rf"\b(?:pt|target|tp)\s*:?\s*\$?((?:{_NUM})%?)", re.I)
_FLAG_WORDS = {"lotto": "lotto", "lottos": "lotto", "risky": "risky", "swing": "swing", "longterm": "longterm",
               "long-term": "longterm", "investment": "investment", "partial": "partial", "scalp": "scalp",
               "day": "day", "daytrade": "day", "yolo": "lotto", "leap": "leap", "leaps": "leap"}
_PARTIAL = re.compile(r"\b(?:partial|half|some|1/2|1/3|2/3|1/4|3/4|trim(?:ming|med)?)\b", re.I)


@dataclass(frozen=True, slots=True)
class ParsedAlert:
    action: str  # BTO | STC | STO | BTC
    symbol: str
    option_type: str | None  # call | put | None for shares
    strike: float | None
    expiry: date | None
    price: float | None  # None: at market ("@ m") or not given
    quantity: int | None
    is_partial: bool = False
    is_average: bool = False
    is_spread: bool = False
    is_market: bool = False
    stop_loss: str | None = None
    profit_target: str | None = None
    flags: frozenset[str] = field(default_factory=frozenset)


def clean(text: str) -> str:
    """Tags out, entities decoded, emoji and control/bidi characters dropped, dashes and spaces normalised."""
    text = _TAG.sub(" ", text[: MAX_TEXT * 4])
    text = html.unescape(text).translate(_DASHES)
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char in "\n\t":
            kept.append(" ")
        elif category[0] in "CZ" and char != " ":
            kept.append(" " if category[0] == "Z" else "")
        elif category in ("So", "Sk", "Cs", "Mn"):
            kept.append(" ")
        else:
            kept.append(char)
    return _SPACES.sub(" ", "".join(kept)).strip()[:MAX_TEXT]


def third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def _next_on_or_after(month: int, day: int, today: date) -> date | None:
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate
    return None


def _full_year(text: str | None) -> int | None:
    if text is None:
        return None
    year = int(text)
    return year + 2000 if year < 100 else year


class _Invalid(Exception):
    """The text names an impossible date or number: not an alert."""


def _find_expiry(text: str, today: date) -> tuple[date | None, str]:
    """(expiry, text with the expiry taken out). Raises _Invalid for an impossible date."""
    if m := _DTE.search(text):
        days = int(m.group(1))
        return today + timedelta(days=days), text[:m.start()] + " " + text[m.end():]
    if m := _ISO.search(text):
        return _make_date(int(m.group(1)), int(m.group(2)), int(m.group(3))), _cut(text, m)
    if m := _MDY.search(text):
        month, day, year = int(m.group(1)), int(m.group(2)), _full_year(m.group(3))
        if year is None:
            if not (1 <= month <= 12 and 1 <= day <= 31):
                raise _Invalid
            found = _next_on_or_after(month, day, today)
            if found is None:
                raise _Invalid
            return found, _cut(text, m)
        return _make_date(year, month, day), _cut(text, m)
    if m := _MON_YEAR.search(text):
        return third_friday(int(m.group(2)), _MONTHS[m.group(1).lower()]), _cut(text, m)
    if m := _MON_DAY.search(text):
        month, day, year = _MONTHS[m.group(1).lower()], int(m.group(2)), _full_year(m.group(3))
        return (_make_date(year, month, day) if year else _next_or_invalid(month, day, today)), _cut(text, m)
    if m := _DAY_MON.search(text):
        month, day, year = _MONTHS[m.group(2).lower()], int(m.group(1)), _full_year(m.group(3))
        return (_make_date(year, month, day) if year else _next_or_invalid(month, day, today)), _cut(text, m)
    if m := _MON_ALONE.search(text):
        month = _MONTHS[m.group(1).lower()]
        year = today.year if third_friday(today.year, month) >= today else today.year + 1
        return third_friday(year, month), _cut(text, m)
    return None, text


def _next_or_invalid(month: int, day: int, today: date) -> date:
    found = _next_on_or_after(month, day, today)
    if found is None:
        raise _Invalid
    return found


def _make_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _Invalid from None


def _cut(text: str, match: re.Match[str]) -> str:
    return text[:match.start()] + " " + text[match.end():]


def _option_type(word: str | None) -> str | None:
    if not word:
        return None
    word = word.lower()
    return "call" if word.startswith("c") else "put" if word.startswith("p") else None


def _positive(number: str) -> float:
    value = float(number)
    if value <= 0:
        raise _Invalid
    return value


def _find_action(lowered: str) -> tuple[str, bool, bool, int] | None:
    best: tuple[int, int, str, bool, bool] | None = None
    for pattern, action, partial, average in _ACTIONS:
        m = pattern.search(lowered, 0, _ACTION_WINDOW + 20)
        if m and m.start() <= _ACTION_WINDOW and (best is None or m.start() < best[0]):
            best = (m.start(), m.end(), action, partial, average)
    if best is None:
        return None
    return best[2], best[3], best[4], best[1]


def parse_alert(text: str, *, today: date | None = None) -> ParsedAlert | None:
    """The alert in `text`, or None when it is not one (or is impossible). Never raises."""
    try:
        return _parse(text, today or date.today())
    except (_Invalid, ValueError, OverflowError, KeyError, IndexError, TypeError):
        return None


def _parse(raw: str, today: date) -> ParsedAlert | None:
    if not isinstance(raw, str):
        return None
    text = clean(raw)
    if not text or "?" in text[:80]:
        return None  # empty, or a question
    found = _find_action(text.lower())
    if found is None:
        return None
    action, partial, average, end = found
    rest = text[end:].strip(" :-,")
    if m := re.match(r"^(?:1/2|1/3|2/3|1/4|3/4|half|some|partial)\b\s*(?:of\s+)?", rest, re.I):
        partial = partial or action == "STC"
        rest = rest[m.end():]

    quantity = None
    if m := _QTY.match(rest):
        after = rest[m.end():].lstrip()
        if after and not after[0].isdigit() and not after.startswith(("/", ".", "@")) and not re.match(
                r"^[cp]\b|^calls?\b|^puts?\b", after, re.I):
            quantity = int(m.group(1))
            if quantity <= 0:
                raise _Invalid
            rest = after

    tokens = rest.split()
    symbol = None
    for index, token in enumerate(tokens[:4]):
        bare = token.strip(",;:!")
        m = _TICKER.match(bare)
        if m and m.group(1).upper() not in _STOPWORDS:
            symbol = m.group(1).upper()
            rest = " ".join(tokens[index + 1:])
            break
        if bare.startswith("$") or (bare.isalpha() and len(bare) > 6 and bare.upper() == bare):
            return None  # a "$ticker" that is not one, or a seven-letter "ticker"
        if re.match(r"^\$?\d", bare):
            break
    if symbol is None:
        return None

    # Price and what follows it (the notes)
    price = None
    is_market = False
    notes = ""
    if m := _PRICE.search(rest):
        if m.group(1):
            raise _Invalid  # a negative price
        value = m.group(2).lower()
        if value in ("m", "mkt", "market"):
            is_market = True
        else:
            price = _positive(value)
        notes = rest[m.end():]
        rest = rest[:m.start()]
    elif m := re.search(r"(?<![\w/.])\$(" + _NUM + r")\b", rest):  # "BTO NVDA $142.35" for shares
        price = _positive(m.group(1))
        notes = rest[m.end():]
        rest = rest[:m.start()]

    option_type = None
    strike = None
    is_spread = False
    m = next((m for m in _SPREAD.finditer(rest) if m.group(3) or m.group(4)), None)
    if m is not None:
        kind = (m.group(4) or "").lower()
        option_type = _option_type(m.group(3)) or {"pcs": "put", "ps": "put", "ccs": "call", "cs": "call"}.get(kind)
        if option_type is None:
            return None  # a spread whose type the text does not say
        strike, is_spread = _positive(m.group(1)), True
        _positive(m.group(2))
        rest = _cut(rest, m)
    expiry, rest = _find_expiry(rest, today)
    if not is_spread and (m := _STRIKE.search(rest)):
        strike, option_type = _positive(m.group(1)), _option_type(m.group(2))
        rest = _cut(rest, m)
    elif not is_spread and (m := re.search(rf"(?<![\d/.])\$?({_NUM})\s*$|(?<![\d/.])\$?({_NUM})\s+(?:strike)\b",
                                           rest.strip())) and expiry is not None:
        return None  # a strike with no call/put: never guess the type

    if option_type is None and expiry is not None:
        return None  # a dated contract with no call/put
    if price is None and not is_market and strike is None:
        return None  # "closed green today": an action word and a name, but nothing to trade
    if option_type is not None and strike is None:
        return None

    flags = {flag for word, flag in _FLAG_WORDS.items() if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])",
                                                                      notes + " " + rest, re.I)}
    if _DTE.search(raw[:MAX_TEXT]) or (expiry is not None and expiry == today):
        flags.add("0dte" if expiry == today else "1dte")
    stop = _SL.search(notes)
    target = _PT.search(notes)
    if stop:
        flags.add("sl")
    if target:
        flags.add("pt")
    if action == "STC" and _PARTIAL.search(notes + " " + rest):
        partial = True
    if partial:
        flags.add("partial")
    if average:
        flags.add("avg")
    return ParsedAlert(
        action=action, symbol=symbol, option_type=option_type, strike=strike, expiry=expiry, price=price,
        quantity=quantity, is_partial=partial, is_average=average, is_spread=is_spread, is_market=is_market,
        stop_loss=stop.group(1) if stop else None, profit_target=target.group(1) if target else None,
        flags=frozenset(flags),
    )

