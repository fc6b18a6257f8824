"""Loading the C++ kernels and choosing the instruction set at run time.

from optimum_ro.sparse import available_isas, current_isa
available_isas()          # e.g. ['avx2', 'portable', 'reference'] on a Zen 3 CPU
current_isa()             # 'avx2'; set OPTIMUM_RO_ISA=portable|avx2|avx512|reference|auto to force one
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Iterator, Optional

import torch

try:
    from . import _C
except ImportError as err:  # not built (e.g. a source checkout without build_ext)
    _C = None
    _IMPORT_ERROR = err
else:
    _IMPORT_ERROR = None

ISA_ENV = "OPTIMUM_RO_ISA"
ISA_CHOICES = ("auto", "avx512", "avx2", "portable", "reference")
_ISA_NEEDS = {
    "avx512": ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512vnni", "avx2", "fma", "f16c"),
    "avx2": ("avx2", "fma", "f16c"),
    "portable": (),
}
_DTYPE_CODES = {torch.float32: 0, torch.bfloat16: 1, torch.int8: 2}
_ACTIVATIONS = {"none": 0, "gelu": 1}
# Below this many multiply-adds per thread, extra threads cost more (wake-up, barrier) than they
# save; results do not depend on the thread count, so this only affects speed. Measured on Zen 3 (90%,
# 1 vs 2 threads, the pool kept warm as inside a model's forward, where torch's own ops run on the same
# OpenMP threads): 2 threads won from M = 1 up (768x768: 7.8 -> 5.0 us at M = 1, 15.1 -> 9.5 at M = 8; even
# 256x256 at M = 1, 6.5k multiply-adds: 2.7 -> 2.4 us); after 20 ms idle a 2-thread call pays ~+35 us of
# wake-up. A threshold of 2**18 would keep BERT-base's layers on 1 thread up to ~8 tokens, where 2 threads
# run 8% faster (BERT-base, 8 tokens, batch 1).
MIN_WORK_PER_THREAD = 1 << 14
_warned_missing = False
_resolved: dict = {}  # raw value of $OPTIMUM_RO_ISA (None, str or bytes) -> the path it selects
# os.environ.get costs ~1 us (the key is encoded and the value decoded on every read), paid on every
# call of a layer. On POSIX, CPython keeps the environment's bytes in os.environ._data (updated by every
# os.environ assignment); read the raw value there when it has that form, else through os.environ.
_ENV_BYTES = getattr(os.environ, "_data", None) if os.name == "posix" else None
_ENV_BYTES = _ENV_BYTES if isinstance(_ENV_BYTES, dict) else None
_ISA_ENV_KEY = os.fsencode(ISA_ENV)


def extension_available() -> bool:
    """True when the compiled kernels (``optimum_ro.sparse._C``) could be imported."""
    return _C is not None


def cpu_features() -> dict[str, bool]:
    """The CPU features the kernels care about (empty when the extension is missing)."""
    return dict(_C.cpu_features()) if _C is not None else {}


def available_isas() -> list[str]:
    """Kernel paths this machine can run, fastest first; ``"reference"`` (pure torch) is always last."""
    return (list(_C.supported_isas()) if _C is not None else []) + ["reference"]


def _warn_missing() -> None:
    global _warned_missing
    if not _warned_missing:
        _warned_missing = True
        warnings.warn(
            f"optimum_ro.sparse._C is not built ({_IMPORT_ERROR}); block-sparse layers use the slow pure-torch "
            "reference. Reinstall optimum-ro with a C++ compiler (pip install .) to get the CPU kernels.",
            RuntimeWarning,
            stacklevel=3,
        )


def current_isa() -> str:
    """The path the op uses now: ``$OPTIMUM_RO_ISA`` if set (validated), else the fastest available."""
    raw = _ENV_BYTES.get(_ISA_ENV_KEY) if _ENV_BYTES is not None else os.environ.get(ISA_ENV)
    cached = _resolved.get(raw)
    if cached is not None:
        return cached
    text = os.fsdecode(raw) if isinstance(raw, bytes) else raw
    requested = (text or "auto").strip().lower() or "auto"
    if requested not in ISA_CHOICES:
        raise ValueError(f"{ISA_ENV}={requested!r} is not one of {', '.join(ISA_CHOICES)}")
    if _C is None:
        if requested not in ("auto", "reference"):
            raise RuntimeError(
                f"{ISA_ENV}={requested} needs the compiled kernels, but optimum_ro.sparse._C could not be imported "
                f"({_IMPORT_ERROR}); rebuild with `pip install .` or use {ISA_ENV}=reference"
            )
        if requested == "auto":
            _warn_missing()
        isa = "reference"
    elif requested == "auto":
        isa = available_isas()[0]
    elif requested not in available_isas():
        features = cpu_features()
        lacking = [f for f in _ISA_NEEDS[requested] if not features.get(f)]
        has = sorted(f for f, ok in features.items() if ok)
        raise RuntimeError(
            f"{ISA_ENV}={requested} but this CPU lacks {', '.join(lacking)} "
            f"(it has: {', '.join(has) or 'none of them'}); "
            f"choose one of {', '.join(available_isas())} or auto"
        )
    else:
        isa = requested
    _resolved[raw] = isa
    return isa


def bf16_dot_products(isa: str, dtype: torch.dtype, block_shape) -> bool:
    """True when ``isa`` runs weights of this dtype and block shape with AVX512-BF16 dot products
    (``vdpbf16ps``): bf16 weights in 16x2 blocks on a CPU with ``avx512bf16``. That kernel rounds the
    activations to bf16 (round to nearest even) before multiplying; every other fp path keeps them fp32."""
    return (
        isa == "avx512"
        and dtype == torch.bfloat16
        and tuple(block_shape) == (16, 2)
        and cpu_features().get("avx512bf16", False)
    )


def thread_count(work: int, num_threads: Optional[int] = None) -> int:
    """Threads for ``work`` multiply-adds: torch's intra-op count (or ``num_threads``), fewer for small work."""
    threads = max(int(num_threads or torch.get_num_threads()), 1)
    if MIN_WORK_PER_THREAD > 0:
        threads = max(1, min(threads, work // MIN_WORK_PER_THREAD))
    return threads


def weight_args(values, row_ptr, col_idx, scales, bias) -> tuple:
    """The packed weight's part of the kernel's arguments: pointers into these (contiguous) tensors, which the
    caller keeps alive, plus the dtype code and block shape. ``ops.KernelPlan`` computes it once per weight."""
    return (
        ptr(values),
        _DTYPE_CODES[values.dtype],
        ptr(row_ptr),
        ptr(col_idx),
        values.shape[1],
        values.shape[2],
        ptr(scales),
        ptr(bias),
    )


def ptr(t: Optional[torch.Tensor]) -> int:
    return 0 if t is None else t.data_ptr()


def launch(
    isa: str,
    x: torch.Tensor,
    weight: tuple,
    residual: Optional[torch.Tensor],
    out: torch.Tensor,
    activation_code: int,
    threads: int,
    layer_norm: tuple = (),
) -> str:
    """The one call into the C++ kernel (``x [M, K]``, ``out``/``residual [M, N]``: contiguous fp32; ``weight``
    from ``weight_args``); returns the name of the kernel that ran. ``layer_norm`` = ``(1, gamma pointer, beta
    pointer, eps)`` (pointers 0 for none) normalises each output row after the kernel, in the same call
    (``ops.layer_norm_args`` makes it). Nothing is checked here."""
    m, k = x.shape
    return _C.spmm(
        isa,
        x.data_ptr(),
        m,
        k,
        out.shape[1],
        *weight,
        ptr(residual),
        out.data_ptr(),
        activation_code,
        threads,
        *layer_norm,
    )


def launch_layer_norm(isa: str, x: torch.Tensor, out: torch.Tensor, layer_norm: tuple, threads: int) -> None:
    """The C++ LayerNorm alone: each row of ``x [M, N]`` into ``out`` (contiguous fp32, may be ``x``), with
    ``layer_norm`` as for ``launch``. Nothing is checked here."""
    m, n = x.shape
    _C.layer_norm(isa, x.data_ptr(), out.data_ptr(), m, n, layer_norm[1], layer_norm[2], layer_norm[3], threads)


def run_kernel(
    isa: str,
    x: torch.Tensor,
    values: torch.Tensor,
    row_ptr: torch.Tensor,
    col_idx: torch.Tensor,
    scales: Optional[torch.Tensor],
    bias: Optional[torch.Tensor],
    residual: Optional[torch.Tensor],
    out: torch.Tensor,
    activation: str,
    num_threads: Optional[int] = None,
) -> str:
    """Call the C++ kernel on validated, contiguous CPU tensors; returns the name of the kernel that ran.

    ``x [M, K]`` fp32, ``out [M, N]`` fp32, ``residual [M, N]`` or None. Shapes/dtypes must already be
    checked (see ``ops.block_sparse_linear``); this function only passes pointers.
    """
    if _C is None:
        raise RuntimeError(f"optimum_ro.sparse._C is not built ({_IMPORT_ERROR})")
    threads = thread_count(x.shape[0] * values.numel(), num_threads)
    return launch(
        isa, x, weight_args(values, row_ptr, col_idx, scales, bias), residual, out, _ACTIVATIONS[activation], threads
    )


TUNING_FIELDS = (
    "fp_tile_rows",
    "fp_l1_x_bytes",
    "fp_group_bytes",
    "fp_block_rows",
    "i8_group_tiles",
    "i8_store_rows",
    "i8_chains",
)
_tuning_overrides = dict.fromkeys(TUNING_FIELDS, 0)


def kernel_tuning() -> dict[str, int]:
    """The cache blocking the AVX2/AVX-512 kernels use now, resolved for this CPU, and the cache sizes the
    automatic values come from (``l1d_bytes``, ``l2_bytes``). ``fp_tile_rows`` / ``i8_group_tiles`` 0 = the
    ISA's maximum (rows of X per fp register tile: 16 on AVX-512, 6 on AVX2 (5 for 16x2 blocks); int8 vectors
    per token group: 4 of 16 tokens on AVX-512, 4 of 8 on AVX2). ``i8_store_rows`` 0 = the ISA's default (output
    rows per transposed int8 store of Y: 64 on AVX2, 16 on AVX-512; at most 1024). ``i8_chains`` 0 = the ISA's
    default (int8 accumulator sets per output row, each block into one of them: 1 on AVX2, 3 on AVX-512; at
    most 3)."""
    if _C is None:
        raise RuntimeError("kernel_tuning needs the compiled kernels")
    return dict(_C.get_tuning())


def set_kernel_tuning(**overrides: Optional[int]) -> None:
    """Override the kernels' cache blocking (``None`` or 0 = automatic, from this CPU's cache sizes):
    ``fp_tile_rows``, ``fp_l1_x_bytes``, ``fp_group_bytes``, ``fp_block_rows``, ``i8_group_tiles``,
    ``i8_store_rows``, ``i8_chains``. Only speed changes: every fp output element sums the same products in the
    same order whatever the blocking, and int8 sums are integers, exact in any order. Process-wide."""
    if _C is None:
        raise RuntimeError("set_kernel_tuning needs the compiled kernels")
    unknown = sorted(set(overrides) - set(TUNING_FIELDS))
    if unknown:
        raise ValueError(f"unknown tuning field(s) {', '.join(unknown)}; known: {', '.join(TUNING_FIELDS)}")
    for name, value in overrides.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ValueError(f"{name} must be a non-negative int (0 or None = automatic); got {value!r}")
    _tuning_overrides.update({name: int(value or 0) for name, value in overrides.items()})
    _C.set_tuning(*(_tuning_overrides[name] for name in TUNING_FIELDS))


@contextlib.contextmanager
def tuned(**overrides: Optional[int]) -> Iterator[dict[str, int]]:
    """``set_kernel_tuning(**overrides)`` inside the block, the previous overrides after it."""
    before = dict(_tuning_overrides)
    set_kernel_tuning(**overrides)
    try:
        yield kernel_tuning()
    finally:
        set_kernel_tuning(**before)


def peak_throughput(isa: str, kind: str = "fp32", iters: int = 20_000_000) -> float:
    """One-core peak of ``isa`` from a register-only loop: fp32 FMA GFLOP/s or int8 dot-product GOP/s."""
    if _C is None:
        raise RuntimeError("peak_throughput needs the compiled kernels")
    return float(_C.peak(isa, 0 if kind == "fp32" else 1, int(iters)))
