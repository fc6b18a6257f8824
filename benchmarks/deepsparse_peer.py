"""DeepSparse peer for bench_spmm.py, run with DeepSparse's own Python (it needs Python < 3.12).

    python3.10 -m venv ds && ds/bin/pip install deepsparse==1.8.0 "numpy<2" "onnx<1.15"
    ds/bin/python benchmarks/deepsparse_peer.py '{"cases": [[128, 768, 3072, 0.9, 1]], "repeats": 15}'

Builds `Y = X @ W^T + b` as an ONNX MatMul+Add with a 16x1 block-sparse W (same pattern family as
ours), compiles it with DeepSparse for batch M and `threads` cores, prints a JSON list of timings.
No torch and no optimum_ro here: this file runs in the DeepSparse venv.
"""

import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def linear_onnx(m, k, n, sparsity, path, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, k)).astype(np.float32) / np.sqrt(k)
    blocks = rng.random((n // 16, k)) >= sparsity  # 16x1 blocks kept
    w *= np.repeat(blocks, 16, axis=0)
    b = rng.standard_normal(n).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["XW"]), helper.make_node("Add", ["XW", "B"], ["Y"])],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])],
        initializer=[numpy_helper.from_array(np.ascontiguousarray(w.T), "W"), numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return rng.standard_normal((m, k)).astype(np.float32)


def main(spec):
    from deepsparse import compile_model

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for m, k, n, sparsity, threads in spec["cases"]:
            path = os.path.join(tmp, f"linear_{m}_{k}_{n}_{sparsity}.onnx")
            x = linear_onnx(m, k, n, sparsity, path)
            engine = compile_model(path, batch_size=m, num_cores=threads)
            for _ in range(3):
                engine([x])
            samples = []
            for _ in range(spec.get("repeats", 15)):
                t0 = time.perf_counter()
                engine([x])
                samples.append(time.perf_counter() - t0)
            out.append(
                {
                    "M": m,
                    "K": k,
                    "N": n,
                    "sparsity": sparsity,
                    "threads": threads,
                    "median_ms": 1e3 * statistics.median(samples),
                    "min_ms": 1e3 * min(samples),
                }
            )
    print(json.dumps(out))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
