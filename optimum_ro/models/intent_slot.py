"""``BertForIntentSlot``: joint intent classification + slot filling on a BERT encoder (JointBERT, Chen et al.
2019), the task head of the Alexa-Teacher-Model-style NLU students.

    model = BertForIntentSlot.from_encoder(encoder, intent_labels=labels.intents, slot_labels=labels.slots)
    model = BertForIntentSlot.from_pretrained(folder)      # a saved one: its labels are in its config
    out = model(input_ids, attention_mask, intent_labels=..., slot_labels=...)
    out.loss, out.intent_logits, out.slot_logits

The intent is read from the first position ([CLS]), a slot tag from every position (trained and predicted on
each word's first sub-token; the other positions carry -100). ``config.intent_labels`` / ``config.slot_labels``
name the classes (saved in ``config.json``); the loss is ``CE(intent) + config.slot_loss_weight * CE(slots)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertModel, BertPreTrainedModel
from transformers.utils import ModelOutput


@dataclass
class IntentSlotOutput(ModelOutput):
    loss: Optional[torch.Tensor] = None
    intent_logits: Optional[torch.Tensor] = None
    slot_logits: Optional[torch.Tensor] = None


class BertForIntentSlot(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        intents, slots = getattr(config, "intent_labels", None), getattr(config, "slot_labels", None)
        if not intents or not slots:
            raise ValueError(
                "BertForIntentSlot needs config.intent_labels and config.slot_labels (lists of names); "
                "pass them to from_pretrained(..., intent_labels=[...], slot_labels=[...])"
            )
        if len(set(intents)) != len(intents) or len(set(slots)) != len(slots):
            raise ValueError("config.intent_labels and config.slot_labels must not repeat a name")
        if not hasattr(config, "slot_loss_weight"):
            config.slot_loss_weight = 1.0
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(
            config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        )
        self.intent_classifier = nn.Linear(config.hidden_size, len(intents))
        self.slot_classifier = nn.Linear(config.hidden_size, len(slots))
        self.post_init()

    @classmethod
    def from_encoder(cls, name_or_path, intent_labels, slot_labels, slot_loss_weight: float = 1.0, **kwargs):
        """A new joint head on a pretrained BERT-family encoder (heads initialised, as for any new task head)."""
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(name_or_path)
        if config.model_type != "bert":
            raise ValueError(
                f"{name_or_path} is a {config.model_type!r} model; BertForIntentSlot takes BERT-family "
                "encoders (model_type 'bert', e.g. multilingual-e5-small or optimum-ro's students)"
            )
        config.intent_labels, config.slot_labels = list(intent_labels), list(slot_labels)
        config.slot_loss_weight = float(slot_loss_weight)
        return cls.from_pretrained(name_or_path, config=config, **kwargs)

    def forward(
        self, input_ids=None, attention_mask=None, token_type_ids=None, intent_labels=None, slot_labels=None, **kwargs
    ) -> IntentSlotOutput:
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, **kwargs
        ).last_hidden_state
        hidden = self.dropout(hidden)
        intent_logits = self.intent_classifier(hidden[:, 0])
        slot_logits = self.slot_classifier(hidden)
        loss = None
        if intent_labels is not None or slot_labels is not None:
            loss = intent_logits.new_zeros(())
            if intent_labels is not None and bool((intent_labels != -100).any()):
                loss = loss + F.cross_entropy(intent_logits.float(), intent_labels, ignore_index=-100)
            if slot_labels is not None and bool((slot_labels != -100).any()):
                loss = loss + self.config.slot_loss_weight * F.cross_entropy(
                    slot_logits.flatten(0, 1).float(), slot_labels.flatten(), ignore_index=-100
                )
        return IntentSlotOutput(loss=loss, intent_logits=intent_logits, slot_logits=slot_logits)
