"""A pretrained encoder with the right head for a task.

    model = build_model("models/multilingual-e5-small", "pos")   # AutoModelForTokenClassification
"""
from __future__ import annotations

from .specs import REGRESSION, TOKEN, get_task


def build_model(name_or_path, task, **kwargs):
    """Load ``name_or_path`` with the task's head (new heads are initialised as usual).

    Token tasks get ``AutoModelForTokenClassification``; sentiment/dialect
    ``AutoModelForSequenceClassification``; STS the same with one output and
    ``problem_type="regression"``.
    """
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    spec = get_task(task)
    common = dict(num_labels=spec.num_labels, **kwargs)
    if spec.kind == REGRESSION:
        common["problem_type"] = "regression"
    else:
        common.update(id2label=spec.id2label, label2id=spec.label2id)
        if spec.kind != TOKEN:
            common["problem_type"] = "single_label_classification"
    cls = AutoModelForTokenClassification if spec.kind == TOKEN else AutoModelForSequenceClassification
    return cls.from_pretrained(name_or_path, **common)


def count_parameters(model, trainable_only: bool = False) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total
