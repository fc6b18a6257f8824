"""Build a smaller student from a teacher, DistilBERT-style: same architecture and widths,
fewer layers, weights copied from the teacher (embeddings, a subset of layers, heads).

    from optimum_ro.distillation import make_student
    student = make_student(teacher, num_layers=6)          # layers 0, 2, 4, 7, 9, 11 of a 12-layer teacher
    student = make_student(teacher, layers=[0, 5, 11])     # or pick them
"""

from __future__ import annotations

import copy

from torch import nn

from ..tasks.modeling import count_parameters  # noqa: F401  (re-exported)


def default_layers(num_teacher_layers: int, num_layers: int) -> list[int]:
    """Evenly spaced teacher layers, first and last included (12 -> 6 gives DistilBERT's 0, 2, 4, 7, 9, 11)."""
    if not 1 <= num_layers <= num_teacher_layers:
        raise ValueError(
            f"num_layers must be between 1 and the teacher's {num_teacher_layers} layers, got {num_layers}"
        )
    if num_layers == 1:
        return [num_teacher_layers - 1]
    step = (num_teacher_layers - 1) / (num_layers - 1)
    return [int(i * step + 0.5) for i in range(num_layers)]


def find_layer_list(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The ``ModuleList`` holding the transformer blocks (``bert.encoder.layer``, ``distilbert.transformer.layer``)."""
    n = model.config.num_hidden_layers
    candidates = [
        (name, mod)
        for name, mod in model.named_modules()
        if isinstance(mod, nn.ModuleList) and len(mod) == n and name.split(".")[-1] in ("layer", "layers")
    ]
    if len(candidates) != 1:
        raise ValueError(
            f"could not find exactly one list of {n} transformer layers in {type(model).__name__} "
            f"(found {[c[0] for c in candidates]}); make_student supports BERT-family encoders"
        )
    return candidates[0]


def make_student(teacher, num_layers: int = 6, layers: list[int] | None = None):
    """Return a new model of the teacher's class with ``len(layers)`` layers initialised from the teacher.

    Embeddings, the chosen encoder layers (in the given order), pooler and heads (MLM or task head)
    are copied; ``config.num_hidden_layers`` shrinks, everything else (sizes, labels, vocabulary)
    stays, so the teacher's tokenizer works unchanged. Optional parts follow the teacher (e.g. a
    ``BertModel`` loaded with ``add_pooling_layer=False`` gives a student without pooler). The teacher
    is not modified; the student is trainable.
    """
    prefix, teacher_layers = find_layer_list(teacher)
    n_teacher = len(teacher_layers)
    if layers is None:
        layers = default_layers(n_teacher, num_layers)
    layers = [int(i) for i in layers]
    if not layers or any(not 0 <= i < n_teacher for i in layers):
        raise ValueError(f"layers must be a non-empty list of teacher layer indices in [0, {n_teacher}), got {layers}")

    # Copy the teacher without its layer list (so optional parts such as a missing pooler stay as they are),
    # then give the copy deep copies of the chosen layers.
    parent_name, _, attr = prefix.rpartition(".")
    parent = teacher.get_submodule(parent_name) if parent_name else teacher
    setattr(parent, attr, nn.ModuleList())
    try:
        student = copy.deepcopy(teacher)
    finally:
        setattr(parent, attr, teacher_layers)
    new_layers = nn.ModuleList([copy.deepcopy(teacher_layers[i]) for i in layers])
    for j, layer in enumerate(new_layers):
        for module in layer.modules():
            if isinstance(getattr(module, "layer_idx", None), int):
                module.layer_idx = j
    setattr(student.get_submodule(parent_name) if parent_name else student, attr, new_layers)
    config = student.config
    for name in ("layer_types",):  # per-layer lists some configs carry
        if isinstance(getattr(config, name, None), list):
            setattr(config, name, [getattr(teacher.config, name)[i] for i in layers])
    config.num_hidden_layers = len(layers)
    if hasattr(student, "tie_weights"):
        student.tie_weights()
    student.requires_grad_(True)  # a student learns, even when cut from a frozen teacher
    student.train(teacher.training)
    return student
