"""Block scores and block masks for one ``nn.Linear`` weight ``[out_features, in_features]``.

    scores = magnitude_scores(linear.weight, (16, 1))        # [out/16, in/1]: squared L2 norm of each block
    keep = select_blocks(scores, sparsity=0.8)                # bool [out/16, in/1], True = block kept
    apply_block_mask(linear.weight, keep)                     # zeroes every pruned block in place

Scores are kept per block (not per weight): the movement and snip-momentum updates are sums over a block,
so block-level accumulators give the same ranking at a fraction of the memory.
"""

from __future__ import annotations

import torch


def check_divisible(shape, block_shape, name: str = "weight") -> None:
    """Raise a clear error when ``block_shape`` does not tile a weight of ``shape``."""
    (out_f, in_f), (rows, cols) = tuple(shape), tuple(block_shape)
    if out_f % rows or in_f % cols:
        raise ValueError(
            f"Block shape {rows}x{cols} does not divide layer {name!r} with weight shape [{out_f}, {in_f}] "
            f"([out_features, in_features]): {rows} must divide {out_f} and {cols} must divide {in_f}. "
            "Choose another block_shape or exclude this layer with exclude_modules."
        )


def block_sum(tensor: torch.Tensor, block_shape) -> torch.Tensor:
    """Sum a ``[out, in]`` tensor over each ``rows x cols`` block -> ``[out/rows, in/cols]``."""
    rows, cols = block_shape
    out_f, in_f = tensor.shape
    return tensor.reshape(out_f // rows, rows, in_f // cols, cols).sum(dim=(1, 3))


def expand_block_mask(mask: torch.Tensor, block_shape) -> torch.Tensor:
    """``[out/rows, in/cols]`` block mask -> ``[out, in]`` element mask."""
    rows, cols = block_shape
    return mask.repeat_interleave(rows, dim=0).repeat_interleave(cols, dim=1)


@torch.no_grad()
def magnitude_scores(weight: torch.Tensor, block_shape) -> torch.Tensor:
    """Squared L2 norm of each block (same ranking as the L2 norm), in float32."""
    return block_sum(weight.detach().float().pow(2), block_shape)


@torch.no_grad()
def movement_update(scores: torch.Tensor, weight: torch.Tensor, grad: torch.Tensor, block_shape) -> torch.Tensor:
    """Movement pruning (Sanh et al. 2020): ``S += -sum_block(W * dL/dW)``, in place."""
    return scores.sub_(block_sum(weight.detach().float() * grad.float(), block_shape))


@torch.no_grad()
def snip_momentum_update(
    scores: torch.Tensor, weight: torch.Tensor, grad: torch.Tensor, block_shape, momentum: float = 0.9
) -> torch.Tensor:
    """SNIP with momentum (as in Neural Compressor): ``S = momentum * S + sum_block(|W * dL/dW|)``, in place."""
    return scores.mul_(momentum).add_(block_sum((weight.detach().float() * grad.float()).abs(), block_shape))


def num_pruned_blocks(num_blocks: int, sparsity: float) -> int:
    """Blocks to prune for ``sparsity`` (rounded to the nearest block)."""
    return min(num_blocks, int(round(sparsity * num_blocks)))


@torch.no_grad()
def select_blocks(scores: torch.Tensor, sparsity: float, previous: torch.Tensor | None = None) -> torch.Tensor:
    """Keep the highest-scoring ``1 - sparsity`` of the blocks; returns a bool mask shaped like ``scores``.

    Blocks pruned in ``previous`` stay pruned (masks only grow), so at least as many blocks as before are
    pruned. Ties are broken by block index (stable sort), so the result is deterministic.
    """
    flat = scores.detach().float().flatten().clone()
    n_prune = num_pruned_blocks(flat.numel(), sparsity)
    if previous is not None:
        pruned_before = ~previous.flatten()
        flat[pruned_before] = float("-inf")
        n_prune = max(n_prune, int(pruned_before.sum()))
    keep = torch.ones_like(flat, dtype=torch.bool)
    if n_prune:
        order = torch.sort(flat, stable=True).indices  # ascending: lowest scores first
        keep[order[:n_prune]] = False
    return keep.view_as(scores)


@torch.no_grad()
def apply_block_mask(weight: torch.Tensor, mask: torch.Tensor, block_shape) -> None:
    """Zero the pruned blocks of ``weight`` in place (``mask`` is the bool block mask, True = kept)."""
    rows, cols = block_shape
    out_f, in_f = weight.shape
    mask = mask.to(device=weight.device, dtype=weight.dtype)
    if weight.data.is_contiguous():
        weight.data.view(out_f // rows, rows, in_f // cols, cols).mul_(mask[:, None, :, None])
    else:
        weight.data.mul_(expand_block_mask(mask, block_shape))


@torch.no_grad()
def zero_block_mask(weight: torch.Tensor, block_shape) -> torch.Tensor:
    """Bool block mask of ``weight``'s non-zero blocks (False where a whole block is exactly zero)."""
    return block_sum((weight.detach() != 0).to(torch.int32), block_shape) > 0
