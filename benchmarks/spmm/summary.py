"""Per-row figures of a result: times, speed-ups over the peers, % of peak, what the targets ask."""

from __future__ import annotations

from typing import Optional

from .methods import DENSE_PEERS, SHAPE_METHODS, SPARSE_METHODS
from .timing import paired_ratio

# The speed-up targets (90% sparsity, M=128, 1 thread, BERT-base shapes) and the share of the machine's peak
# that our multiply-adds should reach on the non-zeros.
TARGET_X_FP32, TARGET_X_INT8 = 10.0, 6.0
TARGET_PCT_PEAK = 75.0


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
