"""Probability loyalty: 1 - sqrt(Jensen-Shannon divergence, log base 2) between teacher and student.

import evaluate
metric = evaluate.load("optimum_ro/metrics/loyalty/probability_loyalty")
metric.compute(predictions=[[0.9, 0.1]], references=[[0.9, 0.1]])   # {'probability_loyalty': 1.0}
"""

import datasets
import evaluate
import numpy as np
from scipy.special import rel_entr

# Self-contained (numpy and scipy only), so the module runs where optimum-ro is not installed, e.g. as a Hub
# Space; the tests check it against optimum_ro.metrics.loyalty.probability_loyalty.


def _rows(p, name: str) -> np.ndarray:
    if (
        isinstance(p, (list, tuple))
        and p
        and isinstance(p[0], (list, tuple))
        and p[0]
        and isinstance(p[0][0], (list, tuple))
    ):
        p = [row for seq in p for row in seq]  # tagging: sentences of token distributions
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim < 1 or arr.size == 0:
        raise ValueError(f"{name} is empty; pass probability distributions over the labels (last axis)")
    arr = arr.reshape(-1, arr.shape[-1])
    if (arr < -1e-3).any() or not np.allclose(arr.sum(-1), 1.0, atol=1e-3):
        raise ValueError(f"{name} rows must be probability distributions (non-negative, summing to 1)")
    return np.clip(arr, 0.0, None)


def probability_loyalty(p_teacher, p_student, mask=None) -> float:
    pt, ps = _rows(p_teacher, "references"), _rows(p_student, "predictions")
    if pt.shape != ps.shape:
        raise ValueError(f"teacher distributions {pt.shape} and student distributions {ps.shape} differ in shape")
    m = 0.5 * (pt + ps)
    jsd = 0.5 * (rel_entr(pt, m).sum(-1) + rel_entr(ps, m).sum(-1)) / np.log(2.0)  # JSD with log base 2
    loyalty = 1.0 - np.sqrt(np.clip(jsd, 0.0, 1.0))
    if mask is not None:
        keep = (
            np.asarray(mask, dtype=bool).reshape(-1)
            if not isinstance(mask[0], (list, tuple))
            else np.asarray([k for seq in mask for k in seq], dtype=bool)
        )
        if keep.shape[0] != loyalty.shape[0]:
            raise ValueError(f"mask has {keep.shape[0]} entries for {loyalty.shape[0]} distributions")
        if not keep.any():
            raise ValueError("mask drops every row; nothing to compare")
        loyalty = loyalty[keep]
    return float(loyalty.mean())


_DESCRIPTION = "Mean over examples (tokens for tagging) of 1 - sqrt(JSD_2(p_teacher || p_student))."
_KWARGS_DESCRIPTION = """
Args:
    predictions: student probability distributions, one per example, or a list of per-token distributions per sentence.
    references: teacher probability distributions, same layout.
    mask: optional, one truthy/falsy flag per distribution (tokens to keep).
Returns:
    probability_loyalty: in [0, 1]; 1 for identical distributions, 0 for disjoint supports.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ProbabilityLoyalty(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Sequence(datasets.Value("float64")),
                        "references": datasets.Sequence(datasets.Value("float64")),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
                        "references": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
                    }
                ),
            ],
        )

    def _compute(self, predictions, references, mask=None):
        return {"probability_loyalty": probability_loyalty(references, predictions, mask=mask)}
