"""Sweep the kernels' cache blocking (``optimum_ro.sparse.kernels.tuned``) on this CPU.

    python benchmarks/tune_kernels.py --out tune.json            # BERT-base shapes, 90%, M=128/512, 1 thread

For every (dtype, M, K x N) the candidate blockings are timed round-robin (min of the warm calls of
``--repeats`` rounds), the outputs are checked to be bit-identical to the automatic blocking's (the
blocking must never change results), and the automatic choice is compared with the best one found.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time

import torch
import torch.nn.functional as F

from optimum_ro.sparse import BlockSparseLinear, current_isa, kernel_tuning, pack, tuned

from spmm.command import parse_shape
from spmm.methods import block_mask
from spmm.timing import cpu_info


def candidates(isa: str, dtype: str, caches: dict) -> list[dict]:
    if dtype == "int8":  # token groups x rows per transposed store of Y x accumulator sets (0 = the ISA's defaults)
        return [
            {"i8_group_tiles": t, "i8_store_rows": r, "i8_chains": c}
            for t, r, c in itertools.product((0, 1, 2, 3), (0, 16, 32, 64, 128), (0, 1, 2, 3))
        ]
    rows = (0, 16, 20) if isa == "avx512" else (0, 4, 5)
    l1d, l2 = caches["l1d_bytes"], caches["l2_bytes"]
    l1x = sorted({20 * 1024, l1d * 5 // 8, l1d * 3 // 4, l1d * 7 // 8, 1 << 22})
    group = sorted({256 * 1024, l2 // 4, l2 // 2, l2 * 3 // 4})
    block = (160, 512)
    return [
        {"fp_tile_rows": r, "fp_l1_x_bytes": a, "fp_group_bytes": g, "fp_block_rows": b}
        for r, a, g, b in itertools.product(rows, l1x, group, block)
    ]


def time_configs(layer, x, configs, repeats):
    """Per config: min ms of the warm calls, and whether it is the automatic blocking."""
    ref = layer(x)
    automatic = kernel_tuning()
    is_auto = []
    for cfg in configs:
        with tuned(**cfg) as resolved:
            if not torch.equal(layer(x), ref):
                raise AssertionError(f"blocking {cfg} changed the results")
            is_auto.append(all(resolved[key] == automatic[key] for key in cfg))
    best = [float("inf")] * len(configs)
    for _ in range(repeats):
        for i, cfg in enumerate(configs):
            with tuned(**cfg):
                layer(x)
                t0 = time.perf_counter()
                layer(x)
                best[i] = min(best[i], time.perf_counter() - t0)
    return [1e3 * b for b in best], is_auto


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--shapes", type=parse_shape, nargs="+", default=[(768, 768), (768, 3072), (3072, 768)])
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "int8"], choices=["fp32", "bf16", "int8"])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", default="", help="JSON with every config's time")
    parser.add_argument("--verbose", action="store_true", help="also print the runners-up")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    isa, caches = current_isa(), kernel_tuning()
    gen = torch.Generator().manual_seed(0)
    result = {
        "cpu": cpu_info(),
        "isa": isa,
        "automatic": caches,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": args.threads,
        "sparsity": args.sparsity,
        "rows": [],
    }
    for m, (k, n), dtype in itertools.product(args.m, args.shapes, args.dtypes):
        x = torch.randn(m, k, generator=gen)
        dense = torch.randn(n, k, generator=gen) / k**0.5
        block = (1, 4) if dtype == "int8" else (16, 1)
        w = dense * block_mask(n, k, block, args.sparsity, gen)
        layer = BlockSparseLinear(
            pack(w, block, getattr(torch, {"fp32": "float32"}.get(dtype, dtype))), torch.randn(n, generator=gen)
        )
        configs = candidates(isa, dtype, caches)
        times, is_auto = time_configs(layer, x, configs, args.repeats)
        t_dense = min(_timed(lambda: F.linear(x, dense)) for _ in range(args.repeats))
        order = sorted(range(len(configs)), key=times.__getitem__)
        row = {
            "M": m,
            "K": k,
            "N": n,
            "dtype": dtype,
            "torch_fp32_ms": t_dense,
            "configs": [{**configs[i], "ms": times[i], "automatic": is_auto[i]} for i in order],
        }
        result["rows"].append(row)
        t_auto = min(times[i] for i in range(len(configs)) if is_auto[i])
        best = row["configs"][0]
        print(
            f"{dtype} M={m} {k}x{n}: torch dense {t_dense:.3f} ms | automatic {t_auto:.3f} ms "
            f"({t_dense / t_auto:.1f}x) | best {best['ms']:.3f} ms ({t_dense / best['ms']:.1f}x) "
            f"{ {key: v for key, v in best.items() if key not in ('ms', 'automatic')} }",
            flush=True,
        )
        if args.verbose:
            for c in row["configs"][1:4]:
                print(f"    {c}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


def _timed(fn) -> float:
    fn()
    t0 = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - t0)


if __name__ == "__main__":
    main()
