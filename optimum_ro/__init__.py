"""optimum-ro: distill -> prune -> run sparse, for BERT-family models on CPUs.

Public objects are imported lazily so that ``import optimum_ro`` stays cheap::

    from optimum_ro import DistillationTrainer, BlockPruningConfig, BlockSparseLinear
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    # tasks
    "load_task": "optimum_ro.tasks",
    "preprocess_task": "optimum_ro.tasks",
    "TASKS": "optimum_ro.tasks",
    # distillation
    "DistillationTrainer": "optimum_ro.distillation",
    "DistillationTrainingArguments": "optimum_ro.distillation",
    "make_student": "optimum_ro.distillation",
    "trim_vocabulary": "optimum_ro.distillation",
    # pruning
    "BlockPruningConfig": "optimum_ro.pruning",
    "BlockPruner": "optimum_ro.pruning",
    "prune_model": "optimum_ro.pruning",
    # sparse kernels
    "BlockSparseLinear": "optimum_ro.sparse",
    "sparsify_model": "optimum_ro.sparse",
    # sparse models for AutoModel
    "SparseBertConfig": "optimum_ro.models",
    "SparseBertModel": "optimum_ro.models",
    "SparseBertForSequenceClassification": "optimum_ro.models",
    "SparseBertForTokenClassification": "optimum_ro.models",
    "SparseBertForMaskedLM": "optimum_ro.models",
    "save_sparse_pretrained": "optimum_ro.models",
    "to_sparse_model": "optimum_ro.models",
    "to_dense_model": "optimum_ro.models",
    # offline teachers
    "ensure_model": "optimum_ro.hub",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'optimum_ro' has no attribute {name!r}")


__all__ = sorted(_LAZY) + ["__version__"]
