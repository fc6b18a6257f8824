"""Turn model outputs into task scores (``compute_metrics`` for ``Trainer``).

trainer = Trainer(..., compute_metrics=metrics_fn("ner"))
"""

from __future__ import annotations

import numpy as np

from ..metrics.tasks import task_scores
from .preprocessing import IGNORE_INDEX
from .specs import REGRESSION, TOKEN, get_task


def decode_predictions(task, logits, labels):
    """(predictions, references) in the form ``task_scores`` takes, from logits and label ids."""
    spec = get_task(task)
    logits = logits[0] if isinstance(logits, tuple) else logits
    logits, labels = np.asarray(logits), np.asarray(labels)
    if spec.kind == REGRESSION:
        return logits.reshape(-1).astype(np.float64).tolist(), labels.reshape(-1).astype(np.float64).tolist()
    ids = logits.argmax(-1)
    names = spec.labels
    if spec.kind == TOKEN:
        preds, refs = [], []
        for p_row, l_row in zip(ids, labels):
            keep = l_row != IGNORE_INDEX
            preds.append([names[i] for i in p_row[keep]])
            refs.append([names[i] for i in l_row[keep]])
        return preds, refs
    return [names[i] for i in ids], [names[i] for i in labels]


def scores_from_label_ids(task, predictions, references) -> dict:
    """``task_scores`` of label ids (rows of ids for token tasks, already without ignored positions;
    scores for regression), e.g. a teacher ensemble's argmax."""
    spec = get_task(task)
    if spec.kind == REGRESSION:
        return task_scores(spec.name, [float(p) for p in predictions], [float(r) for r in references])
    names = spec.labels
    if spec.kind == TOKEN:
        return task_scores(
            spec.name,
            [[names[i] for i in row] for row in predictions],
            [[names[i] for i in row] for row in references],
        )
    return task_scores(spec.name, [names[i] for i in predictions], [names[i] for i in references])


def metrics_fn(task):
    """A ``compute_metrics`` callable for ``transformers.Trainer``."""
    spec = get_task(task)

    def compute_metrics(eval_pred):
        preds, refs = decode_predictions(spec, eval_pred.predictions, eval_pred.label_ids)
        return task_scores(spec.name, preds, refs)

    return compute_metrics
