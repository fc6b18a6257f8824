"""Scores of the five Romanian tasks of Avram et al. (2021) as an `evaluate` module.

Load offline with the task as configuration name::

    import evaluate
    metric = evaluate.load("optimum_ro/metrics/romanian_tasks", "ner")
    metric.compute(predictions=[["B-PER", "O"]], references=[["B-PER", "O"]])
"""

import datasets
import evaluate

try:  # inside the optimum-ro package
    from optimum_ro.metrics.tasks import task_scores
except ImportError as err:  # pragma: no cover - the module needs the package for its math
    raise ImportError("The romanian_tasks metric needs the optimum-ro package (pip install optimum-ro).") from err

_DESCRIPTION = """pos: word accuracy; ner: seqeval entity F1 (strict, IOB2); sentiment: accuracy + macro-F1;
sts: Pearson + Spearman; dialect: macro-F1 + accuracy."""
_KWARGS = """predictions/references: label-name sequences per sentence (pos, ner), labels (sentiment, dialect)
or floats (sts)."""

_FEATURES = {
    "pos": datasets.Features(
        {
            "predictions": datasets.Sequence(datasets.Value("string")),
            "references": datasets.Sequence(datasets.Value("string")),
        }
    ),
    "sentiment": datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
    "sts": datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}),
}
_FEATURES["ner"] = _FEATURES["pos"]
_FEATURES["dialect"] = _FEATURES["sentiment"]


class RomanianTasks(evaluate.Metric):
    def _info(self):
        if self.config_name not in _FEATURES:
            raise ValueError(
                f"Pass the task as configuration name, one of {sorted(_FEATURES)}; got {self.config_name!r}."
            )
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS, features=_FEATURES[self.config_name]
        )

    def _compute(self, predictions, references):
        return task_scores(self.config_name, predictions, references)
