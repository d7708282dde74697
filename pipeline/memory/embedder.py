"""Sentence embeddings for memory: fastembed's ONNX model, loaded from disk when offline, run off the event loop.

The onnxruntime session is built here rather than by fastembed, because fastembed does not expose the options
that matter on a small shared machine:
- `session.*.allow_spinning=0`: after each run, onnxruntime's worker threads otherwise spin for a while, and
  on two cores that steals the CPU from the similar-trades search that follows the query embedding (87 ms
  against 48 ms measured). Threads still use every core while there is work, so a backfill is not slowed.
- no CPU memory arena, and small batches: the arena keeps the peak of the biggest batch for good (218 MB after
  one batch of 256); without it, memory follows the batch actually running.
- `threads` (EMBEDDING_THREADS for the running bot; a backfill always uses every core): on two cores, one
  thread leaves the other core to the event loop that stores and delivers alerts (a burst of 100: p95 9.5 →
  8.8 s), but a lone similar-trades search slows from 35 to 46.5 ms at p95, close to its 50 ms goal; so every
  core is the default.
- the offline folder's `model.int8.onnx` (see `lean_graph`) when present: its weights stay int8 in memory,
  23 MB where the packaged graph is folded to 92 MB of float32. `release_free_memory` hands the loading scratch
  back to the system.
Texts asked for while a run is under way are embedded together in the next run (no waiting window: a lone
query runs at once). A burst of 100 alerts then costs a few batched runs instead of 100 single ones, a third of
the CPU per text, which the event loop on the same two cores needs. A text's vector does not depend on the other
texts in its batch, so coalescing changes no vector.
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


def quiet_session(model_file: Path, threads: int = 0) -> Any:
    """An onnxruntime CPU session whose idle threads sleep and which keeps no memory arena; `threads` cores per
    run (0: every core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = False
    for key, value in QUIET_THREADS.items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(str(model_file), sess_options=options, providers=["CPUExecutionProvider"])


class Embedder:
    """fastembed's TextEmbedding (tokenizer, pooling, normalisation) on a quiet onnxruntime session."""

    def __init__(self, model_name: str, model_path: str | Path | None = None, *, threads: int = 0,
                 local_files_only: bool = False) -> None:
        from fastembed import TextEmbedding

        kwargs: dict[str, Any] = {"specific_model_path": str(model_path)} if model_path else {}
        if local_files_only:  # never download: fail at once when the model is not on this machine
            kwargs["local_files_only"] = True
        self._model = TextEmbedding(model_name, lazy_load=True, **kwargs)
        # fastembed's OnnxTextEmbedding: it runs `inner.model` once one is set (private fields, hence Any)
        inner: Any = self._model.model
        folder = Path(inner._model_dir)
        lean = folder / LEAN_MODEL_FILE
        inner.model = quiet_session(lean if lean.exists() else folder / inner.model_description.model_file, threads)
        inner._ensure_tokenizer()
        self.session = inner.model
        self.model_name = model_name
        self.runs = 0  # onnxruntime batches run so far (how well concurrent requests were coalesced)
        self._waiting: list[tuple[list[str], asyncio.Future[np.ndarray]]] = []
        self._runner: asyncio.Task[None] | None = None
        release_free_memory()

    def embed_sync(self, texts: Sequence[str], batch_size: int = EMBED_BATCH) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (the dot product of two is their cosine similarity)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        self.runs += -(-len(texts) // batch_size)
        rows = np.stack([np.asarray(v, dtype=np.float32)
                         for v in self._model.embed(list(texts), batch_size=batch_size)])
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms > 0, norms, 1.0).astype(np.float32)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """`embed_sync` off the event loop, together with whatever else is waiting when the next run starts."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        waiter: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(texts), waiter))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run_waiting(), name="embedder")
        return await waiter

    async def _run_waiting(self) -> None:
        while self._waiting:
            taken, self._waiting = self._waiting, []
            wanted = [(texts, waiter) for texts, waiter in taken if not waiter.done()]  # done: the caller left
            if not wanted:
                continue
            try:
                rows = await asyncio.to_thread(self.embed_sync, [t for texts, _ in wanted for t in texts])
            except Exception as exc:  # every caller of this run gets the error; the next run starts afresh
                for _, waiter in wanted:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            start = 0
            for texts, waiter in wanted:
                if not waiter.done():
                    waiter.set_result(rows[start:start + len(texts)])
                start += len(texts)


def resolve_model_path(configured: str | None, offline_default: Path) -> str | None:
    """EMBEDDING_MODEL_PATH when set; else the offline folder `make` builds when present; else download."""
    if configured:
        return configured
    return str(offline_default) if (offline_default / "model.onnx").exists() else None
