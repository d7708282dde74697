"""Guards around what people send, through the real Application over the loopback Bot API: buttons checked
against their message and bounds, edited messages, unknown commands in groups, /track, group migration, an
update PTB cannot parse, and a /status that tells the truth."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import Application

from bot.app import runtime_of
from handlers.render import trader_link
from storage import chats, queue, scraper_state, traders
from storage.db import Database
from storage.models import Chat, NotificationQueueItem
from tests.fakes.telegram import FakeTelegram
from tests.fakes.xtrades import FakeXtrades
from tests.test_conversation import delivered_alert, say
from tests.test_delivery import chat, scored_alert

OLD_GROUP, SUPERGROUP = -4001, -1004001
ADMIN = 11
NOT_MINE = "That button isn't one of mine."


@pytest.fixture
async def app(start_app: Callable[..., Any]) -> Application:
    return await start_app(admin_chat_ids=[900])


async def press(telegram: FakeTelegram, chat_id: int, message_id: int, data: str) -> str:
    before = len(telegram.calls_to("answerCallbackQuery"))
    telegram.push_callback(chat_id, message_id, data)
    calls = await telegram.wait_for("answerCallbackQuery", count=before + 1)
    return str(calls[before].params.get("text"))


# --- 6. every button checked against its message and its bounds ------------------------------------------


async def test_a_settings_button_forged_onto_an_alert_card_changes_nothing(app: Application,
                                                                           telegram: FakeTelegram) -> None:
    _, card = await delivered_alert(app, telegram, 8)
    card_text = telegram.sent_messages(8)[0].params["text"]
    for data in ("set:t:5", "set:r:1", "set:noop"):
        assert await press(telegram, 8, card, data) == NOT_MINE
    await asyncio.sleep(0.2)
    assert telegram.calls_to("editMessageText") == []  # the card keeps its text
    async with runtime_of(app).db.reader() as s:
        row = await chats.get(s, 8)
    assert (row.min_score, row.rate_limit_per_hour) == (80, 5)
    assert telegram.sent_messages(8)[0].params["text"] == card_text


@pytest.mark.parametrize("data", ["set:t:-10", "set:t:10", "set:t:-5 ", "set:r:-9", "set:r:5", "set:t:0"])
async def test_a_settings_panel_accepts_only_its_own_steps(app: Application, telegram: FakeTelegram,
                                                          data: str) -> None:
    await say(telegram, "/settings", chat_id=12)
    assert await press(telegram, 12, 2, data) == NOT_MINE
    async with runtime_of(app).db.reader() as s:
        row = await chats.get(s, 12)
    assert (row.min_score, row.rate_limit_per_hour) == (80, 5)
    assert await press(telegram, 12, 2, "set:t:-5") == "Saved."  # its own button still works


async def test_an_alert_button_forged_onto_a_settings_panel_is_refused(app: Application,
                                                                       telegram: FakeTelegram) -> None:
    alert_id, _ = await delivered_alert(app, telegram, 13)
    await say(telegram, "/settings", chat_id=13)
    panel = 3  # the card (1), /settings (2), the panel (3)
    answer = await press(telegram, 13, panel, f"a:{alert_id}")
    assert answer == NOT_MINE
    assert len(telegram.sent_messages(13)) == 2  # no analysis was sent


# --- 7. edited messages and unknown commands ------------------------------------------------------------


async def test_an_edited_message_never_runs_its_command(app: Application, telegram: FakeTelegram) -> None:
    assert "set to <b>50%</b>" in await say(telegram, "/threshold 50", chat_id=14)
    telegram.push_edited_message(14, 1, "/threshold 33")
    telegram.push_edited_message(14, 1, "/nosuchcommand")
    assert "/track" in await say(telegram, "/help", chat_id=14)  # handled after the edits: they were skipped
    assert len(telegram.sent_messages(14)) == 2
    async with runtime_of(app).db.reader() as s:
        assert (await chats.get(s, 14)).min_score == 50


async def test_unknown_commands_in_groups_are_answered_only_when_addressed_to_the_bot(
        app: Application, telegram: FakeTelegram) -> None:
    telegram.push_message(-300, "/foo", chat_type="supergroup", chat_title="Desk")
    telegram.push_message(-300, "/foo@another_bot", chat_type="supergroup", chat_title="Desk")
    answer = await say(telegram, "/foo@sentinel_test_bot", chat_id=-300, chat_type="supergroup")
    assert "/foo" in answer
    assert len(telegram.sent_messages(-300)) == 1
    assert "/bar" in await say(telegram, "/bar", chat_id=15)  # in private, always answered


# --- 8. /track checks the trader exists ------------------------------------------------------------------


async def test_track_refuses_names_that_are_no_profile_and_tracks_nothing_it_cannot_check(
        app: Application, telegram: FakeTelegram, site: FakeXtrades) -> None:
    site.add_trader("behappy")
    for name in ("..", ".", "-", "a..b", "nosuchtrader_zz"):
        text = await say(telegram, f"/track {name}", chat_id=16)
        assert "Now tracking" not in text, (name, text)
    site.api_fail_status = 503
    text = await say(telegram, "/track behappy", chat_id=16)
    assert "can't be reached right now" in text and "Now tracking" not in text
    async with runtime_of(app).db.reader() as s:
        assert await traders.tracked_by_chat(s, 16) == []
        assert await traders.by_username(s, "..") is None
    site.api_fail_status = None
    assert f"Now tracking {trader_link('behappy')}" in await say(telegram, "/track behappy", chat_id=16)


# --- 5. group -> supergroup, in either order -------------------------------------------------------------


async def test_a_supergroup_used_before_the_migration_takes_the_old_groups_settings_and_traders(
        app: Application, telegram: FakeTelegram, site: FakeXtrades) -> None:
    runtime = runtime_of(app)
    site.add_trader("behappy")
    site.add_trader("mrzebra")
    for member in (OLD_GROUP, SUPERGROUP):
        telegram.set_member_status(member, ADMIN, "administrator")
    await say(telegram, "/threshold 0", chat_id=OLD_GROUP, user_id=ADMIN, chat_type="group")
    await say(telegram, "/ratelimit 60", chat_id=OLD_GROUP, user_id=ADMIN, chat_type="group")
    await say(telegram, "/track behappy mrzebra", chat_id=OLD_GROUP, user_id=ADMIN, chat_type="group")
    await say(telegram, "/start", chat_id=SUPERGROUP, user_id=ADMIN, chat_type="supergroup")  # used first
    await say(telegram, "/track behappy", chat_id=SUPERGROUP, user_id=ADMIN, chat_type="supergroup")
    alert_id = await scored_alert(runtime.db, 77, now=datetime.now(UTC))
    async with runtime.db.session() as s:  # the same alert queued for both (the old group's threshold let it in)
        queued_for = set((await s.scalars(select(NotificationQueueItem.chat_id)
                                          .where(NotificationQueueItem.alert_id == alert_id))).all())
        assert queued_for == {OLD_GROUP}
        s.add(NotificationQueueItem(alert_id=alert_id, chat_id=SUPERGROUP, priority=1.0,
                                    created_at=datetime.now(UTC)))
    telegram.push_chat_migrated(OLD_GROUP, SUPERGROUP)
    for _ in range(100):  # both service messages handled (updates are handled concurrently)
        await asyncio.sleep(0.05)
        async with runtime.db.reader() as s:
            if not (await chats.get(s, OLD_GROUP)).is_active:
                break
    await asyncio.sleep(0.3)
    async with runtime.db.reader() as s:
        new, old = await chats.get(s, SUPERGROUP), await chats.get(s, OLD_GROUP)
        tracked = sorted(t.username for t in await traders.tracked_by_chat(s, SUPERGROUP))
        queued = (await s.execute(select(NotificationQueueItem.chat_id, NotificationQueueItem.status)
                                  .where(NotificationQueueItem.alert_id == alert_id))).all()
    assert (new.min_score, new.rate_limit_per_hour, new.is_active) == (0, 60, True)
    assert not old.is_active and tracked == ["behappy", "mrzebra"]
    statuses = dict(queued)  # the supergroup's copy stands (the delivery job may have sent it already)
    assert len(queued) == 2 and statuses[OLD_GROUP] == "skipped" and statuses[SUPERGROUP] in ("pending", "sent")
    for _ in range(3):
        await runtime.deliverer.run_once()  # no IntegrityError, nothing stuck
    assert len([c for c in telegram.sent_messages(SUPERGROUP) if "TRADE ALERT" in c.params["text"]]) == 1


@pytest.mark.parametrize("order", ["old group first", "supergroup first"])
async def test_migrate_merges_in_one_transaction_whichever_message_comes_first(db: Database, order: str) -> None:
    async with db.session() as s:
        await chats.get_or_create(s, OLD_GROUP, chat_type="group", title="Desk", min_score=10, rate_limit_per_hour=40)
        await traders.track(s, OLD_GROUP, "behappy")
        if order == "supergroup first":
            await chats.get_or_create(s, SUPERGROUP, chat_type="supergroup", title="Desk", min_score=80,
                                      rate_limit_per_hour=5)
            await traders.track(s, SUPERGROUP, "behappy")
            await traders.track(s, SUPERGROUP, "mrzebra")
    for _ in range(2):  # both service messages: the second finds it done
        async with db.session() as s:
            merged = await chats.migrate(s, OLD_GROUP, SUPERGROUP)
            assert merged is not None and merged.id == SUPERGROUP
    async with db.reader() as s:
        new = await chats.get(s, SUPERGROUP)
        tracked = sorted(t.username for t in await traders.tracked_by_chat(s, SUPERGROUP))
        assert await traders.tracked_by_chat(s, OLD_GROUP) == []
        assert not (await chats.get(s, OLD_GROUP)).is_active
    assert (new.min_score, new.rate_limit_per_hour) == (10, 40)
    assert tracked == (["behappy", "mrzebra"] if order == "supergroup first" else ["behappy"])


# --- 9. an update PTB cannot parse ---------------------------------------------------------------------


async def test_an_update_that_cannot_be_parsed_is_skipped_and_logged_once(
        app: Application, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        telegram.push_raw_update({"message": {"message_id": 1, "date": "yesterday", "chat": {"id": 5}}})
        telegram.push_raw_update({"callback_query": {"id": "1"}})
        assert "/track" in await say(telegram, "/help", chat_id=17)  # the updates after them are handled
        await asyncio.sleep(0.5)
    skipped = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert len(skipped) == 2
    assert not [r for r in caplog.records if "Error while parsing updates" in r.getMessage()]


# --- 10. /status tells the truth ----------------------------------------------------------------------------


async def test_status_counts_a_profile_failing_only_after_three_failures_in_a_row(
        app: Application, telegram: FakeTelegram, site: FakeXtrades) -> None:
    runtime = runtime_of(app)
    await chat(runtime.db, 18)
    async with runtime.db.session() as s:
        await traders.track(s, 18, "behappy")
    site.add_trader("behappy")
    site.api_fail_status = 500
    for expected in ("Source: healthy", "Source: healthy", "Source: 1 profile(s) failing"):
        async with runtime.db.session() as s:  # as a failed read records it (the browser path is slow here)
            await scraper_state.record_failure(s, "behappy", at=datetime.now(UTC), error="alerts API answered 500")
        assert expected in await say(telegram, "/status", chat_id=18)


async def test_status_for_a_member_shows_only_its_chats_figures_and_no_internals(
        start_app: Callable[..., Any], telegram: FakeTelegram, site: FakeXtrades) -> None:
    site.hub_url, site.hub_access_token = "http://127.0.0.1:1/client/?hub=notification", "placeholder"
    app = await start_app(admin_chat_ids=[900])  # its push feed is sent to a hub that is not there
    runtime = runtime_of(app)
    for _ in range(200):
        if runtime.feed is not None and runtime.feed.status.state == "down" and runtime.feed.status.reason:
            break
        await asyncio.sleep(0.05)
    await chat(runtime.db, 19)
    alert_id = await scored_alert(runtime.db, 66, now=datetime.now(UTC))
    async with runtime.db.session() as s:  # another chat's queue
        await chats.get_or_create(s, 20, chat_type="private", title=None, min_score=0, rate_limit_per_hour=5)
        s.add(NotificationQueueItem(alert_id=alert_id, chat_id=20, priority=1.0, created_at=datetime.now(UTC)))
    member = await say(telegram, "/status", chat_id=19)
    admin = await say(telegram, "/status", chat_id=900)
    reason = runtime.feed.status.reason if runtime.feed is not None else None
    assert reason and reason in html.unescape(admin)  # the admins see why
    assert "Queue: 0 waiting for this chat" in member and "Queue: 1 waiting" in admin
    assert html.escape(reason) not in member and "127.0.0.1" not in member and "AI spend" not in member


async def test_last_run_is_the_last_read_a_tracked_trader_s_baseline_included(
        app: Application, telegram: FakeTelegram, site: FakeXtrades) -> None:
    runtime = runtime_of(app)
    await runtime.cycle.run_once()  # nothing tracked yet: a run of 0 traders
    assert "traders=0" in await say(telegram, "/status", chat_id=900)
    site.add_trader("behappy")
    await say(telegram, "/track behappy", chat_id=900)
    for _ in range(100):
        if runtime.cycle.last_report is not None and runtime.cycle.last_report.traders == 1:
            break
        await asyncio.sleep(0.1)
    assert "traders=1" in await say(telegram, "/status", chat_id=900)


async def test_queue_rows_are_untouched_by_reading_status(db: Database) -> None:
    async with db.reader() as s:
        assert await queue.depth(s) == 0 and (await s.scalars(select(Chat))).all() == []


async def test_track_refuses_a_name_the_api_answers_with_other_traders_alerts(
        app: Application, telegram: FakeTelegram, site: FakeXtrades) -> None:
    """Xtrades' API ignores a filter it does not know: an unknown name can come back with everyone's alerts."""
    someone = site.add_alert("someoneelse", symbol="AAPL", price=2.0)
    site.add_trader("nosuchtrader_zz")
    site.payload_override = {"alerts": [someone], "totalCount": 1}
    text = await say(telegram, "/track nosuchtrader_zz", chat_id=21)
    assert "Now tracking" not in text and "No Xtrades trader named nosuchtrader_zz" in text
    async with runtime_of(app).db.reader() as s:
        assert await traders.tracked_by_chat(s, 21) == []
