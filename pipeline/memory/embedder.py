"""Sentence embeddings for memory: fastembed's ONNX model, loaded from disk when offline, run off the event loop.

The onnxruntime session is built here rather than by fastembed, because fastembed does not expose the two
options that matter on a small shared machine:
- `session.*.allow_spinning=0`: after each run, onnxruntime's worker threads otherwise spin for a while, and
  on two cores that steals the CPU from the similar-trades search that follows the query embedding (87 ms
  against 48 ms measured). Threads still use every core while there is work, so a backfill is not slowed.
- no CPU memory arena, and small batches: the arena keeps the peak of the biggest batch for good (218 MB after
  one batch of 256); without it, memory follows the batch actually running.
Loading folds the int8 weights to float32 and frees the scratch it used; `release_free_memory` hands that back
to the system (about 60 MB). The offline folder's `model.int8.onnx` (see `lean_graph`) is loaded when present:
its embedding tables stay int8, 35 MB less for the same vectors.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.memory.model_files import LEAN_MODEL_FILE

log = logging.getLogger(__name__)

EMBED_BATCH = 32  # texts per onnxruntime run: throughput is flat from 32 up, memory is not
QUIET_THREADS = {"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"}


def release_free_memory() -> None:
    """Return freed heap pages to the system (glibc's malloc_trim); a no-op elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:
        pass


def quiet_session(model_file: Path) -> Any:
    """An onnxruntime CPU session whose idle threads sleep and which keeps no memory arena."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = False
    for key, value in QUIET_THREADS.items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(str(model_file), sess_options=options, providers=["CPUExecutionProvider"])


class Embedder:
    """fastembed's TextEmbedding (tokenizer, pooling, normalisation) on a quiet onnxruntime session."""

    def __init__(self, model_name: str, model_path: str | Path | None = None) -> None:
        from fastembed import TextEmbedding

        kwargs: dict[str, Any] = {"specific_model_path": str(model_path)} if model_path else {}
        self._model = TextEmbedding(model_name, lazy_load=True, **kwargs)
        inner = self._model.model  # fastembed's OnnxTextEmbedding: it runs `inner.model` once one is set
        folder = Path(inner._model_dir)
        lean = folder / LEAN_MODEL_FILE
        inner.model = quiet_session(lean if lean.exists() else folder / inner.model_description.model_file)
        inner._ensure_tokenizer()
        self.session = inner.model
        self.model_name = model_name
        release_free_memory()

    def embed_sync(self, texts: Sequence[str], batch_size: int = EMBED_BATCH) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (the dot product of two is their cosine similarity)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        rows = np.stack([np.asarray(v, dtype=np.float32)
                         for v in self._model.embed(list(texts), batch_size=batch_size)])
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms > 0, norms, 1.0).astype(np.float32)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return await asyncio.to_thread(self.embed_sync, texts)


def resolve_model_path(configured: str | None, offline_default: Path) -> str | None:
    """EMBEDDING_MODEL_PATH when set; else the offline folder `make` builds when present; else download."""
    if configured:
        return configured
    return str(offline_default) if (offline_default / "model.onnx").exists() else None
