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


HEAD_PREFIXES = (
    "classifier.",
    "pooler.",
    "bert.pooler.",
    "roberta.pooler.",
    "pre_classifier.",
    "intent_classifier.",
    "slot_classifier.",
)


def is_head_parameter(name: str) -> bool:
    """True for the task head and pooler (``classifier.*``, ``*.pooler.*``), also inside a wrapper
    (``student.classifier.weight``): the parts a task model adds on top of a pretrained encoder."""
    return name.startswith(HEAD_PREFIXES) or ".pooler." in name or ".classifier." in name or ".pre_classifier." in name


def head_param_groups(model, learning_rate: float, head_learning_rate: float, weight_decay: float) -> list[dict]:
    """AdamW parameter groups: the head at ``head_learning_rate``, the rest at ``learning_rate``; no weight
    decay on biases and LayerNorms. A fresh head at the encoder's small rate barely moves in a few hundred
    CPU steps (NER stayed all-"O"); its own rate fixes that without disturbing the encoder."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_decay = lambda n: n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n  # noqa: E731
    groups = []
    for head in (False, True):
        for nd in (False, True):
            chosen = [p for n, p in params if is_head_parameter(n) == head and no_decay(n) == nd]
            if chosen:
                groups.append(
                    {
                        "params": chosen,
                        "weight_decay": 0.0 if nd else weight_decay,
                        "lr": head_learning_rate if head else learning_rate,
                    }
                )
    return groups


def copy_task_head(student, teacher) -> list[str]:
    """Copy the teacher's task head and pooler into ``student`` wherever names and shapes match
    (DistilBERT-style initialisation from the teacher); returns the names copied."""
    import torch

    source = teacher.state_dict()
    copied = []
    with torch.no_grad():
        for name, param in student.named_parameters():
            if is_head_parameter(name) and name in source and source[name].shape == param.shape:
                param.copy_(source[name])
                copied.append(name)
    return copied
