"""Joint intent + slot distillation: a ``BertForIntentSlot`` student learns a fine-tuned teacher's intent
probabilities and its slot probabilities on each word's first sub-token, plus the gold labels.

    targets = teacher_intent_slot_targets(teacher, encoded["train"], pad_token_id=tok.pad_token_id)
    train = WithTeacherTargets(encoded["train"], targets)
    Trainer = make_intent_slot_distillation_trainer_class()
    trainer = Trainer(model=student, args=args, train_dataset=train, data_collator=collate_nlu_distill,
                      temperature=2.0, alpha_kd=0.5, alpha_task=0.5)

The teacher runs once over the training set (no augmentation, dropout off: its outputs never change), so a
distillation step costs one student step. Teacher and student share one tokenizer (the student is cut from
the teacher or distilled from it on the same vocabulary), so slot positions line up token by token.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..tasks.nlu import pad_slot_logits, predict_intent_slot

INTENT_KEY, SLOT_KEY = "teacher_intent_logits", "teacher_slot_logits"


def teacher_intent_slot_targets(teacher, encoded, pad_token_id: int = 0, batch_size: int = 64) -> dict:
    """The teacher's logits over a training set, computed once: ``{"intent": [N, intents], "slot": [...]}``
    (slot logits as float16 per example: memory for ~10k utterances x ~100 tags stays in the tens of MB)."""
    intents, slots = predict_intent_slot(teacher, encoded, pad_token_id, batch_size)
    return {"intent": intents.astype(np.float32), "slot": [s.astype(np.float16) for s in slots]}


class WithTeacherTargets(torch.utils.data.Dataset):
    """An ``EncodedNLU`` whose items also carry the teacher's intent logits and per-token slot logits."""

    def __init__(self, encoded, targets: dict):
        if len(targets["intent"]) != len(encoded) or len(targets["slot"]) != len(encoded):
            raise ValueError(
                f"teacher targets cover {len(targets['intent'])} examples but the dataset has {len(encoded)}: "
                "compute them on this dataset (teacher_intent_slot_targets)"
            )
        self.encoded, self.targets = encoded, targets
        self.first_tokens = getattr(encoded, "first_tokens", None)

    def __len__(self):
        return len(self.encoded)

    def __getitem__(self, i):
        item = dict(self.encoded[i])
        slot = self.targets["slot"][i]
        if len(slot) != len(item["input_ids"]):
            raise ValueError(
                f"example {i}: teacher slot logits cover {len(slot)} tokens, the student's input has "
                f"{len(item['input_ids'])}: teacher and student must share the tokenizer and max_length"
            )
        item[INTENT_KEY] = self.targets["intent"][i]
        item[SLOT_KEY] = slot
        return item


def collate_nlu_distill(features: list[dict], pad_token_id: int = 0) -> dict:
    """``collate_nlu`` plus the teacher's logits (slot logits zero-padded; padded positions carry -100 labels
    and are never read)."""
    from ..tasks.nlu import collate_nlu

    batch = collate_nlu(features, pad_token_id)
    if INTENT_KEY in features[0]:
        batch[INTENT_KEY] = torch.from_numpy(np.stack([f[INTENT_KEY] for f in features]).astype(np.float32))
        width = batch["input_ids"].shape[1]
        batch[SLOT_KEY] = torch.from_numpy(pad_slot_logits([np.asarray(f[SLOT_KEY]) for f in features], width))
    return batch


def soft_cross_entropy(student_logits, teacher_logits, temperature: float):
    """Hinton's soft-target loss, ``T^2 * KL(teacher_T || student_T)`` averaged over rows."""
    t = temperature
    return (
        F.kl_div(
            F.log_softmax(student_logits.float() / t, -1),
            F.softmax(teacher_logits.float() / t, -1),
            reduction="batchmean",
        )
        * t
        * t
    )


def intent_slot_distillation_loss(
    out, batch: dict, temperature: float, alpha_kd: float, alpha_task: float, slot_loss_weight: float = 1.0
):
    """``alpha_kd * (KD(intent) + w * KD(slots on labelled positions)) + alpha_task * task loss`` with ``w`` the
    model's ``slot_loss_weight`` (the task loss, ``out.loss``, already weighs its slot term); returns
    ``(loss, parts)``."""
    weight = float(slot_loss_weight)
    mask = batch["slot_labels"] != -100
    parts = {"kd_intent": soft_cross_entropy(out.intent_logits, batch[INTENT_KEY], temperature)}
    if bool(mask.any()):
        parts["kd_slot"] = weight * soft_cross_entropy(out.slot_logits[mask], batch[SLOT_KEY][mask], temperature)
    parts["task"] = out.loss if out.loss is not None else out.intent_logits.new_zeros(())
    loss = alpha_kd * (parts["kd_intent"] + parts.get("kd_slot", 0.0)) + alpha_task * parts["task"]
    return loss, parts


def make_intent_slot_distillation_trainer_class():
    """The task ``Trainer`` (heads at their own learning rate) with the joint distillation loss; batches
    without teacher logits (evaluation) fall back to the model's own loss."""
    from ..tasks.task_trainer import make_trainer_class

    base = make_trainer_class()

    class IntentSlotDistillationTrainer(base):
        def __init__(self, *args, temperature: float = 2.0, alpha_kd: float = 0.5, alpha_task: float = 0.5, **kw):
            super().__init__(*args, **kw)
            if temperature <= 0:
                raise ValueError(f"temperature must be > 0, got {temperature}")
            self.temperature, self.alpha_kd, self.alpha_task = temperature, alpha_kd, alpha_task

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = dict(inputs)
            teacher = {k: inputs.pop(k) for k in (INTENT_KEY, SLOT_KEY) if k in inputs}
            out = model(**inputs)
            if not teacher:
                return (out.loss, out) if return_outputs else out.loss
            weight = getattr(self._unwrapped().config, "slot_loss_weight", 1.0)
            loss, _ = intent_slot_distillation_loss(
                out, {**inputs, **teacher}, self.temperature, self.alpha_kd, self.alpha_task, weight
            )
            return (loss, out) if return_outputs else loss

        def _unwrapped(self):
            return getattr(self.model, "module", self.model)

    return IntentSlotDistillationTrainer
