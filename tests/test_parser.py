"""The alert parser over the formats traders really write, and over texts that must give None."""

from __future__ import annotations

import json
import random
import string
from datetime import date
from pathlib import Path

import pytest

from pipeline.parser import ParsedAlert, parse_alert, third_friday

TODAY = date(2026, 11, 23)
D = date
SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "xtrades" / "alerts-sample.json"

# text, (action, symbol, option_type, strike, expiry, price, quantity)
CASES: list[tuple[str, tuple]] = [
    # The table of ../shared/xtrades/alert-formats.md, verbatim
    ("BTO AAPL 170P 12/19 @ 2.50", ("BTO", "AAPL", "put", 170, D(2026, 12, 19), 2.50, None)),
    ("BTO 5 SPY 450C 12/15 @ 1.20", ("BTO", "SPY", "call", 450, D(2026, 12, 15), 1.20, 5)),
    ("STO 2 TSLA 12/20 200p @ 3.10", ("STO", "TSLA", "put", 200, D(2026, 12, 20), 3.10, 2)),
    ("BTC TSLA 200P 12/20 @ .45", ("BTC", "TSLA", "put", 200, D(2026, 12, 20), 0.45, None)),
    ("STC SPY 12/15 450c @1.95 +62%", ("STC", "SPY", "call", 450, D(2026, 12, 15), 1.95, None)),
    ("BTO TSLA 282.5C 1/16/27 @ 0.96 PT: 125% SL: 50%", ("BTO", "TSLA", "call", 282.5, D(2027, 1, 16), 0.96, None)),
    ("BTO SPX 5900P 0DTE @ 3.20 lotto", ("BTO", "SPX", "put", 5900, D(2026, 11, 23), 3.20, None)),
    ("BTO NVDA 12/19 150 call @ m", ("BTO", "NVDA", "call", 150, D(2026, 12, 19), None, None)),
    ("BTO $NVDA @ 142.35 longterm", ("BTO", "NVDA", None, None, None, 142.35, None)),
    ("bto msft 11/20 400c @ 3.15", ("BTO", "MSFT", "call", 400, D(2027, 11, 20), 3.15, None)),
    # The grammar's other forms
    ("BTO AAPL 170P 12/19/26 @ 2.5", ("BTO", "AAPL", "put", 170, D(2026, 12, 19), 2.5, None)),
    ("BTO AAPL 170P 12/19/2026 @ 2.5", ("BTO", "AAPL", "put", 170, D(2026, 12, 19), 2.5, None)),
    ("BTO AAPL 2026-12-19 170P @ 2.5", ("BTO", "AAPL", "put", 170, D(2026, 12, 19), 2.5, None)),
    ("BTO AAPL Dec 19 170P @ 2.5", ("BTO", "AAPL", "put", 170, D(2026, 12, 19), 2.5, None)),
    ("BTO AAPL 170 put Dec 19 '26 @ 2.5", ("BTO", "AAPL", "put", 170, D(2026, 12, 19), 2.5, None)),
    ("BTO AAPL Jan 2027 170P @ 4.10", ("BTO", "AAPL", "put", 170, D(2027, 1, 15), 4.10, None)),
    ("BTO QQQ 400put 12/19 @ $3.10", ("BTO", "QQQ", "put", 400, D(2026, 12, 19), 3.10, None)),
    ("BTO QQQ 400 put 12/19 at 2.05", ("BTO", "QQQ", "put", 400, D(2026, 12, 19), 2.05, None)),
    ("BTO 200 shares $F @ 11.20", ("BTO", "F", None, None, None, 11.20, 200)),
    ("STC AAPL @ 260 partial", ("STC", "AAPL", None, None, None, 260, None)),
    ("BTO BRK.B 500C 1/16/27 @ 6.40", ("BTO", "BRK.B", "call", 500, D(2027, 1, 16), 6.40, None)),
    ("STO SPY 580/575 PCS 12/19 @ 1.10", ("STO", "SPY", "put", 580, D(2026, 12, 19), 1.10, None)),
    ("STO IWM 220/215 put spread 12/19 @ 1.05", ("STO", "IWM", "put", 220, D(2026, 12, 19), 1.05, None)),
    # Real-looking alerts: emoji, HTML, words, commentary
    ("<p>🚨 <b>BTO</b> $TSLA 12/19 250c @ 4.20</p>", ("BTO", "TSLA", "call", 250, D(2026, 12, 19), 4.20, None)),
    ("🔥🔥 BTO 3x $AMD 150C 12/5 @ 2.15 swing 🔥", ("BTO", "AMD", "call", 150, D(2026, 12, 5), 2.15, 3)),
    ("Bought 10 SPY 600c 11/28 @ .85 lotto, small size!", ("BTO", "SPY", "call", 600, D(2026, 11, 28), 0.85, 10)),
    ("Sold to open 1 AAPL 165p 12/19 @ 1.80 — wheel", ("STO", "AAPL", "put", 165, D(2026, 12, 19), 1.80, 1)),
    ("sold to close AAPL 165p 12/19 @ 0.40", ("STC", "AAPL", "put", 165, D(2026, 12, 19), 0.40, None)),
    ("Bought to close TSLA 200P 12/20 @ .45 🎯", ("BTC", "TSLA", "put", 200, D(2026, 12, 20), 0.45, None)),
    ("Trimming NVDA 150C 12/19 @ 3.40 +40%", ("STC", "NVDA", "call", 150, D(2026, 12, 19), 3.40, None)),
    ("avg NVDA 150C 12/19 @ 1.90", ("BTO", "NVDA", "call", 150, D(2026, 12, 19), 1.90, None)),
    ("BTO META 600 calls 12/19 @ 7.25 SL 5.00 PT 12", ("BTO", "META", "call", 600, D(2026, 12, 19), 7.25, None)),
    ("BTO AMZN 12/26 230C @ 2.05\nRisky one, earnings week", ("BTO", "AMZN", "call", 230, D(2026, 12, 26), 2.05, None)),
    ("&#128680; BTO SPY 12/1 590P @ 1.45 &amp; hold", ("BTO", "SPY", "put", 590, D(2026, 12, 1), 1.45, None)),
    ("BTO GOOGL 19 Dec 180C @ 3.30", ("BTO", "GOOGL", "call", 180, D(2026, 12, 19), 3.30, None)),
    ("STO 5 F 12/19 11P @ 0.22", ("STO", "F", "put", 11, D(2026, 12, 19), 0.22, 5)),
    ("BTO SPX 1DTE 5950C @ 4.40", ("BTO", "SPX", "call", 5950, D(2026, 11, 24), 4.40, None)),
    ("Long $PLTR 1/16/27 70c @ 8.15 leap", ("BTO", "PLTR", "call", 70, D(2027, 1, 16), 8.15, None)),
    ("\u200fBTO AAPL 170P 12/19 @ 2.50\u200e", ("BTO", "AAPL", "put", 170, D(2026, 12, 19), 2.50, None)),
    ("BTO TSLA 12.5C 12/19 @ 0.10", ("BTO", "TSLA", "call", 12.5, D(2026, 12, 19), 0.10, None)),
    ("BTO AAPL 170P Dec @ 2.50", ("BTO", "AAPL", "put", 170, D(2026, 12, 18), 2.50, None)),
    ("stc 1/2 SPY 450C 12/15 @ 2.10", ("STC", "SPY", "call", 450, D(2026, 12, 15), 2.10, None)),
    ("BTO 2 contracts SPY 12/19 585C @ 3.00", ("BTO", "SPY", "call", 585, D(2026, 12, 19), 3.00, 2)),
    ("BTO SMCI 12/19 45c for 1.10", ("BTO", "SMCI", "call", 45, D(2026, 12, 19), 1.10, None)),
    ("📈 $SPY 11/28 595C @ 0.62 BTO", None),  # action last: not the grammar, see below
    ("BTO HOOD 12/19 60C @ 1.35 (starter, will add)", ("BTO", "HOOD", "call", 60, D(2026, 12, 19), 1.35, None)),
    ("Entered COIN 12/19 300P @ 9.80 hedge", ("BTO", "COIN", "put", 300, D(2026, 12, 19), 9.80, None)),
    ("STC HOOD 12/19 60C @ 2.70 +100% 💰💰", ("STC", "HOOD", "call", 60, D(2026, 12, 19), 2.70, None)),
    ("BTO 4 $MSTR 12/5 400c @ 5.5 lotto ⚠️", ("BTO", "MSTR", "call", 400, D(2026, 12, 5), 5.5, 4)),
    ("<div><p>BTO&nbsp;UBER 1/16/27 80C @ 6.05</p><p>LT hold</p></div>",
     ("BTO", "UBER", "call", 80, D(2027, 1, 16), 6.05, None)),
    ("STO 10 SOFI 12/19 14P @ .38 (wheel)", ("STO", "SOFI", "put", 14, D(2026, 12, 19), 0.38, 10)),
    ("BTC SOFI 12/19 14P @ .05 easy money", ("BTC", "SOFI", "put", 14, D(2026, 12, 19), 0.05, None)),
    ("Sold AMD 150C 12/5 @ 3.30, out", ("STC", "AMD", "call", 150, D(2026, 12, 5), 3.30, None)),
    ("BTO IWM Dec 19th 230c @ 1.12", ("BTO", "IWM", "call", 230, D(2026, 12, 19), 1.12, None)),
    ("bto spy 0dte 598p @ .90 quick scalp", ("BTO", "SPY", "put", 598, D(2026, 11, 23), 0.90, None)),
    ("Adding to AAPL 170P 12/19 @ 2.10 avg now 2.30", ("BTO", "AAPL", "put", 170, D(2026, 12, 19), 2.10, None)),
    ("BTO 100 shares $SOFI @ $13.85 swing", ("BTO", "SOFI", None, None, None, 13.85, 100)),
    ("STC 100 SOFI @ 15.10 +9%", ("STC", "SOFI", None, None, None, 15.10, 100)),
]

NOT_ALERTS = [
    "PLTR calls up 4.50 from 1.75!",
    "GM everyone",
    "Watching NVDA for a breakout over 150",
    "",
    "    ",
    "BTO AAPL 170P 13/19 @ 2.50",  # month 13
    "BTO AAPL 170P 2/30/27 @ 2.50",  # no 30 February
    "BTO AAPL 170P 12/32 @ 2.50",  # day 32
    "BTO AAPL 170P 12/19 @ 0",  # zero price
    "BTO AAPL 0P 12/19 @ 1.00",  # zero strike
    "BTO AAPL 170P 12/19 @ -2.50",  # negative price
    "BTO ABCDEFG 170P 12/19 @ 2.50",  # a seven-letter "ticker"
    "AAPL 170P 12/19 @ 2.50",  # no action
    "Should I BTO AAPL 170P 12/19 @ 2.50?",  # a question
    "BTO SPY 580/575 spread 12/19 @ 1.10",  # a spread whose type is not said
    "BTO SPY 12/19 450 @ 1.20",  # a strike with no call or put
    "what a day, closed green 🚀",
    "x" * 10_000,
    "\x00\x01\x02 BTO",
    "<script>alert(1)</script>",
    "Great job team, +300% on TSLA today",
    "BTO",
    "STC @ 2.00",
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_alerts_are_read_right(text: str, expected: tuple | None) -> None:
    parsed = parse_alert(text, today=TODAY)
    if expected is None:
        assert parsed is None
        return
    assert parsed is not None, text
    got = (parsed.action, parsed.symbol, parsed.option_type, parsed.strike, parsed.expiry, parsed.price,
           parsed.quantity)
    assert got == expected


@pytest.mark.parametrize("text", NOT_ALERTS, ids=[t[:30] or "empty" for t in NOT_ALERTS])
def test_non_alerts_and_impossible_alerts_give_none(text: str) -> None:
    assert parse_alert(text, today=TODAY) is None


def sample_messages() -> list[str]:
    alerts = json.loads(SAMPLE.read_text())["alerts"] if SAMPLE.exists() else []
    return [m for a in alerts for m in (a.get("originalMessage"), a.get("originalExitMessage")) if m]


def test_every_message_of_the_xtrades_sample_parses() -> None:
    messages = sample_messages()
    assert len(messages) >= 3
    for message in messages:
        assert parse_alert(message, today=TODAY) is not None, message


def test_flags_notes_and_sizes() -> None:
    lotto = parse_alert("BTO SPX 5900P 0DTE @ 3.20 lotto", today=TODAY)
    assert lotto is not None and {"lotto", "0dte"} <= lotto.flags
    targets = parse_alert("BTO TSLA 282.5C 1/16/27 @ 0.96 PT: 125% SL: 50%", today=TODAY)
    assert targets is not None and targets.profit_target == "125%" and targets.stop_loss == "50%"
    trim = parse_alert("Trimming NVDA 150C 12/19 @ 3.40 +40%", today=TODAY)
    assert trim is not None and trim.is_partial and "partial" in trim.flags
    half = parse_alert("stc 1/2 SPY 450C 12/15 @ 2.10", today=TODAY)
    assert half is not None and half.is_partial
    full = parse_alert("STC SPY 12/15 450c @1.95 +62%", today=TODAY)
    assert full is not None and not full.is_partial
    avg = parse_alert("avg NVDA 150C 12/19 @ 1.90", today=TODAY)
    assert avg is not None and avg.is_average and avg.action == "BTO"
    market = parse_alert("BTO NVDA 12/19 150 call @ m", today=TODAY)
    assert market is not None and market.is_market and market.price is None
    spread = parse_alert("STO SPY 580/575 PCS 12/19 @ 1.10", today=TODAY)
    assert spread is not None and spread.is_spread


def test_third_fridays() -> None:
    assert third_friday(2027, 1) == date(2027, 1, 15)
    assert third_friday(2026, 12) == date(2026, 12, 18)
    assert third_friday(2026, 5) == date(2026, 5, 15)


def test_a_date_without_year_rolls_to_the_next_one() -> None:
    assert parse_alert("BTO MSFT 11/23 400c @ 3", today=TODAY).expiry == date(2026, 11, 23)  # today counts
    assert parse_alert("BTO MSFT 11/22 400c @ 3", today=TODAY).expiry == date(2027, 11, 22)


def test_the_parser_never_raises() -> None:
    rng = random.Random(1234)
    alphabet = string.printable + "🚀📈$@/\u200f\u202e—é漢"
    seeds = [text for text, _ in CASES] + NOT_ALERTS
    for _ in range(3000):
        base = list(rng.choice(seeds))
        for _ in range(rng.randint(0, 6)):
            if base and rng.random() < 0.5:
                del base[rng.randrange(len(base))]
            else:
                base.insert(rng.randrange(len(base) + 1), rng.choice(alphabet))
        result = parse_alert("".join(base), today=TODAY)
        assert result is None or isinstance(result, ParsedAlert)
