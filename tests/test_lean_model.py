"""The lean embedding graph: its weights stay int8 in memory, and its vectors are the packaged model's."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import onnx

from pipeline.memory.embedder import Embedder
from pipeline.memory.lean_graph import gather_rows_before_dequantizing, int8_matmuls
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


def folder_with(tmp_path: Path, name: str, lean: onnx.ModelProto | None) -> Path:
    """A model folder: the packaged files, and `lean` as its int8 graph (None: only the packaged graph)."""
    folder = tmp_path / name
    folder.mkdir()
    for file in (MODEL_FILE, *TOKENIZER_FILES):
        shutil.copy(ROOT / DEFAULT_DIR / file, folder / file)
    if lean is not None:
        onnx.save(lean, str(folder / LEAN_MODEL_FILE))
    return folder


def dequantized_matmuls(model: onnx.ModelProto) -> int:
    """MatMuls whose weights are `Mul(Cast(int8 initializer), scale)`."""
    int8 = {i.name for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8}
    cast = {n.output[0] for n in model.graph.node if n.op_type == "Cast" and n.input[0] in int8}
    weights = {n.output[0] for n in model.graph.node if n.op_type == "Mul" and set(n.input) & cast}
    return sum(1 for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights)


def test_int8_row_lookups_embed_exactly_like_the_packaged_graph(tmp_path: Path) -> None:
    model = onnx.load(str(ROOT / DEFAULT_DIR / MODEL_FILE))
    gather_rows_before_dequantizing(model)
    packaged = Embedder("sentence-transformers/all-MiniLM-L6-v2", folder_with(tmp_path, "packaged", None))
    lookups = Embedder("sentence-transformers/all-MiniLM-L6-v2", folder_with(tmp_path, "lookups", model))
    assert np.array_equal(packaged.embed_sync(TEXTS), lookups.embed_sync(TEXTS))


def test_the_int8_model_multiplies_int8_weights_and_embeds_like_the_packaged_graph(
        tmp_path: Path, embedder: Embedder) -> None:
    model = onnx.load(str(ROOT / DEFAULT_DIR / MODEL_FILE))
    assert dequantized_matmuls(model) == 36  # every weight matrix is Mul(Cast(int8), scale): folded to float32
    assert int8_matmuls(model) == 36
    assert dequantized_matmuls(model) == 0 and int8_matmuls(model) == 0
    onnx.checker.check_model(model)

    packaged = Embedder("sentence-transformers/all-MiniLM-L6-v2", folder_with(tmp_path, "packaged", None))
    texts = [*TEXTS, "trader behappy | STO AAPL put | out of the money | 1-2 months | strategy cash-secured put",
             "trader behappy | STO AAPL put | out of the money | 1-3 weeks | strategy cash-secured put",
             "trader kay | BTO TSLA call | in the money | 0DTE | strategy long call | trend up"]
    ours, theirs = embedder.embed_sync(texts), packaged.embed_sync(texts)
    assert np.abs(ours - theirs).max() < 1e-5  # the same weights; only the order of float additions differs
    alone = np.stack([embedder.embed_sync([t])[0] for t in texts])
    assert np.abs(alone - ours).max() < 1e-6  # a text's vector does not depend on what shares its batch


def test_a_folder_built_before_the_lean_graph_gets_it_without_a_download(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    for name in (MODEL_FILE, *TOKENIZER_FILES):
        shutil.copy(ROOT / DEFAULT_DIR / name, folder / name)
    assert not is_ready(folder)
    assert prepare_offline_model(folder) == folder
    assert is_ready(folder) and (folder / LEAN_MODEL_FILE).stat().st_size > 0


async def test_texts_asked_for_together_are_embedded_in_few_runs_with_the_vectors_each_gets_alone(
        embedder: Embedder) -> None:
    texts = [f"trader t{i} | BTO AAPL call | at the money | 1-3 weeks | strategy long call" for i in range(40)]
    alone = np.stack([embedder.embed_sync([t])[0] for t in texts])
    before = embedder.runs
    together = await asyncio.gather(*(embedder.embed([t]) for t in texts))
    assert embedder.runs - before <= 4  # the first alone, the other 39 in the next run (two batches of 32)
    assert np.abs(np.stack([v[0] for v in together]) - alone).max() < 1e-6


async def test_a_caller_that_gives_up_does_not_stop_the_others(embedder: Embedder) -> None:
    first = asyncio.create_task(embedder.embed(["trader a | BTO SPY call"]))
    leaving = asyncio.create_task(embedder.embed(["trader b | STO QQQ put"]))
    staying = asyncio.create_task(embedder.embed(["trader c | BTO TSLA call"]))
    await asyncio.sleep(0)
    leaving.cancel()
    got = await asyncio.gather(first, staying)
    assert [v.shape for v in got] == [(1, 384), (1, 384)]
    assert np.abs(got[1][0] - embedder.embed_sync(["trader c | BTO TSLA call"])[0]).max() < 1e-6
    assert (await embedder.embed([])).shape == (0, 0)
