"""Probability loyalty: 1 - sqrt(Jensen-Shannon divergence, log base 2) between teacher and student.

import evaluate
metric = evaluate.load("optimum_ro/metrics/loyalty/probability_loyalty")
metric.compute(predictions=[[0.9, 0.1]], references=[[0.9, 0.1]])   # {'probability_loyalty': 1.0}
"""

import datasets
import evaluate

try:
    from optimum_ro.metrics.loyalty import probability_loyalty
except ImportError as err:  # evaluate loads this file as a copy, outside the package
    raise ImportError("the probability_loyalty module wraps optimum_ro: `pip install optimum-ro` first") from err

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
