"""DeepSparse peer for bench_model.py: a long-lived process, run with DeepSparse's own Python (it needs Python
< 3.12, numpy < 2, onnx < 1.15), that compiles whole-model ONNX files once and times them on request.

    make deepsparse-venv  # = python3.10 -m venv .ds-venv && .ds-venv/bin/pip install deepsparse==1.8.0 ...
    python benchmarks/bench_model.py --deepsparse-python .ds-venv/bin/python

One JSON object per line each way (requests on stdin, answers on stdout); ``key`` names a compiled engine:

    {"op": "hello"}                   -> {"ok": true, "version": "1.8.0", "python_version": "3.10.13", "cpu": {...}}
    {"op": "compile", "key": k, "path": "m.onnx", "batch": b, "threads": t, "inputs": "in.npz", "output": "o.npy"}
                                      -> {"ok": true, "compile_s": s}; the engine's first output on the inputs
                                         (an npz, one array per ONNX input name) is saved to "output" (npy)
    {"op": "run", "key": k}           -> {"ok": true}                    one untimed call (warm-up)
    {"op": "time", "key": k}          -> {"ok": true, "cold_s": s, "warm_s": s}   two calls in a row, timed here
    {"op": "free", "key": k}          -> {"ok": true}
    {"op": "quit"}                    -> {"ok": true}, then exit

A failure answers {"ok": false, "error": "..."} and the peer keeps serving: an engine DeepSparse refuses (CPU not
supported, license) is a result of the run, not a crash of it. Whatever DeepSparse prints goes to stderr, so
stdout carries only answers. No torch and no optimum_ro here: this file runs in the DeepSparse venv.
"""

import json
import os
import platform
import sys
import time


def _answers():
    """A text stream on the original stdout for the answers; fd 1 then points at stderr, so that prints of
    DeepSparse (Python or C++) cannot interleave with the protocol."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


class Peer:
    def __init__(self):
        self.engines = {}  # key -> (engine, inputs)

    def hello(self, _req):
        import deepsparse

        info = {"version": deepsparse.__version__, "python_version": platform.python_version()}
        try:
            from deepsparse.cpu import cpu_architecture

            arch = dict(cpu_architecture())
            keys = ("vendor_model", "isa", "vnni", "bf16", "available_num_cores")
            info["cpu"] = {k: arch[k] for k in keys if k in arch}
        except Exception as err:  # noqa: BLE001 (the CPU facts are optional)
            info["cpu"] = {"error": str(err)}
        return info

    def compile(self, req):
        import numpy as np
        import onnx
        from deepsparse import compile_model

        self.engines.pop(req["key"], None)
        graph = onnx.load(req["path"], load_external_data=False).graph
        weights = {init.name for init in graph.initializer}
        with np.load(req["inputs"]) as data:
            inputs = [np.ascontiguousarray(data[i.name]) for i in graph.input if i.name not in weights]
        t0 = time.perf_counter()
        engine = compile_model(req["path"], batch_size=req["batch"], num_cores=req["threads"])
        compile_s = time.perf_counter() - t0
        np.save(req["output"], engine(inputs)[0])
        self.engines[req["key"]] = (engine, inputs)
        return {"compile_s": compile_s}

    def _engine(self, key):
        if key not in self.engines:
            raise ValueError(f"no engine {key!r} compiled")
        return self.engines[key]

    def run(self, req):
        engine, inputs = self._engine(req["key"])
        engine(inputs)
        return {}

    def time(self, req):
        engine, inputs = self._engine(req["key"])
        t0 = time.perf_counter()
        engine(inputs)
        t1 = time.perf_counter()
        engine(inputs)
        t2 = time.perf_counter()
        return {"cold_s": t1 - t0, "warm_s": t2 - t1}

    def free(self, req):
        self.engines.pop(req["key"], None)
        return {}


def serve(requests, answers):
    peer = Peer()
    ops = {"hello": peer.hello, "compile": peer.compile, "run": peer.run, "time": peer.time, "free": peer.free}
    for line in requests:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if req.get("op") == "quit":
                answers.write(json.dumps({"ok": True}) + "\n")
                return
            if req.get("op") not in ops:
                raise ValueError(f"unknown op {req.get('op')!r}")
            answer = {"ok": True, **ops[req["op"]](req)}
        except Exception as err:  # noqa: BLE001 (every failure is an answer: the harness records it)
            answer = {"ok": False, "error": f"{type(err).__name__}: {err}".strip()}
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    serve(sys.stdin, _answers())
