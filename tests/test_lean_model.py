"""The lean embedding graph: the word table stays int8 in memory, and the vectors are the packaged model's."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx

from pipeline.memory.embedder import Embedder
from pipeline.memory.lean_graph import gather_rows_before_dequantizing
from pipeline.memory.model_files import (
    DEFAULT_DIR,
    LEAN_MODEL_FILE,
    MODEL_FILE,
    TOKENIZER_FILES,
    is_ready,
    prepare_offline_model,
)
from tests.conftest import ROOT

TEXTS = [
    "trader alice | BTO AAPL call | at the money | 1-3 weeks | strategy long call | trend up | volatility normal",
    "trader bob | STO SPY put | out of the money | 0DTE | strategy cash-secured put | trend down | risk high",
    "a longer text " * 60,  # beyond the 256-token limit: every position row is read
]


def lookup_tables(model: onnx.ModelProto) -> dict[str, int]:
    """Each embedding lookup's table → its element type (a computed table, `Mul(Cast(q), s)`, is float32)."""
    stored = {i.name: i.data_type for i in model.graph.initializer}
    return {n.input[0]: stored.get(n.input[0], onnx.TensorProto.FLOAT) for n in model.graph.node
            if n.op_type == "Gather" and "embeddings" in n.input[0]}


def test_the_lean_graph_looks_up_int8_rows_where_the_packaged_one_folds_whole_tables() -> None:
    folder = prepare_offline_model(ROOT / DEFAULT_DIR)
    model = onnx.load(str(folder / MODEL_FILE))
    before = lookup_tables(model)
    # Mul(Cast(int8), scale): onnxruntime folds it to a float32 table at load
    assert before["inner.embeddings.word_embeddings.weight"] == onnx.TensorProto.FLOAT
    assert gather_rows_before_dequantizing(model) == 2
    after = lookup_tables(model)
    assert after["inner.embeddings.word_embeddings.weight_q"] == onnx.TensorProto.INT8
    assert after["inner.embeddings.position_embeddings.weight_q"] == onnx.TensorProto.INT8
    assert "inner.embeddings.word_embeddings.weight" not in after
    assert gather_rows_before_dequantizing(model) == 0  # nothing left to rewrite
    onnx.checker.check_model(model)


def test_the_lean_model_embeds_exactly_like_the_packaged_one(tmp_path: Path, embedder: Embedder) -> None:
    packaged = tmp_path / "packaged"
    packaged.mkdir()
    for name in (MODEL_FILE, *TOKENIZER_FILES):
        shutil.copy(ROOT / DEFAULT_DIR / name, packaged / name)
    plain = Embedder("sentence-transformers/all-MiniLM-L6-v2", packaged)
    assert np.array_equal(plain.embed_sync(TEXTS), embedder.embed_sync(TEXTS))


def test_a_folder_built_before_the_lean_graph_gets_it_without_a_download(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    for name in (MODEL_FILE, *TOKENIZER_FILES):
        shutil.copy(ROOT / DEFAULT_DIR / name, folder / name)
    assert not is_ready(folder)
    assert prepare_offline_model(folder) == folder
    assert is_ready(folder) and (folder / LEAN_MODEL_FILE).stat().st_size > 0
