"""Sparsity schedules: how much is pruned at optimizer step ``t``.

    cubic_sparsity(50, start_step=0, end_step=100, final_sparsity=0.8)     # 0.7 (= 0.8 * (1 - 0.5**3))
    scheduled_sparsity(config, step=50, end_step=100)                      # same, from a BlockPruningConfig
    is_pruning_step(config, step=50, end_step=100)                         # True when masks are recomputed

Cubic (Zhu & Gupta 2017; nn_pruning, SparseML): ``s(t) = s_f + (s_i - s_f) * (1 - (t - t0) / (T - t0))**3``.
Neural Compressor's "cubic" is the opposite curve (slow first); we do not implement it under that name.
"""

from __future__ import annotations


def _progress(step: int, start_step: int, end_step: int) -> float:
    """(t - t0) / (T - t0) clamped to [0, 1]; a zero-length window counts as finished."""
    if step < start_step:
        return 0.0
    if step >= end_step:
        return 1.0
    return (step - start_step) / (end_step - start_step)


def cubic_sparsity(
    step: int, start_step: int, end_step: int, final_sparsity: float, initial_sparsity: float = 0.0
) -> float:
    """``s_f + (s_i - s_f) * (1 - p)**3`` with ``p = (t - t0) / (T - t0)`` clamped to [0, 1]."""
    p = _progress(step, start_step, end_step)
    return final_sparsity + (initial_sparsity - final_sparsity) * (1.0 - p) ** 3


def linear_sparsity(
    step: int, start_step: int, end_step: int, final_sparsity: float, initial_sparsity: float = 0.0
) -> float:
    """``s_i + (s_f - s_i) * p`` with ``p = (t - t0) / (T - t0)`` clamped to [0, 1]."""
    p = _progress(step, start_step, end_step)
    return initial_sparsity + (final_sparsity - initial_sparsity) * p


def scheduled_sparsity(config, step: int, end_step: int | None = None, final_sparsity: float | None = None) -> float:
    """The schedule's sparsity at ``step`` (0 before ``start_step``; ``final_sparsity`` defaults to the target).

    ``end_step`` overrides ``config.end_step`` (the pruner resolves ``None`` from the run's length).
    """
    final = config.target_sparsity if final_sparsity is None else final_sparsity
    if step < config.start_step:
        return 0.0
    if config.schedule == "oneshot":
        return final
    end = config.end_step if end_step is None else end_step
    if end is None:
        raise ValueError("end_step is unknown: set BlockPruningConfig.end_step or pass end_step.")
    initial = min(config.initial_sparsity, final)
    fn = cubic_sparsity if config.schedule == "cubic" else linear_sparsity
    return fn(step, config.start_step, end, final, initial)


def is_pruning_step(config, step: int, end_step: int | None = None) -> bool:
    """Whether masks are recomputed at ``step``: every ``pruning_frequency`` steps from ``start_step`` up to
    and including ``end_step`` (only ``start_step`` for the one-shot schedule)."""
    if config.schedule == "oneshot":
        return step == config.start_step
    end = config.end_step if end_step is None else end_step
    if step < config.start_step or step > end:
        return False
    return step == end or (step - config.start_step) % config.pruning_frequency == 0
