"""Joint intent + slot data (``../shared/data/nlu`` format): load, encode for a sub-word tokenizer, decode.

    data = load_nlu("path/to/ro_home")                  # {"train": [...], "dev": [...], ...}, labels from labels.json
    train = encode_nlu(data["train"], tokenizer, data.labels)   # slot labels on each word's first sub-token
    intents, slots = decode_nlu(intent_logits, slot_logits, train, data.labels)   # strings, one tag per word

A record is ``{"tokens": [...], "slots": [BIO tag per token], "intent": str}``, one JSON object per line in
``train.jsonl`` / ``dev.jsonl`` / ``test.jsonl``; ``labels.json`` holds ``{"intents": [...], "slots": [...]}``
(the train inventory; a dev/test label outside it cannot be predicted and counts as an error).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SPLITS = ("train", "dev", "test")


class NLUDataError(ValueError):
    pass


@dataclass(frozen=True)
class NLULabels:
    intents: tuple[str, ...]
    slots: tuple[str, ...]

    @classmethod
    def from_records(cls, records) -> "NLULabels":
        slots = sorted({t for r in records for t in r["slots"]} - {"O"}, key=lambda t: (t[2:], t[0]))
        return cls(tuple(sorted({r["intent"] for r in records})), ("O", *slots))


class NLUData(dict):
    """``{split: [record, ...]}`` plus ``labels`` (an ``NLULabels``) and the ``folder`` it came from."""

    def __init__(self, splits: dict, labels: NLULabels, folder: str):
        super().__init__(splits)
        self.labels, self.folder = labels, folder


def _check_record(row, where: str) -> dict:
    if not isinstance(row, dict) or not {"tokens", "slots", "intent"} <= set(row):
        raise NLUDataError(f"{where}: a record needs 'tokens', 'slots' and 'intent'; got {row!r:.200}")
    tokens, slots = row["tokens"], row["slots"]
    if not tokens or len(tokens) != len(slots):
        raise NLUDataError(f"{where}: {len(tokens)} tokens but {len(slots)} slot tags (one BIO tag per token)")
    bad = [t for t in slots if not (t == "O" or (t[:2] in ("B-", "I-") and len(t) > 2))]
    if bad:
        raise NLUDataError(f"{where}: slot tags must be O, B-<type> or I-<type>; got {bad[:3]}")
    return {"tokens": list(tokens), "slots": list(slots), "intent": str(row["intent"])}


def load_nlu(folder, splits=None) -> NLUData:
    """Read a joint intent/slot folder; every record validated (errors name the file and line)."""
    folder = Path(folder)
    wanted = tuple(splits or SPLITS)
    data = {}
    for split in wanted:
        path = folder / f"{split}.jsonl"
        if not path.exists():
            if splits is not None:
                raise NLUDataError(f"{folder}: no {split}.jsonl")
            continue
        rows = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise NLUDataError(f"{path}:{i}: not JSON ({err})") from None
                rows.append(_check_record(row, f"{path}:{i}"))
        data[split] = rows
    if not data:
        raise NLUDataError(f"{folder}: none of {', '.join(s + '.jsonl' for s in wanted)} found")
    label_file = folder / "labels.json"
    if label_file.exists():
        raw = json.loads(label_file.read_text(encoding="utf-8"))
        labels = NLULabels(tuple(raw["intents"]), tuple(raw["slots"]))
    elif "train" in data:
        labels = NLULabels.from_records(data["train"])
    else:
        raise NLUDataError(f"{folder}: no labels.json and no train.jsonl to take the label inventory from")
    if labels.slots[:1] != ("O",):
        raise NLUDataError(f"{label_file}: the slot inventory must start with 'O'")
    return NLUData(data, labels, str(folder))


class EncodedNLU(torch.utils.data.Dataset):
    """Model inputs for ``BertForIntentSlot``: ``input_ids``, ``attention_mask``, ``intent_labels`` and
    ``slot_labels`` (each word's first sub-token; -100 elsewhere and for labels outside the inventory), with
    ``first_tokens[i]`` (the position of each word's first sub-token, -1 for words cut by ``max_length``)."""

    def __init__(self, features: list[dict], first_tokens: list[list[int]]):
        self.features, self.first_tokens = features, first_tokens

    def __len__(self):
        return len(self.features)

    def __getitem__(self, i):
        return self.features[i]


def encode_nlu(records, tokenizer, labels: NLULabels, max_length: int = 64) -> EncodedNLU:
    if not getattr(tokenizer, "is_fast", False):
        raise NLUDataError(
            f"{type(tokenizer).__name__} is a slow tokenizer: slot labels are aligned to words with "
            "word_ids(), which only fast tokenizers give (load it with use_fast=True)"
        )
    intent_ids = {n: i for i, n in enumerate(labels.intents)}
    slot_ids = {n: i for i, n in enumerate(labels.slots)}
    enc = tokenizer([r["tokens"] for r in records], is_split_into_words=True, truncation=True, max_length=max_length)
    features, firsts = [], []
    for i, r in enumerate(records):
        words = enc.word_ids(i)
        first = [-1] * len(r["tokens"])
        slot_labels = [-100] * len(words)
        for pos, w in enumerate(words):
            if w is not None and first[w] < 0:
                first[w] = pos
                slot_labels[pos] = slot_ids.get(r["slots"][w], -100)
        features.append(
            {
                "input_ids": enc["input_ids"][i],
                "attention_mask": enc["attention_mask"][i],
                "intent_labels": intent_ids.get(r["intent"], -100),
                "slot_labels": slot_labels,
            }
        )
        firsts.append(first)
    return EncodedNLU(features, firsts)


def collate_nlu(features: list[dict], pad_token_id: int = 0) -> dict:
    """Pad a batch of ``encode_nlu`` features (``slot_labels`` with -100)."""
    width = max(len(f["input_ids"]) for f in features)

    def pad(key, value):
        return torch.tensor([f[key] + [value] * (width - len(f[key])) for f in features])

    return {
        "input_ids": pad("input_ids", pad_token_id),
        "attention_mask": pad("attention_mask", 0),
        "slot_labels": pad("slot_labels", -100),
        "intent_labels": torch.tensor([f["intent_labels"] for f in features]),
    }


def decode_nlu(intent_logits, slot_logits, encoded: EncodedNLU, labels: NLULabels):
    """Predicted intent strings and word-level tag lists (a word cut by ``max_length`` gets ``O``)."""
    intent_logits, slot_logits = np.asarray(intent_logits), np.asarray(slot_logits)
    intents = [labels.intents[i] for i in intent_logits.argmax(-1)]
    slot_pred = slot_logits.argmax(-1)
    slots = [
        [labels.slots[slot_pred[i, p]] if 0 <= p < slot_pred.shape[1] else "O" for p in first]
        for i, first in enumerate(encoded.first_tokens)
    ]
    return intents, slots


@torch.no_grad()
def predict_intent_slot(model, encoded, pad_token_id: int = 0, batch_size: int = 64):
    """``(intent_logits [N, intents], slot_logits)`` of a joint model over ``encoded`` (an ``EncodedNLU``);
    ``slot_logits`` is a list with one ``[length_i, tags]`` array per example (unpadded)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    intents, slots = [], []
    try:
        for start in range(0, len(encoded), batch_size):
            feats = [encoded[i] for i in range(start, min(start + batch_size, len(encoded)))]
            batch = collate_nlu(feats, pad_token_id)
            out = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
            intents.append(out.intent_logits.float().cpu().numpy())
            slot = out.slot_logits.float().cpu().numpy()
            slots.extend(slot[i, : len(f["input_ids"])] for i, f in enumerate(feats))
    finally:
        model.train(was_training)
    return np.concatenate(intents), slots


def pad_slot_logits(slots: list, width: int | None = None) -> np.ndarray:
    """Per-example ``[length_i, tags]`` arrays stacked into ``[N, width, tags]`` (zeros after each end)."""
    width = width or max(len(s) for s in slots)
    out = np.zeros((len(slots), width, slots[0].shape[-1]), dtype=np.float32)
    for i, s in enumerate(slots):
        out[i, : len(s)] = s[:width]
    return out
