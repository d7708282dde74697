"""qdrant-client, imported so that its generated REST models are built when first used, not all at import.

At import, qdrant-client's `http` package rebuilds each of its ~340 generated pydantic models
(`update_forward_refs` on every class), and pydantic builds a validator and a serializer for each, with every
nested model inlined: 14 MB of the bot's start-up memory, for models local Qdrant mostly never validates.
pydantic's `defer_build` (what the OpenAI and Anthropic SDKs ship with for their generated models) builds a
model at its first validation instead; validation and serialisation are unchanged. Here `defer_build` is on,
and the eager rebuild skipped, only while qdrant-client is being imported: models defined then stay deferred,
and any model whose rebuild was skipped is rebuilt by pydantic itself when first used. If qdrant-client is
already imported (someone imported it first), this is a plain import.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def _models_built_on_first_use() -> Iterator[None]:
    if "qdrant_client" in sys.modules:
        yield
        return
    from pydantic import BaseModel

    config = BaseModel.model_config
    had_setting, setting = "defer_build" in config, config.get("defer_build")
    rebuild = BaseModel.__dict__["model_rebuild"]

    def later(cls: type[BaseModel], *_args: Any, **_kwargs: Any) -> None:
        return None

    config["defer_build"] = True
    BaseModel.model_rebuild = classmethod(later)  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        BaseModel.model_rebuild = rebuild  # type: ignore[method-assign]
        if had_setting:
            config["defer_build"] = bool(setting)
        else:
            config.pop("defer_build", None)


with _models_built_on_first_use():
    from qdrant_client import AsyncQdrantClient, models

__all__ = ["AsyncQdrantClient", "models"]
