"""The distillation batch: ``DistillationDataCollator`` pads the student's and every teacher's columns (and masks
tokens for MLM); ``split_inputs`` and ``count_items`` read a padded batch back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .alignment import count_shared_words

# The columns a teacher with its own tokenizer reads, each prefixed with ``teacher{i}_`` in the batch.
TEACHER_KEYS = ("input_ids", "attention_mask", "token_type_ids", "word_ids")


@dataclass
class DistillationDataCollator:
    """Pads every student and ``teacher{i}_`` column; drops text columns; optionally masks tokens (MLM).

    Padding: ``*input_ids`` with the owner's pad id, ``labels`` with -100, ``word_ids`` with -1, others 0.
    With ``mlm_probability`` the student's ``input_ids`` are masked BERT-style (80% [MASK], 10% random,
    10% kept) and ``labels`` hold the original ids at masked positions; a teacher sharing the student's
    vocabulary reads the same masked input (as in DistilBERT).
    """

    tokenizer: Any = None
    teacher_pad_token_ids: dict | None = None
    mlm_probability: float | None = None

    def _pad_value(self, key: str) -> int:
        if key == "labels":
            return -100
        if key.endswith("word_ids"):
            return -1
        if key.endswith("input_ids"):
            if key.startswith("teacher"):
                index = int(key[len("teacher") :].split("_")[0])
                return (self.teacher_pad_token_ids or {}).get(index, 0) or 0
            return getattr(self.tokenizer, "pad_token_id", None) or 0
        return 0

    def __call__(self, features: list[dict]) -> dict:
        batch = {}
        for key in features[0]:
            values = [f[key] for f in features]
            first = values[0]
            if isinstance(first, torch.Tensor):
                values = [v.tolist() for v in values]
                first = values[0]
            if isinstance(first, bool) or isinstance(first, (int, float)):
                dtype = torch.float32 if any(isinstance(v, float) for v in values) else torch.long
                batch[key] = torch.tensor(values, dtype=dtype)
            elif isinstance(first, (list, tuple)) and (not first or isinstance(first[0], (int, float))):
                length = max(len(v) for v in values)
                pad = self._pad_value(key)
                dtype = torch.float32 if any(isinstance(x, float) for v in values for x in v) else torch.long
                batch[key] = torch.tensor([list(v) + [pad] * (length - len(v)) for v in values], dtype=dtype)
            # strings (raw text, words) and anything else stay out of the batch
        if self.mlm_probability:
            self._mask_tokens(batch)
        return batch

    def _mask_tokens(self, batch: dict) -> None:
        tok = self.tokenizer
        if tok is None or tok.mask_token_id is None:
            raise ValueError(
                "MLM masking needs the student's tokenizer with a mask token (pass processing_class=tokenizer)"
            )
        ids = batch["input_ids"]
        special = batch.pop("special_tokens_mask", None)
        if special is None:
            special = torch.tensor(
                [tok.get_special_tokens_mask(row, already_has_special_tokens=True) for row in ids.tolist()]
            )
        maskable = ~special.bool()
        if "attention_mask" in batch:
            maskable &= batch["attention_mask"].bool()
        chosen = torch.bernoulli(torch.full(ids.shape, float(self.mlm_probability))).bool() & maskable
        batch["labels"] = torch.where(chosen, ids, torch.full_like(ids, -100))
        replace = torch.bernoulli(torch.full(ids.shape, 0.8)).bool() & chosen
        randomize = torch.bernoulli(torch.full(ids.shape, 0.5)).bool() & chosen & ~replace
        ids = ids.masked_fill(replace, tok.mask_token_id)
        batch["input_ids"] = torch.where(randomize, torch.randint(len(tok), ids.shape), ids)


def split_inputs(inputs: dict, num_teachers: int):
    """``(student_inputs, labels, word_ids, teacher_inputs)`` of a batch; ``teacher_inputs[i]`` holds the
    ``teacher{i}_`` columns without their prefix (empty for a teacher that reads the student's inputs)."""
    inputs = dict(inputs)
    labels = inputs.pop("labels", None)
    word_ids = inputs.pop("word_ids", None)
    inputs.pop("special_tokens_mask", None)
    teacher_inputs = [{} for _ in range(num_teachers)]
    for key in [k for k in inputs if k.startswith("teacher")]:
        prefix, _, name = key.partition("_")
        index = int(prefix[len("teacher") :])
        if index >= num_teachers:
            raise ValueError(f"batch column {key} names teacher {index}, but only {num_teachers} teachers were given")
        teacher_inputs[index][name] = inputs.pop(key)
    return inputs, labels, word_ids, teacher_inputs


def count_items(batches: list[dict], num_teachers: int) -> tuple[list[str], torch.Tensor]:
    """What each loss term divides by, summed over ``batches``: examples, labelled positions, attended tokens
    and, per teacher, the words it shares with the student. Returns the names and a float64 tensor."""
    names = ["examples", "labels", "tokens"] + [f"words{i}" for i in range(num_teachers)]
    totals = torch.zeros(len(names), dtype=torch.float64)
    for b in batches:
        ids = b["input_ids"]
        totals[0] += ids.shape[0]
        if "labels" in b:
            totals[1] += b["labels"].ne(-100).sum().item()
        totals[2] += (b["attention_mask"].sum() if "attention_mask" in b else ids.numel()).item()
        for i in range(num_teachers):
            if f"teacher{i}_word_ids" in b and "word_ids" in b:
                totals[3 + i] += count_shared_words(b["word_ids"], b[f"teacher{i}_word_ids"]).item()
    return names, totals
