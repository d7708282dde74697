"""The rendered-posts reader: when a profile page loads no alerts JSON, its rendered posts are read and parsed."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, date, datetime
from typing import Any

from pipeline.ingest.parser import parse_alert
from pipeline.ingest.records import one_per_record, parse_datetime
from pipeline.models import RawAlert

log = logging.getLogger(__name__)

POSTS_JS = """els => els.map(e => {
  const body = e.querySelector('div.post__body app-quill-text') || e.querySelector('app-quill-text') || e;
  const author = e.querySelector('.post__header__details__author__username');
  const time = e.querySelector('time[datetime]');
  return {id: e.getAttribute('data-id') || e.getAttribute('data-post-id') || null, text: body.innerText || '',
          author: author ? author.innerText.trim() : null, time: time ? time.getAttribute('datetime') : null};
})"""


def alert_from_post(text: str, trader: str, *, post_id: str | None = None, posted_at: datetime | None = None,
                    today: date | None = None) -> RawAlert | None:
    """A rendered post's text as a RawAlert. Rendered posts carry no shared id: the post's own id attribute
    when it has one, else a hash of the trader and the normalised text, so the same post keeps its id."""
    parsed = parse_alert(text, today=today)
    if parsed is None:
        return None
    normalised = " ".join(text.split()).lower()
    digest = hashlib.sha1(f"{trader.lower()}|{normalised}".encode()).hexdigest()[:16]
    is_exit = parsed.action in ("STC", "BTC")
    return RawAlert(
        alert_id=(post_id or "").strip()[:80] or f"dom-{digest}", trader=trader.lower(),
        action=parsed.action,  # type: ignore[arg-type]
        symbol=parsed.symbol, option_type=parsed.option_type,  # type: ignore[arg-type]
        strike=parsed.strike, expiry=parsed.expiry, price=parsed.price, quantity=parsed.quantity,
        status="open" if not is_exit or parsed.is_partial else "closed",
        is_partial=is_exit and parsed.is_partial, posted_at=posted_at,
        risk="lotto" if "lotto" in parsed.flags else None, text=text[:2000], source="dom",
        legs=parsed.legs,
    )


async def read_posts(page: Any, username: str) -> list[RawAlert]:
    """The rendered posts of the alerts tab (all posts when the page has no such tab), parsed from text.

    The "5m ago" age is not used as a time: it changes on every scrape, and a post's time is part of how
    an exit is recognised as already seen.
    """
    selector = "app-alerts-tab app-post" if await page.query_selector("app-alerts-tab") else "app-post"
    posts = await page.eval_on_selector_all(selector, POSTS_JS)
    today = datetime.now(UTC).date()
    texts = [str(post.get("text") or "") for post in posts]
    mapped = [alert_from_post(text, username, post_id=post.get("id"), posted_at=parse_datetime(post.get("time")),
                              today=today) for post, text in zip(posts, texts, strict=True)]
    skipped = sum(1 for alert, text in zip(mapped, texts, strict=True) if alert is None and text.strip())
    alerts = one_per_record(mapped)
    if skipped:
        log.info("%d post(s) of %s are not alerts; skipped", skipped, username)
    return alerts
