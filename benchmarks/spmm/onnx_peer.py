"""ONNX Runtime as a peer: a MatMul+Add graph of one linear layer, fp32 or dynamically quantised int8."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch


def ort_session(weight: torch.Tensor, bias: torch.Tensor, threads: int, int8: bool, tmpdir: Path):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    k = weight.shape[1]
    w = numpy_helper.from_array(weight.T.contiguous().numpy(), "W")
    b = numpy_helper.from_array(bias.numpy(), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["XW"]), helper.make_node("Add", ["XW", "B"], ["Y"])],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["M", k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", weight.shape[0]])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmpdir / f"linear_{k}x{weight.shape[0]}.onnx"
    onnx.save(model, path)
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        qpath = path.with_suffix(".int8.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(path), str(qpath), weight_type=QuantType.QInt8)
        path = qpath
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # ORT's pool threads spin after each run by default, stealing the core from the next method
    # of the round-robin; they still run the MatMul in parallel.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
