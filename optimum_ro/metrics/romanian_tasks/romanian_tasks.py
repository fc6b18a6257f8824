"""Scores of the five Romanian tasks of Avram et al. (2021) as an `evaluate` module.

Load offline with the task as configuration name::

    import evaluate
    metric = evaluate.load("optimum_ro/metrics/romanian_tasks", "ner")
    metric.compute(predictions=[["B-PER", "O"]], references=[["B-PER", "O"]])
"""

import datasets
import evaluate
import numpy as np
from scipy.stats import pearsonr, spearmanr

# Self-contained (numpy and scipy only), so the module runs where optimum-ro is not installed, e.g. as a Hub
# Space; the tests check it against optimum_ro.metrics.tasks (which uses seqeval and scikit-learn).


def _check_lengths(predictions, references, nested: bool):
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references.")
    if nested:
        for i, (p, r) in enumerate(zip(predictions, references)):
            if len(p) != len(r):
                raise ValueError(f"sentence {i}: {len(p)} predicted labels but {len(r)} reference labels.")


def strict_iob2_entities(tags) -> set:
    """``(type, start, end)`` of each well-formed entity: ``B-X`` then ``I-X``s (seqeval's strict IOB2 mode);
    an ``I-X`` that does not continue a ``B-X`` / ``I-X`` of its type starts nothing."""
    entities, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, name = tag.partition("-")
        if start is not None and not (prefix == "I" and name == kind):
            entities.add((kind, start, i - 1))
            start = None
        if prefix == "B":
            start, kind = i, name
    return entities


def _prf(gold: set, pred: set) -> dict:
    tp = len(gold & pred)
    precision = tp / len(pred) if pred else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall}


def ner_scores(predictions, references) -> dict:
    _check_lengths(predictions, references, nested=True)
    gold = {(i, *e) for i, tags in enumerate(references) for e in strict_iob2_entities(tags)}
    pred = {(i, *e) for i, tags in enumerate(predictions) for e in strict_iob2_entities(tags)}
    return _prf(gold, pred)


def pos_scores(predictions, references) -> dict:
    _check_lengths(predictions, references, nested=True)
    pairs = [(a, b) for p, r in zip(predictions, references) for a, b in zip(p, r)]
    return {"accuracy": float(np.mean([a == b for a, b in pairs])) if pairs else 0.0}


def classification_scores(predictions, references) -> dict:
    _check_lengths(predictions, references, nested=False)
    p, r = np.asarray(predictions), np.asarray(references)
    f1s = []
    for label in np.unique(np.concatenate([p, r])):  # macro F1 over every label seen, as scikit-learn
        tp = float(np.sum((p == label) & (r == label)))
        f1s.append(2 * tp / (np.sum(p == label) + np.sum(r == label)))
    return {"accuracy": float(np.mean(p == r)), "macro_f1": float(np.mean(f1s))}


def regression_scores(predictions, references) -> dict:
    _check_lengths(predictions, references, nested=False)
    p, r = np.asarray(predictions, dtype=np.float64), np.asarray(references, dtype=np.float64)
    if len(p) < 2 or np.ptp(p) == 0 or np.ptp(r) == 0:
        return {"pearson": 0.0, "spearman": 0.0}  # correlation undefined for constant input
    return {"pearson": float(pearsonr(p, r)[0]), "spearman": float(spearmanr(p, r)[0])}


SCORERS = {
    "pos": pos_scores,
    "ner": ner_scores,
    "sentiment": classification_scores,
    "sts": regression_scores,
    "dialect": classification_scores,
}


def task_scores(task: str, predictions, references) -> dict:
    if task not in SCORERS:
        raise ValueError(f"Unknown task {task!r}; choose one of {sorted(SCORERS)}.")
    return SCORERS[task](predictions, references)


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
