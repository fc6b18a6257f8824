"""Read float32 weights and the node list of an ONNX file without the ``onnx`` package.

    graph = read_onnx_graph(onnx_bytes)
    graph.initializers["embeddings.word_embeddings.weight"].shape    # float32 numpy array
    [n.op_type for n in graph.nodes][:3]                              # ['Gather', 'Add', ...]

ONNX files are protobuf messages. We walk just the fields we need: ``ModelProto.graph`` (7);
``GraphProto.node`` (1) and ``.initializer`` (5); ``NodeProto.input`` (1), ``.output`` (2),
``.op_type`` (4); ``TensorProto.dims`` (1), ``.data_type`` (2), ``.float_data`` (4),
``.name`` (8), ``.raw_data`` (9). Tensors stored outside the file are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .wheels import FetchError

FLOAT = 1  # TensorProto.DataType.FLOAT


@dataclass
class OnnxNode:
    op_type: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


@dataclass
class OnnxGraph:
    initializers: dict[str, np.ndarray]  # float32 tensors only
    nodes: list[OnnxNode]
    skipped: dict[str, int] = field(default_factory=dict)  # non-float initializer -> data type


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise FetchError("truncated protobuf varint in ONNX file")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def iter_fields(message) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield ``(field number, wire type, value)``; lengths-delimited values as memoryviews."""
    data = memoryview(message)
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise FetchError(f"unsupported protobuf wire type {wire} in ONNX file")
        yield number, wire, value


def _packed_varints(view: memoryview) -> list[int]:
    values, pos = [], 0
    while pos < len(view):
        value, pos = _varint(view, pos)
        values.append(value)
    return values


def _tensor(message: memoryview) -> tuple[str, int, list[int], bytes]:
    name, dtype, dims, raw, floats = "", 0, [], None, []
    for number, wire, value in iter_fields(message):
        if number == 1:
            dims.extend([value] if wire == 0 else _packed_varints(value))
        elif number == 2:
            dtype = value
        elif number == 4:
            floats.append(bytes(value))  # packed (wire 2) or one float (wire 5)
        elif number == 8:
            name = bytes(value).decode()
        elif number == 9:
            raw = bytes(value)
        elif number in (13, 14) and (number == 13 or value == 1):
            raise FetchError(
                f"ONNX initializer {name or '?'} is stored in an external file; "
                f"only self-contained ONNX files are supported"
            )
    return name, dtype, dims, raw if raw is not None else b"".join(floats)


def _node(message: memoryview) -> OnnxNode:
    node = OnnxNode(op_type="")
    for number, _, value in iter_fields(message):
        if number == 1:
            node.inputs.append(bytes(value).decode())
        elif number == 2:
            node.outputs.append(bytes(value).decode())
        elif number == 4:
            node.op_type = bytes(value).decode()
    return node


def read_onnx_graph(data: bytes) -> OnnxGraph:
    """Float32 initializers (as arrays of their ONNX shape) and nodes of an ONNX model file."""
    graphs = [value for number, wire, value in iter_fields(data) if number == 7 and wire == 2]
    if len(graphs) != 1:
        raise FetchError(f"not an ONNX model: expected one graph, found {len(graphs)}")
    graph = OnnxGraph(initializers={}, nodes=[])
    for number, _, value in iter_fields(graphs[0]):
        if number == 1:
            graph.nodes.append(_node(value))
        elif number == 5:
            name, dtype, dims, payload = _tensor(value)
            if dtype != FLOAT:
                graph.skipped[name] = dtype
                continue
            count = int(np.prod(dims)) if dims else 1
            if len(payload) != 4 * count:
                raise FetchError(f"ONNX initializer {name}: {len(payload)} bytes for shape {dims}")
            graph.initializers[name] = np.frombuffer(payload, dtype="<f4").reshape(dims).copy()
    return graph
