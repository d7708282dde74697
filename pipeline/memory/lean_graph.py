"""A leaner graph of the int8 embedding model: its weights stay int8 in memory.

The packaged model stores each weight as int8 plus a scale, dequantized in the graph (`Mul(Cast(q), scale)`).
onnxruntime folds those constants at load, so every weight is held as float32: 92 MB for 23 MB of int8. Two
rewrites keep them int8:
- `gather_rows_before_dequantizing`: the embedding tables (the 30,522 × 384 word table alone is 47 MB as
  float32, though a query reads a few dozen rows) are looked up as int8 rows, then only those are dequantized:
  `Gather(Mul(Cast(q), s), ids)` becomes `Mul(Cast(Gather(q, ids)), Gather(s, ids))`. Same floats, so the
  output is bit-for-bit unchanged.
- `int8_matmuls`: each `MatMul(x, Mul(Cast(q), s))` becomes onnxruntime's `MatMulNBits` with 8-bit weights
  and float products (`accuracy_level=0`): the weights it multiplies by are exactly the packaged ones, 31 MB
  less, at the price of a slower query embedding (about 28 ms against 10 ms for a trade's text on this
  2-core machine; a batch of 256 is 18 % slower). int8 products (`accuracy_level=4`) would be as fast as
  before, but they quantize the activations, and a text's vector then depends on the other texts padded into
  its batch (0.003 apart): the similarity a card shows must not depend on that.

Pure graph logic on an `onnx.ModelProto`; `onnx` is needed only when the model folder is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INT8 = 3  # onnx.TensorProto.INT8
NBITS_BLOCK = 128  # MatMulNBits quantization block along K (a power of two dividing 384 and 1536)
NBITS_ACCURACY = 0  # float products: exact, and a text's vector does not depend on its batch


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


def int8_matmuls(model: Any) -> int:
    """Rewrite each `MatMul(x, Mul(Cast(int8 q), per-column scale))` as `MatMulNBits` (bits=8) in place;
    returns how many. Symmetric int8 becomes uint8 with zero point 128, one scale per column repeated per block,
    so the weights it multiplies by are exactly the packaged ones."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)

    rewritten = 0
    for matmul in [n for n in graph.node if n.op_type == "MatMul"]:
        mul = producer.get(matmul.input[1])
        if mul is None or mul.op_type != "Mul" or len(readers.get(mul.output[0], [])) != 1:
            continue
        cast = producer.get(mul.input[0])
        quantized = initializers.get(cast.input[0]) if cast is not None and cast.op_type == "Cast" else None
        scales = initializers.get(mul.input[1])
        if quantized is None or scales is None or quantized.data_type != INT8 or len(quantized.dims) != 2:
            continue
        q, s = numpy_helper.to_array(quantized), numpy_helper.to_array(scales)
        k, n = q.shape
        if k % NBITS_BLOCK or s.size != n or len(readers.get(cast.output[0], [])) != 1:
            continue
        blocks = k // NBITS_BLOCK
        packed = np.ascontiguousarray((q.astype(np.int16) + 128).astype(np.uint8).T.reshape(n, blocks, NBITS_BLOCK))
        names = [f"{quantized.name}_nbits", f"{quantized.name}_nbits_scale", f"{quantized.name}_nbits_zero"]
        graph.initializer.extend([
            numpy_helper.from_array(packed, names[0]),
            numpy_helper.from_array(np.repeat(s.reshape(n, 1), blocks, axis=1).reshape(-1).astype(np.float32),
                                    names[1]),
            numpy_helper.from_array(np.full(n * blocks, 128, dtype=np.uint8), names[2]),
        ])
        replacement = helper.make_node("MatMulNBits", [matmul.input[0], *names], list(matmul.output),
                                       name=f"{matmul.name}_nbits", domain="com.microsoft", K=k, N=n, bits=8,
                                       block_size=NBITS_BLOCK, accuracy_level=NBITS_ACCURACY)
        at = list(graph.node).index(matmul)
        graph.node.remove(matmul)
        graph.node.insert(at, replacement)
        graph.node.remove(mul)
        graph.node.remove(cast)
        graph.initializer.remove(quantized)
        graph.initializer.remove(scales)
        rewritten += 1
    if rewritten and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return rewritten
