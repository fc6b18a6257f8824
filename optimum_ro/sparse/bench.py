"""Block-sparse SpMM benchmark against dense and sparse peers, all measured in one interleaved run.

    python benchmarks/bench_spmm.py --quick          # smoke run (seconds)
    optimum-ro bench                                 # full run: JSON in benchmarks/results/, table in BENCHMARKS.md

For every (threads, M, K x N) group all methods of all sparsities are timed round-robin, so load
changes on a shared machine hit every method alike; each figure is the median (and min) of the
repeats. Peers: torch dense fp32 / bf16, torch dynamic int8 (fbgemm), torch CSR and BSR (MKL; CPU BSR needs
square blocks: 8x8), ONNX Runtime MatMul fp32 and dynamically quantised int8 (MatMulInteger).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import time
import warnings
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from . import kernels
from .format import pack
from .linear import BlockSparseLinear

FULL_SHAPES = [(768, 768), (768, 3072), (3072, 768), (256, 256), (256, 1024), (1024, 256)]
FULL_M = [128, 512]
FULL_SPARSITIES = [0.7, 0.8, 0.9, 0.95]
DENSE_PEERS = ["torch_fp32", "torch_bf16", "torch_int8", "ort_fp32", "ort_int8"]
SPARSE_METHODS = ["torch_csr", "torch_bsr", "ours_fp32", "ours_bf16", "ours_int8"]
# torch's CPU BSR matmul (MKL) takes square blocks only; of 2x2 .. 32x32, 8x8 was its fastest on Zen 3 (90%, M=128:
# 0.70 ms at 768x768 vs 0.71 / 0.91 for 4x4 / 16x16 and 0.84 for CSR on the 16x1 pattern; 2.7 ms at 3072x768 vs 4.1).
TORCH_BSR_BLOCK = (8, 8)
TARGET_X_FP32, TARGET_X_INT8 = 10.0, 6.0  # the speed-up targets (90%, M=128, 1 thread, BERT-base shapes)
TARGET_PCT_PEAK = 75.0  # and the share of the machine's peak on the non-zeros
PEAK_CALLS = 21  # register-only peak loops per kind (~20-30 ms each); the best is the peak
# The same kernels on 16x2 blocks (same sparsity, own pattern): the block-shape comparison table.
SHAPE_METHODS = ["ours_fp32_16x2", "ours_bf16_16x2"]


def cpu_info() -> dict:
    info = {"machine": platform.machine(), "processor": platform.processor()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("model name") and "model" not in info:
                info["model"] = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                info["flags"] = sorted(f for f in flags if f.startswith(("avx", "fma", "f16c", "amx")))
                break
    except OSError:
        pass
    info["logical_cpus"] = os.cpu_count()
    return info


def block_mask(n: int, k: int, block: tuple[int, int], sparsity: float, gen: torch.Generator) -> torch.Tensor:
    """A mask with exactly round(sparsity * blocks) zero blocks of ``block`` shape."""
    br, bc = block
    nb = (n // br) * (k // bc)
    keep = torch.zeros(nb, dtype=torch.bool)
    keep[torch.randperm(nb, generator=gen)[: max(1, round(nb * (1 - sparsity)))]] = True
    keep = keep.reshape(n // br, 1, k // bc, 1).expand(-1, br, -1, bc)
    return keep.reshape(n, k)


def _ort_session(weight: torch.Tensor, bias: torch.Tensor, threads: int, int8: bool, tmpdir: Path):
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


def build_methods(m, k, n, sparsities, threads, gen, tmpdir, with_ort=True) -> tuple[dict[str, Callable], dict]:
    """Callables for one (M, K, N, threads) group and the facts needed to report them."""
    x = torch.randn(m, k, generator=gen)
    bias = torch.randn(n, generator=gen)
    dense = torch.randn(n, k, generator=gen) / k**0.5
    methods: dict[str, Callable] = {}
    facts: dict[str, dict] = {}
    methods["torch_fp32"] = lambda: F.linear(x, dense, bias)
    xb, wb, bb = x.bfloat16(), dense.bfloat16(), bias.bfloat16()
    methods["torch_bf16"] = lambda: F.linear(xb, wb, bb)
    lin = torch.nn.Linear(k, n)
    with torch.no_grad():
        lin.weight.copy_(dense)
        lin.bias.copy_(bias)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qlin = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8)
    methods["torch_int8"] = lambda: qlin(x)
    # Our layer with an all-zero weight of the group's shape (no multiply-adds: the call, quantising X for int8,
    # writing Y with its bias): the fixed cost that the targets table subtracts from the time a target allows.
    zero = torch.zeros(n, k)
    methods["ours_fp32_zero"] = lambda layer=BlockSparseLinear(pack(zero, (16, 1), torch.float32), bias): layer(x)
    methods["ours_int8_zero"] = lambda layer=BlockSparseLinear(pack(zero, (1, 4), torch.int8), bias): layer(x)
    if with_ort:
        try:
            xs = x.numpy()
            s32 = _ort_session(dense, bias, threads, False, tmpdir)
            s8 = _ort_session(dense, bias, threads, True, tmpdir)
            methods["ort_fp32"] = lambda: s32.run(None, {"X": xs})
            methods["ort_int8"] = lambda: s8.run(None, {"X": xs})
        except Exception as err:  # onnx/onnxruntime missing: report without them
            print(f"  (ONNX Runtime peers skipped: {err})")
    for s in sparsities:
        w16 = dense * block_mask(n, k, (16, 1), s, gen)
        w4 = dense * block_mask(n, k, (1, 4), s, gen)
        csr = w16.to_sparse_csr()
        p32, pb16, pi8 = (
            pack(w16, (16, 1), torch.float32),
            pack(w16, (16, 1), torch.bfloat16),
            pack(w4, (1, 4), torch.int8),
        )
        xt = x.T.contiguous()
        methods[f"torch_csr@{s}"] = lambda csr=csr, xt=xt: torch.mm(csr, xt).T + bias
        methods[f"ours_fp32@{s}"] = lambda layer=BlockSparseLinear(p32, bias): layer(x)
        methods[f"ours_bf16@{s}"] = lambda layer=BlockSparseLinear(pb16, bias): layer(x)
        methods[f"ours_int8@{s}"] = lambda layer=BlockSparseLinear(pi8, bias): layer(x)
        w32 = dense * block_mask(n, k, (16, 2), s, gen)
        p32x2, pb16x2 = pack(w32, (16, 2), torch.float32), pack(w32, (16, 2), torch.bfloat16)
        methods[f"ours_fp32_16x2@{s}"] = lambda layer=BlockSparseLinear(p32x2, bias): layer(x)
        methods[f"ours_bf16_16x2@{s}"] = lambda layer=BlockSparseLinear(pb16x2, bias): layer(x)
        with warnings.catch_warnings():  # "Sparse BSR tensor support is in beta state"
            warnings.simplefilter("ignore")
            bsr = (dense * block_mask(n, k, TORCH_BSR_BLOCK, s, gen)).to_sparse_bsr(TORCH_BSR_BLOCK)
        methods[f"torch_bsr@{s}"] = lambda bsr=bsr, xt=xt: torch.mm(bsr, xt).T + bias
        facts[f"{s}"] = {"density_16x1": p32.density, "density_1x4": pi8.density, "density_16x2": p32x2.density}
    return methods, facts


def time_round_robin(methods: dict[str, Callable], repeats: int) -> dict[str, dict]:
    """Per method: ``repeats`` rounds, each calling every method twice in a row. The first call of a
    round runs right after the other methods ("cold": caches and predictors hold their data), the
    second right after itself ("warm": steady state, as inside a loop). Returns ms statistics and every
    round's warm time (``warm_ms``, in round order: ``paired_ratio`` pairs two methods round by round)."""
    for fn in methods.values():  # warm up (allocations, lazy init)
        fn()
    cold: dict[str, list[float]] = {name: [] for name in methods}
    warm: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            fn()
            t1 = time.perf_counter()
            fn()
            t2 = time.perf_counter()
            cold[name].append(t1 - t0)
            warm[name].append(t2 - t1)
    return {
        name: {
            "min_ms": 1e3 * min(warm[name]),
            "median_ms": 1e3 * statistics.median(warm[name]),
            "cold_min_ms": 1e3 * min(cold[name]),
            "cold_median_ms": 1e3 * statistics.median(cold[name]),
            "warm_ms": [round(1e3 * t, 6) for t in warm[name]],
        }
        for name in methods
    }


def paired_ratio(peer: Optional[dict], ours: Optional[dict]) -> Optional[tuple[float, float, float]]:
    """Median, min and max over rounds of peer time / our time, each round's two warm calls a few ms apart:
    a slow spell of the machine touches both sides of a round's ratio, which a ratio of two minima (taken
    in different rounds) does not see. None for results saved before the rounds were kept."""
    if not peer or not ours or not peer.get("warm_ms") or not ours.get("warm_ms"):
        return None
    ratios = sorted(p / o for p, o in zip(peer["warm_ms"], ours["warm_ms"]) if o > 0)
    return (statistics.median(ratios), ratios[0], ratios[-1]) if ratios else None


def format_paired(p: Optional[tuple[float, float, float]]) -> str:
    """A ``paired_ratio`` as "median (min–max)", "–" when there is none."""
    return "–" if p is None else f"{p[0]:.1f} ({p[1]:.1f}–{p[2]:.1f})"


def machine_lines(result: dict) -> list[str]:
    """The report lines that say where and when a result was measured (CPU, ISA, versions, load)."""
    cpu = result["cpu"]
    return [
        f"- CPU: **{cpu.get('model', '?')}**, flags {', '.join(cpu.get('flags', []))}; kernel ISA **{result['isa']}**",
        f"- versions: {', '.join(f'{k} {v}' for k, v in result['versions'].items())}; date {result['date']}",
        f"- load average at start / end: {', '.join(f'{v:.1f}' for v in result['load_average_start'])} / "
        f"{', '.join(f'{v:.1f}' for v in result['load_average_end'])} (a shared machine: other jobs perturb timings)",
    ]


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


def run_deepsparse(python: str, ms, shapes, sparsities, thread_counts, repeats) -> list[dict]:
    """DeepSparse in its own venv (``benchmarks/deepsparse_peer.py``), after the interleaved groups."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "deepsparse_peer.py"
    cases = [[m, k, n, s, t] for t in thread_counts for m in ms for k, n in shapes for s in sparsities]
    try:
        out = subprocess.run(
            [python, str(script), json.dumps({"cases": cases, "repeats": repeats})],
            capture_output=True,
            text=True,
            timeout=1800,
            check=True,
        )
        rows = json.loads(out.stdout.strip().splitlines()[-1])
        for line in out.stderr.splitlines() + out.stdout.splitlines():
            if "DeepSparse" in line and "version:" in line:
                version = line.split("version:", 1)[1].split("|")[0].strip()
                system = line[line.find("(system=") :].strip() if "(system=" in line else ""
                for row in rows:
                    row["engine"] = f"DeepSparse {version} {system}".strip()
                break
        return rows
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as err:
        print(f"  (DeepSparse peer skipped: {err})")
        return []


def summarize(result: dict, stat: str = "min_ms") -> list[dict]:
    """One row per (threads, M, K, N, sparsity) with times (``stat``), speed-ups and % of peak."""
    rows = []
    peak = result.get("peak", {})
    ds = {(r["threads"], r["M"], r["K"], r["N"], r["sparsity"]): r[stat] for r in result.get("deepsparse", [])}
    for g in result["groups"]:
        t = {name: v[stat] for name, v in g["timings"].items()}
        for s_key, dens in g["density"].items():
            s = float(s_key)
            row = {"threads": g["threads"], "M": g["M"], "K": g["K"], "N": g["N"], "sparsity": s}
            for name in DENSE_PEERS:
                row[name] = t.get(name)
            for name in SPARSE_METHODS + SHAPE_METHODS:
                row[name] = t.get(f"{name}@{s_key}")
            best_int8 = min((n for n in ("torch_int8", "ort_int8") if row.get(n)), key=row.get, default=None)
            row["best_dense_int8"] = row[best_int8] if best_int8 else None
            row["fp32_fixed"], row["int8_fixed"] = t.get("ours_fp32_zero"), t.get("ours_int8_zero")
            row["x_fp32_vs_torch_fp32"] = row["torch_fp32"] / row["ours_fp32"]
            row["x_int8_vs_best_int8"] = row["best_dense_int8"] / row["ours_int8"] if row["best_dense_int8"] else None
            row["x_fp32_vs_csr"] = row["torch_csr"] / row["ours_fp32"]
            row["x_fp32_vs_bsr"] = (
                row["torch_bsr"] / row["ours_fp32"] if row["torch_bsr"] else None
            )  # none in runs before it was added
            timing = g["timings"]
            row["x_fp32_paired"] = paired_ratio(timing.get("torch_fp32"), timing.get(f"ours_fp32@{s_key}"))
            row["x_int8_paired"] = (
                paired_ratio(timing.get(best_int8), timing.get(f"ours_int8@{s_key}")) if best_int8 else None
            )
            row["deepsparse_fp32"] = ds.get((g["threads"], g["M"], g["K"], g["N"], s))
            row["x_fp32_vs_deepsparse"] = row["deepsparse_fp32"] / row["ours_fp32"] if row["deepsparse_fp32"] else None
            flops32 = 2.0 * g["M"] * g["N"] * g["K"] * dens["density_16x1"]
            ops8 = 2.0 * g["M"] * g["N"] * g["K"] * dens["density_1x4"]
            row["fp32_gflops_nnz"] = flops32 / (row["ours_fp32"] * 1e6)
            row["int8_gops_nnz"] = ops8 / (row["ours_int8"] * 1e6)
            if row.get("ours_bf16_16x2") and "density_16x2" in dens:
                flops2 = 2.0 * g["M"] * g["N"] * g["K"] * dens["density_16x2"]
                row["bf16_gflops_nnz"] = flops32 / (row["ours_bf16"] * 1e6)
                row["fp32_16x2_gflops_nnz"] = flops2 / (row["ours_fp32_16x2"] * 1e6)
                row["bf16_16x2_gflops_nnz"] = flops2 / (row["ours_bf16_16x2"] * 1e6)
            # the rate our multiply-adds run at (fixed cost taken out), and the rate the target would ask of them
            row["fp32_gflops_dots"] = _rate(flops32, row["ours_fp32"], row["fp32_fixed"])
            row["int8_gops_dots"] = _rate(ops8, row["ours_int8"], row["int8_fixed"])
            row["fp32_gflops_needed"] = _rate(flops32, row["torch_fp32"] / TARGET_X_FP32, row["fp32_fixed"])
            row["int8_gops_needed"] = (
                _rate(ops8, row["best_dense_int8"] / TARGET_X_INT8, row["int8_fixed"])
                if row["best_dense_int8"]
                else None
            )
            if peak:
                row["fp32_pct_peak"] = 100 * row["fp32_gflops_nnz"] / (peak["fp32_gflops_per_core"] * g["threads"])
                row["int8_pct_peak"] = 100 * row["int8_gops_nnz"] / (peak["int8_gops_per_core"] * g["threads"])
            rows.append(row)
    return rows


def _rate(work: float, total_ms: Optional[float], fixed_ms: Optional[float]) -> Optional[float]:
    """G(FL)OP/s of ``work`` done in ``total_ms`` minus the fixed cost; inf when nothing is left for it."""
    if total_ms is None or fixed_ms is None:
        return None
    left = total_ms - fixed_ms
    return work / (left * 1e6) if left > 0 else float("inf")


def _f(v, fmt="{:.3g}"):
    return "–" if v is None else fmt.format(v)


def _peak_statistic(peak: dict) -> str:
    """How a result's peak was taken, read from its samples: runs before the 12:01 run of 2026-11-26 kept the median
    of 7 calls, later ones the best, so an old JSON regenerated today is still described truly."""
    samples = peak.get("fp32_samples") or []
    if not samples:
        return "median of 7"
    how = "best" if peak["fp32_gflops_per_core"] == max(samples) else "median"
    return f"{how} of {len(samples)}"


def markdown(result: dict, json_name: str) -> str:
    rows = summarize(result)
    peak = result.get("peak", {})
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `benchmarks/bench_spmm.py` from `{json_name}` (one run; all methods of a "
        "(threads, M, K×N) group timed round-robin, each called twice in a row per round, "
        f"{result['repeats']} rounds; the table shows the **min over rounds of the second (warm) call** "
        "in ms and ratios of those; the JSON also has medians and the first (cold) calls; `Y = X·Wᵀ + b`).",
        "",
        *machine_lines(result),
    ]
    if peak:
        lines.append(
            f"- measured one-core peak ({result['isa']}, {_peak_statistic(peak)} register-only loops): fp32 FMA "
            f"{peak['fp32_gflops_per_core']:.1f} GFLOP/s, int8 dot products {peak['int8_gops_per_core']:.1f} GOP/s"
        )
    lines += [
        "- ours: `BlockSparseLinear` (the drop-in layer the sparse models run; per-call cost included) with fp32 and "
        "bf16 16x1 blocks, int8 1x4 blocks (same sparsity, own random pattern); "
        "torch CSR runs the 16x1-pattern weight; torch BSR its own 8x8-block pattern at the same sparsity (torch's "
        "CPU BSR matmul takes square blocks only; 8x8 was its fastest here).",
        "- ×fp32 = torch dense fp32 / ours fp32; ×int8 = best dense int8 peer (torch "
        "dynamic int8 or ORT int8) / ours int8; ×CSR / ×BSR = torch CSR / BSR over ours fp32; "
        "%pk = GFLOP/s on the non-zeros as % of the measured peak × threads.",
        "",
        "| thr | M | K×N | sp | torch fp32 | torch bf16 | torch int8 | ORT fp32 | ORT int8 | torch CSR | "
        "torch BSR | ours fp32 | ours bf16 | ours int8 | ×fp32 | ×int8 | ×CSR | ×BSR | fp32 %pk | int8 %pk |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['threads']} | {r['M']} | {r['K']}×{r['N']} | {int(round(r['sparsity'] * 100))}% | "
            + " | ".join(_f(r[name]) for name in DENSE_PEERS + SPARSE_METHODS)
            + f" | {_f(r['x_fp32_vs_torch_fp32'], '{:.1f}')} | {_f(r['x_int8_vs_best_int8'], '{:.1f}')} | "
            f"{_f(r['x_fp32_vs_csr'], '{:.1f}')} | {_f(r['x_fp32_vs_bsr'], '{:.1f}')} | "
            f"{_f(r.get('fp32_pct_peak'), '{:.0f}')} | {_f(r.get('int8_pct_peak'), '{:.0f}')} |"
        )
    shape_rows = [r for r in rows if r["threads"] == 1 and r.get("ours_bf16_16x2")]
    if shape_rows:
        lines += [
            "",
            "### Block shape: 16x1 vs 16x2 (fp32 and bf16 weights, 1 thread)",
            "",
            "Same round-robin as above; each shape has its own random pattern at the same sparsity, so the "
            "work is equal. GFLOP/s on the non-zeros. bf16 16x2 runs AVX512-BF16 `vdpbf16ps` where the CPU has it "
            f"({'yes' if result.get('cpu_features', {}).get('avx512bf16') else 'not on this CPU'}), "
            "else widens to fp32.",
            "",
            "| M | K×N | sp | fp32 16x1 | fp32 16x2 | bf16 16x1 | "
            "bf16 16x2 | GFLOP/s fp32 16x1 / 16x2 | bf16 16x1 / 16x2 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in shape_rows:
            lines.append(
                f"| {r['M']} | {r['K']}×{r['N']} | {int(round(r['sparsity'] * 100))}% | {_f(r['ours_fp32'])} | "
                f"{_f(r['ours_fp32_16x2'])} | {_f(r['ours_bf16'])} | {_f(r['ours_bf16_16x2'])} | "
                f"{_f(r['fp32_gflops_nnz'], '{:.0f}')} / {_f(r['fp32_16x2_gflops_nnz'], '{:.0f}')} | "
                f"{_f(r['bf16_gflops_nnz'], '{:.0f}')} / {_f(r['bf16_16x2_gflops_nnz'], '{:.0f}')} |"
            )
    ds_rows = [r for r in rows if r.get("deepsparse_fp32")]
    if ds_rows:
        engine = result["deepsparse"][0].get("engine", "DeepSparse")
        lines += [
            "",
            f"### DeepSparse ({engine})",
            "",
            "Run in its own process (its own venv) right after the interleaved groups, same 16x1-pattern "
            "weights family (MatMul+Add ONNX, fp32, batch = M), so less tightly paired than the table above.",
            "",
            "| thr | M | K×N | sp | DeepSparse fp32 | ours fp32 | ×DeepSparse |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in ds_rows:
            lines.append(
                f"| {r['threads']} | {r['M']} | {r['K']}×{r['N']} | {int(round(r['sparsity'] * 100))}% | "
                f"{_f(r['deepsparse_fp32'])} | {_f(r['ours_fp32'])} | {_f(r['x_fp32_vs_deepsparse'], '{:.1f}')} |"
            )
    return "\n".join(lines) + "\n"


def targets(result: dict) -> str:
    """The issue's targets (90% sparsity, M=128, 1 thread, BERT-base shapes), met or missed."""
    rows = [r for r in summarize(result) if r["threads"] == 1 and r["M"] == 128 and abs(r["sparsity"] - 0.9) < 1e-9]
    rows = [r for r in rows if (r["K"], r["N"]) in [(768, 768), (768, 3072), (3072, 768)]]
    out = [
        "",
        "## Targets (90% sparsity, M=128, 1 thread, BERT-base shapes)",
        "",
        f"| K×N | fp32 ×torch fp32 (≥{TARGET_X_FP32:.0f}) | int8 ×best dense int8 (≥{TARGET_X_INT8:.0f}) "
        f"| fp32 % peak (≥{TARGET_PCT_PEAK:.0f}) | int8 % peak "
        f"(≥{TARGET_PCT_PEAK:.0f}) | fp32 × paired | int8 × paired |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:

        def mark(v, goal):  # two decimals where one would round a miss up to the goal (9.97 -> "10.0")
            if v is None:
                return "–"
            text = f"{v:.1f}" if (f"{v:.1f}" != f"{goal:.1f}" or v >= goal) else f"{v:.2f}"
            return f"{text} {'✅' if v >= goal else '❌'}"

        out.append(
            f"| {r['K']}×{r['N']} | {mark(r['x_fp32_vs_torch_fp32'], TARGET_X_FP32)} | "
            f"{mark(r['x_int8_vs_best_int8'], TARGET_X_INT8)} | "
            f"{mark(r.get('fp32_pct_peak'), TARGET_PCT_PEAK)} | {mark(r.get('int8_pct_peak'), TARGET_PCT_PEAK)} | "
            f"{format_paired(r.get('x_fp32_paired'))} | {format_paired(r.get('x_int8_paired'))} |"
        )
    out += [
        "",
        "Met or missed is read off the ratio of the minima (the table above), each side at its best moment. "
        "*Paired*: median (min–max) over the rounds of the peer's time / ours in the same round, both sides at "
        "the same moment of the shared machine: the typical ratio rather than the best (for int8 against the "
        "peer with the lower minimum).",
    ]
    fixed = [r for r in rows if r.get("fp32_fixed") is not None]
    if fixed:
        peak = result.get("peak", {})
        pk32, pk8 = peak.get("fp32_gflops_per_core"), peak.get("int8_gops_per_core")

        def rate(v, pk):
            if v is None:
                return "–"
            if v == float("inf"):
                return "∞ (nothing left)"
            return f"{v:.0f}" + (f" ({100 * v / pk:.0f}%)" if pk else "")

        out += [
            "",
            "### What the speed-up targets ask of the multiply-adds",
            "",
            "Fixed cost: our layer called on an all-zero weight of the same shape in the same run (no "
            "multiply-adds: the call, writing Y with its bias, and for int8 quantising X; an upper bound on what "
            "a real call adds, where part of writing Y overlaps the multiply-adds). *Needed*: the "
            "rate on the non-zeros that the time a target allows, less that fixed cost, asks for; *ours*: "
            "the rate our multiply-adds ran at, fixed cost taken out (as % of this machine's peak).",
            "",
            f"| K×N | fixed fp32 / int8 (ms) | fp32 GFLOP/s needed for {TARGET_X_FP32:.0f}x | fp32 GFLOP/s ours "
            f"| int8 GOP/s needed for {TARGET_X_INT8:.0f}x | int8 GOP/s ours |",
            "|---|---|---|---|---|---|",
        ]
        for r in fixed:
            out.append(
                f"| {r['K']}×{r['N']} | {_f(r['fp32_fixed'])} / {_f(r['int8_fixed'])} | "
                f"{rate(r['fp32_gflops_needed'], pk32)} | {rate(r['fp32_gflops_dots'], pk32)} | "
                f"{rate(r['int8_gops_needed'], pk8)} | {rate(r['int8_gops_dots'], pk8)} |"
            )
    return "\n".join(out) + "\n"


NOTES = """
## How to read this

- **Kernels.** fp32/bf16: 16x1 blocks (16 output features × 1 input feature = one zmm or two ymm of
  weights per block); X is read in place, in tiles of 6 (AVX2) / 16 (AVX-512) rows, and one block
  is 6/16 broadcast-FMAs (one per row) into register accumulators; K is chunked only as far as a
  tile's rows must stay in L1, and panels are grouped so their blocks (half of L2) stay in L2 while every
  tile runs over them; one call per (tile, group) amortises the set-up. bf16 weights are widened to fp32 in
  registers (halves weight bytes). 16x2 blocks (two adjacent input features) run the same loop as two
  16x1 columns, split in registers (AVX2 fp32: one shuffle per 8 rows, lane order fixed once per panel;
  bf16: a shift and a mask per row pair); on a CPU with AVX512-BF16, bf16 16x2 blocks run `vdpbf16ps`
  instead, one instruction per block and row (32 multiply-adds) on X converted once per call to bf16.
  int8: 1x4 blocks (one 32-bit lane = 4 consecutive k of one output row); activations quantised per
  row in C++ (round half even, ±127) and packed (8x8 transposes on AVX2) as 4-k groups of 8 (AVX2) /
  16 (AVX-512) tokens;
  AVX-512 uses `vpdpbusd` (u8 = q+128, offset removed with a per-row weight sum); AVX2 uses
  `vpmaddubsw` with the weights' magnitudes as its unsigned operand and their signs moved onto the
  activations (`vpsignb`), so every int16 pair sum is at most 2·128·127 and exact (no saturation, for
  any int8 weight), then `vpmaddwd` with ones to int32. Weights are read as packed (no per-call copy).
- **Block shape for fp32/bf16 (16x1 or 16x2).** 16 output features fill one zmm / two ymm, so the
  row count of a block is fixed by the vector width; the second dimension is the choice. On AVX2 (Zen 3,
  the table above) 16x2 runs at about the speed of 16x1 for fp32 (the split costs a shuffle per 8 rows)
  and up to ~10% faster for bf16 (one load, a shift and a mask give both columns), because a block
  costs half the index reads per multiply-add. 16x1 stays the default, since finer blocks lose less
  accuracy at the same sparsity; 16x2 is the shape for bf16 on AVX512-BF16 CPUs, where `vdpbf16ps`
  does 32 multiply-adds per instruction instead of 16.
- **Why int8 is not far ahead of fp32 on AVX2.** Without VNNI a 4-term int8 dot product takes
  `vpmaddubsw` (32 u8 × s8 products, summed in pairs to int16), `vpmaddwd` with ones (to int32) and
  `vpaddd`: the sequence dense int8 GEMMs run (MLAS, fbgemm), ~1.9x the fp32 FMA rate on Zen 3 (the int8
  peak above). `vpmaddubsw` needs one unsigned operand, and its int16 pair sums saturate: with u8
  activations and full-range s8 weights a pair can reach 2·255·128. Our kernel stays exact for any int8
  weight by making the weights' magnitudes the unsigned operand and moving their signs onto the
  activations (`vpsignb`), one more instruction per 32 MACs, so its loop can reach ~3/4 of that peak
  (the same register-only loop with `vpsignb` added reads ~133 vs ~180 GOP/s). The alternative is ORT's
  `reduce_range` (7-bit weights or activations, so no pair can saturate) at a precision cost; we did not
  take it. With VNNI (`vpdpbusd`, 64 MACs in one instruction) the int8 path gets 4x the fp32 MAC rate.
- **Why the targets are missed on AVX2 (measured with experimental builds, A/B in one process, 1 thread,
  90%, M=128).** fp32: with X and the weights forced L1-hot (every block reading k < 64 and one of the
  first 256 blocks: wrong numbers, same instruction stream) the 16x1 loop reaches ~93 GFLOP/s, the FMA
  peak: the instructions are not the limit, cache misses are, most at 3072×768 (64 → 90 GFLOP/s hot),
  whose K runs in four L1 chunks (smaller or larger chunks: slower). A chunk has its price: 768×768 cut
  into 2 / 4 / 8 chunks runs 11 / 20 / 33% slower than in one, and 3072×768 needs four. Two remedies
  measured and dropped: copying each chunk of X to a contiguous buffer (its rows are K apart, so at
  K = 1024·j they share L1 sets) gained 2–4% at 3072×768 and lost 7% at 1024×256; prefetching the next
  panel's partial sums from Y gained nothing, and prefetching the next tile's chunk of X lost 0–12%. A
  third, tried on 2026-11-26: each 16-row panel as two 8-row halves with 12 rows of X per tile (one ymm
  accumulator per row, so half the weight bytes per multiply-add): same bits, 1.5–2.7x slower (one
  broadcast per FMA instead of one per two, every X value broadcast twice, 12 row pointers spilled). A
  fourth, tried on 2026-11-27: every tile of X packed k-major once per call (x[k·mt + m], so a block's
  broadcasts read one or two cache lines instead of one in each of the tile's rows: 6 on AVX2, 16 on
  AVX-512), with and without K chunks: same bits, slower on every shape but one: Zen 3 at M=128 3072×768
  −1%, the others +4–24%; Sapphire Rapids (AVX-512) +11–50% at 1 thread, ~2x at 2 threads (the packing
  pass, not the multiply-adds, is what the extra time is). The lines X's broadcasts touch are not the cost.
  int8: the exact loop (`vpsignb` added to the dense sequence) can reach ~3/4 of the int8 peak and runs at
  ~120 GOP/s on a dense weight; at 90% an output row has ~19 blocks per group of 32 tokens, and per-row
  costs weigh: dequantising and storing Y transposed (accumulators hold tokens, not features), quantising X
  on every call and the row loop's exit. Since 2026-11-26 22:25 the transposed store writes each token's
  64 outputs at once (it used to write 8 of them per pass over 32 tokens whose rows, N floats apart, share
  L1 sets at N = 3072): 768×3072 −9%, 256×1024 −22%, its fixed cost 221 → 134 µs. Since 2026-11-27 the 4
  tiles of a token group interleave in the packed X, so a block's 4 vectors of X are 128 contiguous bytes (2
  cache lines, not 4 half-used ones): 3072×768 −11 to −26% (M = 128), −18% (M = 512), the rest unchanged.
  Cutting K into chunks whose X stays in L1 (as the fp path does) was measured and dropped: 3–12% slower at
  every chunk size from 12 to 48 KB, on every shape (the per-row restart of each chunk costs more than the
  L2 reads it saves). Independent accumulator sets per row (`i8_chains`) gain nothing here (AVX2's chain
  is a 1-cycle `vpaddd`); on AVX-512 they do (below).
- **The targets are out of reach on this CPU, by arithmetic** (the table *What the speed-up targets ask
  of the multiply-adds* above, generated since 2026-11-26 23:06). The time a target allows, less our
  fixed cost per call (measured on an all-zero weight in the same run), leaves the multiply-adds a rate
  they would have to reach. fp32 10x at 768×768 asks 96–103% of the FMA peak (runs of 2026-11-26 23:06 and
  11-27 00:10), where our multiply-adds already run at 90–92%: the fixed cost of 26–36 µs, Python and
  writing Y, is what misses (counting only the ~11 µs of Python per call, which overlaps nothing, it
  would still ask ~93% of peak); at 3072×768 it asks 87–89% of peak, about this loop's L1-hot ceiling
  (above), where cache misses hold it to 63–67%. int8 6x asks 134–191 GOP/s, 70–99% of the dense int8
  peak, beyond the ~133 GOP/s (~69%) that the exact sequence (with `vpsignb`) reaches in a register-only
  loop; ≥ 75% of that peak over the whole call is beyond it too. What would reach them: fp32 at M = 128 on
  an AVX-512 core (twice the FMA width, the prototype's 87% of peak at 768×3072 on Zen 4) and int8 with
  VNNI (`vpdpbusd`: no `vpsignb`, 4x fp32's rate), i.e. the Zen 4 machines, which no session of this
  project has had; on AVX2 a 7-bit activation path (activations in ±63 offset to u7, `vpmaddubsw` without
  `vpsignb`, as fbgemm's reduce_range) was built and measured: 140 vs 117 GOP/s on a dense weight, 10–14%
  faster at 90%, about 5.3x at 768×768, not 6x, at half the activation resolution; not kept.
- **The peak loops.** Until 2026-11-26 the fp32 peak read ~148 GFLOP/s on this Zen 3: the compiler had
  dropped half of the loop's FMAs (only one lane of the result was read, so one ymm of each pair was dead
  code) while the count assumed all of them. Every lane is read now and the loop gives ~96 GFLOP/s, which
  a separate hand-written loop confirms. The AVX2 int8 loop used to feed each product back into its own
  input (a chain bound by latency), read 96–153 GOP/s and was passed by ORT's dense int8 MatMul (~166
  GOP/s at 768×768); since the 14:15 run of 2026-11-26 it is the throughput-bound dense sequence
  (`vpmaddubsw` → `vpmaddwd` → `vpaddd`, 4 independent accumulators), which reads ~150–190 GOP/s, so the
  int8 "% of peak" of earlier runs was overstated by ~1.2–1.5x. On this shared VM the int8 loop still
  moves from call to call (~80–190 GOP/s; the fp32 loop 93–97), so the best of several calls is the peak;
  a run whose calls all read low reports a low peak and a high % of it.
- **AVX-512 (another machine: `BENCHMARKS-avx512.md`, run 2026-11-26 23:54).** An Intel Xeon of the
  Sapphire Rapids generation (AVX-512 with VNNI and BF16, and AMX; 48 KB L1D, 2 MB L2; pinned to 2 of its 16
  vCPUs; GCC 13, torch 2.11, the image's, not our pin; no DeepSparse: it needs Python < 3.12, the image has
  3.12), run with `benchmarks/kernel_check.sh`: every kernel test passes on every path there (avx512, the
  AVX512-BF16 kernel, avx2, portable). That took a fix: built with GCC 13, the fused GELU + residual
  epilogue differed by 1 ulp between tilings (the blocking test failed on every fp dtype, on the avx2 path
  too), because the compiler fused GELU's last product with the residual add in some copies of an unrolled
  loop and not in others; GCC 12 (here) fused none. The extension is now built with `-ffp-contract=off`
  (every FMA in the kernels is an explicit intrinsic), and the same bits come out of every tiling there.
  The sweeps (`benchmarks/tune_kernels.py`, JSON in benchmarks/results/tune-avx512-*) chose 16-row fp tiles
  (24 before: 1.3-1.4x faster at M = 512), int8 groups of 64 tokens (128 before) and, on 2026-11-26, 3
  int8 accumulator sets per row (`i8_chains`: one set of 4 `vpdpbusd` chains, latency 5 at two per cycle,
  kept the unit at most 40% busy; 165 / 158 / 145 µs for 1 / 2 / 3 sets at 768×768, M = 128). With that and
  X's int8 tile packed by 8x8 transposes instead of a dword at a time, our int8 layer there runs 1.3-1.9x
  faster than at 17:51 (768×768, M = 128, 90%: 0.208 → 0.107 ms; its fixed cost on an all-zero weight 94
  → 52 µs; across two runs on two such machines, so read it as a rough figure). The interleaved tiles of X
  (above; 2026-11-27) were checked there afterwards: the kernel tests pass on every path, and int8 at M =
  128 took 0.108 / 0.413 / 0.433 ms, as before (a group's X, 192 KB at K = 3072, sits in its 2 MB L2 either
  way). After the AVX2 and AVX-512 packing of int8 X became one shared function (2026-11-27), the check ran
  again (02:29, `spmm-avx512-20261127-0229.json`): all 119 kernel tests pass on every path; that machine ran
  8–15% slower throughout, peers too, and every ratio held. Targets there (90%, M = 128, 1 thread): \
fp32 7.9 / 6.5 / 5.8x torch dense fp32 at 60 / 52 / 45% of the FMA peak; int8 1.4-1.5x
  the best dense int8 peer (ORT), 3.1-3.4x torch dynamic int8. The peers are much stronger on that CPU: ORT's
  int8 MatMul and torch's bf16 run AMX (ORT int8 does 768×768, M = 128 at ~1,000 GOP/s, above one core's
  VNNI peak of ~734), so 6x over it would need our 10% of the work at ~80% of the VNNI peak with every
  overhead included: out of reach without an AMX sparse kernel (not written). fp32 10x at 768×768 asks 106%
  of the FMA peak once the fixed cost (31 µs) is taken out, where our multiply-adds run at 77%.
  `vdpbf16ps` (bf16 16x2) ran slower than widening bf16 to fp32 there (e.g. 3.08 vs 2.39 ms, M = 512,
  768×3072, 90%); our reading (not measured): on that core it does no more multiply-adds per cycle than the
  two FMA ports, and X must be rounded to bf16 first. It stays the default on AVX512-BF16 CPUs for Zen 4,
  whose bf16 rate is twice its fp32 one (the issue's figures, 230 vs 115; no Zen 4 was available to check).
- **Peers.** torch CSR uses MKL on the same 16x1-pattern weight. torch's CPU BSR matmul (MKL too) refuses
  non-square blocks, so it runs its own 8x8-block pattern at the same sparsity: of 2x2 to 32x32, 8x8 was its
  fastest on this Zen 3 (e.g. 0.70 ms at 768×768 vs 0.84 for CSR; 2.7 vs 4.1 ms at 3072×768); runs made
  before it joined the peers show "–" there. ORT runs a MatMul+Add graph; its int8 model is \
`quantize_dynamic` (MatMulInteger).
- **Cold vs warm.** On this VM every method is slower on its first call after the others ran (our
  kernels up to ~2x: they rely on L1/L2-resident tiles); the JSON keeps those "cold" figures too.
- **Noise.** This is a shared 2-core VM; other jobs ran during the run (load average above). Methods
  are interleaved so that noise hits all of them alike, and the min over rounds is the least
  perturbed figure; 2-thread rows are the most affected (a thread descheduled by another job stalls
  every barrier), so read them as lower bounds. Between runs the peers move too: torch dense fp32 at
  768×3072, M=128, 1 thread took 6.9–10.5 ms over four runs of one day on this VM, so a ratio within
  ~10% of a target is neither a clear pass nor a clear miss. Seven runs on 2026-11-26 (Zen 3, 1 thread,
  90%, M=128) at 768×768: torch dense fp32 1.86 / 1.87 / 1.71 / 1.73 / 1.77 / 1.75 / 1.70 ms, ours fp32
  0.202 / 0.245 / 0.193 / 0.188 / 0.197 / 0.194 / 0.191 ms (9.2x / 7.6x / 8.8x / 9.2x / 9.0x / 9.0x / 8.9x);
  at 3072×768 7.1x / 7.7x / 7.8x / 7.6x / 7.3x / 7.9x / 7.7x (11-27 00:10: 9.7x, 7.5x). DeepSparse moves
  as much: 2.3–2.5x ours at 22:14, 1.4–1.7x at 22:34, 1.5–2.9x at 23:06. Ours move more than torch's
  dense GEMM, which keeps its blocks in L1/L2, while our tiles reread X and Y from the L3 that other VMs
  share. The first two runs had 15 rounds, the last five 40 (the default since: a min over more rounds is
  steadier). Single calls jitter far more than minima: within one round the two ratios of the targets
  table's *paired* columns spread over about 2x (e.g. 5.1–11.5 at 768×768), and their median sits below
  the ratio of minima because our calls lose more to a noisy moment than torch's.
  A run whose 2-thread phase was visibly perturbed (torch's own 2-thread time no better than its
  1-thread time) is rerun, not reported.
"""


def _shape(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape {text!r} is not KxN (e.g. 768x3072)") from None
    return k, n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 shapes, M=32, 90%% sparsity, 1 thread")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--m", type=int, nargs="+", help=f"rows of X (batch x sequence); default {FULL_M}")
    parser.add_argument(
        "--shapes",
        type=_shape,
        nargs="+",
        metavar="KxN",
        help="weight shapes as KxN; default " + " ".join(f"{k}x{n}" for k, n in FULL_SHAPES),
    )
    parser.add_argument("--sparsities", type=float, nargs="+", help=f"default {FULL_SPARSITIES}")
    parser.add_argument("--no-ort", action="store_true", help="skip the ONNX Runtime peers")
    parser.add_argument(
        "--deepsparse-python",
        default=os.environ.get("OPTIMUM_RO_DEEPSPARSE_PYTHON"),
        help="Python of a venv with deepsparse==1.8.0 (Python<3.12, numpy<2, onnx<1.15); "
        "adds DeepSparse at 90%% sparsity",
    )
    parser.add_argument("--out-dir", default="benchmarks/results", help="where the JSON goes")
    parser.add_argument(
        "--from-json", help="no run: render the report of a saved result JSON (to --markdown, else stdout)"
    )
    parser.add_argument(
        "--markdown",
        help="Markdown report to write; default BENCHMARKS.md for a full run, none for "
        "--quick or a subset (--m/--shapes/--sparsities)",
    )


def report(result: dict, json_name: str) -> str:
    """The whole Markdown report of one result: tables, targets, how to read them."""
    return markdown(result, json_name) + targets(result) + NOTES


def main(args) -> int:
    if args.from_json:
        result = json.loads(Path(args.from_json).read_text())
        text = report(result, args.from_json)
        if args.markdown:
            Path(args.markdown).write_text(text)
            print(f"wrote {args.markdown}")
        else:
            print(text)
        return 0
    subset = bool(args.m or args.shapes or args.sparsities) and not args.quick
    markdown_path = args.markdown if args.markdown is not None else ("" if args.quick or subset else "BENCHMARKS.md")
    result = run(args)
    result["subset"] = subset
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M")
    kind = "-quick" if args.quick else "-subset" if subset else ""
    name = f"spmm-{result['isa']}-{stamp}{kind}.json"
    (out_dir / name).write_text(json.dumps(result, indent=1))
    text = report(result, f"{args.out_dir}/{name}")
    print(text)
    if markdown_path:
        Path(markdown_path).write_text(text)
    print(f"wrote {out_dir / name}" + (f" and {markdown_path}" if markdown_path else ""))
    return 0
