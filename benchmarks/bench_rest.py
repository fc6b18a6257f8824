"""The rest of a sparse BERT (everything but the sparse kernels), before and after the fused encoder layer, timed
A/B in one process.

    python benchmarks/bench_rest.py                              # BERT-base, 90%, batch 1, seq 128, 1 and 2 threads
    python benchmarks/bench_rest.py --preset bert-mini --threads 1 --repeats 30 --compile

Same random weights for every variant (bench_model.py's pruning: 16x1 blocks for fp32, 1x4 for int8).
*before* is the SparseBert classes' module-by-module forward as it was without the fused layer: Q/K/V as one
sparse op, residual in the output kernels' epilogue, torch's LayerNorm module after them, every module called.
*after* is the classes as they are: one fused function per encoder layer, the output layers' LayerNorm run by the
kernel call. Each variant runs as the full model (real kernels) and as its *rest*: every sparse layer a
``ZeroKernel`` (zeros, or the residual it fuses, and the LayerNorm it is given through the same C++ pass), so
the rest is everything but the sparse multiplications. The variants are called round-robin (each twice per
round, the second call timed), ``--repeats`` rounds; the table shows the min over rounds and the median, of the
wall clock and of the process's CPU time. On a machine shared with other jobs the CPU time is the steadier
measure of one thread's work (time spent descheduled is not counted); with 2 threads it adds both threads'
time (OpenMP's spin-waits included), so only the wall clock says what 2 threads gain, and it is rough there.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
import warnings

import torch
from bench_model import build_model, prune_randomly, zero_kernels

from optimum_ro.models import to_sparse_model
from optimum_ro.models.sparse_bert import modeling_sparse_bert as msb
from optimum_ro.sparse import kernels

from spmm.timing import cpu_info


class _BeforeSelfOutput(msb.SparseBertSelfOutput):
    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dense(hidden_states, residual=input_tensor))


class _BeforeOutput(msb.SparseBertOutput):
    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dense(hidden_states, residual=input_tensor))


def as_before(model):
    """A copy of a SparseBert model that runs the module-by-module forward with torch's LayerNorm."""
    model = copy.deepcopy(model)
    swap = {msb.SparseBertLayer: msb.BertLayer, msb.SparseBertSelfOutput: _BeforeSelfOutput}
    swap[msb.SparseBertOutput] = _BeforeOutput
    for module in model.modules():
        if type(module) in swap:
            module.__class__ = swap[type(module)]
    return model


def round_robin(methods: dict, repeats: int) -> dict:
    """Per method: ``repeats`` rounds, each calling every method twice in a row and timing the second call (warm),
    in wall-clock and process CPU ms. Returns min and median of both."""
    for fn in methods.values():
        fn()
    wall = {name: [] for name in methods}
    cpu = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            fn()
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            c1, w1 = time.process_time(), time.perf_counter()
            wall[name].append(1e3 * (w1 - w0))
            cpu[name].append(1e3 * (c1 - c0))
    return {
        name: {
            "wall_min_ms": min(wall[name]),
            "wall_median_ms": statistics.median(wall[name]),
            "cpu_min_ms": min(cpu[name]),
            "cpu_median_ms": statistics.median(cpu[name]),
        }
        for name in methods
    }


def build(preset: str, sparsity: float, compile_: bool) -> dict:
    gen = torch.Generator().manual_seed(0)
    base = build_model(preset)
    m16, m4 = copy.deepcopy(base), copy.deepcopy(base)
    prune_randomly(m16, (16, 1), sparsity, gen)
    prune_randomly(m4, (1, 4), sparsity, gen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp32 = to_sparse_model(m16, torch.float32, (16, 1), min_sparsity=0.5)
        int8 = to_sparse_model(m4, torch.int8, (1, 4), min_sparsity=0.5)
    example = torch.randint(5, 8000, (1, 16), generator=torch.Generator().manual_seed(3))
    models = {
        "fp32_before": as_before(fp32),
        "fp32_after": fp32,
        "int8_before": as_before(int8),
        "int8_after": int8,
        "rest_before": zero_kernels(as_before(fp32), example),
        "rest_after": zero_kernels(copy.deepcopy(fp32), example),
    }
    if compile_:
        models["fp32_after_compiled"] = torch.compile(copy.deepcopy(fp32), dynamic=False)
    return models


def check(models: dict, seq: int) -> dict:
    """Max |difference| of last_hidden_state between before and after (fp32, int8): float rounding only."""
    ids = torch.randint(5, 8000, (2, seq), generator=torch.Generator().manual_seed(1))
    diffs = {}
    with torch.inference_mode():
        for kind in ("fp32", "int8"):
            a = models[f"{kind}_before"](input_ids=ids).last_hidden_state
            b = models[f"{kind}_after"](input_ids=ids).last_hidden_state
            diffs[kind] = (a - b).abs().max().item()
    if diffs["fp32"] > 1e-4:
        raise RuntimeError(f"before and after differ by {diffs['fp32']:.3g} (fp32): not timing them")
    return diffs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="bert-base", choices=["bert-base", "bert-mini", "tiny"])
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--compile", action="store_true", help="add torch.compile of the after fp32 model")
    ap.add_argument("--only", nargs="+", help="time only these variants (e.g. rest_before rest_after)")
    ap.add_argument("--json", help="also write the timings to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # building and checking on one thread; the timed groups set their own
    models = build(args.preset, args.sparsity, args.compile)
    result = {
        "cpu": cpu_info(),
        "isa": kernels.current_isa(),
        "torch": torch.__version__,
        "preset": args.preset,
        "sparsity": args.sparsity,
        "seq": args.seq,
        "batch": args.batch,
        "repeats": args.repeats,
        "load_average_start": os.getloadavg(),
        "max_abs_diff": check(models, args.seq),
        "groups": [],
    }
    ids = torch.randint(5, 8000, (args.batch, args.seq), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    old = torch.get_num_threads()
    try:
        for threads in args.threads:
            torch.set_num_threads(threads)
            chosen = {name: m for name, m in models.items() if not args.only or name in args.only}
            methods = {name: (lambda m=m: m(input_ids=ids, attention_mask=mask)) for name, m in chosen.items()}
            with torch.inference_mode():
                timings = round_robin(methods, args.repeats)
            result["groups"].append({"threads": threads, "timings": timings})
            print(f"{args.preset} batch {args.batch} seq {args.seq} threads {threads}, ms (min / median):")
            print(f"  {'variant':22s} {'wall':>19s} {'process CPU':>19s}")
            for name, t in timings.items():
                print(
                    f"  {name:22s} {t['wall_min_ms']:8.2f} / {t['wall_median_ms']:8.2f} "
                    f"{t['cpu_min_ms']:8.2f} / {t['cpu_median_ms']:8.2f}",
                    flush=True,
                )
    finally:
        torch.set_num_threads(old)
    result["load_average_end"] = os.getloadavg()
    print(f"max |before - after| of last_hidden_state: {result['max_abs_diff']}")
    print(f"load average start / end: {result['load_average_start']} / {result['load_average_end']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
