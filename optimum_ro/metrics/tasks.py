"""Task scores of the five Romanian tasks, computed with well-kept libraries.

    task_scores("ner", predictions=[["B-PERSON", "I-PERSON", "O"]], references=[["B-PERSON", "I-PERSON", "O"]])
    # {'f1': 1.0, 'precision': 1.0, 'recall': 1.0}

* pos: word-level accuracy.
* ner: entity-level precision/recall/F1 with seqeval, strict matching, IOB2 scheme.
* sentiment: accuracy and macro-F1 (scikit-learn).
* sts: Pearson and Spearman correlation (SciPy).
* dialect: macro-F1 and accuracy (scikit-learn).
Token-task inputs are lists of label-name sequences, one per sentence.
"""

from __future__ import annotations

import numpy as np


def _flatten(seqs):
    return [x for seq in seqs for x in seq]


def _check_lengths(predictions, references, nested: bool):
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references.")
    if nested:
        for i, (p, r) in enumerate(zip(predictions, references)):
            if len(p) != len(r):
                raise ValueError(f"sentence {i}: {len(p)} predicted labels but {len(r)} reference labels.")


def pos_scores(predictions, references) -> dict:
    _check_lengths(predictions, references, nested=True)
    p, r = _flatten(predictions), _flatten(references)
    return {"accuracy": float(np.mean([a == b for a, b in zip(p, r)])) if r else 0.0}


def ner_scores(predictions, references) -> dict:
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    _check_lengths(predictions, references, nested=True)
    kw = dict(mode="strict", scheme=IOB2, zero_division=0)
    return {
        "f1": float(f1_score(references, predictions, **kw)),
        "precision": float(precision_score(references, predictions, **kw)),
        "recall": float(recall_score(references, predictions, **kw)),
    }


def classification_scores(predictions, references) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    _check_lengths(predictions, references, nested=False)
    return {
        "accuracy": float(accuracy_score(references, predictions)),
        "macro_f1": float(f1_score(references, predictions, average="macro", zero_division=0)),
    }


def regression_scores(predictions, references) -> dict:
    from scipy.stats import pearsonr, spearmanr

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
    """Scores of ``task`` (one of pos, ner, sentiment, sts, dialect)."""
    try:
        scorer = SCORERS[task]
    except KeyError:
        raise ValueError(f"Unknown task {task!r}; choose one of {sorted(SCORERS)}.") from None
    return scorer(predictions, references)
