"""Sparse BERT models for transformers' Auto classes, and the way to them from a pruned BERT.

    from optimum_ro.models import save_sparse_pretrained
    save_sparse_pretrained(pruned_model, "sparse-folder", tokenizer=tokenizer, dtype=torch.int8)
    model = AutoModelForSequenceClassification.from_pretrained("sparse-folder", trust_remote_code=True)

Importing this package registers ``SparseBertConfig`` (``model_type: sparse_bert``) and the ``SparseBert*``
classes with ``AutoConfig`` / ``AutoModel*``, so ``trust_remote_code`` is not needed in this process; a saved
folder also carries the two model files, for machines that load it without importing optimum-ro.
"""

from transformers import AutoConfig

from .export import (
    AUTO_CLASSES,
    DENSE_CLASSES,
    INTENT_SLOT_AUTO_CLASSES,
    SPARSE_CLASSES,
    is_sparse_bert,
    save_sparse_pretrained,
    sparse_layer_specs,
    to_dense_model,
    to_sparse_model,
)
from .intent_slot import BertForIntentSlot
from .intent_slot_pipeline import IntentSlotPipeline, bio_spans
from .sparse_bert.configuration_sparse_bert import SparseBertConfig
from .sparse_bert.configuration_sparse_bert_intent_slot import SparseBertIntentSlotConfig
from .sparse_bert.modeling_sparse_bert import (
    SparseBertForMaskedLM,
    SparseBertForSequenceClassification,
    SparseBertForTokenClassification,
    SparseBertModel,
)
from .sparse_bert.modeling_sparse_bert_intent_slot import SparseBertForIntentSlot

for _config, _table in ((SparseBertConfig, AUTO_CLASSES), (SparseBertIntentSlotConfig, INTENT_SLOT_AUTO_CLASSES)):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    _config.register_for_auto_class()
    for _auto, _cls in _table.items():
        _auto.register(_config, _cls, exist_ok=True)
        _cls.register_for_auto_class(_auto.__name__)  # save_pretrained writes auto_map and copies the model files

__all__ = [
    "AUTO_CLASSES",
    "BertForIntentSlot",
    "DENSE_CLASSES",
    "INTENT_SLOT_AUTO_CLASSES",
    "IntentSlotPipeline",
    "SPARSE_CLASSES",
    "SparseBertConfig",
    "SparseBertForIntentSlot",
    "SparseBertIntentSlotConfig",
    "SparseBertForMaskedLM",
    "SparseBertForSequenceClassification",
    "SparseBertForTokenClassification",
    "SparseBertModel",
    "bio_spans",
    "is_sparse_bert",
    "save_sparse_pretrained",
    "sparse_layer_specs",
    "to_dense_model",
    "to_sparse_model",
]
