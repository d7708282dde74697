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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnx import GraphProto, ModelProto, NodeProto, TensorProto

INT8 = 3  # onnx.TensorProto.INT8
NBITS_BLOCK = 128  # MatMulNBits quantization block along K (a power of two dividing 384 and 1536)
NBITS_ACCURACY = 0  # float products: exact, and a text's vector does not depend on its batch


@dataclass(frozen=True, slots=True)
class _Dequantized:
    """A weight the graph computes as `Mul(Cast(int8 initializer), scale initializer)`, read by one node only."""

    cast: NodeProto
    mul: NodeProto
    quantized: TensorProto  # the int8 initializer, 2-D
    scales: TensorProto  # the scale initializer


@dataclass(frozen=True, slots=True)
class _Graph:
    """What the rewrites look up: initializers by name, each output's producer, each input's readers."""

    initializers: dict[str, TensorProto]
    producer: dict[str, NodeProto]
    readers: dict[str, list[NodeProto]]

    @classmethod
    def of(cls, graph: GraphProto) -> _Graph:
        readers: dict[str, list[NodeProto]] = {}
        for node in graph.node:
            for name in node.input:
                readers.setdefault(name, []).append(node)
        return cls({i.name: i for i in graph.initializer},
                   {out: node for node in graph.node for out in node.output}, readers)

    def dequantized(self, name: str) -> _Dequantized | None:
        """The int8 weight behind the value `name`, when it is one that nothing else reads."""
        mul = self.producer.get(name)
        if mul is None or mul.op_type != "Mul" or len(self.readers.get(mul.output[0], [])) != 1:
            return None
        for cast_out, scale in (mul.input, reversed(mul.input)):
            cast = self.producer.get(cast_out)
            if cast is not None and cast.op_type == "Cast" and len(self.readers.get(cast_out, [])) == 1:
                quantized, scales = self.initializers.get(cast.input[0]), self.initializers.get(scale)
                if (quantized is not None and scales is not None and quantized.data_type == INT8
                        and len(quantized.dims) == 2):
                    return _Dequantized(cast, mul, quantized, scales)
        return None


def gather_rows_before_dequantizing(model: ModelProto) -> int:
    """Rewrite `model` in place (see the module docstring); returns how many lookups were rewritten."""
    from onnx import helper

    graph = model.graph
    index = _Graph.of(graph)
    tables: list[tuple[NodeProto, _Dequantized, bool]] = []
    for node in graph.node:
        found = _lookup_table(node, index)
        if found is not None:
            tables.append((node, *found))
    for gather, table, per_row in tables:
        ids, quantized, scales = gather.input[1], table.quantized.name, table.scales.name
        rows, scale = f"{quantized}_rows", f"{scales}_rows" if per_row else scales
        replacement = [
            helper.make_node("Gather", [quantized, ids], [rows], name=f"{gather.name}_int8", axis=0),
            helper.make_node("Cast", [rows], [f"{rows}_f"], name=f"{gather.name}_cast", to=1),
        ]
        if per_row:
            replacement.append(helper.make_node("Gather", [scales, ids], [scale], name=f"{gather.name}_scale",
                                                axis=0))
        replacement.append(helper.make_node("Mul", [f"{rows}_f", scale], list(gather.output),
                                            name=f"{gather.name}_dequantize"))
        _splice(graph, gather, replacement, table)
    return len(tables)


def _splice(graph: GraphProto, node: NodeProto, replacement: list[NodeProto], weight: _Dequantized) -> None:
    """`replacement` where `node` was (keeping the graph's order), and the weight's dequantizing nodes gone."""
    at = list(graph.node).index(node)
    graph.node.remove(node)
    for offset, new in enumerate(replacement):
        graph.node.insert(at + offset, new)
    graph.node.remove(weight.mul)
    graph.node.remove(weight.cast)


def _lookup_table(gather: NodeProto, index: _Graph) -> tuple[_Dequantized, bool] | None:
    """The int8 table this node looks rows up in, and whether its scales are one per row."""
    if gather.op_type != "Gather" or any(a.name == "axis" and a.i != 0 for a in gather.attribute):
        return None
    table = index.dequantized(gather.input[0])
    if table is None:
        return None
    scale_dims, (rows, columns) = list(table.scales.dims), table.quantized.dims
    if scale_dims == [rows, 1]:
        return table, True
    if all(d == 1 for d in scale_dims[:-1]) and (not scale_dims or scale_dims[-1] in (1, columns)):
        return table, False  # one scale, or one per column: it broadcasts over the gathered rows as it did before
    return None


def int8_matmuls(model: ModelProto) -> int:
    """Rewrite each `MatMul(x, Mul(Cast(int8 q), per-column scale))` as `MatMulNBits` (bits=8) in place;
    returns how many. Symmetric int8 becomes uint8 with zero point 128, one scale per column repeated per block,
    so the weights it multiplies by are exactly the packaged ones."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    index = _Graph.of(graph)
    rewritten = 0
    for matmul in [n for n in graph.node if n.op_type == "MatMul"]:
        weight = index.dequantized(matmul.input[1])
        if weight is None:
            continue
        q, s = numpy_helper.to_array(weight.quantized), numpy_helper.to_array(weight.scales)
        k, n = q.shape
        if k % NBITS_BLOCK or s.size != n:
            continue
        blocks = k // NBITS_BLOCK
        packed = np.ascontiguousarray((q.astype(np.int16) + 128).astype(np.uint8).T.reshape(n, blocks, NBITS_BLOCK))
        base = weight.quantized.name
        names = [f"{base}_nbits", f"{base}_nbits_scale", f"{base}_nbits_zero"]
        graph.initializer.extend([
            numpy_helper.from_array(packed, names[0]),
            numpy_helper.from_array(np.repeat(s.reshape(n, 1), blocks, axis=1).reshape(-1).astype(np.float32),
                                    names[1]),
            numpy_helper.from_array(np.full(n * blocks, 128, dtype=np.uint8), names[2]),
        ])
        replacement = helper.make_node("MatMulNBits", [matmul.input[0], *names], list(matmul.output),
                                       name=f"{matmul.name}_nbits", domain="com.microsoft", K=k, N=n, bits=8,
                                       block_size=NBITS_BLOCK, accuracy_level=NBITS_ACCURACY)
        _splice(graph, matmul, [replacement], weight)
        graph.initializer.remove(weight.quantized)
        graph.initializer.remove(weight.scales)
        rewritten += 1
    if rewritten and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return rewritten
