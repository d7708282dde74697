"""Every text the bot sends is built here, as Telegram HTML, from plain values (no Telegram calls).

Anything that came from outside (alert text, trader and chat names, user input) goes through `esc`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.views import AlertCard
from pipeline.ingest.pnl import position_pnl
from pipeline.models import STRUCTURES, Alternative, Follower, Leg, MarketInputs, OwnTrade, Scoring, structure_of

TELEGRAM_MAX_MESSAGE = 4096


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


XTRADES_PROFILE = "https://app.xtrades.net/profile/"


def trader_link(name: object) -> str:
    """A trader's name linked to their Xtrades profile: never "@name", which Telegram reads as a mention of
    whoever holds that Telegram username."""
    text = str(name)
    return f'<a href="{html.escape(XTRADES_PROFILE + quote(text.lower(), safe=""))}">{esc(text)}</a>'


ECHO_LIMIT = 40


def clip(value: object, limit: int = ECHO_LIMIT) -> str:
    """Someone's input echoed back, cut to `limit` characters; a cut shows as "…" so nobody mistakes it for
    what they typed."""
    text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def welcome(*, chat_title: str | None, is_group: bool, min_score: int, rate_limit_per_hour: int,
            per_day: float | None = None) -> str:
    where = f"<b>{esc(chat_title)}</b>" if is_group and chat_title else "this chat"
    week = f" {_would_have_sent(per_day)}" if per_day is not None else ""
    return (
        "👋 <b>Xtrades Sentinel</b> watches the trade alerts of the Xtrades traders you choose, gives every alert "
        "its chance of profit for someone following it (option prices, the trader's record, similar past trades, "
        "calibrated on closed trades) and "
        f"tells {where} only about the best ones, with the reasoning and the numbers.\n\n"
        f"Settings here: alerts with a chance of profit <b>≥ {min_score}%</b>, "
        f"at most <b>{rate_limit_per_hour} per hour</b>.{week}\n\n"
        "Next: /help lists what I can do."
    )


def _would_have_sent(per_day: float) -> str:
    amount = "no cards" if per_day == 0 else f"<b>{per_day:.1f}</b> card{'s' if per_day != 1 else ''} a day"
    return f"Over the last week that would have sent {amount}."


def threshold_text(value: int, per_day: float, *, changed: bool) -> str:
    """/threshold: the setting, and how many cards a day it would have sent over the last week."""
    head = (f"✅ Lowest chance of profit set to <b>{value}%</b>." if changed
            else f"Lowest chance of profit: <b>{value}%</b>.")
    tail = "" if changed else f" {usage('threshold')}"
    return f"{head} {_would_have_sent(per_day)}{tail}"


def quiet_threshold(chat: Any) -> str:
    """/status for admins: a chat whose threshold let none of its traders' alerts through all week."""
    name = esc(chat.title) if chat.title else str(chat.chat_id)
    return (f"⚠️ {name}: its threshold {chat.min_score}% let nothing through in 7 days ({chat.alerts} alerts, "
            f"the best {chat.best:.0f}%).")


def help_text(commands: Sequence[tuple[str, str]]) -> str:
    """`commands` is (usage, what it does) per command, in the order people need them."""
    lines = ["<b>Xtrades Sentinel</b> — commands:", ""]
    lines += [f"{esc(usage)} — {esc(summary)}" for usage, summary in commands]
    lines += ["", "In groups, settings are changed by the group's admins; anyone may use the alert buttons."]
    return "\n".join(lines)


def unknown_command(command: str) -> str:
    return f"I don't know {esc(clip(command))}. /help lists the commands I understand."


def admins_only() -> str:
    return "That is for the bot's admins only."


def something_went_wrong() -> str:
    return "Sorry, something went wrong on my side. It has been logged; please try again in a minute."


def split_message(text: str, limit: int = TELEGRAM_MAX_MESSAGE) -> list[str]:
    """Split at line breaks into messages of at most `limit` characters; nothing is cut off or dropped.

    A single line longer than the limit is split at the last space before it (or hard, as a last resort).
    """
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:cut])
            line = line[cut:].lstrip(" ")
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return [p for p in parts if p.strip()] or [text[:limit]]


# --- alerts ------------------------------------------------------------------------------------------------

CALLBACK_ANALYZE, CALLBACK_SIMILAR, CALLBACK_MUTE, CALLBACK_UNMUTE = "a", "s", "m", "u"


def money(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "unlimited"
    sign = ("+" if value > 0 else "-" if value < 0 else "") if signed else ("-" if value < 0 else "")
    amount = abs(value)
    text = f"{amount:,.0f}" if amount >= 100 or float(amount).is_integer() else f"{amount:,.2f}"
    return f"{sign}${text}"


def price(value: float | None) -> str:
    return "market" if value is None else f"${value:,.2f}"


def strike_text(card: AlertCard) -> str:
    """"$170 PUT", "shares", or a multi-leg trade's structure and strikes ("Iron Condor 535/540/580/585")."""
    if card.own is not None and is_multi_leg(card.own):
        return contract_words(card.option_type, card.strike, card.own.legs).strip()
    if card.option_type is None:
        return "shares"
    strike = f"${card.strike:g}" if card.strike is not None else "?"
    return f"{strike} {card.option_type.upper()}"


MULTI_LEG_NAMES = frozenset(STRUCTURES[key].name for key in (
    "CALL_DEBIT", "CALL_CREDIT", "PUT_DEBIT", "PUT_CREDIT", "IC", "REVERSE_IC", "LONG_STRADDLE", "LONG_STRANGLE",
    "SHORT_STRADDLE", "SHORT_STRANGLE"))


def contract_words(option_type: str | None, strike: float | None, legs: Sequence[Any] | None = None) -> str:
    """What was traded, named by its structure, never by its first leg: " $170 PUT", " Iron Condor
    535/540/580/585", " Call Debit Spread 340/350"; "" for shares. `legs`: `Leg`s or their stored JSON."""
    parsed = [leg if isinstance(leg, Leg) else Leg.from_json(leg) for leg in legs or () if leg]
    options = [leg for leg in parsed if leg.is_option]
    if len(options) > 1:
        strikes = "/".join(f"{s:g}" for s in sorted({leg.strike for leg in options if leg.strike is not None}))
        return f" {esc(structure_of(options).name)} {strikes}"
    return f" ${strike:g} {option_type.upper()}" if option_type and strike is not None else ""


def leg_text(leg: Leg, *, with_price: bool = True) -> str:
    """"buy 2x 460C @ 7.39", "sell 200 shares"."""
    return esc(leg.text(with_price=with_price))


def net_text(net: float | None) -> str:
    if net is None:
        return ""
    return f"debit {money(abs(net))}" if net >= 0 else f"credit {money(abs(net))}"


def percent(value: float | None) -> str:
    return "?" if value is None else f"{value * 100:.0f}%"


def breakevens_text(values: Sequence[float]) -> str:
    return " / ".join(price(v) for v in values) if values else "none"


def is_multi_leg(own: OwnTrade) -> bool:
    return sum(1 for leg in own.legs if leg.is_option) > 1


def own_trade_lines(own: OwnTrade) -> list[str]:
    """The trader's own trade: its payoff figures, scaled to the alert's size (one line each, so another figure,
    such as a calibrated chance of profit, can be added as one more line). The probability of profit only when
    the market priced it, labelled with where its volatility came from and its horizon. With no entry price
    anywhere, no figure: they would rest on a made-up premium."""
    if not own.figures_known:
        return ["No entry price in the alert and no market quote for it: max profit, max loss, breakevens, capital "
                "and probability of profit are left out"]
    lines = [] if own.price_source == "trader" else [
        "Entry price: none in the alert; figures at the market's price at the alert's minute"]
    lines += [f"Max Profit: {money(own.max_profit)} | Max Loss: {money(own.max_loss)}",
             f"Breakeven{'s' if len(own.breakevens) > 1 else ''}: {breakevens_text(own.breakevens)}"]
    if own.probability_of_profit is not None:
        # Priced from the options market alone; the calibrated "Chance of profit" above also weighs the trader,
        # similar trades and the AI verdict, so the two can differ widely.
        lines.append(f"Probability of profit ({esc(own.pop_source or 'option prices')}): "
                     f"{percent(own.probability_of_profit)}")
    if own.capital is not None:
        lines.append(f"Capital tied up: {money(own.capital)}")
    return lines


def quote_lines(card: AlertCard) -> list[str]:
    """Each contract's quote in the chain, against what the trader paid ("paid 3.20 · market 3.05 × 3.15")."""
    quotes = card.market.quotes if card.market else ()
    lines = []
    for q in quotes:
        extras = []
        if q.iv is not None:
            extras.append(f"IV {q.iv * 100:.0f}%")
        if q.volume is not None:
            extras.append(f"vol {q.volume:,}")
        if q.open_interest is not None:
            extras.append(f"OI {q.open_interest:,}")
        market = f"market {_quote_number(q.bid)} × {_quote_number(q.ask)}"
        if len(quotes) == 1 and card.entry_price is not None:
            head = f"Quote: paid {card.entry_price:.2f} · {market}"
        else:
            head = f"Quote {q.strike:g}{q.kind.value[0].upper()}: {market}"
        lines.append(head + (f" ({', '.join(extras)})" if extras else ""))
    return lines


def _quote_number(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def follower_line(follow: Follower | None) -> str | None:
    """"Following now at the ask 3.15: breakeven 253.15, probability of profit 41%"."""
    if follow is None:
        return None
    where = (f"at the {follow.side} {follow.price:.2f}" if follow.side in ("ask", "bid")
             else f"at the market, net {'debit' if follow.price >= 0 else 'credit'} {abs(follow.price):.2f}")
    evens = follow.breakevens
    label = f"breakeven{'s' if len(evens) > 1 else ''} " + (" / ".join(f"{b:.2f}" for b in evens) or "none")
    pop = follow.probability_of_profit
    chance = f", probability of profit {pop * 100:.0f}%" if pop is not None else ""
    return f"Following now {where}: {label}{chance}"


def card_market_lines(card: AlertCard) -> list[str]:
    """What the market says: the underlying at the alert and the quotes; or why the alert is not priced."""
    m = card.market
    if m is None:
        return []
    lines = []
    if m.underlying_price is not None:
        lines.append(f"{esc(card.symbol)} at the alert: {price(m.underlying_price)}")
    lines += quote_lines(card)
    if m.not_priced:
        lines.append(f"⚠️ Not priced: {esc(m.not_priced)}. Figures from the trader's own prices only; no "
                     "probability of profit and no alternative, and the score is made without them.")
    return lines


def alternative_line(alt: Alternative) -> str:
    """The one alternative, on its own line: how it was sized, every leg, net credit or debit, max profit and loss,
    probability (at the own trade's volatility)."""
    legs = " / ".join(leg_text(leg) for leg in alt.legs)
    sizing = ("sized down to the trader's max loss" if alt.sizing == "max_loss"
              else "same number of contracts")
    sizing += ", priced at the chain's quotes" if alt.priced_from == "chain" else ", priced at the trade's IV"
    capital = f"; ties up {money(alt.capital)}"
    return (f"💡 Alternative, same view: {esc(alt.name)} ×{alt.units} ({sizing}) — {legs}, "
            f"{net_text(alt.net_premium)}; max profit {money(alt.max_profit)} | max loss {money(alt.max_loss)}; "
            f"{percent(alt.probability_of_profit)} probability of profit{capital}")


def headline(card: AlertCard, threshold: float | None) -> str:
    """HIGH-QUALITY only when the score meets the chat's threshold."""
    if threshold is not None and card.score >= threshold:
        return "🔔 <b>HIGH-QUALITY TRADE ALERT</b>"
    return "🔔 <b>TRADE ALERT</b>"


MARKET_ZONE = ZoneInfo("America/New_York")


def ago_text(moment: datetime, now: datetime) -> str:
    """"just now", "2 min ago", "5 h ago", "3 days ago"."""
    minutes = int(max(0.0, (now - moment).total_seconds()) // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def posted_text(posted: datetime, now: datetime | None, *, known: bool = True) -> str:
    """When the trader posted, in New York time as traders read it: "posted 14:25 ET · 2 min ago"; another day's
    post carries its date ("posted Dec 02 14:25 ET · 3 days ago"); a record with no posting time says when it was
    first seen instead ("seen 14:25 ET")."""
    local = posted.astimezone(MARKET_ZONE)
    same_day = now is not None and now.astimezone(MARKET_ZONE).date() == local.date()
    clock = f"{local:%H:%M} ET" if same_day else f"{local:%b %d %H:%M} ET"
    return f"{'posted' if known else 'seen'} {clock}" + (f" · {ago_text(posted, now)}" if now is not None else "")


def size_line(card: AlertCard) -> str:
    """The size every figure is for, and where it came from."""
    own = card.own
    multi = own is not None and is_multi_leg(own)
    shares = card.option_type is None and not multi
    if not card.quantity:
        return f"(No size given: figures for one {'share' if shares else 'contract'})"
    unit = ("share" if shares else "contract") + ("s" if card.quantity != 1 else "")
    source = own.size_source if own is not None else "none"
    where = {"order": " (the size on the Xtrades order)", "text": " (from the alert's text)"}.get(source, "")
    return f"Size: {card.quantity:,} {unit}{where}"


def uses_a_model(card: AlertCard) -> bool:
    """Whether an AI model answered (the local analyst's rules are not one)."""
    return any(name != "local" for name in card.model_scores)


def said_once(card: AlertCard) -> tuple[list[str], list[str], str | None]:
    """The flags, the reasons and the key risk with every warning said once: a reason or key risk that repeats a
    flag is left out."""
    flags = list(dict.fromkeys(card.flags))

    def repeats(text: str) -> bool:
        return any(text.startswith(flag) or flag.startswith(text.split(" (counted")[0]) for flag in flags)

    reasons = [r for r in dict.fromkeys(card.reasons) if not repeats(r)]
    key_risk = card.key_risk if card.key_risk and not repeats(card.key_risk) else None
    return flags, reasons, key_risk


def alert_message(card: AlertCard, *, today: date, threshold: float | None = None, now: datetime | None = None
                  ) -> str:
    """The notification a chat receives: the trader's own trade and its figures at the trader's size, when the
    trader posted it, then at most one alternative."""
    own = card.own
    lines = [headline(card, threshold), "", f"Symbol: <b>{esc(card.symbol)}</b>", f"Trader: {trader_link(card.trader)}"]
    if card.posted_at is not None:
        lines[-1] += f" · {posted_text(card.posted_at, now, known=card.posting_known)}"
    if own:
        lines.append(f"Strategy: {esc(own.name)}" + (f" · {esc(own.view)}" if own.view else ""))
    lines += [*chance_lines(card), ""]
    multi = own is not None and is_multi_leg(own)
    if multi and own:
        legs = " / ".join(leg_text(leg, with_price=False) for leg in own.legs)
        lines.append(f"Entry: {legs} @ {price(card.entry_price)} net")
    else:
        lines.append(f"Entry: {strike_text(card)} @ {price(card.entry_price)}")
    if card.expiry:
        traded = card.market.trading_dte if card.market else None
        dte = traded if traded is not None else (card.expiry - today).days
        lines.append(f"Expiry: {dte} DTE ({card.expiry:%b %d})" if dte >= 0 else f"Expiry: {card.expiry:%b %d}")
    lines += card_market_lines(card)
    flags, reasons, key_risk = said_once(card)
    if own:
        lines.append(size_line(card))
        lines += own_trade_lines(own)
        follow = follower_line(card.market.follower if card.market else None)
        if follow:
            lines.append(follow)
        lines += [f"⚠️ {esc(flag)}" for flag in flags]
    if reasons:
        heading = "AI reasoning" if uses_a_model(card) else "Rules"
        lines += ["", f"<b>{heading}:</b>", *[f"• {esc(r)}" for r in reasons[:3]]]
    if key_risk:
        lines += ["", f"⚠️ Key Risk: {esc(key_risk)}"]
    qty = card.quantity or 1
    what = own.name if multi and own else strike_text(card)
    lines += ["", f"Action: {esc(card.action)} {qty}x {esc(what)} @ {price(card.entry_price)}"]
    if card.alternative:
        lines.append(alternative_line(card.alternative))
    elif card.scoring and card.scoring.no_alternative and not (card.market and card.market.not_priced):
        lines.append(f"💡 No alternative: {esc(card.scoring.no_alternative)} to price one at")
    return "\n".join(lines)


def alert_keyboard(alert_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton("🔍 Analyze", callback_data=f"{CALLBACK_ANALYZE}:{alert_id}"),
        InlineKeyboardButton("📚 Similar trades", callback_data=f"{CALLBACK_SIMILAR}:{alert_id}"),
        InlineKeyboardButton("🔇 Mute trader", callback_data=f"{CALLBACK_MUTE}:{alert_id}"),
    ]])


def undo_mute_keyboard(alert_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("↩️ Undo", callback_data=f"{CALLBACK_UNMUTE}:{alert_id}")]])


def analysis_message(card: AlertCard) -> str:
    """Everything behind a score: the ten strategies ranked, the market context, each model's view, and the
    score's arithmetic (the blend's parts add up to the blend; the calibrated chance is shown apart)."""
    scoring = card.scoring
    lines = [f"🔍 <b>{esc(card.symbol)}</b> by {trader_link(card.trader)}", *chance_lines(card), "",
             "<b>Strategies, best first</b>"]
    for n, line in enumerate(card.ranking, 1):
        reason = f" — {esc(line.reasons[0])}" if line.reasons else ""
        lines.append(f"{n}. {esc(line.name)}: {line.score:.0f}{reason}")
    if card.own and scoring and scoring.own_fit is not None:
        lines.append(f"The trader's own trade ({esc(card.own.name)}): market fit {scoring.own_fit:.0f}")
    if card.market:
        lines += market_lines(card.market)
    if card.model_scores:
        # Agreement between models means something only when two or more answered.
        agreement = f" · agreement {card.agreement * 100:.0f}%" \
            if card.agreement is not None and len(card.model_scores) >= 2 else ""
        scores = ", ".join(f"{esc(k.title())} {v:.0f}" for k, v in card.model_scores.items())
        lines += ["", f"<b>Models</b>: {scores}{agreement}"]
        lines += [f"• {esc(r)}" for r in card.reasons]
    if scoring and scoring.parts:
        lines += ["", *score_lines(scoring, card.profit_probability)]
    return "\n".join(lines)


def market_lines(m: MarketInputs) -> list[str]:
    lines = ["", "<b>Market</b>"]
    if m.underlying_price is not None:
        lines.append(f"Price {price(m.underlying_price)} · trend {esc(m.trend.replace('_', ' '))}")
    vol = []
    if m.iv is not None:
        vol.append(f"IV {m.iv * 100:.0f}%")
    if m.iv_rank is not None:
        vol.append(f"IV rank {m.iv_rank:.0f}")
    elif m.iv_hv is not None:  # no year of recorded IVs yet: no IV rank is claimed
        vol.append(f"IV/HV {m.iv_hv:.2f}")
    if m.hv_30 is not None:
        vol.append(f"30-day HV {m.hv_30 * 100:.0f}%")
    if vol:
        lines.append(" · ".join(vol) + f" ({esc(m.volatility_regime)} volatility)")
    if m.next_earnings:
        lines.append(f"Next earnings {m.next_earnings.isoformat()}")
    return lines if len(lines) > 2 else []


def score_lines(scoring: Scoring, calibrated: float | None) -> list[str]:
    """What moved the chance: each feature's push up or down from the average trade (the model's terms, in
    order, so they add up to the number on the card). Without a model: what the card shows instead, and the
    uncalibrated blend the alerts are ranked by meanwhile."""
    c = scoring.chance
    if calibrated is not None and c.basis == "model" and c.start is not None:
        lines = [f"<b>What moved it</b>: the average trade {c.start:.0%}"]
        lines += [f"{'▲' if push >= 0 else '▼'} {esc(name)} {push * 100:+.1f} pts" for name, push in c.pushes
                  if abs(push) >= 0.0005]
        lines.append(f"= <b>{calibrated:.0%}</b> chance of profit for a follower (ask in, bid out)")
        return lines
    if calibrated is not None:
        return [f"The card shows {_basis_name(c.basis)}: on the walk-forward backtest it predicted the follower's "
                "outcome better than the model (/backtest says by how much)."]
    terms = " + ".join(f"{esc(p.name)} {p.value:.0f}×{p.weight:.2f} ({p.contribution:.1f})" for p in scoring.parts)
    lines = [f"Not calibrated yet: alerts are ranked by the blend = {terms} = <b>{scoring.blend:.1f}</b>"]
    if scoring.penalties:
        cuts = " ".join(f"− {esc(flag.replace('_', ' '))} {points:.0f}" for flag, points in scoring.penalties)
        lines.append(f"Flags: {scoring.blend:.1f} {cuts} = <b>{scoring.score:.1f}</b>")
    return lines


def similar_message(card: AlertCard, lines: Sequence[str]) -> str:
    if not lines:
        return f"📚 No similar closed trades for {esc(card.symbol)} yet: the memory grows as trades close."
    rate = f"{card.similar_success_rate * 100:.0f}% profitable" if card.similar_success_rate is not None else ""
    head = f"📚 <b>{len(lines)} similar trades</b> to {esc(card.symbol)} by {trader_link(card.trader)}"
    return "\n".join([head + (f": {rate}" if rate else ""), "", *[esc(line) for line in lines]])


def close_followup(*, trader: str, symbol: str, open_action: str, strike: float | None, option_type: str | None,
                   quantity: int | None, expiry: date | None, exit_price: float | None, pnl: float | None,
                   pnl_pct: float | None, held_days: int | None, outcome: str | None = None,
                   legs: Sequence[Any] | None = None) -> str:
    """The result of a trade a chat was told about, sent as a reply to its alert card:

    `✅ @behappy's AAPL $170 PUT closed @ $0.50 — P&L +$200 (+80%)`
    `Short 1 contract · expiry Dec 23, 2026 · held 30 days`

    Break-even ("flat": the stored `outcome`, or a P&L of exactly 0) is ➖, never a loss; an unknown P&L is said
    so (❔).
    """
    contract = contract_words(option_type, strike, legs)
    flat = outcome == "flat" or pnl == 0
    if pnl is None:
        mark, result = "❔", "P&amp;L unknown"
    elif flat:
        mark, result = "➖", f"flat, P&amp;L {money(pnl, signed=pnl != 0)}"
    else:
        mark, result = ("✅" if pnl > 0 else "❌"), f"P&amp;L {money(pnl, signed=True)}"
    if pnl_pct is not None and pnl is not None and pnl != 0:
        result += f" ({pnl_pct:+.0f}%)"
    unit = "contract" if option_type else "share"
    size = (f"{quantity} {unit}{'s' if quantity != 1 else ''}" if quantity
            else f"size not given (P&amp;L for 1 {unit})")
    details = [f"{'Short' if open_action == 'STO' else 'Long'} {size}"]
    if expiry is not None:
        details.append(f"expiry {expiry:%b %d, %Y}")
    if held_days is not None:
        details.append(f"held {held_days} day{'s' if held_days != 1 else ''}")
    return (f"{mark} {trader_link(trader)}'s {esc(symbol)}{contract} closed @ {price(exit_price)} — {result}\n"
            + " · ".join(details))


def digest(threshold: int, lines: Sequence[str], *, unsure: Sequence[str] = (), morning: Sequence[str] = (),
           missed: Sequence[str] = ()) -> str:
    """Alerts held back by the hourly limit until they were no longer actionable (`lines`), cards held through
    quiet hours (`morning`), alerts posted while the chat was not tracking the trader (`missed`), and sends cut
    short by a restart (`unsure`)."""
    out: list[str] = []
    if missed:
        plural = "s" if len(missed) != 1 else ""
        out += [f"🕓 {len(missed)} alert{plural} posted while you weren't tracking (not new; shown once):",
                *[f"• {line}" for line in missed]]
    if morning:
        plural = "s" if len(morning) != 1 else ""
        out += ([""] if out else []) + [
            f"🌅 {len(morning)} alert{plural} with a chance of profit ≥ {threshold}% during your quiet hours:",
            *[f"• {line}" for line in morning]]
    if lines:
        plural = "s" if len(lines) != 1 else ""
        out += ([""] if out else []) + [
            f"⏳ {len(lines)} more alert{plural} with a chance of profit ≥ {threshold}% while you were at your limit, "
            "no longer actionable by the time there was room:", *[f"• {line}" for line in lines]]
    if unsure:
        out += ([""] if out else []) + [
            "⚠️ I was restarted while sending these, so they may not have reached you:",
            *[f"• {line}" for line in unsure]]
    return "\n".join(out)


def alerts_waiting(count: int, limit: int) -> str:
    """Told at once when alerts are held back by the hourly limit."""
    plural, verb = ("s", "are") if count != 1 else ("", "is")
    return (f"⏳ {count} alert{plural} {verb} waiting: this chat gets at most {limit} an hour. Each goes out as soon "
            "as the hour frees room, while it is still actionable; /ratelimit raises the limit.")


def missed_line(card: AlertCard, now: datetime) -> str:
    """One alert seen long after it was posted, with when it was posted."""
    when = f" — {posted_text(card.posted_at, now, known=card.posting_known)}" if card.posted_at is not None else ""
    return digest_line(card) + when


def digest_result_line(symbol: str, trader: str) -> str:
    return f"the result of {esc(symbol)} by {trader_link(trader)}"


def score_text(card: AlertCard) -> str:
    """The number a list shows for a card: its chance of profit in percent, or the blend before calibration."""
    return f"{card.score:.0f}%" if card.profit_probability is not None else f"{card.score:.0f}"


def digest_line(card: AlertCard) -> str:
    return (f"{esc(card.symbol)} {strike_text(card)} @ {price(card.entry_price)} by {trader_link(card.trader)} "
            f"— {score_text(card)}")


# --- command replies -----------------------------------------------------------------------------------------


TRACK_AT_ONCE = 10
# The one usage text of each command: /help shows it, and every bad argument gets exactly it.
USAGES = {
    "track": f"/track <xtrades username> [more…] (up to {TRACK_AT_ONCE})",
    "untrack": "/untrack <xtrades username> [more…]",
    "threshold": "/threshold [0-100]",
    "ratelimit": "/ratelimit [1-60]",
    "mute": "/mute <trader> [hours, 1-720]",
    "unmute": "/unmute <trader>",
    "alerts": "/alerts [trader | SYMBOL | min score 0-100]",
    "positions": "/positions [open|closed]",
    "leaderboard": "/leaderboard [7d|30d|all]",
    "pnl": "/pnl [trader] [7d|30d|all]",
    "timezone": "/timezone [IANA zone or city, e.g. Europe/Berlin or New York]",
    "quiet": "/quiet [HH:MM-HH:MM | off | silent | hold]",
    "notify": "/notify",
    "summary": "/summary [on | off | HH:MM]",
    "record": "/record [7d|30d|all]",
    "export": "/export [30d|all]",
}


def usage_of(command: str) -> str:
    """The usage of a command by name ("track"); a full text ("/backtest [days]") is its own usage."""
    return command if command.startswith("/") else USAGES.get(command, f"/{command}")


def usage(command: str) -> str:
    return f"Usage: {esc(usage_of(command))}"


def when_text(moment: datetime, zone: tzinfo = UTC) -> str:
    """A moment as a chat sees it, in its zone: `Dec 03 14:00 UTC`, `Dec 03 09:00 EST`."""
    local = moment.astimezone(zone)
    return f"{local:%b %d %H:%M} {local.tzname() or 'UTC'}"


def day_text(moment: datetime | None, zone: tzinfo = UTC) -> str:
    """The local date of a moment: `Dec 03`; "?" when unknown."""
    return f"{moment.astimezone(zone):%b %d}" if moment is not None else "?"


def tracking_result(added: Sequence[str], already: Sequence[str], unknown: Sequence[str],
                    unverified: Sequence[str], invalid: Sequence[str]) -> str:
    lines = []
    if added:
        lines.append("✅ Now tracking " + ", ".join(f"{trader_link(n)}" for n in added) + ".")
    if already:
        lines.append("Already tracking " + ", ".join(f"{trader_link(n)}" for n in already) + ".")
    if unknown:
        lines.append("❓ No Xtrades trader named " + ", ".join(esc(n) for n in unknown) + ": check the spelling.")
    if unverified:
        lines.append("⏳ Xtrades can't be reached right now to check " + ", ".join(esc(n) for n in unverified)
                     + ". Try again in a few minutes.")
    if invalid:
        lines.append("Not a valid username: " + ", ".join(esc(clip(n)) for n in invalid)
                     + " (letters, digits, _ . - only).")
    return "\n".join(lines)


def untracking_result(removed: Sequence[str], missing: Sequence[str]) -> str:
    lines = []
    if removed:
        lines.append("Stopped tracking " + ", ".join(f"{trader_link(n)}" for n in removed) + ".")
    if missing:
        lines.append("Not tracked here: " + ", ".join(esc(clip(n)) for n in missing) + ".")
    return "\n".join(lines)


def no_traders_tracked() -> str:
    return "You track no traders yet. Add one with /track &lt;xtrades username&gt;."


def unknown_trader(name: str) -> str:
    return f"{esc(name)} is not a trader I know. /traders lists the ones tracked here."


def not_tracked_here(name: str) -> str:
    return f"{trader_link(name)} is not tracked here. /track {esc(name)} to follow them."


def traders_list(rows: Sequence[tuple[str, int, int, float, int]],
                 muted: dict[str, datetime | None] | None = None, zone: tzinfo = UTC) -> str:
    """(username, closed, wins, pnl, open positions) per tracked trader; `muted` maps the muted ones to the
    end of their mute (None: until /unmute)."""
    if not rows:
        return no_traders_tracked()
    muted = muted or {}
    lines = ["<b>Tracked traders</b>"]
    for name, closed, wins, pnl, open_count in rows:
        record = (f"{wins}/{closed} won ({wins / closed:.0%}), {money(pnl, signed=True)}" if closed
                  else "no closed trades")
        mute = ""
        if name in muted:
            until = muted[name]
            mute = f" · 🔇 muted until {when_text(until, zone)}" if until else " · 🔇 muted until /unmute"
        lines.append(f"• {trader_link(name)} — {record}; {open_count} open{mute}")
    return "\n".join(lines)


def setting_changed(name: str, value: int, unit: str = "") -> str:
    return f"✅ {esc(name)} set to <b>{value}{esc(unit)}</b>."


def saved() -> str:
    return "Saved."


def already_at_bound(*, maximum: bool) -> str:
    return f"Already at the {'maximum' if maximum else 'minimum'}: nothing changed."


def current_settings(min_score: int, rate_limit: int) -> str:
    return (f"⚙️ Alerts with a chance of profit <b>≥ {min_score}%</b>, at most <b>{rate_limit} per hour</b>.\n"
            "Change them with the buttons below, or /threshold and /ratelimit.")


def muted(name: str, until: str | None) -> str:
    return f"🔇 {trader_link(name)} muted here{(' until ' + esc(until)) if until else ''}. /unmute {esc(name)} to undo."


def unmuted(name: str, was_muted: bool) -> str:
    return f"🔔 {trader_link(name)} unmuted." if was_muted else f"{trader_link(name)} was not muted here."


def outcome_text(pnl: float | None, outcome: str | None, pnl_pct: float | None = None) -> str:
    """How a closed trade ended, in a few characters: `✅ won +$200 (+80%)`, `➖ flat`, `❔ P&L unknown`."""
    if pnl is None:
        return "❔ P&amp;L unknown"
    if outcome == "flat" or pnl == 0:
        return "➖ flat"
    pct = f" ({pnl_pct:+.0f}%)" if pnl_pct is not None else ""
    return f"{'✅ won' if pnl > 0 else '❌ lost'} {money(pnl, signed=True)}{pct}"


def alerts_list(cards: Sequence[tuple[AlertCard, datetime | None]], today: date, zone: tzinfo = UTC,
                closed: dict[int, tuple[float | None, str | None, float | None]] | None = None) -> str:
    """(card, when the trader posted it) per alert, newest first, as the header says; `closed` maps the alert
    ids whose trade has closed to (P&L, outcome, P&L %), shown as how it ended."""
    if not cards:
        return "No scored alerts match yet."
    closed = closed or {}
    lines = ["<b>Latest scored alerts</b>, newest first"]
    for card, posted in cards:
        when = f" · {when_text(posted, zone)}" if posted else ""
        if card.alert_id in closed:
            end = f" · closed: {outcome_text(*closed[card.alert_id])}"
        else:
            end = f" · {(card.expiry - today).days} DTE" if card.expiry else ""
        lines.append(f"• <b>{score_text(card)}</b> {esc(card.symbol)} {strike_text(card)} @ {price(card.entry_price)}"
                     f" by {trader_link(card.trader)} — {esc(card.own.name if card.own else '?')}{when}{end}")
    return "\n".join(lines)


POSITIONS_PAGE = 10
CALLBACK_POSITIONS_PAGE = "pg"


def positions_list(rows: Sequence[Any], status: str, zone: tzinfo = UTC, *, page: int = 1, total: int | None = None
                   ) -> str:
    """One page of positions; a closed one shows when it was opened and closed (in the chat's zone)."""
    if not rows:
        return f"No {esc(status)} positions for the traders you track."
    pages = max(1, -(-(total or len(rows)) // POSITIONS_PAGE))
    title = f"<b>{'Open' if status == 'open' else 'Closed'} positions</b>"
    lines = [f"{title} — page {page} of {pages} ({total} in all)" if total and pages > 1 else title]
    for t in rows:
        contract = contract_words(t.option_type, t.strike, getattr(t, "legs", None))
        size = f" ×{t.quantity}" if t.quantity else " ×1 (size not given)"
        head = (f"• {trader_link(t.trader.username)} {esc(t.open_action)} {esc(t.symbol)}{contract}{size} "
                f"@ {price(t.entry_price)}")
        if status == "closed":
            known = t.pnl is not None and t.pnl_pct is not None
            pnl = f"{money(t.pnl, signed=True)} ({t.pnl_pct:+.0f}%)" if known else "P&amp;L unknown"
            dates = f" · opened {day_text(t.opened_at or t.first_seen_at, zone)}, closed {day_text(t.closed_at, zone)}"
            lines.append(f"{head} → {price(t.exit_price)}: {pnl}{dates}")
        elif t.last_price is None:
            lines.append(f"{head}, no price yet")
        else:
            open_pnl = position_pnl(t.open_action, is_option=t.option_type is not None, entry=t.entry_price,
                                    exit_price=t.last_price, quantity=t.quantity)
            result = (f"{money(open_pnl.amount, signed=True)} ({open_pnl.pct:+.0f}%) unrealised"
                      if open_pnl.amount is not None and open_pnl.pct is not None else "P&amp;L unknown")
            lines.append(f"{head}, last {price(t.last_price)}: {result}")
    return "\n".join(lines)


def positions_keyboard(status: str, page: int, total: int) -> InlineKeyboardMarkup | None:
    """◀ and ▶ between pages of /positions; none when it fits on one."""
    pages = -(-total // POSITIONS_PAGE)
    if pages <= 1:
        return None
    buttons = []
    if page > 1:
        buttons.append(InlineKeyboardButton("◀ Newer", callback_data=f"{CALLBACK_POSITIONS_PAGE}:{status}:{page - 1}"))
    buttons.append(InlineKeyboardButton(f"{page}/{pages}", callback_data="set:noop"))
    if page < pages:
        buttons.append(InlineKeyboardButton("Older ▶", callback_data=f"{CALLBACK_POSITIONS_PAGE}:{status}:{page + 1}"))
    return InlineKeyboardMarkup([buttons])


def leaderboard_summary(rows: Sequence[Any], period: str) -> str:
    if not rows:
        return f"No closed trades {esc(period)}."
    best = rows[0]
    total = sum(r.pnl for r in rows)
    return (f"🏆 {esc(period).capitalize()}: {trader_link(best.trader)} leads with {money(best.pnl, signed=True)} "
            f"({best.win_rate:.0%} of {best.closed} won); all traders {money(total, signed=True)}.")


def pnl_summary(who: str, period: str, total: float, trades: int, wins: int) -> str:
    if not trades:
        return f"No closed trades for {esc(who)} {esc(period)}."
    return (f"📈 {esc(who)} {esc(period)}: {money(total, signed=True)} over {trades} closed trades, "
            f"{wins / trades:.0%} won.")


def _clock(when: Any, zone: tzinfo = UTC) -> str:
    if when is None:
        return "none yet"
    if not isinstance(when, datetime):
        return esc(when)
    local = when.astimezone(zone)
    return f"{local:%H:%M:%S} {local.tzname() or 'UTC'}"


def feed_line(feed: dict[str, Any] | None, zone: tzinfo = UTC) -> str:
    """The push feed in one line: connected since, last event, reconnects today; or why it is not on."""
    if not feed:
        return "Push feed: off (no Xtrades token); polling only"
    reconnects = int(feed.get("reconnects_today") or 0)
    plural = "s" if reconnects != 1 else ""
    tail = f"last event {_clock(feed.get('last_event_at'), zone)}, {reconnects} reconnect{plural} today"
    state = feed.get("state")
    if state == "connected":
        return f"Push feed: connected since {_clock(feed.get('connected_since'), zone)}, {tail}"
    # Without a reason (what members see: reasons name addresses and errors), the state says it plainly.
    plain = {"down": "not connected", "expired": "Xtrades refused the session", "off": "not in use"}
    reason = esc(feed.get("reason") or plain.get(str(state), state or "unknown"))
    if state == "off":
        return f"Push feed: off ({reason}); polling only"
    if state == "expired":
        return f"Push feed: session expired ({reason}); polling only, {tail}"
    return f"Push feed: down ({reason}), reconnecting; polling at the normal interval, {tail}"


def market_status_line(health: Any, zone: tzinfo = UTC) -> str | None:
    """The market-data source's health (a `SourceHealth`), for /status."""
    if health is None:
        return None
    since = f" since {_clock(health.since, zone)}" if health.since else ""
    if health.healthy:
        return f"Market data: {esc(health.name)} — up ({health.requests} requests)"
    return f"Market data: {esc(health.name)} — DOWN{since} ({esc(health.last_error or 'no answer')}); alerts not priced"


def status_text(info: dict[str, Any], *, details: bool, zone: tzinfo = UTC) -> str:
    """Admins (`details`) see the whole pipeline; anyone else the health and their own chat's figures."""
    last_run = info.get("last_run", "not yet")
    if info.get("last_run_at") is not None:
        last_run = f"{_clock(info['last_run_at'], zone)}, {float(info.get('last_run_seconds') or 0):.1f}s"
    lines = ["<b>Status</b>", f"Source: {esc(info.get('source', 'unknown'))}", feed_line(info.get("feed"), zone),
             f"Last run: {esc(last_run)}"]
    if details:
        lines += [f"Queue: {info.get('queue_depth', 0)} waiting", f"Alerts scored today: {info.get('alerts_today', 0)}"]
    else:
        lines += [f"Queue: {info.get('queue_depth', 0)} waiting for this chat",
                  f"Alerts sent here today: {info.get('alerts_today', 0)}"]
    market = market_status_line(info.get("market"), zone)
    if market:
        lines.append(market)
    if details and info.get("unsettled"):
        lines.append(f"Expired options with their result unknown (no close yet): {info['unsettled']}, "
                     "retried for a week")
    if details:
        lines += [f"AI spend this month: ${float(info.get('ai_spend', 0.0)):.2f} of "
                  f"${float(info.get('ai_budget', 0.0)):.2f}", f"Tracked profiles: {info.get('profiles', 0)}"]
        lines += [f"• {esc(line)}" for line in info.get("unhealthy", [])]
        rejected = info.get("rejected") or []
        if rejected:
            lines.append(f"Records refused today: {sum(n for _, _, n in rejected)}")
            lines += [f"• {trader_link(trader)}: {esc(reason)} ×{n}" for trader, reason, n in rejected[:10]]
        if info.get("parked"):
            lines.append(f"Alerts that could not be judged (parked): {info['parked']}")
        if info.get("last_summary"):
            lines.append(f"<code>{esc(info['last_summary'])}</code>")
    return "\n".join(lines)


def settings_keyboard(min_score: int, rate_limit: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([
        [InlineKeyboardButton("Chance −5", callback_data="set:t:-5"),
         InlineKeyboardButton(f"≥ {min_score}%", callback_data="set:noop"),
         InlineKeyboardButton("Chance +5", callback_data="set:t:5")],
        [InlineKeyboardButton("Rate −1", callback_data="set:r:-1"),
         InlineKeyboardButton(f"{rate_limit}/hour", callback_data="set:noop"),
         InlineKeyboardButton("Rate +1", callback_data="set:r:1")],
    ])


# --- the backtest and calibration (issue 12) ---------------------------------------------------------------


CHANCE_MIN_TRADES = 200  # pipeline.judge.calibration.MIN_TRADES (handlers read the record, not the model)


def _basis_name(basis: str | None) -> str:
    return {"market": "option prices' probability", "trader": "this trader's record"}.get(basis or "", "the model")


def _basis_facts(card: AlertCard) -> list[str]:
    """The two baselines' own numbers: what option prices say, and the trader's record (follower's outcomes)."""
    c = card.scoring.chance if card.scoring else None
    facts = []
    if c is not None and c.market is not None:
        facts.append(f"option prices say {c.market:.0%}")
    else:
        facts.append("option prices: not priced")
    if c is not None and c.trader is not None and c.trader_closed:
        facts.append(f"this trader {c.trader:.0%} on {c.trader_closed:,} trade{'s' if c.trader_closed != 1 else ''}")
    else:
        facts.append("this trader: no closed trades yet")
    return facts


def chance_lines(card: AlertCard) -> list[str]:
    """The card's one headline number and its basis on the next line (issue 24): the calibrated chance that a
    follower (ask in, bid out) ends in profit; the better baseline, named, when the model is not yet better;
    no number at all before the calibration has its closed trades."""
    c = card.scoring.chance if card.scoring else None
    p = card.profit_probability
    facts = _basis_facts(card)
    if p is None or c is None or c.basis is None:
        return [f"Chance of profit: not given yet — it is calibrated once {CHANCE_MIN_TRADES} trades have closed",
                " · ".join([*facts, f"ranked meanwhile by the uncalibrated blend, {card.score:.0f}/100"])]
    if c.basis == "model":
        return [f"Chance of profit <b>{p:.0%}</b>", " · ".join([f"calibrated on {c.trades:,} closed trades", *facts])]
    return [f"Chance of profit <b>{p:.0%}</b>: {_basis_name(c.basis)}; the model is not yet better",
            " · ".join([f"model tested on {c.trades:,} closed trades", *facts])]


def chance_of_profit(card: AlertCard) -> str:
    """The headline alone (lists and digests)."""
    return chance_lines(card)[0]


def _pct(value: float | None, digits: int = 0) -> str:
    return f"{value * 100:.{digits}f}%" if value is not None else "n/a"


def _num(value: float | None, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if value is not None else "n/a"


def _signed_pct(value: float | None) -> str:
    return f"{value:+.1f}%" if value is not None else "n/a"


def _money(value: float | None) -> str:
    return f"{'+' if value >= 0 else '−'}${abs(value):,.0f}" if value is not None else "n/a"


def backtest_verdict(report: Any) -> str:
    """Whether the model earned the card: its walk-forward Brier against both baselines, and what the card
    shows when it did not."""
    if not report.calibrated_trades:
        return (f"The model is not tested yet (no month had {CHANCE_MIN_TRADES} trades closed before it); cards "
                "give no chance until it is.")
    briers = (f"Brier {_num(report.brier)} vs {_num(report.brier_pop_only)} option prices alone and "
              f"{_num(report.brier_trader_only)} the trader's record alone")
    if report.basis == "model":
        return f"The model beats both baselines ({briers}): cards show it."
    return (f"The model does not beat both baselines yet ({briers}): cards show the better baseline, "
            f"{_basis_name(report.basis)}, named as such.")


def backtest_summary(report: Any) -> str:
    """One line: how many trades, the Brier against both baselines, what cards show, the 70+ hit rate."""
    if not report.trades:
        return "Backtest: no closed trades to replay yet."
    row = next((r for r in report.thresholds if r.min_score == 70), None)
    at70 = (f"chance ≥70%: {row.notified} card{'s' if row.notified != 1 else ''}, {_pct(row.hit_rate)} profitable "
            f"for a follower ({_pct(row.hit_rate_low, 1)}-{_pct(row.hit_rate_high, 1)})" if row and row.notified
            else "chance ≥70%: no cards")
    shows = {"model": "cards show the model", "market": "cards show option prices' probability (the model is "
             "not yet better)", "trader": "cards show the trader's record (the model is not yet better)"}
    return (f"Backtest (follower's outcome, walk-forward): {report.trades:,} closed trades "
            f"({report.calibrated_trades:,} calibrated), Brier {_num(report.brier)} vs {_num(report.brier_pop_only)} "
            f"option prices alone and {_num(report.brier_trader_only)} trader's record alone, ECE {_num(report.ece)}; "
            f"{shows[report.basis] if report.calibrated_trades else 'no chance on cards yet'}; {at70}.")


def backtest_advice(report: Any) -> str:
    if report.advice is not None:
        return (f"Lowest threshold whose hit rate is at least 75% with 95% confidence: {report.advice} "
                f"(/threshold {report.advice}).")
    return "No threshold reaches a 75% hit rate with 95% confidence yet."


def backtest_table(report: Any) -> str:
    """The terminal report: plain text, one row per threshold, from the follower's seat."""
    header = (f"{'min':>4} {'sent':>6} {'won':>6} {'hit rate':>9} {'95% interval':>15} {'mean P&L':>9} "
              f"{'per $1k risked':>15}")
    lines = [backtest_summary(report), "", header]
    for r in report.thresholds:
        interval = f"{_pct(r.hit_rate_low, 1)}-{_pct(r.hit_rate_high, 1)}" if r.notified else "-"
        lines.append(f"{r.min_score:>4} {r.notified:>6} {r.won:>6} {_pct(r.hit_rate, 1):>9} {interval:>15} "
                     f"{_signed_pct(r.mean_pnl_pct):>9} {_money(r.per_1000_risked):>15}")
    lines += ["", f"Base rate {_pct(report.base_rate, 1)} (a follower's profit: ask in, bid out or settlement; "
              f"{report.estimated_trades:,} with the spread estimated where no quote was recorded); "
              f"ECE {_num(report.ece, 4)}; {report.live_ai_trades} trades with AI verdicts recorded live, the rest "
              "judged by the local analyst.", backtest_verdict(report), backtest_advice(report)]
    if report.chart:
        lines.append(f"Reliability chart: {report.chart}")
    return "\n".join(lines)


def backtest_message(report: Any) -> str:
    """/backtest's short text (the chart goes with it)."""
    title = f"📊 <b>Backtest — {esc(report.chat)}</b>" if report.chat else "📊 <b>Backtest</b>"
    if not report.trades:
        return f"{title}\nNo closed trades to replay yet."
    what = ("the cards this chat was sent, replayed as a follower would have fared" if report.chat
            else "every closed trade replayed as of its alert, as a follower would have fared")
    lines = [f"{title} — {what} (ask in, bid out or settlement)",
             f"{report.trades:,} trades, {report.calibrated_trades:,} calibrated walk-forward; "
             f"{_pct(report.base_rate)} profitable for a follower; ECE {_num(report.ece)}.",
             backtest_verdict(report), ""]
    for r in report.thresholds:
        if r.notified:
            lines.append(f"≥{r.min_score}%: {r.notified} cards, {_pct(r.hit_rate)} won "
                         f"({_pct(r.hit_rate_low, 1)}-{_pct(r.hit_rate_high, 1)}), mean {_signed_pct(r.mean_pnl_pct)} "
                         f"a card, {_money(r.per_1000_risked)} per $1,000 risked")
        else:
            lines.append(f"≥{r.min_score}%: none")
    lines += ["", f"<b>{backtest_advice(report)}</b>"]
    return "\n".join(lines)


def backtest_running() -> str:
    return "⏳ Replaying every closed trade as of its alert…"


def backtest_unavailable() -> str:
    return "The backtest is not available in this deployment."


def backtest_chart_caption(report: Any) -> str:
    return "Predicted chance of profit against what happened, by tenth (n = trades in each)."


def backtest_chart_subtitle(report: Any) -> str:
    ece = f", ECE {report.ece:.3f}" if report.ece is not None else ""
    return f"{report.trades:,} closed trades{ece}"


# --- the chat's own settings and scoreboard (issue 26) ------------------------------------------------------

CALLBACK_ZONE, CALLBACK_NOTIFY, CALLBACK_QUIET_MODE = "tz", "nt", "qm"


def zone_keyboard(zones: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    """/start's question: a few common zones, three to a row."""
    buttons = [InlineKeyboardButton(label, callback_data=f"{CALLBACK_ZONE}:{name}") for label, name in zones]
    return InlineKeyboardMarkup([buttons[i:i + 3] for i in range(0, len(buttons), 3)])


def ask_zone() -> str:
    return ("🕒 Which time zone should I use here? Times on cards, results, lists, charts and the daily summary "
            "follow it. Pick one, or send /timezone &lt;zone or city&gt; (UTC until then).")


def zone_set(name: str, now_local: datetime) -> str:
    return (f"🕒 Time zone here: <b>{esc(name)}</b> (it is {now_local:%H:%M} {esc(now_local.tzname() or '')} now). "
            "Every time I show here is in it.")


def zone_current(name: str, now_local: datetime) -> str:
    return (f"🕒 Time zone here: <b>{esc(name)}</b>, {now_local:%H:%M} {esc(now_local.tzname() or '')} now. "
            f"{usage('timezone')}")


def unknown_zone(text: str) -> str:
    return (f"I don't know the time zone {esc(clip(text))}. Send an IANA name such as America/New_York or "
            "Europe/Berlin, or a big city (New York, London, Tokyo).")


def quiet_text(quiet: Any, mode: str, zone_name: str) -> str:
    """The chat's quiet hours as set now."""
    what = ("cards are held and sent together as one digest when quiet hours end" if mode == "hold"
            else "cards arrive silently")
    if quiet is None:
        return f"🔕 No quiet hours here: every card rings as it comes (once set, {what}). {usage('quiet')}"
    return (f"🔕 Quiet hours: <b>{esc(str(quiet))}</b> ({esc(zone_name)}); {what}. Results of trades you were "
            f"sent always arrive, silently. /quiet hold or /quiet silent to choose, /quiet off to end them.")


def notify_text(levels: Sequence[tuple[str, str]]) -> str:
    """(label, level) per kind of message."""
    lines = ["🔔 <b>Notifications here</b> — on, silent (no sound) or off:"]
    lines += [f"• {esc(label)}: <b>{esc(level)}</b>" for label, level in levels]
    return "\n".join(lines)


def notify_keyboard(rows: Sequence[tuple[str, str, str]]) -> InlineKeyboardMarkup:
    """(kind, short label, current level) per kind: one row each, the current level ticked."""
    keyboard = []
    for kind, label, current in rows:
        keyboard.append([InlineKeyboardButton(label, callback_data="set:noop")] + [
            InlineKeyboardButton(("✓ " if level == current else "") + level,
                                 callback_data=f"{CALLBACK_NOTIFY}:{kind}:{level}")
            for level in ("on", "silent", "off")])
    return InlineKeyboardMarkup(keyboard)


def summary_setting(enabled: bool, at: str, zone_name: str) -> str:
    if not enabled:
        return f"📋 The daily summary is off here. {usage('summary')}"
    return (f"📋 The daily summary comes at <b>{esc(at)}</b> ({esc(zone_name)}) on days with cards or results. "
            f"{usage('summary')}")


def pnl_whose(source: str) -> str:
    """Whose P&L a figure is: the follower's own fills where known, else the trader's, said plainly."""
    return "a follower's P&amp;L" if source == "follower" else "P&amp;L at the trader's prices"


def _hit(t: Any) -> str:
    decided = t.won + t.lost
    if not decided:
        return "no trade won or lost yet"
    return f"{t.won}/{decided} won, {t.hit_rate:.0%} (95% interval {t.hit_low:.0%}-{t.hit_high:.0%})"


def _means(t: Any) -> str:
    parts = []
    if t.mean_pnl is not None:
        parts.append(f"mean {money(t.mean_pnl, signed=True)} per card")
    if t.mean_per_risk is not None:
        parts.append(f"{money(t.mean_per_risk, signed=True)} per $1,000 risked")
    return ", ".join(parts)


def record_text(rec: Any, period: str, zone_name: str) -> str:
    """/record: the chat's own scoreboard."""
    o = rec.overall
    if not o.cards:
        return f"📒 No cards were sent here {esc(period)}, so there is no record yet."
    open_cards = o.cards - o.closed
    lines = [f"📒 <b>Record of the cards sent here</b>, {esc(period)} ({esc(zone_name)})",
             f"{o.cards} card{'s' if o.cards != 1 else ''}: {o.closed} closed, {open_cards} open.",
             f"Hit rate: {_hit(o)}."]
    means = _means(o)
    if means:
        lines.append(f"{means[:1].upper()}{means[1:]} ({pnl_whose(o.pnl_source)}).")
    if o.risk_known:
        lines.append(f"Following every card with $1,000 at risk: max drawdown {money(o.max_drawdown)} "
                     f"({o.risk_known} closed card{'s' if o.risk_known != 1 else ''} with a known max loss).")
    for title, tallies in (("By trader", rec.by_trader), ("By structure", rec.by_structure)):
        lines += ["", f"<b>{title}</b>"]
        for t in tallies:
            name = f"{trader_link(t.label)}" if title == "By trader" else esc(t.label)
            extra = _means(t)
            lines.append(f"• {name}: {t.cards} card{'s' if t.cards != 1 else ''}, {_hit(t)}"
                         + (f"; {extra}" if extra else ""))
    return "\n".join(lines)


def record_caption(rec: Any, period: str) -> str:
    o = rec.overall
    return (f"Equity of a follower risking $1,000 on every card sent here, {period} "
            f"({pnl_whose(o.pnl_source)}).")


def export_caption(count: int, period: str, zone_name: str) -> str:
    return (f"{count} card{'s' if count != 1 else ''} sent here, {esc(period)}; times in {esc(zone_name)}. "
            "The columns are described in the README (/export).")


def nothing_to_export(period: str) -> str:
    return f"No cards were sent here {esc(period)}: nothing to export."


def _trade_line(c: Any) -> str:
    if getattr(c, "structure", None) in MULTI_LEG_NAMES:
        contract = f" {esc(c.structure)}"  # a spread or condor by its name, not its first leg
    else:
        contract = f" ${c.strike:g} {c.option_type.upper()}" if c.option_type and c.strike is not None else ""
    return f"{esc(c.symbol)}{contract} by {trader_link(c.trader)} {money(c.pnl, signed=True)}"


def daily_summary(s: Any) -> str:
    """The daily summary of what this chat was sent and how it did (handlers.record.DaySummary)."""
    lines = [f"📋 <b>Your day, {s.day:%a %b %d}</b>",
             f"Cards sent: {s.cards_sent}",
             f"Trades closed: {s.closed} ({s.won} won, {s.lost} lost)"]
    if s.pnl is not None:
        lines.append(f"P&amp;L of the cards that closed: {money(s.pnl, signed=True)} ({pnl_whose(s.pnl_source)})")
    if s.best is not None:
        lines.append(f"Best: {_trade_line(s.best)}")
    if s.worst is not None:
        lines.append(f"Worst: {_trade_line(s.worst)}")
    lines.append("/record for the whole scoreboard.")
    return "\n".join(lines)
