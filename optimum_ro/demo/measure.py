"""Score, loyalty, size and latency of one model on the demo's dev rows.

Every model is scored on the same raw dev rows, each through its own tokenizer (the student's vocabulary is
trimmed, so its token ids differ from the teacher's). Predictions are kept per *unit*: one per example for
sentence tasks, one per labelled word (its first sub-token) for tagging tasks, so two models' predictions line
up unit by unit whatever their tokenizers.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass
class Predictions:
    """``logits``: ``[units, labels]`` (``[units]`` for regression); ``labels``: gold ids or scores per unit;
    ``row_lengths``: units per dev row (all 1 for sentence tasks)."""

    logits: np.ndarray
    labels: np.ndarray
    row_lengths: list[int]

    def probabilities(self) -> np.ndarray:
        return torch.softmax(torch.from_numpy(self.logits).double(), -1).numpy()

    def label_ids(self) -> np.ndarray:
        return self.logits.argmax(-1)

    def save(self, path: Path) -> None:
        np.savez(path, logits=self.logits, labels=self.labels, row_lengths=np.asarray(self.row_lengths))

    @classmethod
    def load(cls, path: Path) -> Predictions:
        with np.load(path) as f:
            return cls(f["logits"], f["labels"], f["row_lengths"].tolist())


def auto_class(task):
    """The ``AutoModelFor*`` class of a task's head."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    from ..tasks.specs import TOKEN, get_task

    return AutoModelForTokenClassification if get_task(task).kind == TOKEN else AutoModelForSequenceClassification


def encode_rows(raw_rows, tokenizer, task, max_length: int):
    """The dev rows tokenized for ``task`` (a ``datasets.Dataset`` with ``labels``)."""
    from datasets import DatasetDict

    from ..tasks import preprocess_task

    return preprocess_task(DatasetDict({"validation": raw_rows}), tokenizer, task, max_length=max_length)["validation"]


@torch.no_grad()
def predict(model, tokenizer, encoded, task, batch_size: int = 32) -> Predictions:
    """Run ``model`` over the tokenized rows; returns per-unit logits."""
    from ..tasks.specs import TOKEN, get_task

    token_task = get_task(task).kind == TOKEN
    model.eval()
    logits, labels, lengths = [], [], []
    columns = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in encoded.column_names]
    for start in range(0, len(encoded), batch_size):
        batch = encoded[start : start + batch_size]
        inputs = tokenizer.pad({c: batch[c] for c in columns}, return_tensors="pt")
        out = model(**inputs).logits.float()
        if token_task:
            for row_logits, row_labels in zip(out, batch["labels"]):
                gold = torch.tensor(row_labels)
                keep = gold != -100
                logits.append(row_logits[: len(row_labels)][keep].numpy())
                labels.append(gold[keep].numpy())
                lengths.append(int(keep.sum()))
        else:
            logits.append(out.squeeze(-1).numpy() if out.shape[-1] == 1 else out.numpy())
            labels.append(np.asarray(batch["labels"]))
            lengths.extend([1] * out.shape[0])
    return Predictions(np.concatenate(logits), np.concatenate(labels), lengths)


def score(task, preds: Predictions) -> dict:
    """The task's scores (``task_scores``) of these predictions against the gold labels."""
    from ..tasks.evaluation import scores_from_label_ids
    from ..tasks.specs import REGRESSION, TOKEN, get_task

    spec = get_task(task)
    if spec.kind == REGRESSION:
        return scores_from_label_ids(spec, preds.logits.tolist(), preds.labels.tolist())
    ids = preds.label_ids()
    if spec.kind == TOKEN:
        bounds = np.cumsum([0, *preds.row_lengths])
        rows = [ids[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:])]
        gold = [preds.labels[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:])]
        return scores_from_label_ids(spec, rows, gold)
    return scores_from_label_ids(spec, ids.tolist(), preds.labels.tolist())


def loyalty(task, student: Predictions, teacher: Predictions) -> dict:
    """Label and probability loyalty (classification) or regression loyalty (STS) of ``student`` to ``teacher``."""
    from ..metrics.loyalty import label_loyalty, probability_loyalty, regression_loyalty
    from ..tasks.specs import REGRESSION, get_task

    spec = get_task(task)
    if student.logits.shape[0] != teacher.logits.shape[0]:
        raise ValueError(f"{student.logits.shape[0]} student units for {teacher.logits.shape[0]} teacher units")
    if spec.kind == REGRESSION:
        return regression_loyalty(student.logits, teacher.logits, score_range=spec.score_range)
    return {
        "label_loyalty": label_loyalty(student.label_ids().tolist(), teacher.label_ids().tolist()),
        "probability_loyalty": probability_loyalty(teacher.probabilities(), student.probabilities()),
    }


def parameter_counts(model) -> dict:
    """``parameters``: every stored number of the dense equivalent; ``nonzero``: those that are not pruned zeros
    (a sparse layer's stored blocks are counted through its dense weight)."""
    from ..models import is_sparse_bert, to_dense_model

    dense = to_dense_model(model) if is_sparse_bert(model) else model
    seen, total, nonzero = set(), 0, 0
    for p in dense.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        nonzero += int(torch.count_nonzero(p))
    return {"parameters": total, "nonzero_parameters": nonzero}


@torch.no_grad()
def latencies(models: dict, texts: list[str], seq: int, rounds: int, batch_sizes=(1, 32)) -> dict:
    """Median milliseconds per forward of each ``{name: (model, tokenizer)}`` at each batch size, on real texts
    padded or cut to ``seq`` tokens. Models are interleaved round by round, so drift hits them alike."""
    inputs = {}
    for name, (model, tokenizer) in models.items():
        model.eval()
        for b in batch_sizes:
            rows = (texts * (b // max(len(texts), 1) + 1))[:b]
            enc = tokenizer(rows, padding="max_length", truncation=True, max_length=seq, return_tensors="pt")
            inputs[name, b] = dict(enc)
            model(**inputs[name, b])  # warm-up: first-call allocations, kernel selection
    times: dict = {key: [] for key in inputs}
    for _ in range(rounds):
        for (name, b), batch in inputs.items():
            start = time.perf_counter()
            models[name][0](**batch)
            times[name, b].append(1e3 * (time.perf_counter() - start))
    return {
        name: {f"batch{b}_ms": round(statistics.median(times[name, b]), 2) for b in batch_sizes} for name in models
    }
