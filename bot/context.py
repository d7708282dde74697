"""The bot's typed PTB context (`ContextTypes`, as in PTB's examples/contexttypesbot.py): `context.bot_data` is
an `AppData` holding the handlers' services and the jobs' runtime, reached as attributes with their types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from handlers.services import BotData

if TYPE_CHECKING:
    from bot.app import Runtime


class AppData(BotData):
    """bot_data: what handlers see (`services`), and the runtime the jobs and the shutdown work on."""

    def __init__(self) -> None:
        super().__init__()
        self.runtime: Runtime | None = None


AppContext = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], AppData]
App = Application[ExtBot[None], AppContext, dict[Any, Any], dict[Any, Any], AppData, JobQueue[AppContext]]
CONTEXT_TYPES = ContextTypes(context=CallbackContext, bot_data=AppData)
