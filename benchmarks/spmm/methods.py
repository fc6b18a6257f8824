"""The timed callables of one (M, K, N, threads) group: dense peers, sparse peers and our layer."""

from __future__ import annotations

import warnings
from typing import Callable

import torch
import torch.nn.functional as F

from optimum_ro.sparse.format import pack
from optimum_ro.sparse.linear import BlockSparseLinear

from .onnx_peer import ort_session

DENSE_PEERS = ["torch_fp32", "torch_bf16", "torch_int8", "ort_fp32", "ort_int8"]


SPARSE_METHODS = ["torch_csr", "torch_bsr", "ours_fp32", "ours_bf16", "ours_int8"]


# The same kernels on 16x2 blocks (same sparsity, own pattern): the block-shape comparison table.
SHAPE_METHODS = ["ours_fp32_16x2", "ours_bf16_16x2"]


# torch's CPU BSR matmul (MKL) takes square blocks only; of 2x2 .. 32x32, 8x8 was its fastest on Zen 3 (90%, M=128:
# 0.70 ms at 768x768 vs 0.71 / 0.91 for 4x4 / 16x16 and 0.84 for CSR on the 16x1 pattern; 2.7 ms at 3072x768 vs 4.1).
TORCH_BSR_BLOCK = (8, 8)


def block_mask(n: int, k: int, block: tuple[int, int], sparsity: float, gen: torch.Generator) -> torch.Tensor:
    """A mask with exactly round(sparsity * blocks) zero blocks of ``block`` shape."""
    br, bc = block
    nb = (n // br) * (k // bc)
    keep = torch.zeros(nb, dtype=torch.bool)
    keep[torch.randperm(nb, generator=gen)[: max(1, round(nb * (1 - sparsity)))]] = True
    keep = keep.reshape(n // br, 1, k // bc, 1).expand(-1, br, -1, bc)
    return keep.reshape(n, k)


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
            s32 = ort_session(dense, bias, threads, False, tmpdir)
            s8 = ort_session(dense, bias, threads, True, tmpdir)
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
