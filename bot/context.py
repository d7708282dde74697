"""The bot's typed PTB context (`ContextTypes`, as in PTB's examples/contexttypesbot.py): `context.bot_data` is a
`BotData` holding the handlers' services and the jobs' runtime, reached as attributes with their types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from handlers.services import BotData

if TYPE_CHECKING:
    from bot.wiring import Runtime  # noqa: F401 (named in the string annotations below)

AppData = BotData["Runtime"]
AppContext = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], AppData]
App = Application[Any, AppContext, Any, Any, AppData, Any]
CONTEXT_TYPES = ContextTypes(context=CallbackContext, bot_data=BotData)
