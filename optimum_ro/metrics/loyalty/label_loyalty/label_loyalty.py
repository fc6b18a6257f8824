"""Label loyalty: how often the student predicts the teacher's label (token level for tagging).

import evaluate
metric = evaluate.load("optimum_ro/metrics/loyalty/label_loyalty")
metric.compute(predictions=[1, 0, 2], references=[1, 1, 2])   # {'label_loyalty': 0.666...}
"""

import datasets
import evaluate

try:
    from optimum_ro.metrics.loyalty import label_loyalty
except ImportError as err:  # evaluate loads this file as a copy, outside the package
    raise ImportError("the label_loyalty module wraps optimum_ro: `pip install optimum-ro` first") from err

_DESCRIPTION = "Agreement of student and teacher predicted labels; positions where either is ignore_index are skipped."
_KWARGS_DESCRIPTION = """
Args:
    predictions: student label ids, one per example or a list per sentence (tagging).
    references: teacher label ids, same layout.
    ignore_index: label id to skip (default -100, e.g. non-first sub-tokens).
Returns:
    label_loyalty: mean over compared positions of 1[student == teacher], in [0, 1].
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LabelLoyalty(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Sequence(datasets.Value("int64")),
                        "references": datasets.Sequence(datasets.Value("int64")),
                    }
                ),
                datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
            ],
        )

    def _compute(self, predictions, references, ignore_index=-100):
        return {"label_loyalty": label_loyalty(predictions, references, ignore_index=ignore_index)}
