"""Label loyalty: how often the student predicts the teacher's label (token level for tagging).

import evaluate
metric = evaluate.load("optimum_ro/metrics/loyalty/label_loyalty")
metric.compute(predictions=[1, 0, 2], references=[1, 1, 2])   # {'label_loyalty': 0.666...}
"""

import datasets
import evaluate
import numpy as np

# Self-contained (numpy only), so the module runs where optimum-ro is not installed, e.g. as a Hub Space; the
# tests check it against optimum_ro.metrics.loyalty.label_loyalty.


def _flatten(values) -> list:
    if isinstance(values, np.ndarray):
        return values.reshape(-1).tolist()
    out = []
    for v in values:
        if isinstance(v, (list, tuple, np.ndarray)):
            out.extend(_flatten(v))
        else:
            out.append(v)
    return out


def label_loyalty(student_preds, teacher_preds, ignore_index: int = -100) -> float:
    s, t = np.asarray(_flatten(student_preds)), np.asarray(_flatten(teacher_preds))
    if s.shape != t.shape:
        raise ValueError(f"{s.size} student labels for {t.size} teacher labels; pass the same layout for both")
    keep = (s != ignore_index) & (t != ignore_index)
    if not keep.any():
        raise ValueError("no positions left to compare (empty input, or every position is ignore_index)")
    return float((s[keep] == t[keep]).mean())


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
