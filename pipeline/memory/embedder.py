"""Sentence embeddings for memory: fastembed's ONNX model, loaded from disk when offline, run off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class Embedder:
    """fastembed's TextEmbedding, run off the event loop (ONNX releases the GIL)."""

    def __init__(self, model_name: str, model_path: str | Path | None = None) -> None:
        from fastembed import TextEmbedding

        kwargs: dict[str, Any] = {"specific_model_path": str(model_path)} if model_path else {}
        self._model = TextEmbedding(model_name, **kwargs)
        self.model_name = model_name

    def embed_sync(self, texts: Sequence[str], batch_size: int = 256) -> list[list[float]]:
        """Unit-length vectors (the dot product of two is their cosine similarity)."""
        out = []
        for vector in self._model.embed(list(texts), batch_size=batch_size):
            norm = float(np.linalg.norm(vector))
            out.append((vector / norm if norm > 0 else vector).tolist())
        return out

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_sync, texts)


def resolve_model_path(configured: str | None, offline_default: Path) -> str | None:
    """EMBEDDING_MODEL_PATH when set; else the offline folder `make` builds when present; else download."""
    if configured:
        return configured
    return str(offline_default) if (offline_default / "model.onnx").exists() else None
