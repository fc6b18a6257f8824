"""Small block shapes (fp32 4x1 / 1x4 / 4x4, int8 4x1): their native token-vectorised kernels against the layout
they ran in before (re-packed into 16x1 for fp32, 1x4 for int8) and torch's dense fp32 ``F.linear``.

Every round times every variant (warm call, then the best of ``--inner`` calls), in an order rotated per round, so a
slow spell of a shared machine touches every variant alike; the reported time is the best over rounds, the median
beside it.

    python benchmarks/experiments/small_blocks.py --rounds 7 --threads 1 2 --out benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from optimum_ro.sparse import current_isa, kernels, pack

CASES = [(768, 3072), (3072, 768)]  # (in_features K, out_features N): BERT-base's FFN
VARIANTS = [  # name, storage dtype, stored block shape, block shape it runs in (None: as stored)
    ("fp32 4x1 native", torch.float32, (4, 1), None),
    ("fp32 4x1 as 16x1", torch.float32, (4, 1), (16, 1)),
    ("fp32 1x4 native", torch.float32, (1, 4), None),
    ("fp32 1x4 as 16x1", torch.float32, (1, 4), (16, 1)),
    ("fp32 4x4 native", torch.float32, (4, 4), None),
    ("fp32 4x4 as 16x1", torch.float32, (4, 4), (16, 1)),
    ("int8 4x1 native", torch.int8, (4, 1), None),
    ("int8 4x1 as 1x4", torch.int8, (4, 1), (1, 4)),
]


def block_mask(n: int, k: int, block: tuple[int, int], density: float, gen: torch.Generator) -> torch.Tensor:
    br, bc = block
    keep = (torch.rand(n // br, k // bc, generator=gen) < density).float()
    return keep.repeat_interleave(br, 0).repeat_interleave(bc, 1)


def best_of(fn, inner: int) -> float:
    fn()
    best = float("inf")
    for _ in range(inner):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=128)
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--inner", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    isa = current_isa()
    gen = torch.Generator().manual_seed(0)
    results = []
    for k, n in CASES:
        x = torch.randn(args.m, k, generator=gen)
        dense_w = torch.randn(n, k, generator=gen)
        calls, meta = {"torch dense fp32": lambda: F.linear(x, dense_w)}, {"torch dense fp32": {}}
        for name, dtype, block, run_as in VARIANTS:
            packed = pack(dense_w * block_mask(n, k, block, 1 - args.sparsity, gen), block, dtype)
            layout = packed if run_as is None else packed.to_block_shape(run_as)
            out = torch.empty(args.m, n)
            t = (x, layout.values, layout.row_ptr, layout.col_idx, layout.scales, None, None, out, "none")
            calls[name] = lambda t=t, nt=None: kernels.run_kernel(isa, *t, num_threads=nt)
            meta[name] = {"kernel": kernels.run_kernel(isa, *t), "weight_read": round(layout.density, 4)}
        for threads in args.threads:
            torch.set_num_threads(threads)
            times = {key: [] for key in calls}
            keys = list(calls)
            for r in range(args.rounds):
                for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
                    fn = calls[key]
                    if key != "torch dense fp32":
                        fn = lambda fn=fn, nt=threads: fn(nt=nt)  # noqa: E731
                    times[key].append(best_of(fn, args.inner))
            for key, ts in times.items():
                row = dict(k=k, n=n, m=args.m, threads=threads, variant=key, best_ms=round(min(ts), 4))
                row.update(median_ms=round(statistics.median(ts), 4), **meta[key])
                results.append(row)
                print(
                    f"{k:>5}->{n:<5} t={threads} {key:<18} best {min(ts):7.3f} ms  median {statistics.median(ts):7.3f}"
                    f"  {meta[key]}",
                    flush=True,
                )
    report = dict(
        isa=isa,
        cpu=platform.processor() or platform.machine(),
        sparsity=args.sparsity,
        rounds=args.rounds,
        inner=args.inner,
        note="best over interleaved rounds of the best of `inner` warm calls; machine shared with a training job",
        results=results,
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
