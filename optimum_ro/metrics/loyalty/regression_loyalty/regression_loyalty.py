"""Regression loyalty (STS): 1 - mean|y_student - y_teacher| / score range, with Pearson r of the two.

import evaluate
metric = evaluate.load("optimum_ro/metrics/loyalty/regression_loyalty")
metric.compute(predictions=[1.0, 4.0], references=[1.5, 4.0])   # {'regression_loyalty': 0.95, 'pearson': 1.0}
"""

import datasets
import evaluate
import numpy as np

# Self-contained (numpy only), so the module runs where optimum-ro is not installed, e.g. as a Hub Space; the
# tests check it against optimum_ro.metrics.loyalty.regression_loyalty.


def regression_loyalty(y_student, y_teacher, score_range=(0.0, 5.0)) -> dict:
    ys, yt = np.asarray(y_student, dtype=np.float64).reshape(-1), np.asarray(y_teacher, dtype=np.float64).reshape(-1)
    if ys.shape != yt.shape:
        raise ValueError(f"{ys.size} student scores for {yt.size} teacher scores; pass one score per example for both")
    if ys.size == 0:
        raise ValueError("no scores to compare")
    lo, hi = score_range
    if not hi > lo:
        raise ValueError(f"score_range must be (low, high) with high > low, got {score_range}")
    loyalty = 1.0 - float(np.abs(ys - yt).mean()) / (hi - lo)
    constant = ys.size < 2 or ys.std() == 0 or yt.std() == 0
    pearson = float("nan") if constant else float(np.corrcoef(ys, yt)[0, 1])
    return {"regression_loyalty": loyalty, "pearson": pearson}


_DESCRIPTION = (
    "1 - mean|y_student - y_teacher| / (high - low) of the score range, and Pearson r(y_student, y_teacher)."
)
_KWARGS_DESCRIPTION = """
Args:
    predictions: student scores, one float per example.
    references: teacher scores, one float per example.
    score_range: (low, high) of the task's scale, default (0, 5) for STS.
Returns:
    regression_loyalty: 1 for identical scores, 0 when every score is a full range apart (negative beyond).
    pearson: Pearson correlation of student and teacher scores (NaN if either is constant).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RegressionLoyalty(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
        )

    def _compute(self, predictions, references, score_range=(0.0, 5.0)):
        return regression_loyalty(predictions, references, score_range=tuple(score_range))
