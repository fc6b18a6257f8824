"""One whole benchmark run: the machine's peak, every group's round-robin timings, DeepSparse if asked."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
from pathlib import Path

import torch

from optimum_ro.sparse import kernels

from .deepsparse import run_deepsparse
from .methods import build_methods
from .timing import cpu_info, time_round_robin

FULL_SHAPES = [(768, 768), (768, 3072), (3072, 768), (256, 256), (256, 1024), (1024, 256)]
FULL_M = [128, 512]
FULL_SPARSITIES = [0.7, 0.8, 0.9, 0.95]
PEAK_CALLS = 21  # register-only peak loops per kind (~20-30 ms each); the best is the peak


def run(args) -> dict:
    shapes = [(256, 256), (768, 3072)] if args.quick else (args.shapes or FULL_SHAPES)
    ms = [32] if args.quick else (args.m or FULL_M)
    sparsities = [0.9] if args.quick else (args.sparsities or FULL_SPARSITIES)
    thread_counts = [1] if args.quick else args.threads
    repeats = 3 if args.quick else args.repeats
    isa = kernels.current_isa()
    peak = {}
    if kernels.extension_available() and isa != "reference":
        iters = 5_000_000 if args.quick else 10_000_000
        fp32 = [kernels.peak_throughput(isa, "fp32", iters) for _ in range(PEAK_CALLS)]
        int8 = [kernels.peak_throughput(isa, "int8", iters) for _ in range(PEAK_CALLS)]
        peak = {  # the best of PEAK_CALLS short calls: noise only slows a register-only loop down (on this shared
            # Zen 3 the int8 loop reads anywhere from ~80 to ~190 GOP/s from call to call, the fp32 loop 93-97),
            # and the peak is what the core can do
            "fp32_gflops_per_core": max(fp32),
            "int8_gops_per_core": max(int8),
            "fp32_samples": fp32,
            "int8_samples": int8,
        }
    result = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_info(),
        "isa": isa,
        "cpu_features": kernels.cpu_features(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "load_average_start": os.getloadavg(),
        "peak": peak,
        "repeats": repeats,
        "quick": bool(args.quick),
        "groups": [],
    }
    try:
        import onnxruntime

        result["versions"]["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    tmpdir = Path(args.out_dir) / ".onnx_tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    old_threads = torch.get_num_threads()
    try:
        for threads in thread_counts:
            torch.set_num_threads(threads)
            for m in ms:
                for k, n in shapes:
                    t0 = time.time()
                    methods, facts = build_methods(m, k, n, sparsities, threads, gen, tmpdir, with_ort=not args.no_ort)
                    timings = time_round_robin(methods, repeats)
                    result["groups"].append(
                        {"threads": threads, "M": m, "K": k, "N": n, "timings": timings, "density": facts}
                    )
                    print(f"threads={threads} M={m} K={k} N={n}: {time.time() - t0:.1f}s", flush=True)
    finally:
        torch.set_num_threads(old_threads)
    if args.deepsparse_python:
        result["deepsparse"] = run_deepsparse(args.deepsparse_python, ms, shapes, [0.9], thread_counts, repeats)
    result["load_average_end"] = os.getloadavg()
    return result
