"""The loopback Bot API answers PTB's real `Bot` and `Application` over HTTP the way Telegram would.

Other tests trust this fake to surface the bot's mistakes (flood control, blocked chats, unparseable HTML), so
it is checked here against PTB itself rather than against our own reading of the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import warnings
from collections.abc import AsyncIterator

import pytest
from telegram import (
    Bot,
    BotCommand,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes

from tests.fakes.telegram import FakeTelegram, parse_html

TOKEN = "123456:TEST-TOKEN"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url) as client:
        yield client


def keyboard(data: str = "a:1") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Analyze", callback_data=data)]])


async def test_get_me_identifies_the_bot(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (999000, "sentinel_test_bot", True)
    assert bot.username == "sentinel_test_bot"  # initialize() already asked
    assert len(fake.calls_to("getMe")) == 2
    assert fake.calls_to("GETME") == fake.calls_to("getMe")


async def test_a_wrong_token_is_an_invalid_token(fake: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        await Bot("42:WRONG", base_url=fake.base_url).get_me()
    assert fake.calls[-1].failed


async def test_send_message_is_recorded_with_decoded_params(fake: FakeTelegram, bot: Bot) -> None:
    first = await bot.send_message(5, "<b>Buy</b> AT&amp;T", parse_mode=ParseMode.HTML,
                                   reply_markup=keyboard())
    second = await bot.send_message(5, "42")
    [call, plain] = fake.sent_messages(5)
    assert call.params["chat_id"] == 5 and call.params["parse_mode"] == "HTML"
    assert call.params["reply_markup"] == {"inline_keyboard": [[{"text": "Analyze", "callback_data": "a:1"}]]}
    assert plain.params["text"] == "42"  # a string parameter stays a string even when it looks like JSON
    assert fake.messages_text(5) == ["<b>Buy</b> AT&amp;T", "42"]
    assert first.text == "Buy AT&T" and first.entities == (MessageEntity("bold", 0, 3),)
    assert first.text_html == "<b>Buy</b> AT&amp;T"
    assert first.reply_markup == keyboard() and first.from_user.id == 999000 and first.chat.id == 5
    assert second.message_id == first.message_id + 1
    assert fake.sent_messages(6) == []


async def test_send_photo_uploads_the_exact_bytes(fake: FakeTelegram, bot: Bot) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    message = await bot.send_photo(5, png, caption="<i>P&amp;L</i>", parse_mode=ParseMode.HTML)
    [call] = fake.calls_to("sendPhoto")
    assert call.files["photo"] == png and call.params["caption"] == "<i>P&amp;L</i>"
    assert message.caption == "P&L" and message.photo[-1].file_size == len(png)
    downloaded = await (await bot.get_file(message.photo[-1].file_id)).download_as_bytearray()
    assert bytes(downloaded) == png


async def test_get_updates_delivers_commands_and_honours_offset_and_limit(fake: FakeTelegram,
                                                                          bot: Bot) -> None:
    fake.push_message(-100, "/start@sentinel_test_bot now", chat_type="supergroup", chat_title="Desk")
    fake.push_message(5, "hello")
    fake.push_message(5, "again")
    first, second = await bot.get_updates(limit=2)
    assert first.message.text == "/start@sentinel_test_bot now" and first.message.chat.title == "Desk"
    assert first.message.parse_entities([MessageEntity.BOT_COMMAND]) == {
        MessageEntity("bot_command", 0, len("/start@sentinel_test_bot")): "/start@sentinel_test_bot"}
    assert second.message.entities == () and second.update_id == first.update_id + 1
    rest = await bot.get_updates(offset=second.update_id)  # confirms the first only
    assert [u.message.text for u in rest] == ["hello", "again"]
    assert await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0) == ()


async def test_allowed_updates_are_remembered_between_polls(fake: FakeTelegram, bot: Bot) -> None:
    fake.push_callback(5, 1, "a:1")
    fake.push_message(5, "hi")
    [update] = await bot.get_updates(allowed_updates=["message"])
    assert update.message.text == "hi"
    fake.push_callback(5, 1, "a:2")
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()


async def test_a_long_poll_wakes_on_a_push(fake: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    fake.push_message(5, "/start")
    [update] = await poll
    assert update.message.text == "/start" and time.monotonic() - started < 1


async def test_a_newer_poll_ends_an_older_one_with_conflict(fake: FakeTelegram, bot: Bot) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    # A second bot instance: PTB gives getUpdates a one-connection pool of its own.
    async with Bot(TOKEN, base_url=fake.base_url) as other:
        assert await other.get_updates(timeout=0) == ()
    with pytest.raises(Conflict):
        await older


async def test_stop_answers_a_waiting_long_poll_promptly() -> None:
    fake = FakeTelegram(token=TOKEN)
    await fake.start()
    async with Bot(TOKEN, base_url=fake.base_url) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await fake.stop()
        assert await poll == ()
        assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(("kind", "error", "text"), [
    ("429", RetryAfter, "Flood control exceeded. Retry in "),
    ("403", Forbidden, "Forbidden: bot was blocked by the user"),
    ("403_kicked", Forbidden, "Forbidden: bot was kicked from the group chat"),
    ("migrate", ChatMigrated, "Group migrated to supergroup. New chat id: -1009999"),
    ("400", BadRequest, "Chat not found"),
    # PTB 22.8 on a non-JSON 502:
    # NetworkError("Bad Gateway (502). Parsing the server response b'<html>…' failed")
    ("502", NetworkError, "Bad Gateway (502). Parsing the server response"),
])
async def test_each_injected_error_raises_what_ptb_raises_then_the_next_call_succeeds(
        fake: FakeTelegram, bot: Bot, kind: str, error: type[TelegramError], text: str) -> None:
    fake.fail_next("sendMessage", kind, retry_after=2, migrate_to_chat_id=-1009999)
    with pytest.raises(error) as raised, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RetryAfter.retry_after warns about its future timedelta type
        await bot.send_message(-5, "alert")
    assert type(raised.value) is error and str(raised.value).startswith(text)
    if isinstance(raised.value, RetryAfter):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            retry_after = raised.value.retry_after  # a timedelta when PTB_TIMEDELTA is set (bot/ sets it)
        assert retry_after in (2, dt.timedelta(seconds=2))
    if isinstance(raised.value, ChatMigrated):
        assert raised.value.new_chat_id == -1009999
    await bot.send_message(-5, "alert")
    assert [c.failed for c in fake.calls if c.method == "sendMessage"] == [True, False]
    assert len(fake.sent_messages(-5)) == 1


async def test_faults_narrow_by_chat_and_method_and_last_for_a_while(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", "403", chat_id=1)
    await bot.send_message(2, "fine")
    with pytest.raises(Forbidden):
        await bot.send_message(1, "blocked")
    fake.fail_next(None, "400", description="Bad Request: chat not found")
    assert await bot.get_updates(timeout=0) == ()  # "any method" spares getUpdates
    with pytest.raises(BadRequest):
        await bot.get_chat(2)
    fake.fail_for("sendMessage", "502", 0.3)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(2, "outage")
    await asyncio.sleep(0.35)
    await bot.send_message(2, "back")
    fake.fail_for(None, "429", 60)
    fake.clear_faults()
    await bot.send_message(2, "again")
    assert fake.messages_text(2) == ["fine", "back", "again"]


async def test_set_delay_slows_a_method(fake: FakeTelegram, bot: Bot) -> None:
    fake.set_delay("sendMessage", 0.3)
    started = time.monotonic()
    await bot.send_message(5, "slow")
    assert time.monotonic() - started >= 0.3
    fake.set_delay("sendMessage", 0)


async def test_a_dropped_answer_delivers_the_message_and_the_bot_sees_a_network_error(fake: FakeTelegram,
                                                                                     bot: Bot) -> None:
    fake.fail_next("sendMessage", "drop")
    with pytest.raises(NetworkError) as raised:
        await bot.send_message(5, "taken")
    assert not isinstance(raised.value, TimedOut)
    assert fake.messages_text(5) == ["taken"]  # Telegram has it, though the bot never heard


async def test_a_send_slower_than_the_read_timeout_is_still_delivered(fake: FakeTelegram, bot: Bot) -> None:
    fake.set_delay("sendMessage", 0.6)
    with pytest.raises(TimedOut):
        await bot.send_message(5, "late", read_timeout=0.2)
    await fake.wait_for("sendMessage", timeout=5)
    assert fake.messages_text(5) == ["late"]  # what makes a blind resend a duplicate
    fake.set_delay("sendMessage", 0)


async def test_a_call_in_flight_is_visible_and_stop_cuts_its_delay_short() -> None:
    fake = FakeTelegram(token=TOKEN)
    await fake.start()
    fake.set_delay("sendMessage", 30)
    async with Bot(TOKEN, base_url=fake.base_url) as bot:
        sending = asyncio.create_task(bot.send_message(5, "slow"))
        for _ in range(500):
            if fake.calls and fake.calls[-1].method == "sendMessage":
                break
            await asyncio.sleep(0.01)
        assert fake.calls[-1].params["text"] == "slow" and fake.calls_to("sendMessage") == []  # in flight
        started = time.monotonic()
        await fake.stop()
        assert time.monotonic() - started < 1.5
        with contextlib.suppress(TelegramError):
            await sending


async def test_wait_for_explains_what_happened_instead(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(5, "not a photo")
    with pytest.raises(AssertionError, match=r"(?s)sendPhoto.*sendMessage .*not a photo"):
        await fake.wait_for("sendPhoto", timeout=0.2)

    async def send_later() -> None:
        await asyncio.sleep(0.1)
        await bot.send_message(5, "x")

    sender = asyncio.create_task(send_later())
    [*_, last] = await fake.wait_for("sendMessage", count=2, timeout=2)
    assert last.params["text"] == "x"
    await sender


async def test_message_length_counts_what_is_visible(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(5, "x" * 4096)
    await bot.send_message(5, f"<b>{'x' * 4096}</b>", parse_mode=ParseMode.HTML)  # tags are not counted
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(5, "x" * 4097)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(5, "🙂" * 2049)  # 2049 characters but 4098 UTF-16 units
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(5, "  ")
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(5, b"png", caption="x" * 1025)
    assert len(fake.sent_messages(5)) == 2


@pytest.mark.parametrize("text", [
    "<b>bold", "<b><i>x</b></i>", "<div>x</div>", "score < 5", "x </b>", "AT&T", "1 > 0", "<span>x</span>",
    "<b>unclosed <i>nested</i>",
])
async def test_unparseable_html_is_rejected(bot: Bot, text: str) -> None:
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(5, text, parse_mode=ParseMode.HTML)


async def test_valid_html_parses_into_entities(bot: Bot) -> None:
    text = ('<a href="https://x.test/?a=1&amp;b=2">link</a> '
            '<pre><code class="language-python">x</code></pre> <tg-spoiler>s</tg-spoiler> '
            '<span class="tg-spoiler">t</span> &lt;3 &#128512; &quot;q&quot; '
            "<blockquote expandable>q</blockquote> <s><u>su</u></s>")
    message = await bot.send_message(5, text, parse_mode=ParseMode.HTML)
    assert message.text == 'link x s t <3 😀 "q" q su'
    visible, entities = parse_html(text)
    assert visible == message.text
    assert [e["type"] for e in entities] == ["text_link", "pre", "spoiler", "spoiler",
                                             "expandable_blockquote", "strikethrough", "underline"]
    assert entities[0]["url"] == "https://x.test/?a=1&b=2" and entities[1]["language"] == "python"
    assert parse_html("😀<b>x</b>")[1] == [{"type": "bold", "offset": 2, "length": 1}]  # UTF-16 offsets


async def test_callback_data_over_64_bytes_is_rejected(bot: Bot) -> None:
    await bot.send_message(5, "ok", reply_markup=keyboard("é" * 32))
    with pytest.raises(BadRequest, match="Button_data_invalid"):  # PTB capitalizes Telegram's descriptions
        await bot.send_message(5, "too much", reply_markup=keyboard("é" * 33))


async def test_edits_replace_the_message_and_unchanged_edits_are_refused(bot: Bot) -> None:
    sent = await bot.send_message(5, "<b>score</b> 80", parse_mode=ParseMode.HTML, reply_markup=keyboard())
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("<b>score</b> 80", 5, sent.message_id, parse_mode=ParseMode.HTML,
                                    reply_markup=keyboard())
    edited = await bot.edit_message_text("score 85", 5, sent.message_id)
    assert edited.text == "score 85" and edited.reply_markup is None and edited.edit_date is not None
    with_markup = await bot.edit_message_reply_markup(5, sent.message_id, reply_markup=keyboard("u:1"))
    assert with_markup.text == "score 85" and with_markup.reply_markup == keyboard("u:1")
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(5, sent.message_id, reply_markup=keyboard("u:1"))
    assert await bot.delete_message(5, sent.message_id)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(5, sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("gone", 5, sent.message_id)
    unseen = await bot.edit_message_text("never sent by this fake", 5, 999)  # played along with
    assert unseen.message_id == 999


async def test_callback_queries_carry_the_bots_message_and_can_be_answered(fake: FakeTelegram,
                                                                           bot: Bot) -> None:
    sent = await bot.send_message(5, "alert", reply_markup=keyboard("a:7"))
    query_id = fake.push_callback(5, sent.message_id, "a:7")
    [update] = await bot.get_updates()
    query = update.callback_query
    assert (query.id, query.data, query.from_user.id) == (query_id, "a:7", 5)
    assert query.message.message_id == sent.message_id and query.message.reply_markup == keyboard("a:7")
    assert await bot.answer_callback_query(query_id, "Saved.")
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("nonsense")
    assert fake.calls_to("answerCallbackQuery")[0].params == {"callback_query_id": query_id, "text": "Saved."}


@pytest.mark.parametrize(("status", "cls"), [
    ("creator", ChatMemberOwner), ("administrator", ChatMemberAdministrator), ("member", ChatMemberMember),
    ("restricted", ChatMemberRestricted), ("left", ChatMemberLeft), ("kicked", ChatMemberBanned),
])
async def test_get_chat_member_returns_the_status_set(fake: FakeTelegram, bot: Bot, status: str,
                                                      cls: type) -> None:
    fake.set_member_status(-100, 7, status)
    member = await bot.get_chat_member(-100, 7)
    assert member.status == status and type(member) is cls and member.user.id == 7
    assert (await bot.get_chat_member(-100, 8)).status == "member"
    assert len(fake.calls_to("getChatMember")) == 2


async def test_administrators_and_chat_info(fake: FakeTelegram, bot: Bot) -> None:
    fake.push_message(-100, "hi", user_id=7, username="boss", chat_type="supergroup", chat_title="Desk")
    fake.set_member_status(-100, 7, "creator")
    fake.set_member_status(-100, 8, "member")
    admins = await bot.get_chat_administrators(-100)
    assert [(a.user.id, a.status) for a in admins] == [(7, "creator"), (999000, "administrator")]
    assert admins[0].user.username == "boss"
    chat = await bot.get_chat(-100)
    assert (chat.id, chat.type, chat.title) == (-100, "supergroup", "Desk")
    with pytest.raises(BadRequest, match="There are no administrators in the private chat"):
        await bot.get_chat_administrators(5)


async def test_commands_are_validated_and_kept_per_scope(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_my_commands([BotCommand("start", "Start here"), BotCommand("top_10", "Leaders")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "top_10"]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start", "Capitals are not allowed")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    [first, *_] = fake.calls_to("setMyCommands")
    assert first.params["commands"][1] == {"command": "top_10", "description": "Leaders"}


async def test_membership_pushes_stick_and_migration_redirects(fake: FakeTelegram, bot: Bot) -> None:
    fake.push_my_chat_member(-42, chat_title="Options Club")
    fake.push_my_chat_member(-42, old_status="member", new_status="kicked")
    fake.push_my_chat_member(5, chat_type="private", old_status="member", new_status="kicked", user_id=5)
    added, removed, blocked = await bot.get_updates()
    assert added.my_chat_member.new_chat_member.status == "member"
    assert added.my_chat_member.chat.title == "Options Club"
    assert removed.my_chat_member.new_chat_member.user.id == 999000
    assert blocked.my_chat_member.chat.type == "private"
    with pytest.raises(Forbidden, match="kicked from the group chat"):
        await bot.send_message(-42, "still here?")
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(5, "hello?")
    old, new = fake.push_chat_migrated(-77, -10077)
    updates = await bot.get_updates(offset=blocked.update_id + 1)
    assert [u.message.migrate_to_chat_id for u in updates] == [-10077, None]
    assert updates[1].message.migrate_from_chat_id == -77 and updates[1].update_id == new["update_id"]
    with pytest.raises(ChatMigrated) as raised:
        await bot.send_message(-77, "to the old group")
    assert raised.value.new_chat_id == -10077
    await bot.send_message(-10077, "to the supergroup")
    assert old["message"]["chat"]["type"] == "group"


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None and update.effective_chat is not None
    await update.effective_message.reply_text(f"welcome to {update.effective_chat.type}")


async def test_a_real_application_answers_start_and_shuts_down_quickly(fake: FakeTelegram) -> None:
    app: Application = (ApplicationBuilder().token(TOKEN).base_url(fake.base_url)
                        .base_file_url(fake.base_file_url).build())
    app.add_handler(CommandHandler("start", _start))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=10)
    try:
        fake.push_message(5, "/start")
        fake.push_message(-100, "/start@some_other_bot", chat_type="group", chat_title="Traders")
        fake.push_message(-100, "/start@sentinel_test_bot", chat_type="group", chat_title="Traders")
        replies = await fake.wait_for("sendMessage", count=2, timeout=5)
        assert [(c.params["chat_id"], c.params["text"]) for c in replies] == [
            (5, "welcome to private"), (-100, "welcome to group")]
        assert fake.calls_to("deleteWebhook")  # PTB's bootstrap before polling
        await fake.wait_for("getUpdates", timeout=5)  # the poll that fetched the pushes came back
    finally:
        started = time.monotonic()
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await fake.stop()
        assert time.monotonic() - started < 2  # not the 10 s long poll
    assert len(fake.sent_messages()) == 2
