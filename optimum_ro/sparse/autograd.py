"""The backward of ``optimum_ro::block_sparse_linear``: fine-tuning with the sparsity pattern fixed.

layer = BlockSparseLinear.from_dense(pruned_linear)   # values and bias are trainable parameters (fp32 / bf16)
layer(x).sum().backward()          # x.grad, layer.values.grad ([nnz, rows, cols]), layer.bias.grad

Gradients flow to the input, the residual, the bias and the stored blocks (never to blocks outside the pattern:
``row_ptr`` / ``col_idx`` are fixed), and for int8 weights to the per-channel ``scales`` (int8 codes cannot
require gradients). int8 layers quantise their input per token in the forward; the backward treats that rounding
as the identity (straight-through), the usual rule for quantisation-aware fine-tuning. The products run dense
(one ``[M, N] x [N, K]`` and one ``[N, M] x [M, K]`` matmul per layer): training speed is dense speed.
"""

from __future__ import annotations

import math

import torch

from .ops import block_sparse_linear_op, call_block_sparse_linear


def _block_rows(row_ptr: torch.Tensor, nnz: int) -> torch.Tensor:
    """The block row of each stored block (``output_size`` keeps the shape static under tracing)."""
    counts = (row_ptr[1:] - row_ptr[:-1]).long()
    return torch.repeat_interleave(torch.arange(counts.numel(), device=row_ptr.device), counts, output_size=nnz)


def _dense_weight(values, row_ptr, col_idx, scales, out_features, in_features) -> torch.Tensor:
    """The float32 dense weight (dequantised for int8) that the forward multiplies by."""
    nnz, br, bc = values.shape
    blocks = values.new_zeros((out_features // br, in_features // bc, br, bc), dtype=torch.float32)
    blocks[_block_rows(row_ptr, nnz), col_idx.long()] = values.float()
    weight = blocks.permute(0, 2, 1, 3).reshape(out_features, in_features)
    return weight * scales[:, None] if values.dtype == torch.int8 else weight


def _stored_blocks(dense: torch.Tensor, values, row_ptr, col_idx) -> torch.Tensor:
    """The entries of a dense ``[N, K]`` tensor at the stored blocks, as ``[nnz, rows, cols]``."""
    nnz, br, bc = values.shape
    n, k = dense.shape
    tiles = dense.reshape(n // br, br, k // bc, bc).permute(0, 2, 1, 3)
    return tiles[_block_rows(row_ptr, nnz), col_idx.long()]


def _gelu_grad(z: torch.Tensor) -> torch.Tensor:
    """d/dz of the exact (erf) GELU the kernels fuse."""
    return 0.5 * (1.0 + torch.erf(z * (1.0 / math.sqrt(2.0)))) + z * torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _setup_context(ctx, inputs, output) -> None:
    x, values, row_ptr, col_idx, scales, bias, residual, out_features, in_features, activation = inputs
    ctx.save_for_backward(x, values, row_ptr, col_idx, scales, bias)
    ctx.shape = (out_features, in_features)
    ctx.activation = activation


def _backward(ctx, grad: torch.Tensor):
    x, values, row_ptr, col_idx, scales, bias = ctx.saved_tensors
    out_features, in_features = ctx.shape
    need_x, need_values, _, _, need_scales, need_bias, need_residual = ctx.needs_input_grad[:7]
    g = grad
    if ctx.activation == "gelu":  # recompute the pre-activation rather than keep it from the forward
        z = call_block_sparse_linear(
            x, values, row_ptr, col_idx, scales, bias, None, out_features, in_features, "none"
        )
        g = grad * _gelu_grad(z)
    g2 = g.reshape(-1, out_features)
    grad_x = grad_values = grad_scales = grad_bias = None
    if need_x:
        weight = _dense_weight(values, row_ptr, col_idx, scales, out_features, in_features)
        grad_x = (g2 @ weight).reshape(x.shape)
    if need_values or need_scales:
        grad_weight = g2.T @ x.reshape(-1, in_features)  # [N, K]
        if need_values:
            grad_values = _stored_blocks(grad_weight, values, row_ptr, col_idx).to(values.dtype)
        if need_scales:  # W = codes * scales[:, None]
            codes = _dense_weight(values, row_ptr, col_idx, torch.ones_like(scales), out_features, in_features)
            grad_scales = (grad_weight * codes).sum(dim=1)
    if need_bias:
        grad_bias = g2.sum(dim=0)
    return grad_x, grad_values, None, None, grad_scales, grad_bias, grad if need_residual else None, None, None, None


block_sparse_linear_op.register_autograd(_backward, setup_context=_setup_context)
