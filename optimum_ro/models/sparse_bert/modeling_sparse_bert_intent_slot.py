"""``SparseBertForIntentSlot``: the joint intent + slot head of optimum-ro's ``BertForIntentSlot`` (JointBERT) on a
sparse BERT encoder, for ``AutoModel``:

    model = AutoModel.from_pretrained(folder, trust_remote_code=True)   # folder from save_sparse_pretrained
    out = model(input_ids, attention_mask)     # out.intent_logits [batch, intents], out.slot_logits [batch, seq, tags]
    model.config.intent_labels, model.config.slot_labels         # the names of the logits' columns

Same modules, state-dict keys and outputs as ``BertForIntentSlot`` (intent from the first position, a slot tag from
every position); the head is repeated here because this file travels inside saved folders and must load without
optimum-ro. It imports only its sibling files, torch and transformers.
"""

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertModel, BertPreTrainedModel
from transformers.utils import ModelOutput

from .configuration_sparse_bert_intent_slot import SparseBertIntentSlotConfig
from .modeling_sparse_bert import _SparseBertLoading, install_sparse_layers


@dataclass
class IntentSlotOutput(ModelOutput):
    loss: Optional[torch.Tensor] = None
    intent_logits: Optional[torch.Tensor] = None
    slot_logits: Optional[torch.Tensor] = None


class SparseBertForIntentSlot(_SparseBertLoading, BertPreTrainedModel):
    config_class = SparseBertIntentSlotConfig

    def __init__(self, config: SparseBertIntentSlotConfig):
        super().__init__(config)
        intents, slots = config.intent_labels, config.slot_labels
        if not intents or not slots:
            raise ValueError(
                "SparseBertForIntentSlot needs config.intent_labels and config.slot_labels (lists of "
                "names): save a BertForIntentSlot with optimum_ro.models.save_sparse_pretrained"
            )
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(
            config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        )
        self.intent_classifier = nn.Linear(config.hidden_size, len(intents))
        self.slot_classifier = nn.Linear(config.hidden_size, len(slots))
        self.post_init()
        install_sparse_layers(self.bert, config)

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


__all__ = ["IntentSlotOutput", "SparseBertForIntentSlot"]
