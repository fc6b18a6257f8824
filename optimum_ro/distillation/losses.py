"""Distillation losses as pure functions of tensors.

Every loss returns a *sum over the valid items divided by* ``normalize_by``
(default: the number of valid items, i.e. a plain mean). Passing the item count
of the whole accumulated batch makes gradient accumulation exact::

    from optimum_ro.distillation.losses import soft_target_loss, teacher_probabilities
    p_t = teacher_probabilities(teacher_logits, temperature=2.0)
    loss = soft_target_loss(student_logits, p_t, temperature=2.0, mask=labels.ne(-100))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _reduce(per_item: torch.Tensor, mask: torch.Tensor | None, normalize_by) -> torch.Tensor:
    """Sum ``per_item`` over the positions where ``mask`` is true, divided by ``normalize_by``."""
    if mask is not None:
        if mask.shape != per_item.shape:
            raise ValueError(
                f"mask shape {tuple(mask.shape)} does not match the per-item loss shape {tuple(per_item.shape)}"
            )
        mask = mask.to(per_item.dtype)
        total, count = (per_item * mask).sum(), mask.sum()
    else:
        total, count = per_item.sum(), per_item.new_tensor(float(per_item.numel()))
    denominator = count if normalize_by is None else normalize_by
    if torch.is_tensor(denominator):
        denominator = denominator.to(per_item.device, per_item.dtype)
    return total / (denominator.clamp_min(1) if torch.is_tensor(denominator) else max(float(denominator), 1.0))


def teacher_probabilities(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """softmax(logits / T) over the last dimension."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return torch.softmax(logits.float() / temperature, dim=-1)


def ensemble_probabilities(probabilities: list[torch.Tensor], weights: list[float] | None = None) -> torch.Tensor:
    """Weighted mean of teacher probability tensors (weights are normalised to sum to 1).

    ensemble_probabilities([p_a, p_b], [0.5, 0.5]) == (p_a + p_b) / 2
    """
    if not probabilities:
        raise ValueError("ensemble_probabilities needs at least one teacher probability tensor")
    weights = [1.0] * len(probabilities) if weights is None else list(weights)
    if len(weights) != len(probabilities):
        raise ValueError(
            f"got {len(weights)} teacher weights for {len(probabilities)} teachers; give one weight per teacher"
        )
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"teacher weights must be non-negative and not all zero, got {weights}")
    shapes = {tuple(p.shape) for p in probabilities}
    if len(shapes) != 1:
        raise ValueError(
            f"teacher probabilities have different shapes {sorted(shapes)}; align them first (alignment.py)"
        )
    total = float(sum(weights))
    return sum(p * (w / total) for p, w in zip(probabilities, weights))


def soft_target_loss(student_logits, teacher_probs, temperature: float = 1.0, mask=None, normalize_by=None):
    """KL(p_teacher || softmax(student_logits / T)) * T**2, per position, reduced over ``mask``.

    ``teacher_probs`` are probabilities already at temperature T (see :func:`teacher_probabilities`).
    The T**2 factor keeps gradient magnitudes comparable across temperatures (Hinton et al. 2015).
    """
    if student_logits.shape != teacher_probs.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher probabilities {tuple(teacher_probs.shape)} "
            "differ in shape; teachers and student must share the label space (align tokens first)"
        )
    log_p_s = F.log_softmax(student_logits.float() / temperature, dim=-1)
    p_t = teacher_probs.float()
    kl = (torch.xlogy(p_t, p_t) - p_t * log_p_s).sum(-1)
    return _reduce(kl, mask, normalize_by) * temperature**2


def cross_entropy_loss(logits, labels, ignore_index: int = -100, normalize_by=None):
    """Hard-label cross-entropy (task labels or MLM labels), ignoring ``ignore_index`` positions."""
    num_classes = logits.shape[-1]
    flat_labels = labels.reshape(-1)
    valid = flat_labels.ne(ignore_index)
    per_item = F.cross_entropy(
        logits.reshape(-1, num_classes).float(), flat_labels.masked_fill(~valid, 0), reduction="none"
    )
    return _reduce(per_item, valid, normalize_by)


def mlm_loss(logits, labels, ignore_index: int = -100, normalize_by=None):
    """Masked-LM cross-entropy over the masked positions (labels != ``ignore_index``)."""
    return cross_entropy_loss(logits, labels, ignore_index, normalize_by)


def cosine_hidden_loss(student_hidden, teacher_hidden, mask=None, normalize_by=None):
    """1 - cos(student, teacher) per position (DistilBERT's cosine loss), reduced over ``mask``.

    Hidden sizes must match: project the student first when they differ.
    """
    if student_hidden.shape != teacher_hidden.shape:
        raise ValueError(
            f"student hidden states {tuple(student_hidden.shape)} and teacher hidden states "
            f"{tuple(teacher_hidden.shape)} differ; project the student (hidden_size) or align words first"
        )
    per_item = 1.0 - F.cosine_similarity(student_hidden.float(), teacher_hidden.float(), dim=-1, eps=1e-8)
    return _reduce(per_item, mask, normalize_by)


def mse_loss(student_pred, teacher_pred, mask=None, normalize_by=None):
    """Squared error between student and teacher predictions (regression soft targets, e.g. STS)."""
    student_pred, teacher_pred = student_pred.float().reshape(-1), teacher_pred.float().reshape(-1)
    if student_pred.shape != teacher_pred.shape:
        raise ValueError(
            f"student ({student_pred.numel()}) and teacher ({teacher_pred.numel()}) predictions differ in size"
        )
    return _reduce((student_pred - teacher_pred) ** 2, None if mask is None else mask.reshape(-1), normalize_by)
