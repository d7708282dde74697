"""A leaner graph of the int8 embedding model: look the token rows up first, then dequantize only those.

The packaged model stores each weight as int8 plus a scale, dequantized in the graph (`Mul(Cast(q), scale)`).
onnxruntime folds those constants at load, so every table is held as float32: the 30,522 × 384 word-embedding
table alone grows from 11.7 MB to 47 MB, though a query reads a few dozen of its rows. Here each `Gather` that
reads such a table is rewritten to gather the int8 rows (and their scales) first and dequantize after:
`Gather(Mul(Cast(q), s), ids)` becomes `Mul(Cast(Gather(q, ids)), Gather(s, ids))`. Casting an int8 to float
and multiplying by the same scale gives the same floats, so the embeddings are bit-for-bit unchanged. The
matrix weights stay folded: they are read whole at every run, and folding is what keeps a query fast.

Pure graph logic on an `onnx.ModelProto`; `onnx` is needed only when the model folder is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INT8 = 3  # onnx.TensorProto.INT8


@dataclass(frozen=True, slots=True)
class _Table:
    """One dequantized table: `Mul(Cast(quantized), scale)` feeding a row lookup."""

    gather: Any
    cast: Any
    mul: Any
    quantized: str
    scale: str
    per_row_scale: bool


def gather_rows_before_dequantizing(model: Any) -> int:
    """Rewrite `model` in place (see the module docstring); returns how many lookups were rewritten."""
    from onnx import helper

    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)

    tables = [t for node in graph.node if (t := _table(node, producer, readers, initializers)) is not None]
    for table in tables:
        ids = table.gather.input[1]
        rows, scale = f"{table.quantized}_rows", f"{table.scale}_rows" if table.per_row_scale else table.scale
        replacement = [
            helper.make_node("Gather", [table.quantized, ids], [rows], name=f"{table.gather.name}_int8", axis=0),
            helper.make_node("Cast", [rows], [f"{rows}_f"], name=f"{table.gather.name}_cast", to=1),
        ]
        if table.per_row_scale:
            replacement.append(helper.make_node("Gather", [table.scale, ids], [scale],
                                                name=f"{table.gather.name}_scale", axis=0))
        replacement.append(helper.make_node("Mul", [f"{rows}_f", scale], list(table.gather.output),
                                            name=f"{table.gather.name}_dequantize"))
        at = list(graph.node).index(table.gather)
        graph.node.remove(table.gather)
        for offset, node in enumerate(replacement):
            graph.node.insert(at + offset, node)
        graph.node.remove(table.mul)
        graph.node.remove(table.cast)
    return len(tables)


def _table(gather: Any, producer: dict[str, Any], readers: dict[str, list[Any]],
           initializers: dict[str, Any]) -> _Table | None:
    """The dequantized table this node looks rows up in, when it is one and nothing else reads it."""
    if gather.op_type != "Gather" or any(a.name == "axis" and a.i != 0 for a in gather.attribute):
        return None
    mul = producer.get(gather.input[0])
    if mul is None or mul.op_type != "Mul" or len(readers.get(mul.output[0], [])) != 1:
        return None
    cast_out, scale = mul.input
    cast = producer.get(cast_out)
    if cast is None or cast.op_type != "Cast" or len(readers.get(cast_out, [])) != 1:
        cast_out, scale = scale, cast_out
        cast = producer.get(cast_out)
    if cast is None or cast.op_type != "Cast" or len(readers.get(cast_out, [])) != 1:
        return None
    quantized = initializers.get(cast.input[0])
    scales = initializers.get(scale)
    if quantized is None or scales is None or quantized.data_type != INT8 or len(quantized.dims) != 2:
        return None
    scale_dims = list(scales.dims)
    rows = quantized.dims[0]
    if scale_dims == [rows, 1]:
        per_row = True
    elif all(d == 1 for d in scale_dims[:-1]) and (not scale_dims or scale_dims[-1] in (1, quantized.dims[1])):
        per_row = False  # one scale, or one per column: it broadcasts over the gathered rows as it did before
    else:
        return None
    return _Table(gather, cast, mul, quantized.name, scale, per_row)
