"""``SparseBertIntentSlotConfig``: the ``SparseBertConfig`` of a joint intent + slot model, with its label names.

Its own ``model_type`` (``sparse_bert_intent_slot``) lets ``AutoModel`` map it to ``SparseBertForIntentSlot``
(transformers has no Auto class for joint intent + slot heads, and ``AutoModel`` of a ``sparse_bert`` folder is the
bare encoder). Copied into every saved folder with the modeling files; keep it self-contained.

    config.intent_labels   # ["alarm_set", "weather_query", ...]   (intent_logits columns)
    config.slot_labels     # ["O", "B-date", "I-date", ...]        (slot_logits columns, BIO tags)
"""

from huggingface_hub.dataclasses import strict

from .configuration_sparse_bert import SparseBertConfig


@strict
class SparseBertIntentSlotConfig(SparseBertConfig):
    r"""``SparseBertConfig`` plus the fields of ``BertForIntentSlot``: ``intent_labels`` and ``slot_labels`` (the
    class names, in logit order) and ``slot_loss_weight`` (the loss is ``CE(intent) + slot_loss_weight *
    CE(slots)``)."""

    model_type = "sparse_bert_intent_slot"

    intent_labels: list | None = None
    slot_labels: list | None = None
    slot_loss_weight: float | int = 1.0

    def validate_label_names(self):
        """Refuse label lists that are not distinct strings, naming the field."""
        for field in ("intent_labels", "slot_labels"):
            names = getattr(self, field)
            if names is None:
                continue
            if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
                raise ValueError(f"config.{field} must be a list of distinct names; got {names!r:.200}")


__all__ = ["SparseBertIntentSlotConfig"]
