"""Pure-torch reference of the block-sparse linear op: the test oracle and the fallback.

y = reference_block_sparse_linear(x, packed.values, packed.row_ptr, packed.col_idx,
                                  packed.scales, bias, None, packed.out_features, "gelu")
q, scale = quantize_rows(x)   # the dynamic int8 activation quantisation the kernels reproduce
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Dynamic per-row (per-token) symmetric int8 quantisation of ``x [M, K]``.

    ``amax = max|x[m]|``, ``inv = 127 / amax`` (0 for a zero row), ``q = clamp(round_half_even(x * inv), ±127)``,
    ``scale = amax / 127``. The C++ kernels compute exactly the same codes, bit for bit.
    """
    amax = x.abs().amax(dim=1)
    inv = torch.where(amax > 0, torch.full_like(amax, 127.0) / amax, torch.zeros_like(amax))
    q = torch.round(x * inv[:, None]).clamp_(-127, 127).to(torch.int8)
    return q, amax / 127.0


def bsr_to_dense(
    values: torch.Tensor, row_ptr: torch.Tensor, col_idx: torch.Tensor, out_features: int, in_features: int
) -> torch.Tensor:
    """Dense ``[out_features, in_features]`` weight in the storage dtype from BSR tensors."""
    _, br, bc = values.shape
    nrb, ncb = out_features // br, in_features // bc
    blocks = torch.zeros(nrb, ncb, br, bc, dtype=values.dtype)
    rows = torch.repeat_interleave(torch.arange(nrb), (row_ptr[1:] - row_ptr[:-1]).long())
    blocks[rows, col_idx.long()] = values
    return blocks.permute(0, 2, 1, 3).reshape(out_features, in_features)


def apply_epilogue(
    y: torch.Tensor, bias: Optional[torch.Tensor], residual: Optional[torch.Tensor], activation: str
) -> torch.Tensor:
    """``act(y + bias) + residual`` in that order (GELU is BERT's exact erf form)."""
    if bias is not None:
        y = y + bias
    if activation == "gelu":
        y = F.gelu(y)
    if residual is not None:
        y = y + residual
    return y


def reference_block_sparse_linear(
    x: torch.Tensor,
    values: torch.Tensor,
    row_ptr: torch.Tensor,
    col_idx: torch.Tensor,
    scales: Optional[torch.Tensor],
    bias: Optional[torch.Tensor],
    residual: Optional[torch.Tensor],
    out_features: int,
    activation: str = "none",
) -> torch.Tensor:
    """``act(x @ W.T + bias) + residual`` for ``x [M, K]`` fp32 and a BSR weight of any block shape.

    int8 weights: x is quantised per row (``quantize_rows``), the integer products are summed
    exactly (float64 holds every int32 sum exactly), then scaled by ``scale_x[m] * scale_w[n]``.
    """
    dense = bsr_to_dense(values, row_ptr, col_idx, out_features, x.shape[1])
    if values.dtype == torch.int8:
        q, sx = quantize_rows(x)
        acc = q.double() @ dense.double().T
        y = acc.float() * (sx[:, None] * scales[None, :])
    else:
        y = x @ dense.float().T
    return apply_epilogue(y, bias, residual, activation)
