"""Loyalty of a student to its teacher: how often and how closely it predicts what the teacher predicts.

    from optimum_ro.metrics.loyalty import label_loyalty, probability_loyalty, regression_loyalty
    label_loyalty([[1, 2, -100]], [[1, 3, -100]])          # 0.5 (token level, -100 ignored)
    probability_loyalty([[0.9, 0.1]], [[0.9, 0.1]])        # 1.0

The same three metrics are ``evaluate`` modules (one folder each, with a card
stating the formula); ``load(name)`` returns one of them, offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MODULE_NAMES = ("label_loyalty", "probability_loyalty", "regression_loyalty")


def _flatten(values) -> list:
    """Flatten arbitrarily nested lists / arrays of scalars into a flat list (keeps order)."""
    if isinstance(values, np.ndarray):
        return values.reshape(-1).tolist()
    if hasattr(values, "detach"):  # torch tensor
        return values.detach().cpu().reshape(-1).tolist()
    out = []
    for v in values:
        if isinstance(v, (list, tuple, np.ndarray)) or hasattr(v, "detach"):
            out.extend(_flatten(v))
        else:
            out.append(v)
    return out


def _structure(values) -> list:
    """Lengths of each nested level, used to report shape mismatches of ragged inputs."""
    if isinstance(values, (list, tuple)):
        return [len(values)] + (
            [_structure(v) for v in values] if values and isinstance(values[0], (list, tuple, np.ndarray)) else []
        )
    return list(np.shape(values))


def label_loyalty(student_preds, teacher_preds, ignore_index: int = -100) -> float:
    """Fraction of positions where the student predicts the teacher's label.

    Inputs are label ids: one per example (sequence tasks) or nested lists, one per token
    (tagging). Positions where either side equals ``ignore_index`` are skipped.
    """
    s, t = _flatten(student_preds), _flatten(teacher_preds)
    if len(s) != len(t) or _structure(student_preds) != _structure(teacher_preds):
        raise ValueError(
            f"student and teacher predictions differ in shape ({_structure(student_preds)} vs "
            f"{_structure(teacher_preds)}); pass one label per example, or per token for both"
        )
    s, t = np.asarray(s), np.asarray(t)
    keep = (s != ignore_index) & (t != ignore_index)
    if not keep.any():
        raise ValueError("no positions left to compare (empty input, or every position is ignore_index)")
    return float((s[keep] == t[keep]).mean())


def _as_distributions(p, name: str, atol: float = 1e-3) -> np.ndarray:
    if (
        isinstance(p, (list, tuple))
        and p
        and isinstance(p[0], (list, tuple))
        and p[0]
        and isinstance(p[0][0], (list, tuple, np.ndarray))
    ):
        p = [row for seq in p for row in seq]  # ragged tagging input: sentences of token distributions
    arr = np.asarray(p.detach().cpu() if hasattr(p, "detach") else p, dtype=np.float64)
    if arr.ndim < 1 or arr.size == 0:
        raise ValueError(f"{name} is empty; pass probability distributions over the labels (last axis)")
    arr = arr.reshape(-1, arr.shape[-1])
    if (arr < -atol).any() or not np.allclose(arr.sum(-1), 1.0, atol=atol):
        raise ValueError(
            f"{name} rows must be probability distributions "
            "(non-negative, summing to 1); apply softmax to logits first"
        )
    return np.clip(arr, 0.0, None)


def jensen_shannon_divergence(p, q) -> np.ndarray:
    """Row-wise JSD with log base 2 (so it lies in [0, 1])."""
    m = 0.5 * (p + q)

    def kl(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log2(np.where(a > 0, a, 1.0) / np.where(b > 0, b, 1.0)), 0.0)
        return terms.sum(-1)

    return np.clip(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0, 1.0)


def probability_loyalty(p_teacher, p_student, mask=None) -> float:
    """mean over rows of 1 - sqrt(JSD_2(p_teacher || p_student)).

    Rows are examples (sequence tasks) or tokens (tagging, nested per sentence); ``mask``
    (same row layout, truthy = keep) drops rows such as padding or non-first sub-tokens.
    """
    pt, ps = _as_distributions(p_teacher, "p_teacher"), _as_distributions(p_student, "p_student")
    if pt.shape != ps.shape:
        raise ValueError(f"teacher distributions {pt.shape} and student distributions {ps.shape} differ in shape")
    loyalty = 1.0 - np.sqrt(jensen_shannon_divergence(pt, ps))
    if mask is not None:
        keep = np.asarray(_flatten(mask), dtype=bool)
        if keep.shape[0] != loyalty.shape[0]:
            raise ValueError(f"mask has {keep.shape[0]} entries for {loyalty.shape[0]} distributions")
        if not keep.any():
            raise ValueError("mask drops every row; nothing to compare")
        loyalty = loyalty[keep]
    return float(loyalty.mean())


def regression_loyalty(y_student, y_teacher, score_range=(0.0, 5.0)) -> dict:
    """1 - mean|y_student - y_teacher| / (hi - lo), plus Pearson r of y_student vs y_teacher.

    Returns ``{"regression_loyalty": float, "pearson": float}``; Pearson is NaN when either
    side is constant. Scores are not clipped to the range: a student off the scale is penalised.
    """
    ys, yt = np.asarray(_flatten(y_student), dtype=np.float64), np.asarray(_flatten(y_teacher), dtype=np.float64)
    if ys.shape != yt.shape:
        raise ValueError(f"{ys.size} student scores for {yt.size} teacher scores; pass one score per example for both")
    if ys.size == 0:
        raise ValueError("no scores to compare")
    lo, hi = score_range
    if not hi > lo:
        raise ValueError(f"score_range must be (low, high) with high > low, got {score_range}")
    loyalty = 1.0 - float(np.abs(ys - yt).mean()) / (hi - lo)
    if ys.size < 2 or ys.std() == 0 or yt.std() == 0:
        pearson = float("nan")
    else:
        pearson = float(np.corrcoef(ys, yt)[0, 1])
    return {"regression_loyalty": loyalty, "pearson": pearson}


def module_path(name: str) -> str:
    """Folder of the ``evaluate`` module ``name`` (pass it to ``evaluate.load``)."""
    if name not in MODULE_NAMES:
        raise ValueError(f"unknown loyalty metric {name!r}; choose one of {', '.join(MODULE_NAMES)}")
    return str(Path(__file__).resolve().parent / name)


def load(name: str, **kwargs):
    """``evaluate.load`` of one of our loyalty modules, offline: ``load("label_loyalty").compute(...)``."""
    import evaluate

    return evaluate.load(module_path(name), **kwargs)


__all__ = [
    "label_loyalty",
    "probability_loyalty",
    "regression_loyalty",
    "jensen_shannon_divergence",
    "load",
    "module_path",
]
